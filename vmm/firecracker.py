"""Firecracker's bus in its three eras, literally.

* ``firecracker`` (v1.16.0 to main): ``firecracker-microvm/firecracker`` @
  ``81b38b9dad6056d7a48073e95ac5a9aed51cb2ab``, ``src/vmm/src/vstate/bus.rs``
  (last changed by ``ae1b9eefaed3b58e0f2c0a34d30a342a7628d636``, ``move_range``).
  Reference ``vmm-buses.md`` 2.1-2.5.
* ``firecracker-1.13`` (v1.13.0-v1.15.x): ``src/vm-device/src/bus.rs``, later
  ``src/vmm/src/vstate/bus.rs``, cloud-hypervisor's code line for line (verified
  at ``e12171e9cd2a127eaf370fa3592b93cd8d5ebae3^`` by the reference), with
  ``update_range`` and ``remove_by_device`` (both removed by ``0baac698`` in
  v1.15.0). Reference 2.6 and section 3.
* ``firecracker-1.12`` (up to v1.12): ``src/devices/src/bus.rs`` @
  ``00a69e2a13a7fc03ba607d9c62b6afbc0ccf6aac`` (the same logic at
  ``src/vmm/src/devices/bus.rs`` until ``f42851b3695211113e997b82059b1708ee39e4f8``).
  Reference 2.7.

Release profile (root ``Cargo.toml``): ``panic = "abort"``, no
``overflow-checks``: unchecked sums wrap in release and panic in dev
(``NAME@debug``). F-now has no unchecked sum a caller can overflow (its
ranges are built with ``checked_add``), so it has no ``@debug`` variant.
"""

from __future__ import annotations

from dataclasses import dataclass

from iobus_verify.vmm.cloud_hypervisor import CloudHypervisorBus
from iobus_verify.vmm.protocol import Access, BaseKeyedMap, ModelPanic, add, checked_add, sub


# -- F-now ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InclusiveRange:
    """F-now's ``BusRange {base, end}``, ``end`` inclusive."""

    base: int
    end: int

    def overlaps(self, other: "InclusiveRange") -> bool:
        # Rust: self.base <= other.end && other.base <= self.end (no arithmetic)
        return self.base <= other.end and other.base <= self.end


