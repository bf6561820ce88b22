"""QEMU's memory API: a tree of prioritised, possibly overlapping regions, flattened into disjoint ranges.

Sources (``qemu/qemu``; read at the commits named, prose and code ours):

* ``system/memory.c`` @ ``f96b157ebb93f94cd56ebbc99bc20982b8fd86ef``:
  ``AddrRange`` helpers (``Int128`` start and size), ``render_memory_region``,
  ``generate_memory_topology``, ``flatview_insert``, ``flatview_simplify`` and
  ``can_merge``, ``memory_region_update_container_subregions``,
  ``memory_region_add_subregion(_overlap)``, ``memory_region_del_subregion``,
  ``memory_region_set_address`` (``memory_region_readd_subregion``),
  ``memory_region_set_size``, ``memory_region_set_enabled``,
  ``flatview_lookup``/``memory_region_find_rcu`` (``bsearch`` + walk back).
  The same functions read at ``0102503dc58d`` are identical in what is modelled.
* ``system/physmem.c`` (``7489f7f3f81d`` as the reference cites; the loop read
  in the 2024 text with ``flatview_{read,write}_continue_step``):
  ``memory_access_size`` (``valid.max_access_size``, 0 meaning 4; bounded by
  ``addr & -addr`` of the offset *in the region*, as an ``unsigned``, unless
  ``impl.unaligned``; ``pow2floor``), ``address_space_translate_internal``
  (RAM clamped to the section, MMIO not clamped), the read/write loop
  (``addr += l`` in ``hwaddr``), zero-length accesses doing nothing.

Exact integers stand for ``Int128``; ``int128_get64`` asserts that its value
fits a ``uint64_t`` (:class:`ModelPanic` otherwise), ``hwaddr`` sums wrap at
2^64. Rendering starts from the clip ``[0, 2^64)`` so nothing wraps there.

Not modelled: IOMMUs, ``romd_mode``, dirty logging, the dispatch radix tree's
page/subpage split (a lookup answers the flat range holding the address, which
is what the radix tree answers; RAM pieces are clamped at the flat range end,
where the real split may be finer), ``access_with_adjusted_size`` splitting
inside a device, ``valid.accepts``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from iobus_verify.model.cints import U64_MAX, U64_MOD, u32, u64

try:  # the framework's panic type when it exists
    from iobus_verify.vmm import ModelPanic  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the merge

    class ModelPanic(Exception):  # type: ignore[no-redef]
        """The modelled C code would crash or abort here (assert, g_assert, abort)."""


INT128_2_64 = U64_MOD  # C: int128_2_64()
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1


def int128_get64(x: int) -> int:
    """C: ``int128_get64`` asserts the value fits ``uint64_t``."""
    if not 0 <= x <= U64_MAX:
        raise ModelPanic(f"int128_get64: {x:#x} does not fit uint64_t (assert)")
    return x


def _size_from_u64(size: int) -> int:
    """``memory_region_init``/``memory_region_set_size``: ``UINT64_MAX`` means 2^64."""
    size = u64(size)
    return INT128_2_64 if size == U64_MAX else size


@dataclass(frozen=True)
class AddrRange:
    """``struct AddrRange {Int128 start, size}``."""

    start: int
    size: int

    @property
    def end(self) -> int:  # C: addrrange_end
        return self.start + self.size

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end

    def intersects(self, other: "AddrRange") -> bool:
        # C: addrrange_contains(r1, r2.start) || addrrange_contains(r2, r1.start)
        return self.contains(other.start) or other.contains(self.start)

    def intersection(self, other: "AddrRange") -> "AddrRange":
        start = max(self.start, other.start)
        end = min(self.end, other.end)
        return AddrRange(start, end - start)


class MemoryRegion:
    """The fields of ``struct MemoryRegion`` that decide rendering and dispatch.

    ``terminates`` is true for regions with ops or RAM (``memory_region_init_io``,
    ``_ram``), false for pure containers (``memory_region_init``) and aliases.
    ``dev`` is the opaque the ops receive; ``max_access_size`` is
    ``ops->valid.max_access_size`` (0: 4), ``min_access_size``
    ``ops->valid.min_access_size``, ``unaligned`` both ``impl.unaligned`` and
    ``valid.unaligned``.
    """

    def __init__(self, name: str, size: int, *, terminates: bool = False, dev: Any = None, ram: bool = False,
                 max_access_size: int = 0, min_access_size: int = 0, unaligned: bool = False) -> None:
        self.name = name
        self.size = _size_from_u64(size)
        self.addr = 0
        self.priority = 0
        self.container: MemoryRegion | None = None
        self.subregions: list[MemoryRegion] = []  # C: QTAILQ, in priority order
        self.enabled = True
        self.terminates = terminates
        self.ram = ram
        self.dev = dev
        self.alias: MemoryRegion | None = None
        self.alias_offset = 0
        self.mapped_via_alias = 0
        self.readonly = False
        self.max_access_size = max_access_size
        self.min_access_size = min_access_size
        self.unaligned = unaligned

    def __repr__(self) -> str:
        return f"MemoryRegion({self.name!r})"


def memory_region_init(name: str, size: int) -> MemoryRegion:
    """A pure container."""
    return MemoryRegion(name, size)


def memory_region_init_io(name: str, dev: Any, size: int, **ops: Any) -> MemoryRegion:
    return MemoryRegion(name, size, terminates=True, dev=dev, **ops)


def memory_region_init_ram(name: str, size: int) -> MemoryRegion:
    return MemoryRegion(name, size, terminates=True, ram=True)


def memory_region_init_alias(name: str, orig: MemoryRegion, offset: int, size: int) -> MemoryRegion:
    mr = MemoryRegion(name, size)
    mr.alias, mr.alias_offset = orig, u64(offset)
    return mr


def _update_container_subregions(subregion: MemoryRegion) -> None:
    """``memory_region_update_container_subregions``: before the first child whose
    priority is ``<=`` the new one's, so the newest of equal priorities comes first."""
    mr = subregion.container
    assert mr is not None
    for i, other in enumerate(mr.subregions):
        if subregion.priority >= other.priority:
            mr.subregions.insert(i, subregion)  # C: QTAILQ_INSERT_BEFORE
            return
    mr.subregions.append(subregion)  # C: QTAILQ_INSERT_TAIL


