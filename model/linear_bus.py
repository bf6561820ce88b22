"""The reference: the I/O bus before the 2011 patch, with each era's registration contract.

An array of devices in registration order, searched linearly: every access
calls each device's callback in array order until one returns 0. Devices filter
addresses themselves; the bus ignores the address and length given at
registration (the pre-patch ``kvm_io_bus_register_dev`` had neither).

The lookup is the pre-patch one in both eras; what a registration returns
follows the era the bus is compared in (issue 18: the reference is "the linear
scan, with the era's registration contract", so that a finding is about what
a range bus changes, not about 2011's limits):

* ``era="2011"`` (the seed patch's ``-`` lines and the v3.0
  ``virt/kvm/kvm_main.c``, ``AndDiSa/android_kernel_samsung_smdk4412`` @
  b003b6bb): ``NR_IOBUS_DEVS`` 300 counting every device, ``-ENOSPC``
  before allocating; unregister allocates the copy first (``-ENOMEM`` even
  for an absent device), then ``-ENOENT`` for an absent device; the last
  device moves into the hole.
* ``era="today"`` (``ColinIanKing/linux-next`` @ 03b9d314
  ``kvm_io_bus_register_dev`` / ``kvm_io_bus_unregister_dev``): 1000
  devices, ioeventfds not counted (``dev_count - ioeventfd_count >
  NR_IOBUS_DEVS - 1``); unregister looks the device up first and returns 0
  when it is absent, then allocates (``-ENOMEM``, the bus left as it was: the
  linear contract does not drop the bus, which is what ``upstream`` does and
  stays a finding). Removal moves the last device into the hole as before:
  the linear order is the reference's, whatever today's array keeps.
"""

from __future__ import annotations

from typing import Any

from iobus_verify.model.cints import check_access
from iobus_verify.model.offering import OfferingBus, remove_moving_last
from iobus_verify.model.protocol import ENOENT, ENOMEM, ENOSPC, AllocationHook, always_allocate

#: ``NR_IOBUS_DEVS`` before and in the 2011 patch (a context line of the patch).
NR_IOBUS_DEVS_2011 = 300
#: ``NR_IOBUS_DEVS`` today (786a9f888bfb, 2012), ioeventfds not counted (6ea34c9b78c1, 2013).
NR_IOBUS_DEVS_TODAY = 1000
#: The default capacity per era.
NR_IOBUS_DEVS = {"2011": NR_IOBUS_DEVS_2011, "today": NR_IOBUS_DEVS_TODAY}


def _is_ioeventfd(dev: Any) -> bool:
    return bool(getattr(dev, "ioeventfd", False))


class LinearBus(OfferingBus):
    """The pre-patch bus: linear scan in array order, the era's registration contract.

    ``era`` defaults to ``"today"``, the era a plugin pairs with by default, so
    that ``LinearBus(capacity)`` used as a plugin is the reference it is
    compared with; the suite's own reference is built by the VM with the
    compared bus's era.
    """

    name = "linear"

    def __init__(self, capacity: int | None = None, *, era: str = "today", alloc: AllocationHook = always_allocate):
        super().__init__()
        if era not in NR_IOBUS_DEVS:
            raise ValueError(f"era must be '2011' or 'today', got {era!r}")
        self.era = era
        self.capacity = NR_IOBUS_DEVS[era] if capacity is None else capacity
        #: today's rule: ioeventfds do not count against the capacity
        self.capacity_excludes_ioeventfds = era == "today"
        self._alloc = alloc
        # (addr, len, dev): addr/len are kept only so that ranges() can report them.
        self._devs: list[tuple[int, int, Any]] = []

    def counted(self) -> int:
        """The devices that count against the capacity."""
        if self.capacity_excludes_ioeventfds:
            return sum(1 for e in self._devs if not _is_ioeventfd(e[2]))  # C: dev_count - ioeventfd_count
        return len(self._devs)  # C (2011): dev_count

    def register(self, addr: int, length: int, dev: Any) -> int:
        check_access("register", addr, length)  # a gpa_t and an int, as the C bridge checks
        # C: if (bus->dev_count [- bus->ioeventfd_count] > NR_IOBUS_DEVS-1) return -ENOSPC;
        if self.counted() > self.capacity - 1:
            return -ENOSPC
        # C: the copy (kzalloc 2011, kmalloc today) is published on success.
        if not self._alloc("register:kzalloc"):
            return -ENOMEM
        self._devs.append((addr, length, dev))  # C: devs[dev_count++] = dev
        return 0

    def unregister(self, dev: Any) -> int:
        if self.era == "2011":
            # C: the copy is allocated before the search, so -ENOMEM wins over -ENOENT.
            if not self._alloc("unregister:kzalloc"):
                return -ENOMEM
            # C: first i with devs[i] == dev; devs[i] = devs[--dev_count]
            return 0 if remove_moving_last(self._devs, dev) else -ENOENT
        # C (today): for (i = 0; i < dev_count; i++) if (range[i].dev == dev) break;
        if not any(e[2] is dev for e in self._devs):
            return 0  # C: if (i == bus->dev_count) return 0;
        if not self._alloc("unregister:kmalloc"):
            return -ENOMEM  # the linear contract: the bus stays as it was
        remove_moving_last(self._devs, dev)
        return 0

    def write(self, addr: int, length: int, data: bytes) -> int:
        check_access("write", addr, length)
        return self._offer_write([e[2] for e in self._devs], addr, length, data)

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        check_access("read", addr, length)
        return self._offer_read([e[2] for e in self._devs], addr, length)

    def ranges(self) -> list[tuple[int, int, Any]]:
        return list(self._devs)

    def destroy(self) -> None:
        """The pre-patch ``kvm_io_bus_destroy`` (VM teardown): every device's
        destructor, in array order (both eras)."""
        for e in list(self._devs):  # C: for (i = 0; i < bus->dev_count; i++) kvm_iodevice_destructor(pos)
            fn = getattr(e[2], "destructor", None)
            if fn is not None:
                fn()


def linear_factory(capacity: int | None = None, *, alloc: AllocationHook = always_allocate, era: str = "today") -> LinearBus:
    return LinearBus(capacity, era=era, alloc=alloc)
