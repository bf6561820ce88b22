"""Example plugin: a range bus that reads a registration's length as a C ``int``.

Entries are kept sorted by start address (``bisect``); a lookup walks back
over every entry starting at or below the access's first byte, keeps those
whose range ``[addr, addr + len)`` holds that byte, and offers them to their
devices in registration order, as the linear scan would. It is correct for
every registration of a positive length below 2^31 that does not wrap past
2^64, and wrong beyond: a coalesced zone of 2^31 bytes or more arrives as a
negative ``int len``, and this bus then holds no byte of it (``MISSED``),
as every bus that reads ``int len`` the way the kernel does.

It declares that contract (``assumes``), so ``iobus-verify check --bus
examples/python/int_len_bus.py:factory`` spends its budget on the rungs
inside it and lists the huge-length finding as outside the contract; pass
``--assume none`` to judge it on every input. See the README, "Conditions,
contracts and coverage".
"""

from __future__ import annotations

import bisect

ENOENT, ENOSPC, EOPNOTSUPP = 2, 28, 95


class IntLenBus:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._starts: list[int] = []  # sorted start addresses
        self._entries: list[tuple[int, int, object, int]] = []  # (addr, len, dev, linear position), same order
        self._linear: list[object] = []  # the devices in the linear bus's order

    # registration: the linear bus's contract (append; unregister moves the last device into the hole)
    def register(self, addr: int, length: int, dev) -> int:
        if len(self._linear) >= self.capacity:
            return -ENOSPC
        i = bisect.bisect_right(self._starts, addr)
        self._starts.insert(i, addr)
        self._entries.insert(i, (addr, length, dev, len(self._linear)))
        self._linear.append(dev)
        return 0

    def unregister(self, dev) -> int:
        if not any(d is dev for d in self._linear):
            return -ENOENT
        pos = next(i for i, d in enumerate(self._linear) if d is dev)
        last = self._linear.pop()
        if pos < len(self._linear):
            self._linear[pos] = last
        k = next(i for i, e in enumerate(self._entries) if e[2] is dev)
        del self._entries[k], self._starts[k]
        self._entries = [(a, n, d, self._position(d)) for a, n, d, _ in self._entries]
        return 0

    def _position(self, dev) -> int:
        return next(i for i, d in enumerate(self._linear) if d is dev)

    # lookup
    def _candidates(self, addr: int) -> list:
        top = bisect.bisect_right(self._starts, addr)
        # the bug outside the contract: a length >= 2^31 is a negative int here, and holds nothing
        held = [e for e in self._entries[:top] if e[0] <= addr < e[0] + e[1]]
        return [e[2] for e in sorted(held, key=lambda e: e[3])]

    def write(self, addr: int, length: int, data: bytes) -> int:
        for dev in self._candidates(addr):
            if dev.write(addr, length, data) == 0:
                return 0
        return -EOPNOTSUPP

    def read(self, addr: int, length: int):
        for dev in self._candidates(addr):
            rc, val = dev.read(addr, length)
            if rc == 0:
                return 0, val
        return -EOPNOTSUPP, b""

    def ranges(self):
        return [(a, n, d) for d in self._linear for a, n, dd, _ in self._entries if dd is d]


def factory(capacity: int) -> IntLenBus:
    """A bisect range bus that reads len as a C int (misses zones of 2^31 bytes or more)."""
    return IntLenBus(capacity)


factory.assumes = "positive-len+no-wrap"
# Its registration contract is 2011's (capacity counts every device, -ENOENT for
# an absent one), so it is paired with the 2011 devices and reference rules.
factory.era = "2011"