def _add_subregion_common(mr: MemoryRegion, offset: int, subregion: MemoryRegion) -> None:
    if subregion.container is not None:
        raise ModelPanic("memory_region_add_subregion: assert(!subregion->container)")
    subregion.container = mr
    alias = subregion.alias
    while alias is not None:
        alias.mapped_via_alias += 1
        alias = alias.alias
    subregion.addr = u64(offset)  # C: hwaddr
    _update_container_subregions(subregion)


def memory_region_add_subregion(mr: MemoryRegion, offset: int, subregion: MemoryRegion) -> None:
    subregion.priority = 0
    _add_subregion_common(mr, offset, subregion)


def memory_region_add_subregion_overlap(mr: MemoryRegion, offset: int, subregion: MemoryRegion,
                                        priority: int) -> None:
    if not INT_MIN <= priority <= INT_MAX:
        raise ValueError(f"priority {priority} is not a C int")
    subregion.priority = priority
    _add_subregion_common(mr, offset, subregion)


def memory_region_del_subregion(mr: MemoryRegion, subregion: MemoryRegion) -> None:
    if subregion.container is not mr:
        raise ModelPanic("memory_region_del_subregion: assert(subregion->container == mr)")
    subregion.container = None
    alias = subregion.alias
    while alias is not None:
        alias.mapped_via_alias -= 1
        if alias.mapped_via_alias < 0:
            raise ModelPanic("memory_region_del_subregion: assert(alias->mapped_via_alias >= 0)")
        alias = alias.alias
    mr.subregions.remove(subregion)  # C: QTAILQ_REMOVE (by identity: a region is in one list once)


def memory_region_set_address(mr: MemoryRegion, addr: int) -> None:
    """Changes ``addr``; inside a container, deletes and re-adds the region in one
    transaction, which keeps the priority and moves it to the front of its
    equal-priority group."""
    addr = u64(addr)
    if addr != mr.addr:
        mr.addr = addr
        container = mr.container
        if container is not None:  # C: memory_region_readd_subregion
            memory_region_del_subregion(container, mr)
            _add_subregion_common(container, mr.addr, mr)


def memory_region_set_size(mr: MemoryRegion, size: int) -> None:
    mr.size = _size_from_u64(size)


def memory_region_set_enabled(mr: MemoryRegion, enabled: bool) -> None:
    mr.enabled = enabled


