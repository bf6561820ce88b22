"""``fixed``: the project's own lookup, equal to the linear bus in O(log n + k).

Design
------
Two structures, rebuilt on every register and unregister (registration is rare,
lookups are hot, as in KVM):

1. **The entries in linear order.** The ``(addr, len, dev)`` entries are kept
   exactly as the linear bus keeps its devices: register appends, unregister
   moves the last entry into the hole. An entry's index (its *slot*) is
   therefore the position the linear bus would try that device at.

2. **A segment table.** Every entry gets the byte extent
   :func:`~iobus_verify.model.comparators.fixed_extent`: ``[addr, addr + len)``
   with ``len`` read as the u32 the caller meant, length 0 as the one-byte
   wildcard at ``addr``, clipped at 2**64 rather than wrapping. All extent
   ends cut the address space into elementary segments; each segment covered by
   at least one extent is stored as ``(lo, hi, slots)`` where ``slots`` lists,
   in increasing slot order, every entry whose extent covers the segment.
   Adjacent segments with the same ``slots`` are merged.

A lookup for an access ``(addr, len)`` takes its first byte ``addr``, finds the
segment containing it with the kernel's ``bsearch`` and
:func:`~iobus_verify.model.comparators.fixed_point_cmp`, and offers the devices
of ``slots`` in that order. No walk-back is needed: segments are disjoint, so at
most one compares equal.

Why it is right
---------------
* The sort order of the table (segments by ``lo``,
  :func:`~iobus_verify.model.comparators.fixed_segment_cmp`) is a strict weak
  order, and on disjoint segments a total one; the match comparator's equal set
  is a single element. So ``bsearch`` is complete: if a segment contains the
  point, it is found.
* No extent boundary lies strictly inside a segment, so for any point ``x`` in a
  segment, ``x`` lies in an extent exactly when the whole segment does. The
  ``slots`` of the segment holding ``x`` are thus exactly the entries whose
  extent contains ``x``, in linear order.
* Hence, whenever every device accepts only accesses whose first byte lies in
  its registered extent (a zero-length access: whose address lies in it or
  at its end, as a coalesced zone's containment check allows; see
  :meth:`FixedBus.candidates`), the first device to accept is the one the
  linear bus finds: the linear bus tries a superset (all devices) in the same order, and
  the devices ``fixed`` skips would have refused.

Why it is O(log n + k)
----------------------
``n`` extents have at most ``2n`` ends, so the table holds at most ``2n - 1``
segments and ``bsearch`` makes at most ``ceil(log2(2n))`` <=
``ceil(log2(n + 1)) + 1`` comparator calls. Then exactly ``k`` devices are
offered, ``k`` being the number of registered ranges that contain the access's
first byte; no comparator call is spent on ranges that do not contain it (the
kernel's forward walk spends one on the entry that ends it). The price is paid
at registration: the table is rebuilt by a sweep in O(n log n + size of the
table), where the table's size is the sum of ``k`` over its segments (O(n^2) in
the worst case of n nested ranges).

Registration follows the contract of the era ``fixed`` is paired with, today's,
exactly as the linear reference keeps it in that era (issue 18): 1000 devices
with ioeventfds not counted, ``-ENOSPC`` before allocating, unregister that
looks the device up first (0 when absent) and then allocates (``-ENOMEM``,
the bus left as it was), so that allocation faults and capacity limits hit
both buses alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iobus_verify.model.cints import INT, check_access
from iobus_verify.model.comparators import fixed_extent, fixed_point_cmp
from iobus_verify.model.kbsearch import bsearch_today
from iobus_verify.model.linear_bus import NR_IOBUS_DEVS_TODAY
from iobus_verify.model.offering import OfferingBus, remove_moving_last
from iobus_verify.model.protocol import ENOMEM, ENOSPC, AllocationHook, always_allocate

FIXED_SUMMARY = (
    "this project's design: linear-order entries plus a segment table; "
    "same device order as the linear bus in O(log n + k) comparisons"
)


@dataclass(frozen=True)
class RegistrationContract:
    """The registration rule a bus keeps, for the machine's capacity invariant
    (``properties/machine.py`` reads ``bus.variant.capacity_excludes_ioeventfds``)."""

    name: str
    capacity_excludes_ioeventfds: bool


#: Today's contract (ioeventfds do not count against NR_IOBUS_DEVS).
TODAY_CONTRACT = RegistrationContract("today", True)


@dataclass(frozen=True)
class Segment:
    """``[lo, hi)`` (exact integers) and the slots of the entries covering it, in linear order."""

    lo: int
    hi: int
    slots: tuple[int, ...]


def build_segments(extents: list[tuple[int, int]]) -> tuple[Segment, ...]:
    """The merged segment table of a list of extents, indexed by slot.

    A sweep over the sorted extent ends: at each boundary the active set is the
    set of extents covering the next elementary segment.
    """
    events: dict[int, list[tuple[int, int]]] = {}
    for slot, (lo, hi) in enumerate(extents):
        events.setdefault(lo, []).append((1, slot))
        events.setdefault(hi, []).append((-1, slot))
    active: set[int] = set()
    table: list[Segment] = []
    bounds = sorted(events)
    for j, pos in enumerate(bounds):
        for delta, slot in events[pos]:
            if delta > 0:
                active.add(slot)
            else:
                active.discard(slot)
        if not active or j + 1 == len(bounds):
            continue
        slots = tuple(sorted(active))
        nxt = bounds[j + 1]
        if table and table[-1].hi == pos and table[-1].slots == slots:
            table[-1] = Segment(table[-1].lo, nxt, slots)  # merge equal neighbours
        else:
            table.append(Segment(pos, nxt, slots))
    return tuple(table)


class FixedBus(OfferingBus):
    """The ``fixed`` variant (see the module docstring)."""

    name = "fixed"

    #: what the machine's capacity invariant reads (see RegistrationContract)
    variant = TODAY_CONTRACT
    capacity_excludes_ioeventfds = True

    def __init__(self, capacity: int | None = None, *, alloc: AllocationHook = always_allocate):
        super().__init__()
        self.capacity = NR_IOBUS_DEVS_TODAY if capacity is None else capacity
        self._alloc = alloc
        self._entries: list[tuple[int, int, Any]] = []
        self._table: tuple[Segment, ...] = ()
        self._extents: list[tuple[int, int]] = []

    def _rebuild(self) -> None:
        self._extents = [fixed_extent(INT, a, n) for a, n, _ in self._entries]
        self._table = build_segments(self._extents)

    def register(self, addr: int, length: int, dev: Any) -> int:
        check_access("register", addr, length)  # a gpa_t and an int, as the C bridge checks
        counted = sum(1 for e in self._entries if not getattr(e[2], "ioeventfd", False))
        if counted > self.capacity - 1:  # today: dev_count - ioeventfd_count > NR_IOBUS_DEVS - 1
            return -ENOSPC
        if not self._alloc("register:kmalloc"):
            return -ENOMEM
        self._entries.append((addr, length, dev))
        self._rebuild()
        return 0

    def unregister(self, dev: Any) -> int:
        if not any(e[2] is dev for e in self._entries):
            return 0  # today: an absent device is not an error
        if not self._alloc("unregister:kmalloc"):
            return -ENOMEM  # the bus is left as it was
        remove_moving_last(self._entries, dev)  # as the linear bus does
        self._rebuild()
        return 0

    def _point_cmp(self, point: int, seg: Segment) -> int:
        self._comparisons += 1
        return fixed_point_cmp(INT, point, seg.lo, seg.hi)

    def _segment_slots(self, point: int) -> tuple[int, ...]:
        found = bsearch_today(point, self._table, self._point_cmp)
        return () if found.index is None else self._table[found.index].slots

    def candidates(self, addr: int, length: int = 1) -> list[Any]:
        """The devices offered an access ``(addr, length)``, in offering order.

        Those whose extent holds the first byte ``addr``; for a zero-length
        access also those whose extent ends exactly at ``addr``: a coalesced
        zone takes an empty access at its end (its end may equal the zone's),
        and today's ``kvm_io_bus_cmp`` offers it there. That costs a second
        bsearch, on zero-length accesses only.
        """
        slots = set(self._segment_slots(addr))
        if length == 0 and addr > 0:
            slots.update(s for s in self._segment_slots(addr - 1) if self._extents[s][1] == addr)
        return [self._entries[s][2] for s in sorted(slots)]

    def write(self, addr: int, length: int, data: bytes) -> int:
        check_access("write", addr, length)
        return self._offer_write(self.candidates(addr, length), addr, length, data)

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        check_access("read", addr, length)
        return self._offer_read(self.candidates(addr, length), addr, length)

    def ranges(self) -> list[tuple[int, int, Any]]:
        return list(self._entries)

    def segments(self) -> tuple[Segment, ...]:
        return self._table