class BusError(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def new_range(base: int, length: int) -> InclusiveRange:
    # Rust: BusRange::new: len == 0 -> ZeroSizedRange; base.checked_add(len - 1) is None -> InvalidRange
    if length == 0:
        raise BusError("ZeroSizedRange")
    end = checked_add(base, length - 1)
    if end is None:
        raise BusError("InvalidRange")
    return InclusiveRange(base, end)


class FirecrackerBus:
    """F-now: ``ranges: BTreeMap<BusRange, usize>`` (slot) plus a slab of devices."""

    OPS = frozenset({"register", "remove", "relocate", "read", "write"})

    def __init__(self, space: str = "mmio", width: int = 64):
        self.space = space
        self.ranges = BaseKeyedMap()
        self.slab: list[str | None] = []
        self._free: list[int] = []  # Slab reuses the most recently freed slot first

    def _slab_insert(self, dev: str) -> int:
        if self._free:
            slot = self._free.pop()
            self.slab[slot] = dev
            return slot
        self.slab.append(dev)
        return len(self.slab) - 1

    def register(self, dev: str, base: int, length: int) -> str:
        """``insert(device, base, len)``: validated, checked and inserted under both locks: atomic."""
        try:
            r = new_range(base, length)
        except BusError as e:
            return e.name
        for _, key, _ in self.ranges.items():
            if key.overlaps(r):
                return "Overlap"
        slot = self._slab_insert(dev)
        self.ranges.insert(base, r, slot)
        return "ok"

    def remove(self, base: int, length: int) -> str:
        try:
            new_range(base, length)  # must be a valid range even though only its base is used
        except BusError as e:
            return e.name
        got = self.ranges.remove(base)  # by base only: the registered length is not compared
        if got is None:
            return "MissingAddressRange"
        self.slab[got[1]] = None
        self._free.append(got[1])
        return "ok"

    def relocate(self, dev: str, base: int, length: int, new_base: int) -> str:
        """``move_range(old_base, new_base, len)``."""
        try:
            old = new_range(base, length)
            new = new_range(new_base, length)
        except BusError as e:
            return e.name
        got = self.ranges.remove(base)
        if got is None:
            return "MissingAddressRange"
        key, slot = got
        if key.end != old.end:
            # Rust: assert_eq!(range.end, old.end, "... is registered with length ..."): the entry is
            # already removed; panic = "abort" in production
            raise ModelPanic(f"move_range: range at {base:#x} is registered with length {key.end - key.base + 1}, not {length}")
        for _, k, _ in self.ranges.items():
            if k.overlaps(new):
                self.ranges.insert(base, old, slot)  # restored
                return "Overlap"
        self.ranges.insert(new_base, new, slot)
        return "ok"

    def access(self, kind: str, addr: int, length: int) -> Access:
        # Rust: with_device: pred(addr); addr > range.end -> MissingAddressRange; data.len() never checked
        p = self.ranges.pred(addr)
        if p is None or addr > p[1].end:
            return Access(None, rc="MissingAddressRange")
        base, _, slot = p
        return Access(self.slab[slot], base, addr - base)

    def mappings(self) -> list[tuple[int, int, str]]:
        return [(b, k.end - k.base + 1, self.slab[s]) for b, k, s in self.ranges.items()]


# -- F-mid ---------------------------------------------------------------------------


class FirecrackerMidBus(CloudHypervisorBus):
    """F-mid (v1.13-v1.15): cloud-hypervisor's bus, copied (reference 2.6): same
    ``overlaps``, ``resolve``, same-base insert, ``update_range``, ``remove_by_device``."""

    SOURCE = "firecracker-microvm/firecracker src/vm-device/src/bus.rs (v1.13.0, 4184de05/3f2760d0)"


# -- F-old ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TupleRange:
    """F-old's private ``BusRange(base, len)``."""

    base: int
    len: int


class FirecrackerOldBus:
    """F-old (up to v1.12): base-keyed map, ``first_before`` by a reverse walk, two-probe insert."""

    OPS = frozenset({"register", "read", "write"})

    def __init__(self, space: str = "mmio", width: int = 64, overflow: str = "wrap"):
        self.space = space
        self.overflow = overflow
        self.devices = BaseKeyedMap()

    def first_before(self, addr: int):
        # Rust: for (range, dev) in self.devices.iter().rev() { if range.0 <= addr { return Some(..) } }
        for b, key, dev in reversed(list(self.devices.items())):
            if b <= addr:
                return b, key, dev
        return None

    def get_device(self, addr: int):
        p = self.first_before(addr)
        if p is None:
            return None
        base, key, dev = p
        offset = addr - base  # Rust: addr - start: base <= addr
        return (base, offset, dev) if offset < key.len else None

    def register(self, dev: str, base: int, length: int) -> str:
        if length == 0:
            return "Overlap"
        if self.get_device(base) is not None:
            return "Overlap"
        # Rust: self.first_before(base + len - 1): the `+` overflows first (debug panics when base + len >= 2^64)
        last = sub(add(base, length, self.overflow), 1, self.overflow)
        p = self.first_before(last)
        if p is not None and p[0] >= base:
            return "Overlap"
        if self.devices.insert(base, TupleRange(base, length), dev) is not None:
            return "Overlap"  # unreachable after the get_device(base) probe
        return "ok"

    def access(self, kind: str, addr: int, length: int) -> Access:
        got = self.get_device(addr)  # read/write return bool; no length check
        if got is None:
            return Access(None, rc="false")
        return Access(got[2], got[0], got[1])

    def mappings(self) -> list[tuple[int, int, str]]:
        return [(b, k.len, v) for b, k, v in self.devices.items()]


def vmm_model(space: str = "mmio", width: int = 64) -> FirecrackerBus:
    return FirecrackerBus(space, width)


def vmm_model_mid(space: str = "mmio", width: int = 64) -> FirecrackerMidBus:
    return FirecrackerMidBus(space, width, "wrap")


def vmm_model_mid_debug(space: str = "mmio", width: int = 64) -> FirecrackerMidBus:
    return FirecrackerMidBus(space, width, "panic")


def vmm_model_old(space: str = "mmio", width: int = 64) -> FirecrackerOldBus:
    return FirecrackerOldBus(space, width, "wrap")


def vmm_model_old_debug(space: str = "mmio", width: int = 64) -> FirecrackerOldBus:
    return FirecrackerOldBus(space, width, "panic")