def memory_region_set_alias_offset(mr: MemoryRegion, offset: int) -> None:
    if mr.alias is None:
        raise ModelPanic("memory_region_set_alias_offset: assert(mr->alias)")
    mr.alias_offset = u64(offset)


@dataclass
class FlatRange:
    """``struct FlatRange`` (the merge-relevant flags only)."""

    mr: MemoryRegion
    offset_in_region: int
    addr: AddrRange
    readonly: bool = False

    @property
    def dev(self) -> Any:
        return self.mr.dev


@dataclass
class FlatView:
    ranges: list[FlatRange] = field(default_factory=list)


def render_memory_region(view: FlatView, mr: MemoryRegion, base: int, clip: AddrRange, readonly: bool) -> None:
    """``render_memory_region``: children first, in list order; the region's own bytes
    go only into the gaps the view has left ("ranges in view obscure ranges in mr")."""
    if not mr.enabled:
        return
    base += mr.addr  # C: int128_addto(&base, int128_make64(mr->addr))
    readonly = readonly or mr.readonly
    tmp = AddrRange(base, mr.size)
    if not tmp.intersects(clip):
        return
    clip = tmp.intersection(clip)
    if mr.alias is not None:
        base -= mr.alias.addr
        base -= mr.alias_offset
        render_memory_region(view, mr.alias, base, clip, readonly)
        return
    for sub in list(mr.subregions):
        render_memory_region(view, sub, base, clip, readonly)
    if not mr.terminates:
        return
    offset_in_region = int128_get64(clip.start - base)
    base = clip.start
    remain = clip.size
    i = 0
    while i < len(view.ranges) and remain:
        r = view.ranges[i].addr
        if base >= r.end:
            i += 1
            continue
        if base < r.start:
            now = min(remain, r.start - base)
            view.ranges.insert(i, FlatRange(mr, offset_in_region, AddrRange(base, now), readonly))
            i += 1
            base += now
            offset_in_region = u64(offset_in_region + int128_get64(now))  # C: hwaddr +=
            remain -= now
        now = min(base + remain, view.ranges[i].addr.end) - base
        base += now
        offset_in_region = u64(offset_in_region + int128_get64(now))
        remain -= now
        i += 1
    if remain:
        view.ranges.insert(i, FlatRange(mr, offset_in_region, AddrRange(base, remain), readonly))


def _can_merge(r1: FlatRange, r2: FlatRange) -> bool:
    return (r1.addr.end == r2.addr.start and r1.mr is r2.mr
            and r1.offset_in_region + r1.addr.size == r2.offset_in_region
            and r1.readonly == r2.readonly)


def flatview_simplify(view: FlatView) -> None:
    if len(view.ranges) <= 1:
        return
    out = [view.ranges[0]]
    for r in view.ranges[1:]:
        if _can_merge(out[-1], r):
            out[-1] = FlatRange(out[-1].mr, out[-1].offset_in_region,
                                AddrRange(out[-1].addr.start, out[-1].addr.size + r.addr.size), out[-1].readonly)
        else:
            out.append(r)
    view.ranges = out


def generate_memory_topology(root: MemoryRegion | None) -> FlatView:
    view = FlatView()
    if root is not None:
        render_memory_region(view, root, 0, AddrRange(0, INT128_2_64), False)
    flatview_simplify(view)
    return view


def flatview_lookup(view: FlatView, rng: AddrRange) -> int | None:
    """``bsearch`` with ``cmp_flatrange_addr`` over the sorted disjoint ranges: the
    index of some range intersecting ``rng`` (the glibc midpoint loop)."""
    lo, hi = 0, len(view.ranges)
    while lo < hi:
        mid = (lo + hi) // 2
        fr = view.ranges[mid].addr
        if rng.end <= fr.start:
            c = -1
        elif rng.start >= fr.end:
            c = 1
        else:
            return mid
        if c < 0:
            hi = mid
        else:
            lo = mid + 1
    return None


def memory_region_find(view: FlatView, addr: int, size: int) -> tuple[FlatRange, AddrRange] | None:
    """``memory_region_find_rcu`` on an address space root: the first flat range
    meeting ``[addr, addr+size)`` (bsearch, then walk back) and the intersection."""
    rng = AddrRange(u64(addr), u64(size))
    i = flatview_lookup(view, rng)
    if i is None:
        return None
    while i > 0 and view.ranges[i - 1].addr.intersects(rng):
        i -= 1
    fr = view.ranges[i]
    return fr, rng.intersection(fr.addr)


