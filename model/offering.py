"""What every bus model shares: offering an access to devices in order, and
removing an entry the way the 2011 array did.

Each bus decides *which* devices an access is offered to and in what order (all
of them for the linear bus, the equal run of the array for a range bus, the
covering slots for ``fixed``); the offering itself is the kernel's loop, the
same everywhere: call each device's callback until one returns 0.
"""

from __future__ import annotations

from typing import Any, Iterable

from iobus_verify.model.protocol import EOPNOTSUPP, BusStats


class OfferingBus:
    """Base of the bus models: the offer loops and the ``stats()`` counters."""

    def __init__(self) -> None:
        self._comparisons = 0
        self._callbacks = 0

    def _offer_write(self, devices: Iterable[Any], addr: int, length: int, data: bytes) -> int:
        for dev in devices:  # C: if (!kvm_iodevice_write(dev, ...)) return 0;
            self._callbacks += 1
            if dev.write(addr, length, data) == 0:
                return 0
        return -EOPNOTSUPP

    def _offer_read(self, devices: Iterable[Any], addr: int, length: int) -> tuple[int, bytes]:
        for dev in devices:
            self._callbacks += 1
            rc, data = dev.read(addr, length)
            if rc == 0:
                return 0, data
        return -EOPNOTSUPP, b""

    def stats(self) -> BusStats:
        s = BusStats(self._comparisons, self._callbacks)
        self._comparisons = self._callbacks = 0
        return s


def remove_moving_last(entries: list[tuple[int, int, Any]], dev: Any) -> bool:
    """Remove the first entry of ``dev``; the last entry moves into the hole.

    C (2011 and before): ``devs[i] = devs[--dev_count]``. Returns False when
    ``dev`` is absent.
    """
    for i, entry in enumerate(entries):
        if entry[2] is dev:
            last = entries.pop()
            if i < len(entries):
                entries[i] = last
            return True
    return False
