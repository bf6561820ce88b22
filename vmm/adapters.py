"""Adapters from the kvmtool and QEMU models (written apart, ``vmm/kvmtool.py``
and ``vmm/qemu.py``) to the suite's VMM model protocol (:mod:`.protocol`).

Why an adapter: those modules model each VMM with its native API and a
two-space facade (``KvmtoolBus``, ``QemuBus``: ``register(space, base,
length, dev)``, ``remove(space, base, length)``, ``relocate(space, old_base,
new_base, length, dev)``, ``lookup(space, addr, width)``, each returning
None for success or an error string); the suite drives one space per model
object, with device names. The adapter keeps one facade per space, maps
device names to objects of their own (the facades compare devices by
identity), and reads the mappings the bus holds (kvmtool: its tree's nodes;
QEMU: its registered regions, not the flattened view, so that overlaps the
priorities hide are still held). The device is told an absolute address
(kvmtool) or pieces (QEMU): the access reports the device only, and the
comparison does not compare bases and offsets then.

Each adapter drives only what its C API can be asked (``accepts``; the op is
skipped on both sides otherwise): kvmtool's relocation is a guest's 32-bit BAR
write (:class:`KvmtoolAdapter`), its accesses carry a ``u32`` length; QEMU reads a
size of ``UINT64_MAX`` as 2^64, so a length of 2^64-1 cannot be asked for.
The historical kvmtool versions (``kvmtool_model_<commit>``) are the same adapter
over ``KvmtoolBus(version)``.
"""

from __future__ import annotations

from typing import Any

from iobus_verify.vmm.protocol import Access

M = (1 << 64) - 1