def pow2floor(x: int) -> int:
    return 0 if x == 0 else 1 << (x.bit_length() - 1)


def memory_access_size(mr: MemoryRegion, l: int, addr: int) -> int:
    """``memory_access_size(mr, unsigned l, hwaddr addr)``; ``addr`` is the offset in the region."""
    access_size_max = mr.max_access_size or 4
    if not mr.unaligned:
        align_size_max = u32(addr & u64(-addr))  # C: unsigned align_size_max = addr & -addr
        if align_size_max != 0 and align_size_max < access_size_max:
            access_size_max = align_size_max
    l = u32(l)  # C: unsigned l
    if l > access_size_max:
        l = access_size_max
    return pow2floor(l)


@dataclass(frozen=True)
class Piece:
    """One dispatch of the read/write loop: ``mr`` (None: unassigned), its offset, the size."""

    mr: MemoryRegion | None
    mr_addr: int
    size: int
    accepted: bool

    @property
    def dev(self) -> Any:
        return None if self.mr is None else self.mr.dev


class AddressSpace:
    """An ``AddressSpace``: a root region and the FlatView its last commit rendered.

    Every mutation here is its own transaction: the view is re-rendered when it
    is next read, as ``memory_region_transaction_commit`` would."""

    def __init__(self, root: MemoryRegion) -> None:
        self.root = root

    @property
    def view(self) -> FlatView:
        return generate_memory_topology(self.root)

    def translate(self, view: FlatView, addr: int, plen: int) -> tuple[MemoryRegion | None, int, int]:
        """``flatview_translate`` without IOMMU: the region holding ``addr`` (None when
        unassigned), the offset in it, and ``plen`` clamped for RAM only."""
        i = bisect.bisect_right([r.addr.start for r in view.ranges], addr) - 1
        if i >= 0 and view.ranges[i].addr.contains(addr):
            fr = view.ranges[i]
            off = addr - fr.addr.start
            xlat = u64(off + fr.offset_in_region)
            if fr.mr.ram:
                plen = min(fr.addr.size - off, plen)
            return fr.mr, xlat, plen
        return None, addr, plen  # C: the unassigned section, offset = address

    def rw(self, addr: int, length: int) -> list[Piece]:
        """``address_space_read``/``write`` → ``flatview_{read,write}_continue``: the pieces dispatched."""
        addr, length = u64(addr), u64(length)
        if length == 0:
            return []
        view = self.view
        pieces: list[Piece] = []
        l = length
        mr, addr1, l = self.translate(view, addr, l)
        while True:
            if mr is None or not mr.ram:  # C: !memory_access_is_direct: MMIO (or unassigned)
                probe = mr if mr is not None else _UNASSIGNED
                l = memory_access_size(probe, l, addr1)
                ok = mr is not None and _access_valid(mr, addr1, l)
            else:
                ok = True
            pieces.append(Piece(mr, addr1, l, ok))
            length -= l
            addr = u64(addr + l)  # C: hwaddr addr += l
            if not length:
                break
            l = length
            mr, addr1, l = self.translate(view, addr, l)
        return pieces


_UNASSIGNED = MemoryRegion("unassigned", 0, terminates=True)


def _access_valid(mr: MemoryRegion, addr: int, size: int) -> bool:
    """``memory_region_access_valid`` (without ``valid.accepts``)."""
    if not mr.unaligned and addr & (size - 1):
        return False
    if not mr.max_access_size:
        return True
    return mr.min_access_size <= size <= mr.max_access_size


# --------------------------------------------------------------------------
# The uniform adapter
# --------------------------------------------------------------------------


