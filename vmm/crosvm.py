"""crosvm's device bus, literally, with ``PciRoot``'s BAR move.

Source: ``google/crosvm`` @ ``f1e797a68dada35cbafef8d0cfae36bacfaea85e``,
``devices/src/bus.rs`` (last change ``f4278e318d90319bd9f0e0c6a91773ead2742dd1``);
relocation in ``devices/src/pci/pci_root.rs`` and ``pci_device.rs``.
Reference: ``vmm-buses.md`` section 4.

Why it is modelled this way: the map is keyed by base; ``overlaps`` saturates
both ends (``12ca276a1e9abf3dbfe06b9c34589803c9982549``), so a range reaching
the top ends at ``2^64 - 1`` *excluded* in the check, while ``get_device``'s
``offset < len`` covers ``[base, 2^64 - 1]``. The release profile has
``overflow-checks = true``, but no sum left in the bus can overflow, so debug
and release agree (no ``@debug`` variant). ``remove`` needs base and length
equal. The bus has no move: ``PciRoot`` removes the old BAR range and inserts
the new one, discarding both results (``let _ =``).
"""

from __future__ import annotations

from dataclasses import dataclass

from iobus_verify.vmm.protocol import Access, BaseKeyedMap, saturating_add


@dataclass(frozen=True)
class BusRange:
    base: int
    len: int

    def overlaps(self, base: int, length: int) -> bool:
        # Rust: self.base < base.saturating_add(len) && base < self.base.saturating_add(self.len)
        return self.base < saturating_add(base, length) and base < saturating_add(self.base, self.len)


class CrosvmBus:
    OPS = frozenset({"register", "remove", "relocate", "read", "write"})

    def __init__(self, space: str = "mmio", width: int = 64):
        self.space = space
        self.devices = BaseKeyedMap()

    def register(self, dev: str, base: int, length: int) -> str:
        if length == 0:
            return "Overlap"  # Rust: Error::Overlap { base, len, other_base: 0, other_len: 0 }
        for _, key, _ in self.devices.items():  # ascending, the first overlapping entry
            if key.overlaps(base, length):
                return "Overlap"
        if self.devices.insert(base, BusRange(base, length), dev) is not None:
            return "Overlap"  # value already replaced, old key (and length) kept
        return "ok"

    def remove(self, base: int, length: int) -> str:
        if length == 0:
            return "Overlap"
        got = self.devices.get(base)
        if got is None or got[0].len != length:  # both base and len must match
            return "Empty"
        self.devices.remove(base)
        return "ok"

    def relocate(self, dev: str, base: int, length: int, new_base: int) -> str:
        """``PciRoot`` config write moving a BAR: ``let _ = remove(old)``, then ``let _ = insert(new)``."""
        self.remove(base, length)
        self.register(dev, new_base, length)
        return "ok"  # the guest's config write has no error path

    def get_device(self, addr: int):
        p = self.devices.pred(addr)
        if p is None:
            return None
        base, key, dev = p
        offset = addr - base
        return (base, offset, dev) if offset < key.len else None

    def access(self, kind: str, addr: int, length: int) -> Access:
        got = self.get_device(addr)  # no length check; read zero-fills, then returns true/false
        if got is None:
            return Access(None, rc="false")
        return Access(got[2], got[0], got[1])

    def mappings(self) -> list[tuple[int, int, str]]:
        return [(b, k.len, v) for b, k, v in self.devices.items()]


def vmm_model(space: str = "mmio", width: int = 64) -> CrosvmBus:
    return CrosvmBus(space, width)
