"""cloud-hypervisor's ``vm-device`` bus, literally (also Firecracker v1.13-v1.15, which copied it).

Source: ``cloud-hypervisor/cloud-hypervisor`` @
``ae44c2971c83dd2b1bd704fa81102ec0dec4e7d4``, ``vm-device/src/bus.rs`` (last
changed ``88baef1449ccbef82b58ce1f061b2865a17cc85a``, paths only); caller
``vmm/src/device_manager.rs`` ``move_bar``. Reference: ``vmm-buses.md``
section 3.

Why it is modelled this way: the map is keyed by base only, so an insert on an
existing base replaces the device, keeps the old length and then returns
``Overlap``; ``overlaps`` uses plain ``u64 +`` (the root ``Cargo.toml`` release
profile sets no ``overflow-checks``: it wraps; the dev/test profile panics:
``NAME@debug``), and ``&&`` short-circuits, so the second sum is computed only
when the first comparison holds. ``update_range`` removes then inserts with
no restore. The ``Weak`` upgrade failure of a dropped device is not modelled
(every device stays alive, the reference's default).
"""

from __future__ import annotations

from dataclasses import dataclass

from iobus_verify.vmm.protocol import MISS, Access, BaseKeyedMap, ModelPanic, add


@dataclass(frozen=True)
class BusRange:
    base: int
    len: int


class CloudHypervisorBus:
    """``vm_device::Bus`` on one space (u64 addresses for MMIO and PIO alike)."""

    OPS = frozenset({"register", "remove", "remove_device", "relocate", "read", "write"})
    SOURCE = "cloud-hypervisor/cloud-hypervisor@ae44c2971c83dd2b1bd704fa81102ec0dec4e7d4 vm-device/src/bus.rs"

    def __init__(self, space: str = "mmio", width: int = 64, overflow: str = "wrap"):
        self.space = space
        self.overflow = overflow  # "wrap" (release) or "panic" (dev/test profile)
        self.devices = BaseKeyedMap()

    def overlaps(self, r: BusRange, base: int, length: int) -> bool:
        # Rust: self.base < (base + len) && base < self.base + self.len
        if not r.base < add(base, length, self.overflow):
            return False  # &&: the second sum is not computed
        return base < add(r.base, r.len, self.overflow)

    def register(self, dev: str, base: int, length: int) -> str:
        if length == 0:
            return "ZeroSizedRange"
        # Rust: devices.read().iter().any(|(range, _)| range.overlaps(base, len)): ascending, stops at the first true
        for _, key, _ in self.devices.items():
            if self.overlaps(key, base, length):
                return "Overlap"
        # Rust: devices.write().insert(BusRange{base, len}, weak).is_some() -> Err(Overlap), after the swap
        if self.devices.insert(base, BusRange(base, length), dev) is not None:
            return "Overlap"
        return "ok"

    def remove(self, base: int, length: int) -> str:
        if length == 0:
            return "ZeroSizedRange"
        if self.devices.remove(base) is None:  # by base: the length is not compared
            return "MissingAddressRange"
        return "ok"

    def remove_device(self, dev: str) -> str:
        # Rust: collect every key whose device is `dev` (pointer equality), then remove them; always Ok
        for b in [b for b, _, v in self.devices.items() if v == dev]:
            self.devices.remove(b)
        return "ok"

    def resolve(self, addr: int):
        # Rust: first_before(addr) = pred(addr); offset = addr - base; hit iff offset < len
        p = self.devices.pred(addr)
        if p is None:
            return None
        base, key, dev = p
        offset = addr - base  # cannot underflow: base <= addr
        return (base, offset, dev) if offset < key.len else None

    def relocate(self, dev: str, base: int, length: int, new_base: int) -> str:
        """``update_range(old_base, old_len, new_base, new_len)`` with the length kept (a BAR move)."""
        got = self.resolve(base)
        if got is None:
            return "MissingAddressRange"
        device = got[2]
        rc = self.remove(base, length)  # Rust: self.remove(old_base, old_len)?
        if rc != "ok":
            return rc
        return self.register(device, new_base, length)  # no restore on failure

    def access(self, kind: str, addr: int, length: int) -> Access:
        got = self.resolve(addr)  # no access-length check: zero-length and straddling accesses are delivered
        if got is None:
            return Access(None, rc="MissingAddressRange")
        return Access(got[2], got[0], got[1])

    def mappings(self) -> list[tuple[int, int, str]]:
        return [(b, k.len, v) for b, k, v in self.devices.items()]


def vmm_model(space: str = "mmio", width: int = 64) -> CloudHypervisorBus:
    return CloudHypervisorBus(space, width, "wrap")


def vmm_model_debug(space: str = "mmio", width: int = 64) -> CloudHypervisorBus:
    return CloudHypervisorBus(space, width, "panic")
