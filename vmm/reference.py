"""The VMM reference (REF): a linear list in registration order over exact integers.

Reference section 0.2 of ``vmm-buses.md``: no wrapping, no key, no tree; a
registration is an entry ``(dev, base, len)`` appended to a list, an access
is answered by the first entry in registration order that matches. It is
parameterised by a :class:`Contract`, the registration contract a VMM
documents; ``STRICT`` is REF-strict (zero length, ranges past the top and
overlaps rejected, accesses contained whole). A model is judged against its
own VMM's contract (a divergence is then a **defect**) and against
``STRICT`` (a divergence that its own contract explains is a **contract
difference**).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from iobus_verify.vmm.protocol import MISS, Access


@dataclass(frozen=True)
class Contract:
    """A documented registration contract, one knob per choice a VMM makes.

    ``zero_len``: a zero-length range is ``reject``-ed or ``accept``-ed (it holds no byte).
    ``top``: a range past ``2^W`` is ``reject``-ed, or ``clip``-ped (accepted, its bytes past the top do not exist).
    ``overlap``: ``reject`` an overlap, or resolve it by ``priority`` (the newest entry wins).
    ``match``: an access is matched by its first byte (``point``) or ``contain``-ed whole.
    ``zero_access``: a zero-length access is a ``miss`` or is ``deliver``-ed (point matching only).
    ``remove_by``: removal by range matches the ``exact`` ``(base, len)``, the ``base`` alone (the
    length validated like a registration's: non-zero, not past the top, when those are rejected)
    or any ``interior`` address (``base`` is that address).
    ``relocate_len``: a relocation's length must equal the registered one (``exact``), is the new length (``any``),
    or is ignored, the entry keeping its registered length (``keep``: a PCI BAR's size is the device's, a guest
    writes only the address; kvmtool's ``pci_config_bar_wr``).
    ``relocate_by``: a relocation names its entry as a removal does (``remove``), or by its device and
    exact base (``device-base``: the BAR of that device, the region object; kvmtool, QEMU).
    ``relocate_absent``: relocating a range that is not mapped is an ``error``, or ``insert``-s the new
    range for the device (crosvm's BAR move: ``PciRoot`` knows the device whether or not its old BAR is mapped).
    ``relocate_reports``: a relocation returns its ``errors``, or ``nothing`` (a guest's BAR write has
    no error path: a refused move is then judged by the state it leaves, which must be unchanged).
    ``relocate_order``: a moved entry ``keep``-s its place in registration order, or becomes the ``newest``
    (QEMU's ``set_address`` puts the region at the front of its priority group), or the ``newest``
    only when its base changes (``newest-if-moved``: ``memory_region_set_address`` returns early when the
    address is unchanged, memory.c @f96b157e).
    ``relocate_overlap``: a move onto live ranges is refused (``reject``, under ``overlap=reject``), or
    ``park``-s them: the ranges overlapping the target are unmapped but kept, the move is made, then the
    parked ranges overlapping the old place are mapped again; only ranges below 2^32 (what a 32-bit BAR holds)
    are parked (a larger one is a non-PCI region: moving it is refused), and a target still overlapping
    another range refuses the move (kvmtool's BAR reassignment, ``pci.c``
    ``pci_config_bar_wr``: "memory regions for different devices can overlap as long as no access is made
    to the overlapping memory regions"). A parked range is not accessed nor removed; a later move of its
    device's range (``device-base``) finds it.
    """

    zero_len: str = "reject"
    top: str = "reject"
    overlap: str = "reject"
    match: str = "contain"
    zero_access: str = "miss"
    remove_by: str = "exact"
    relocate_len: str = "exact"
    relocate_absent: str = "error"
    relocate_reports: str = "errors"
    relocate_order: str = "keep"
    relocate_by: str = "remove"
    relocate_overlap: str = "reject"

    def differences(self, other: "Contract") -> list[str]:
        """The knobs on which two contracts differ, as ``name: mine (vs theirs)``."""
        return [f"{k}: {getattr(self, k)} (vs {getattr(other, k)})" for k in self.__dataclass_fields__ if getattr(self, k) != getattr(other, k)]


#: REF-strict: the reference every VMM is also compared with.
STRICT = Contract()
#: What the condition atoms are evaluated on: every attempted registration is live.
PERMISSIVE = Contract(zero_len="accept", top="clip", overlap="priority", match="point", zero_access="deliver")


@dataclass(frozen=True)
class Entry:
    dev: str
    base: int
    len: int

    def end(self, width: int) -> int:
        """Exclusive end in exact integers, clipped at ``2^width``."""
        return min(self.base + self.len, 1 << width)


class RefBus:
    """One space of the reference under a :class:`Contract` (``width``: 64 or 16)."""

    def __init__(self, contract: Contract, width: int = 64):
        self.contract = contract
        self.width = width
        self.entries: list[Entry] = []
        self.parked: list[Entry] = []  # relocate_overlap=park: unmapped by a move, kept for re-mapping

    # -- helpers ------------------------------------------------------------------
    def _valid(self, base: int, length: int) -> str | None:
        c = self.contract
        if length == 0 and c.zero_len == "reject":
            return "zero length"
        if base + length > (1 << self.width) and c.top == "reject":
            return "past the top"
        return None

    def _overlapping(self, base: int, length: int, skip: Entry | None = None) -> Entry | None:
        end = min(base + length, 1 << self.width)
        for e in self.entries:
            if e is not skip and e.base < end and base < e.end(self.width) and length and e.len:
                return e
        return None

    def _find(self, base: int, length: int) -> Entry | None:
        """The entry a removal or relocation names: the first in registration
        order, or under ``priority`` the newest (the one that is visible)."""
        by = self.contract.remove_by
        for e in reversed(self.entries) if self.contract.overlap == "priority" else self.entries:
            if by == "exact" and (e.base, e.len) == (base, length):
                return e
            if by == "base" and e.base == base:
                return e
            if by == "interior" and e.base <= base < e.end(self.width):
                return e
        return None

    def _find_moved(self, dev: str, base: int, length: int) -> Entry | None:
        """The entry a relocation names (``relocate_by``); under ``device-base`` a parked one too."""
        if self.contract.relocate_by == "remove":
            return self._find(base, length)
        # a mapped one first: under priority the newest (the visible one), else in registration order
        live = list(reversed(self.entries)) if self.contract.overlap == "priority" else self.entries
        for e in live + self.parked:
            if e.dev == dev and e.base == base:
                return e
        return None

    # -- operations -----------------------------------------------------------------
    def register(self, dev: str, base: int, length: int) -> str:
        bad = self._valid(base, length)
        if bad:
            return bad
        if self.contract.overlap == "reject" and self._overlapping(base, length):
            return "overlap"
        self.entries.append(Entry(dev, base, length))
        return "ok"

    def register_resources(self, dev: str, ranges) -> str:
        """Several ranges of one device in one call: all of them or none (each
        valid, none overlapping a live range or another of the call's)."""
        for b, n in ranges:
            bad = self._valid(b, n)
            if bad:
                return bad
        if self.contract.overlap == "reject":
            for i, (b, n) in enumerate(ranges):
                if self._overlapping(b, n):
                    return "overlap"
                for b2, n2 in ranges[:i]:
                    if n and n2 and b < min(b2 + n2, 1 << self.width) and b2 < min(b + n, 1 << self.width):
                        return "overlap"
        for b, n in ranges:
            self.entries.append(Entry(dev, b, n))
        return "ok"

    def remove(self, base: int, length: int) -> str:
        if self.contract.remove_by == "base":
            bad = self._valid(base, length)
            if bad:
                return bad
        e = self._find(base, length)
        if e is None:
            return "absent"
        self.entries.remove(e)
        return "ok"

    def remove_device(self, dev: str) -> str:
        self.entries = [e for e in self.entries if e.dev != dev]
        return "ok"

    def relocate(self, dev: str, base: int, length: int, new_base: int) -> str:
        """Atomic: on any error nothing changes; the entry keeps its place in registration order."""
        rc = self._relocate(dev, base, length, new_base)
        return "ok" if self.contract.relocate_reports == "nothing" else rc

    def _relocate(self, dev: str, base: int, length: int, new_base: int) -> str:
        c = self.contract
        bad = self._valid(base, length) if c.remove_by == "base" and c.relocate_by == "remove" else None
        if bad:
            return bad
        e = self._find_moved(dev, base, length)
        if e is None and c.relocate_absent == "insert" and c.relocate_overlap == "park":
            # the BAR write of a BAR not mapped is the same move: it parks what its target overlaps
            e = Entry(dev, base, length)
            self.parked.append(e)
        elif e is None and c.relocate_absent == "insert":
            return self.register(dev, new_base, length)
        if e is None:
            return "absent"
        if c.relocate_len == "exact" and e.len != length:
            return "length differs"
        if c.relocate_len == "keep":
            length = e.len
        bad = self._valid(new_base, length)
        if bad:
            return bad
        if c.relocate_overlap == "park":
            if e.base + e.len > self.BAR_TOP:  # a non-PCI device's region: no BAR to write
                return "not a BAR"
            return self._relocate_park(e, new_base, length)
        if c.overlap == "reject" and self._overlapping(new_base, length, skip=e):
            return "overlap"
        i = self.entries.index(e)
        moved = replace(e, base=new_base, len=length)
        if c.relocate_order == "newest" or (c.relocate_order == "newest-if-moved" and new_base != e.base):
            del self.entries[i]
            self.entries.append(moved)
        else:
            self.entries[i] = moved
        return "ok"

    #: relocate_overlap=park: only a range a 32-bit BAR can hold is a BAR (others are non-PCI devices' regions)
    BAR_TOP = 1 << 32

    def _relocate_park(self, e: Entry, new_base: int, length: int) -> str:
        """A BAR reassignment: unmap the mover, park the BARs overlapping its target, map it
        there, then map again the parked BARs overlapping its old place (in the order they were
        parked; the first that cannot be mapped stops that pass). A target still overlapping a
        live range (a non-BAR region) refuses the move: nothing changes."""
        was_parked = e in self.parked
        (self.parked if was_parked else self.entries).remove(e)
        end = min(new_base + length, 1 << self.width)
        hit = [x for x in self.entries if x.base < end and new_base < x.end(self.width) and length and x.len and x.base + x.len <= self.BAR_TOP]
        for x in hit:
            self.entries.remove(x)
            self.parked.append(x)
        if self._overlapping(new_base, length):
            for x in hit:
                self.parked.remove(x)
                self.entries.append(x)
            (self.parked if was_parked else self.entries).append(e)
            return "overlap"
        self.entries.append(replace(e, base=new_base, len=length))
        oend = e.end(self.width)
        for x in [x for x in self.parked if x.base < oend and e.base < x.end(self.width) and e.len and x.len]:
            if self._overlapping(x.base, x.len):
                break
            self.parked.remove(x)
            self.entries.append(x)
        return "ok"

    def access(self, kind: str, addr: int, length: int) -> Access:
        c = self.contract
        if length == 0 and (c.zero_access == "miss" or c.match == "contain"):
            return MISS
        order = reversed(self.entries) if c.overlap == "priority" else iter(self.entries)
        for e in order:
            end = e.end(self.width)
            if c.match == "point" and e.base <= addr < end:
                return Access(e.dev, e.base, addr - e.base)
            if c.match == "contain" and e.base <= addr and addr + length <= end:
                return Access(e.dev, e.base, addr - e.base)
        return MISS

    def mappings(self) -> list[tuple[int, int, str]]:
        return sorted((e.base, e.len, e.dev) for e in self.entries)
