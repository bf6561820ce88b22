"""The buses of the quality set: one correct range bus and planted bugs.

In the spirit of Hypothesis's own ``quality`` tests: the suite must tell a
correct bus from a broken one. :func:`correct` is a range bus of our own,
written differently from ``model/fixed_bus.py`` (no segment table: a sorted
array, ``bisect`` and a walk back); every other factory here is a copy of it
(a subclass overriding one method) with exactly one planted bug, each in a
different corner. :data:`PLANTED` names them with their corner.

Each is a bus spec: ``tests/quality/buses.py:<name>``. They take no ``alloc``
hook and pair with the default era (``today``), so they keep today's
registration contract, the one the linear reference keeps in that era (issue
18): ioeventfds do not count against the capacity, and unregistering an
absent device returns 0. :func:`correct` is meant to be
checked under the contract ``positive-len+no-wrap`` (registered lengths in
``(0, 2**31)``, ``addr + len < 2**64``); it does not crash outside it.

``tests/quality/test_planted.py`` holds, for each planted bus, a scenario on
which it diverges from the linear reference and :func:`correct` does not.
"""

from __future__ import annotations

import bisect
from typing import Any

from iobus_verify.model.protocol import ENOSPC, EOPNOTSUPP

U64_END = 1 << 64


def extent(addr: int, length: int) -> tuple[int, int]:
    """``[addr, addr + u32(len))`` clipped at 2**64: the bytes a registration names."""
    return addr, min(addr + (length & 0xFFFFFFFF), U64_END)


class CorrectBus:
    """A range bus: entries ``(addr, length, dev, seq)`` sorted by start address.

    ``seq`` is a registration counter. The linear reference removes a device
    by moving its last device into the hole, so on unregister the entry with
    the highest ``seq`` takes over the removed entry's ``seq``: ordering by
    ``seq`` is then always the reference's array order (plain registration
    order would differ after an unregister: see :func:`unregister_keeps_order`).

    A lookup of an access whose first byte is ``x`` bisects to the entries
    whose start is ``<= x``, walks back over all of them, keeps those whose
    extent holds ``x`` and offers them in ``seq`` order until one returns 0.
    """

    name = "quality.correct"

    def __init__(self, capacity: int) -> None:
        self.nr_iobus_devs = capacity  # NR_IOBUS_DEVS: non-ioeventfd devices

        self._starts: list[int] = []  # the sort keys, parallel to _entries
        self._entries: list[tuple[int, int, Any, int]] = []
        self._counter = 0

    @property
    def capacity(self) -> int:
        """How many entries the bus can hold now: NR_IOBUS_DEVS plus its
        ioeventfds, which today's rule does not count (what the machine's
        capacity invariant, counting every entry, compares with)."""
        return self.nr_iobus_devs + (len(self._entries) - self._counted())

    # -- registration ---------------------------------------------------------------
    def _key(self, addr: int) -> int:
        """The sort key of an address: the u64 itself."""
        return addr

    def _counted(self) -> int:
        """Entries that count against the capacity: today's rule leaves ioeventfds out."""
        return sum(1 for e in self._entries if not getattr(e[2], "ioeventfd", False))

    def _full(self) -> bool:
        return self._counted() >= self.nr_iobus_devs

    def _insert(self, entry: tuple[int, int, Any, int]) -> None:
        key = self._key(entry[0])
        i = bisect.bisect_right(self._starts, key)
        self._starts.insert(i, key)
        self._entries.insert(i, entry)

    def register(self, addr: int, length: int, dev: Any) -> int:
        if self._full():
            return -ENOSPC
        self._insert((addr, length, dev, self._counter))
        self._counter += 1
        return 0

    def _find(self, dev: Any) -> int | None:
        """The index of ``dev``'s entry (its earliest one in linear order), or None."""
        hits = [i for i, e in enumerate(self._entries) if e[2] is dev]
        return min(hits, key=lambda i: self._entries[i][3]) if hits else None

    def _remove(self, i: int) -> None:
        """Remove entry ``i``; the last entry in linear order takes its ``seq``."""
        seq = self._entries[i][3]
        del self._entries[i]
        del self._starts[i]
        if not self._entries:
            return
        j = max(range(len(self._entries)), key=lambda k: self._entries[k][3])
        if self._entries[j][3] > seq:
            a, n, d, _ = self._entries[j]
            self._entries[j] = (a, n, d, seq)

    def unregister(self, dev: Any) -> int:
        i = self._find(dev)
        if i is None:
            return 0  # today's contract: an absent device is not an error
        self._remove(i)
        return 0

    # -- lookup ---------------------------------------------------------------------
    def _contains(self, entry: tuple[int, int, Any, int], x: int) -> bool:
        lo, hi = extent(entry[0], entry[1])
        return lo <= x < hi

    def _bisect(self, x: int) -> int:
        """How many entries start at or before ``x``."""
        return bisect.bisect_right(self._starts, self._key(x))

    def _walk_back(self, x: int, end: int) -> list[tuple[int, int, Any, int]]:
        """The entries among ``[0, end)`` that hold ``x``, walking back from ``end - 1``."""
        return [self._entries[i] for i in range(end - 1, -1, -1) if self._contains(self._entries[i], x)]

    def _order(self, found: list[tuple[int, int, Any, int]]) -> list[tuple[int, int, Any, int]]:
        """The offering order: the linear bus's (``seq``)."""
        return sorted(found, key=lambda e: e[3])

    def candidates(self, addr: int) -> list[Any]:
        """The devices an access starting at ``addr`` is offered to, in order."""
        return [e[2] for e in self._order(self._walk_back(addr, self._bisect(addr)))]

    def write(self, addr: int, length: int, data: bytes) -> int:
        for dev in self.candidates(addr):
            if dev.write(addr, length, data) == 0:
                return 0
        return -EOPNOTSUPP

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        for dev in self.candidates(addr):
            rc, data = dev.read(addr, length)
            if rc == 0:
                return 0, data
        return -EOPNOTSUPP, b""

    def ranges(self) -> list[tuple[int, int, Any]]:
        """The entries in linear order (the reference's array order)."""
        return [(a, n, d) for a, n, d, _ in sorted(self._entries, key=lambda e: e[3])]


