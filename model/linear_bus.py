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

from iobus_verify.model.cints import check_access
from iobus_verify.model.offering import OfferingBus, remove_moving_last
from iobus_verify.model.protocol import ENOENT, ENOMEM, ENOSPC, AllocationHook, always_allocate

#: ``NR_IOBUS_DEVS`` before and in the 2011 patch (a context line of the patch).
NR_IOBUS_DEVS_2011 = 300


class LinearBus(OfferingBus):
    """The pre-patch bus: linear scan in array order."""

    name = "linear"

    def __init__(self, capacity: int = NR_IOBUS_DEVS_2011, *, alloc: AllocationHook = always_allocate):
        super().__init__()
        self.capacity = capacity
        self._alloc = alloc
        # (addr, len, dev): addr/len are kept only so that ranges() can report them.
        self._devs: list[tuple[int, int, Any]] = []

    def register(self, addr: int, length: int, dev: Any) -> int:
        check_access("register", addr, length)  # a gpa_t and an int, as the C bridge checks
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
        # C: first i with devs[i] == dev; devs[i] = devs[--dev_count]
        return 0 if remove_moving_last(self._devs, dev) else -ENOENT

    def write(self, addr: int, length: int, data: bytes) -> int:
        check_access("write", addr, length)
        return self._offer_write([e[2] for e in self._devs], addr, length, data)

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        check_access("read", addr, length)
        return self._offer_read([e[2] for e in self._devs], addr, length)

    def ranges(self) -> list[tuple[int, int, Any]]:
        return list(self._devs)


def linear_factory(capacity: int = NR_IOBUS_DEVS_2011, *, alloc: AllocationHook = always_allocate) -> LinearBus:
    return LinearBus(capacity, alloc=alloc)
