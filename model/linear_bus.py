"""The reference: the I/O bus before the 2011 patch.

An array of devices in registration order, searched linearly: every access
calls each device's callback in array order until one returns 0. Devices filter
addresses themselves; the bus ignores the address and length given at
registration (the pre-patch ``kvm_io_bus_register_dev`` had neither).

Modelled on the seed patch's ``-`` lines and the v3.0 ``virt/kvm/kvm_main.c``
(``AndDiSa/android_kernel_samsung_smdk4412`` @ b003b6bb).
"""

from __future__ import annotations

from typing import Any

from iobus_verify.model.protocol import (
    ENOENT,
    ENOMEM,
    ENOSPC,
    EOPNOTSUPP,
    AllocationHook,
    BusStats,
    always_allocate,
)

#: ``NR_IOBUS_DEVS`` before and in the 2011 patch (a context line of the patch).
NR_IOBUS_DEVS_2011 = 300


class LinearBus:
    """The pre-patch bus: linear scan in array order."""

    name = "linear"

    def __init__(self, capacity: int = NR_IOBUS_DEVS_2011, *, alloc: AllocationHook = always_allocate):
        self.capacity = capacity
        self._alloc = alloc
        # (addr, len, dev): addr/len are kept only so that ranges() can report them.
        self._devs: list[tuple[int, int, Any]] = []
        self._callbacks = 0

    def register(self, addr: int, length: int, dev: Any) -> int:
        # C: if (bus->dev_count > NR_IOBUS_DEVS-1) return -ENOSPC;
        if len(self._devs) > self.capacity - 1:
            return -ENOSPC
        # C: new_bus = kzalloc(sizeof(struct kvm_io_bus)); the copy is published on success.
        if not self._alloc("register:kzalloc"):
            return -ENOMEM
        self._devs.append((addr, length, dev))  # C: devs[dev_count++] = dev
        return 0

    def unregister(self, dev: Any) -> int:
        # C: the copy is allocated before the search, so -ENOMEM wins over -ENOENT.
        if not self._alloc("unregister:kzalloc"):
            return -ENOMEM
        for i, entry in enumerate(self._devs):
            if entry[2] is dev:  # C: first i with devs[i] == dev
                last = self._devs.pop()  # C: devs[i] = devs[--dev_count]
                if i < len(self._devs):
                    self._devs[i] = last
                return 0
        return -ENOENT

    def write(self, addr: int, length: int, data: bytes) -> int:
        for _, _, dev in list(self._devs):
            self._callbacks += 1
            if dev.write(addr, length, data) == 0:
                return 0
        return -EOPNOTSUPP

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        for _, _, dev in list(self._devs):
            self._callbacks += 1
            rc, data = dev.read(addr, length)
            if rc == 0:
                return 0, data
        return -EOPNOTSUPP, b""

    def ranges(self) -> list[tuple[int, int, Any]]:
        return list(self._devs)

    def stats(self) -> BusStats:
        s = BusStats(0, self._callbacks)
        self._callbacks = 0
        return s


def linear_factory(capacity: int = NR_IOBUS_DEVS_2011, *, alloc: AllocationHook = always_allocate) -> LinearBus:
    return LinearBus(capacity, alloc=alloc)