def correct(capacity: int) -> CorrectBus:
    """A correct range bus: bisect, walk back over every earlier start, offer in linear order."""
    return CorrectBus(capacity)


# -- the planted bugs ----------------------------------------------------------------


class _NoWalkBack(CorrectBus):
    def _walk_back(self, x, end):
        return [self._entries[end - 1]] if end and self._contains(self._entries[end - 1], x) else []


class _WalkBackOffByOne(CorrectBus):
    def _walk_back(self, x, end):
        return [self._entries[i] for i in range(end - 2, -1, -1) if self._contains(self._entries[i], x)]


class _FirstCandidateOnly(CorrectBus):
    def _walk_back(self, x, end):
        for i in range(end - 1, -1, -1):
            if self._contains(self._entries[i], x):
                return [self._entries[i]]
        return []


class _SignedCompare(CorrectBus):
    def _key(self, addr):
        return addr - U64_END if addr >= 1 << 63 else addr


class _LengthIgnored(CorrectBus):
    def _contains(self, entry, x):
        return entry[0] == x


class _CapacityOffByOne(CorrectBus):
    def _full(self):
        return self._counted() > self.nr_iobus_devs


class _UnsortedRegister(CorrectBus):
    def _insert(self, entry):
        self._starts.append(self._key(entry[0]))
        self._entries.append(entry)


class _UnregisterWrongEntry(CorrectBus):
    def _find(self, dev):
        mine = next((e for e in self._entries if e[2] is dev), None)
        if mine is None:
            return None
        return next(i for i, e in enumerate(self._entries) if (e[0], e[1]) == (mine[0], mine[1]))


class _AddressOrder(CorrectBus):
    def _order(self, found):
        return sorted(found, key=lambda e: (e[0], e[3]))


class _LastByteDropped(CorrectBus):
    def _contains(self, entry, x):
        lo, hi = extent(entry[0], entry[1])
        last = hi - 1  # the end computed inclusively ...
        return lo <= x < last  # ... then compared as if exclusive


class _ReadReversed(CorrectBus):
    def read(self, addr, length):
        rc, data = super().read(addr, length)
        return rc, bytes(reversed(data))