class QemuBus:
    """The framework's view of QEMU: ``"mmio"`` is ``get_system_memory()`` (a pure
    container of ``UINT64_MAX`` = 2^64 bytes), ``"pio"`` is ``get_system_io()``
    (an I/O region of 65536 bytes with unassigned ops, so it fills every hole
    and clips ports at 2^16). Each registration is a new I/O region of the
    device. Nothing is ever refused; :class:`ModelPanic` where QEMU asserts."""

    SPACES = ("mmio", "pio")
    #: What the code implements, for the framework's contract.
    CONTRACT = {
        "overlap": "accepted; priority, then the most recently added, decides visibility",
        "zero_length_range": "accepted, renders nothing",
        "access_match": "first byte (the region holding addr gets a piece; MMIO pieces are not clamped)",
        "pio_bits": 16,
        "remove_by": "region (the adapter: newest region at base)",
        "relocate": "set_address: atomic, cannot fail, moves to the front of its priority group",
    }

    def __init__(self) -> None:
        self.roots = {
            "mmio": memory_region_init("system", U64_MAX),
            "pio": memory_region_init_io("io", None, 65536),
        }
        self.spaces = {k: AddressSpace(v) for k, v in self.roots.items()}
        self.regions: dict[str, list[MemoryRegion]] = {"mmio": [], "pio": []}

    def _find(self, space: str, base: int, length: int | None, dev: Any) -> MemoryRegion | None:
        for mr in reversed(self.regions[space]):  # newest first
            if mr.addr == u64(base) and (dev is None or mr.dev is dev) and (
                    length is None or mr.size == _size_from_u64(length)):
                return mr
        return None

    def register(self, space: str, base: int, length: int, dev: Any, priority: int | None = None) -> str | None:
        """``memory_region_init_io(mr, owner, ops, dev, name, length)`` then
        ``memory_region_add_subregion(root, base, mr)`` (priority 0), or
        ``memory_region_add_subregion_overlap(..., priority)``. Always None:
        overlaps, zero sizes and ranges past 2^64 are accepted (rendering clips).
        ``base`` and ``length`` are converted to ``hwaddr``/``uint64_t`` as the C
        parameters are; a ``length`` of ``UINT64_MAX`` means 2^64 bytes."""
        mr = memory_region_init_io(f"{space}:{base:#x}", dev, length)
        if priority is None:
            memory_region_add_subregion(self.roots[space], base, mr)
        else:
            memory_region_add_subregion_overlap(self.roots[space], base, mr, priority)
        self.regions[space].append(mr)
        return None

    def remove(self, space: str, base: int, length: int | None = None, dev: Any = None) -> str | None:
        """``memory_region_del_subregion(root, mr)`` for the newest region at ``base``
        (matching ``length``/``dev`` when given). The C API takes the region
        pointer; ``"-ENOENT"`` is the adapter's answer when it holds no such region."""
        mr = self._find(space, base, length, dev)
        if mr is None:
            return "-ENOENT"
        memory_region_del_subregion(self.roots[space], mr)
        self.regions[space].remove(mr)
        return None

    def relocate(self, space: str, old_base: int, new_base: int, length: int, dev: Any) -> str | None:
        """``memory_region_set_address(mr, new_base)`` (and ``memory_region_set_size`` when
        ``length`` differs) inside one transaction: atomic, cannot fail, keeps the
        priority, moves the region to the front of its equal-priority group.
        ``"-ENOENT"`` when the adapter holds no region at ``old_base``."""
        mr = self._find(space, old_base, None, dev)
        if mr is None:
            return "-ENOENT"
        memory_region_set_address(mr, new_base)
        if _size_from_u64(length) != mr.size:
            memory_region_set_size(mr, length)
        return None

    def access(self, space: str, addr: int, width: int) -> list[Piece]:
        return self.spaces[space].rw(addr, width)

    def lookup(self, space: str, addr: int, width: int) -> Any:
        """The device that receives the access's first piece (the region holding ``addr``
        in the flat view; MMIO pieces are not clamped at the region end), None
        when that piece is unassigned, hits the I/O root's unassigned ops, is
        refused by ``memory_region_access_valid``, or ``width`` is 0."""
        pieces = self.access(space, addr, width)
        if not pieces or not pieces[0].accepted:
            return None
        return pieces[0].dev

    def ranges(self, space: str) -> list[tuple[int, int, Any]]:
        """The flat view as ``(start, end, dev)`` (exact integers, end exclusive)."""
        return [(fr.addr.start, fr.addr.end, fr.mr.dev) for fr in self.spaces[space].view.ranges]


__all__ = [
    "AddrRange",
    "AddressSpace",
    "FlatRange",
    "FlatView",
    "MemoryRegion",
    "ModelPanic",
    "Piece",
    "QemuBus",
    "generate_memory_topology",
    "memory_access_size",
    "memory_region_add_subregion",
    "memory_region_add_subregion_overlap",
    "memory_region_del_subregion",
    "memory_region_find",
    "memory_region_init",
    "memory_region_init_alias",
    "memory_region_init_io",
    "memory_region_init_ram",
    "memory_region_set_address",
    "memory_region_set_enabled",
    "memory_region_set_size",
]
