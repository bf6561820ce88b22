"""rust-vmm ``vm-device``'s bus, literally.

Source: ``rust-vmm/vm-device`` @ ``39ceae64edc11860c44679f4b1563cec358047e2``
(``src/bus/range.rs``, ``src/bus/mod.rs``, ``src/bus/address.rs``,
``src/device_manager.rs``; the bus files last changed in ``2cffa63c``, clippy
only). Reference: ``vmm-buses.md`` section 1.

Why it is modelled this way: the bus is a ``BTreeMap<BusRange, D>`` keyed by
base; ranges are ``{base, size}`` with every sum checked (``checked_add``),
so there is no overflow mode to choose (release and debug behave the same:
no ``@debug`` variant). MMIO is 64-bit, PIO 16-bit (``PioAddress(u16)``,
sizes ``u16``), so a PIO input above ``0xffff`` cannot be expressed.
"""

from __future__ import annotations

from dataclasses import dataclass

from iobus_verify.vmm.protocol import Access, BaseKeyedMap, ModelPanic, checked_add


@dataclass(frozen=True)
class BusRange:
    base: int
    size: int

    def last(self) -> int:
        # Rust: self.base + (self.size - 1): cannot overflow once `new` succeeded
        return self.base + (self.size - 1)


class InvalidRange(Exception):
    pass


class RustVmmBus:
    """``vm_device::bus::Bus`` plus ``IoManager``'s access check, on one space."""

    OPS = frozenset({"register", "register_resources", "remove", "read", "write"})

    def __init__(self, space: str = "mmio", width: int = 64):
        self.space = space
        self.top = 1 << width  # Rust: u64 for MmioAddress, u16 for PioAddress
        self.devices = BaseKeyedMap()

    def accepts(self, op) -> bool:
        """PioAddress/PioAddressOffset are u16: larger inputs do not type-check."""
        vals = [v for v in (op.base, op.new_base, op.addr) if v is not None]
        if op.op in ("register", "remove", "relocate"):
            vals.append(op.len)
        for b, n in op.ranges or ():
            vals += [b, n]
        return all(v < self.top for v in vals)

    def new_range(self, base: int, size: int) -> BusRange:
        # Rust: BusRange::new: size == 0 or base.checked_add(size - 1) is None -> Error::InvalidRange
        if size == 0:
            raise InvalidRange()
        if checked_add(base, size - 1, self.top) is None:
            raise InvalidRange()
        return BusRange(base, size)

    @staticmethod
    def overlaps(a: BusRange, b: BusRange) -> bool:
        # Rust: !(self.base > other.last() || self.last() < other.base)
        return not (a.base > b.last() or a.last() < b.base)

    def register(self, dev: str, base: int, length: int) -> str:
        try:
            r = self.new_range(base, length)  # the caller builds the range first
        except InvalidRange:
            return "InvalidRange"
        return self._register_range(r, dev)

    def register_resources(self, dev: str, ranges) -> str:
        """``IoManager::register_{mmio,pio}_resources``: one ``register`` per
        resource with ``?``: an error on the k-th leaves the first k-1 registered."""
        for base, size in ranges:
            try:
                r = self.new_range(base, size)  # Rust: MmioRange::new(..).unwrap()
            except InvalidRange:
                raise ModelPanic("called `Result::unwrap()` on an `Err` value: InvalidRange") from None
            rc = self._register_range(r, dev)
            if rc != "ok":
                return f"Bus({rc})"  # Rust: .map_err(Error::Bus)?
        return "ok"

    def _register_range(self, r: BusRange, dev: str) -> str:
        """``Bus::register``: scan every key, then insert."""
        for _, key, _ in self.devices.items():  # Rust: for (range, _) in self.devices.iter()
            if self.overlaps(r, key):
                return "DeviceOverlap"
        self.devices.insert(r.base, r, dev)  # a same base always overlaps: never reached with one
        return "ok"

    def device(self, addr: int):
        # Rust: self.devices.range(..=BusRange::unit(addr)).next_back(), kept if range.last() >= addr
        p = self.devices.pred(addr)
        if p is None or p[1].last() < addr:
            return None
        return p

    def remove(self, base: int, length: int) -> str:
        # Rust: deregister(addr): device(addr) (any interior address), then remove that key
        p = self.device(base)
        if p is None:
            return "None"
        self.devices.remove(p[0])
        return "ok"

    def access(self, kind: str, addr: int, length: int) -> Access:
        # Rust: check_access: len -> size type (PIO: > u16::MAX is InvalidAccessLength)
        if length >= self.top:
            return Access(None, rc="InvalidAccessLength")
        try:
            r = self.new_range(addr, length)
        except InvalidRange:
            return Access(None, rc="InvalidRange")
        p = self.device(addr)
        if p is None or p[1].last() < r.last():  # the device's range must hold the access whole
            return Access(None, rc="DeviceNotFound")
        return Access(p[2], p[0], addr - p[0])

    def mappings(self) -> list[tuple[int, int, str]]:
        return [(b, k.size, v) for b, k, v in self.devices.items()]


def vmm_model(space: str = "mmio", width: int = 64) -> RustVmmBus:
    return RustVmmBus(space, width)