class Dev:
    """A device object standing for a scenario's device name."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Dev({self.name!r})"


class _Adapter:
    OPS = frozenset({"register", "remove", "relocate", "read", "write"})

    def __init__(self, facade: Any, space: str, width: int):
        self.bus = facade
        self.space = space
        self.top = 1 << width
        self.devs: dict[str, Dev] = {}

    def _dev(self, name: str) -> Dev:
        return self.devs.setdefault(name, Dev(name))

    @staticmethod
    def _rc(r: str | None) -> str:
        return "ok" if r is None else str(r)

    def accepts(self, op) -> bool:
        """A 16-bit PIO space takes ports and lengths below 2^16 (``u16`` parameters)."""
        vals = [v for v in (op.base, op.new_base, op.addr) if v is not None]
        if op.op in ("register", "remove", "relocate"):
            vals.append(op.len)
        return all(v < self.top for v in vals)

    def register(self, dev: str, base: int, length: int) -> str:
        return self._rc(self.bus.register(self.space, base, length, self._dev(dev)))

    def remove(self, base: int, length: int) -> str:
        return self._rc(self.bus.remove(self.space, base, length))

    def relocate(self, dev: str, base: int, length: int, new_base: int) -> str:
        return self._rc(self.bus.relocate(self.space, base, new_base, length, self._dev(dev)))

    def access(self, kind: str, addr: int, length: int) -> Access:
        d = self.bus.lookup(self.space, addr, length)
        return Access(None, rc="miss") if d is None else Access(getattr(d, "name", str(d)))


class KvmtoolAdapter(_Adapter):
    """kvmtool's relocation is a guest's write to a 32-bit PCI BAR (``pci_config_bar_wr``, void):
    the guest gives the new address only (the size is the BAR's), the BAR keeps its flag bits
    (``PCI_BASE_ADDRESS_MEM_MASK`` ``~0xf``, ``_IO_MASK`` ``~0x3``) and holds 32 bits. So a
    relocation is driven only when it is such a write: old base below 2^32, the new range
    (new base and the op's length) at or below 2^32, the new base aligned to 16 (MMIO) or 4 (PIO); another is skipped on both sides (it is not a question the
    API can be asked). Its length is ignored (contract ``relocate_len=keep``) and it reports
    nothing (``relocate_reports=nothing``): a refused move is judged by the state it leaves.
    A range that does not fit 32 bits cannot be a 32-bit BAR: it is registered as a non-PCI
    device's (virtio-mmio, ``kvm__register_mmio``), which BAR moves never toggle."""

    BAR_TOP = 1 << 32

    def accepts(self, op) -> bool:
        # C: kvm__emulate_mmio(..., u32 len), kvm__emulate_io(..., int size, u32 count): an access
        # longer than 2^31-1 bytes cannot be asked for (a vCPU exit is at most 8 bytes)
        if op.op in ("read", "write") and op.len >= 1 << 31:
            return False
        if op.op == "relocate":
            align = 0xF if self.space == "mmio" else 0x3
            if op.base >= self.BAR_TOP or op.new_base + op.len > self.BAR_TOP or op.new_base & align:
                return False
        return super().accepts(op)

    def register(self, dev: str, base: int, length: int) -> str:
        rc = super().register(dev, base, length)
        if rc == "ok" and base + length > self.BAR_TOP:
            self.bus.bars[-1].pci = False  # not a BAR: pci_toggle_bar_regions never sees it
        return rc

    def relocate(self, dev: str, base: int, length: int, new_base: int) -> str:
        # C: pci_config_bar_wr is void; the facade's error string only tells which step failed
        if any(b.dev is self.devs.get(dev) and b.base == base and not b.pci for b in self.bus.bars):
            return "ok"  # a non-PCI region (not a 32-bit BAR): no config write reaches it
        self.bus.relocate(self.space, base, new_base, length, self._dev(dev))
        return "ok"

    def mappings(self) -> list[tuple[int, int, str]]:
        # C: the tree's nodes, (low, high) with high exclusive in wrapping u64
        return sorted((lo, (hi - lo) % (1 << 64), getattr(d, "name", str(d))) for lo, hi, d in self.bus.ranges(self.space))


class QemuAdapter(_Adapter):
    #: QEMU's model dispatches an access piece by piece (at most 8 bytes each), so an
    #: access of 2^64 bytes would take 2^61 steps: accesses longer than a page are not
    #: driven (skipped on both sides); vCPU exits are at most 8 bytes.
    ACCESS_MAX = 0x1000

    def accepts(self, op) -> bool:
        if op.op in ("read", "write") and op.len > self.ACCESS_MAX:
            return False
        # C: memory_region_init / memory_region_set_size read a size of UINT64_MAX as 2^64
        # (memory.c @f96b157e, reference 6.3): a region of 2^64-1 bytes cannot be asked for.
        if op.op in ("register", "relocate") and op.len == M:
            return False
        return super().accepts(op)

    def mappings(self) -> list[tuple[int, int, str]]:
        # the regions added to the root (a size of 2^64 is reported as is)
        return sorted((mr.addr, int(mr.size), getattr(mr.dev, "name", str(mr.dev))) for mr in self.bus.regions[self.space])


def kvmtool_model(space: str = "mmio", width: int = 64) -> KvmtoolAdapter:
    """kvmtool at the reference's commit (``b48735e5``) through ``KvmtoolBus``."""
    from iobus_verify.vmm.kvmtool import KvmtoolBus

    return KvmtoolAdapter(KvmtoolBus(), space, width)


def qemu_model(space: str = "mmio", width: int = 64) -> QemuAdapter:
    """QEMU's memory API through ``QemuBus``."""
    from iobus_verify.vmm.qemu import QemuBus

    return QemuAdapter(QemuBus(), space, width)


def _kvmtool_at(version: str):
    def factory(space: str = "mmio", width: int = 64) -> KvmtoolAdapter:
        from iobus_verify.vmm.kvmtool import KvmtoolBus

        return KvmtoolAdapter(KvmtoolBus(version), space, width)

    factory.__name__ = f"kvmtool_model_{version}"
    factory.__doc__ = f"kvmtool at {version} (``vmm/kvmtool.py`` VERSIONS) through ``KvmtoolBus``."
    return factory


kvmtool_model_8682490 = _kvmtool_at("8682490")
kvmtool_model_c59e43a = _kvmtool_at("c59e43a")
kvmtool_model_3e64a4a = _kvmtool_at("3e64a4a")
kvmtool_model_a83f8ed = _kvmtool_at("a83f8ed")
kvmtool_model_bea6c33 = _kvmtool_at("bea6c33")
kvmtool_model_96f0c86 = _kvmtool_at("96f0c86")