class _UnregisterKeepsOrder(CorrectBus):
    def _remove(self, i):
        del self._entries[i]
        del self._starts[i]


class _SignedLen(CorrectBus):
    def _contains(self, entry, x):
        n = entry[1] & 0xFFFFFFFF
        n = n - (1 << 32) if n >= 1 << 31 else n  # the length read as a C int
        return entry[0] <= x < min(entry[0] + n, U64_END)


class _OnePastEnd(CorrectBus):
    def _contains(self, entry, x):
        lo, hi = extent(entry[0], entry[1])
        return lo <= x <= hi


def no_walk_back(capacity):
    """Bug: no walk-back; only the entry bisect lands on (the last start <= addr) is checked."""
    return _NoWalkBack(capacity)


def walk_back_off_by_one(capacity):
    """Bug: the walk-back starts one entry too early, skipping the first candidate."""
    return _WalkBackOffByOne(capacity)


def first_candidate_only(capacity):
    """Bug: only the first holding entry the walk-back finds is offered, not all of them."""
    return _FirstCandidateOnly(capacity)


def signed_compare(capacity):
    """Bug: start addresses sorted and bisected as int64, so addresses >= 2**63 sort below 0."""
    return _SignedCompare(capacity)


def length_ignored(capacity):
    """Bug: the length is ignored; an entry holds an access only at its exact start."""
    return _LengthIgnored(capacity)


def capacity_off_by_one(capacity):
    """Bug: the capacity check is off by one; capacity + 1 devices are accepted."""
    return _CapacityOffByOne(capacity)


def unsorted_register(capacity):
    """Bug: register appends instead of inserting in address order, so bisect searches an unsorted array."""
    return _UnsortedRegister(capacity)


def unregister_wrong_entry(capacity):
    """Bug: unregister removes the first entry with the device's range, not the device itself."""
    return _UnregisterWrongEntry(capacity)


def address_order(capacity):
    """Bug: the candidates are offered in address order instead of the linear bus's order."""
    return _AddressOrder(capacity)


def last_byte_dropped(capacity):
    """Bug: the end computed inclusively (addr + len - 1) but compared exclusively: a range's last byte never matches."""
    return _LastByteDropped(capacity)


def read_reversed(capacity):
    """Bug: a read returns the device's bytes reversed."""
    return _ReadReversed(capacity)


def unregister_keeps_order(capacity):
    """Bug: unregister keeps registration order where the linear bus moves its last device into the hole."""
    return _UnregisterKeepsOrder(capacity)


def signed_len(capacity):
    """Bug (outside positive-len): the length read as a signed int; a length >= 2**31 names no byte."""
    return _SignedLen(capacity)


def one_past_end(capacity):
    """Not told apart: the end inclusive, so the byte one past a range is offered too (the device declines it)."""
    return _OnePastEnd(capacity)


#: The planted buses: factory name -> the corner its one bug sits in.
PLANTED = {
    "no_walk_back": "walk-back: missing",
    "walk_back_off_by_one": "walk-back: off by one",
    "first_candidate_only": "walk-back: stops at the first holding entry",
    "signed_compare": "address compare: int64 instead of u64",
    "length_ignored": "containment: length ignored",
    "capacity_off_by_one": "registration: capacity + 1",
    "unsorted_register": "registration: array not kept sorted",
    "unregister_wrong_entry": "unregistration: removes a same-range entry, not the device",
    "address_order": "offering order: address order instead of linear order",
    "last_byte_dropped": "containment: end computed inclusively, last byte lost",
    "read_reversed": "read data: bytes reversed",
    "unregister_keeps_order": "unregistration: registration order kept instead of move-last",
    "signed_len": "length: int instead of u32 (outside positive-len)",
}

#: Planted buses whose bug lies outside ``positive-len+no-wrap``: under that
#: contract the suite must NOT tell them apart from :func:`correct`.
OUTSIDE_CONTRACT = {"signed_len": "positive-len"}

#: Buses with a change no scenario can observe while every device accepts only
#: accesses whose first byte lies in its range (positive lengths): the byte one
#: past a range is offered to a device that declines it. Not in :data:`PLANTED`;
#: a suite that reports them reports a false finding.
EQUIVALENT = {"one_past_end": "containment: end inclusive (one byte past the end offered; the device declines)"}
