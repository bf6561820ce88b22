"""The VMM buses by name (family ``vmm``): model, contract, source, and what later history did.

Each entry names its model as ``module:factory`` (``factory(space, width)``,
see :mod:`iobus_verify.vmm.protocol`), so a model living in another module
plugs in by name; kvmtool's and QEMU's, written apart with their own API, go
through :mod:`iobus_verify.vmm.adapters` (``requires`` names their module). A
module or factory that is missing makes that bus **skipped** with a message
(:func:`load_model`), never an error.

The contract of each entry is what the VMM documents or deliberately does
(reference ``vmm-buses.md`` section 8): a divergence of the model from its
own contract is a **defect**; a divergence from REF-strict that its own
contract explains is a **contract difference**.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from iobus_verify.errors import UsageError
from iobus_verify.vmm.reference import Contract

FAMILY = "vmm"


@dataclass(frozen=True)
class Fate:
    """What later history did about a defect class on this bus: ``fixed`` with
    the commit that fixed it, or ``stands`` at the cited commit."""

    status: str  # "fixed" | "stands"
    text: str


@dataclass(frozen=True)
class VmmBus:
    name: str
    summary: str
    model: str  # "module:factory"
    contract: Contract
    source: str  # repository @ commit
    #: width of each space's addresses and sizes (rust-vmm's PIO is u16)
    widths: dict[str, int] = field(default_factory=lambda: {"mmio": 64, "pio": 64})
    #: the overflow behaviour of the modelled build: "wrap", "panic" or "checked" (no unchecked sum)
    arithmetic: str = "wrap"
    #: defect class -> what later history did (reference "History" sections)
    fates: dict[str, Fate] = field(default_factory=dict)
    #: why the contract is what it is (shown in the report)
    contract_note: str = ""
    #: a module the model needs besides its own (a model written apart behind an adapter)
    requires: str | None = None


STANDS = "stands at the cited commit: no later fix is recorded in the reference"

# Keys: "CLASS/op" (op: the kind of the divergent op) or "CLASS" for any op.
_CH_FATES = {
    "REGISTRATION": Fate("stands", "the wrapping `overlaps` (33796c4b, 2019) is still present at ae44c297; crosvm's saturating fix 12ca276a was never ported, PR #8102 (a range check in resolve) was closed"),
    "ERROR_CHANGED_STATE/register": Fate("stands", "the same-base insert replaces the device, then returns Overlap (BTreeMap::insert on a base-only key), present at ae44c297"),
    "ERROR_CHANGED_STATE/relocate": Fate("stands", "`update_range` removes, then inserts with no restore (733e636f, 2019), present at ae44c297"),
    "MISSED": Fate("stands", "follows from the accepted overlap or the unrestored `update_range`, both present at ae44c297"),
    "REORDERED": Fate("stands", "follows from the accepted overlap (pred lookup), present at ae44c297"),
    "PANIC": Fate("stands", "dev/test profile only: the unchecked `+` of `overlaps` is present at ae44c297"),
}
_FMID_FATES = {
    "REGISTRATION/register": Fate("fixed", "e12171e9cd2a127eaf370fa3592b93cd8d5ebae3 (PR #5788, v1.16.0): checked BusRange::new, inclusive end, overlaps without arithmetic"),
    "REGISTRATION/relocate": Fate("fixed", "0baac698cec43173623614a550a6b55e3e7d9298 (v1.15.0) removed `update_range`; e12171e9 (v1.16.0) fixed the overlap check it relied on"),
    "ERROR_CHANGED_STATE/register": Fate("fixed", "e12171e9cd2a127eaf370fa3592b93cd8d5ebae3 (v1.16.0): with inclusive, checked ranges a same base always overlaps, so the replacing insert is never reached"),
    "ERROR_CHANGED_STATE/relocate": Fate("fixed", "0baac698cec43173623614a550a6b55e3e7d9298 (v1.15.0) removed `update_range`; ae1b9eef added the atomic `move_range`"),
    "MISSED": Fate("fixed", "e12171e9 (v1.16.0) and 0baac698 (v1.15.0): the causes (accepted overlap, unrestored update) are gone"),
    "REORDERED": Fate("fixed", "e12171e9cd2a127eaf370fa3592b93cd8d5ebae3 (v1.16.0)"),
    "PANIC/register": Fate("fixed", "e12171e9cd2a127eaf370fa3592b93cd8d5ebae3 (v1.16.0): no unchecked sum left"),
    "PANIC/relocate": Fate("fixed", "0baac698cec43173623614a550a6b55e3e7d9298 (v1.15.0) removed `update_range`; e12171e9 (v1.16.0) left no unchecked sum"),
}
_FOLD_FATES = {
    "REGISTRATION": Fate("fixed", "e12171e9cd2a127eaf370fa3592b93cd8d5ebae3 (v1.16.0); before it, v1.13's cloud-hypervisor copy (4184de05) replaced the two-probe check"),
    "MISSED": Fate("fixed", "e12171e9cd2a127eaf370fa3592b93cd8d5ebae3 (v1.16.0)"),
    "REORDERED": Fate("fixed", "e12171e9cd2a127eaf370fa3592b93cd8d5ebae3 (v1.16.0)"),
    "PANIC": Fate("fixed", "e12171e9cd2a127eaf370fa3592b93cd8d5ebae3 (v1.16.0): checked construction, no `base + len - 1`"),
}
_FNOW_FATES = {
    "PANIC/relocate": Fate("stands", "the `assert_eq!` of `move_range` (ae1b9eef, PR #6089) is deliberate, added after review; it aborts in production"),
}
_CROSVM_FATES = {
    "ERROR_CHANGED_STATE/register": Fate("stands", "a same-base insert at 2^64-1 (saturation makes `overlaps` miss it) replaces the device, then returns Overlap, at f1e797a6"),
    "REGISTRATION/register": Fate("stands", "the saturating `overlaps` (12ca276a, 2023) excludes 2^64-1 from a range reaching the top, at f1e797a6"),
    "REGISTRATION/relocate": Fate("stands", "PciRoot's BAR move discards remove/insert results (`let _ =`): a refused insert unmaps the BAR silently; its insert shares the saturating check; at f1e797a6"),
    "MISSED": Fate("stands", "a BAR move whose insert is refused leaves the BAR unmapped, at f1e797a6"),
    "REORDERED": Fate("stands", "follows from the overlap at 2^64-1 that `overlaps` misses, at f1e797a6"),
}
_RUSTVMM_FATES = {
    "ERROR_CHANGED_STATE/register_resources": Fate("stands", "IoManager::register_*_resources registers resource by resource with `?` at 39ceae64; no later change is recorded"),
    "PANIC/register_resources": Fate("stands", "IoManager::register_*_resources unwraps MmioRange::new/PioRange::new at 39ceae64; no later change is recorded"),
}


#: kvmtool's documented choices (reference 5.3-5.6, 8; pci.c pci_config_bar_wr at b48735e5): no check on
#: zero length or the top (ranges are accepted as given), removal by any interior address, and a BAR
#: move that is a guest's config write: it names the device's BAR, gives an address only (the size is
#: the BAR's), has no error path, and deliberately unmaps the BARs its target overlaps ("regions for
#: different devices can overlap as long as no access is made"), mapping again those overlapping the
#: old place; a BAR the bus has not mapped is mapped at the new address.
KVMTOOL = Contract(zero_len="accept", top="clip", remove_by="interior", relocate_absent="insert", relocate_len="keep",
                   relocate_by="device-base", relocate_reports="nothing", relocate_overlap="park")
KVMTOOL_NOTE = ("zero-length and past-the-top ranges accepted unchecked (5.3); deregister by any interior address (5.6); "
                "ports are u16; a BAR move (pci_config_bar_wr) is a void 32-bit config write naming the device's BAR, "
                "keeping its size, parking the BARs its target overlaps and re-mapping those at the old place; "
                "moves to addresses a 32-bit BAR cannot hold (at or above 2^32, low flag bits set) are not driven")

_KVMTOOL_FATES = {
    "REGISTRATION/register": Fate("stands", "kvm__register_iotrap stores high = base + len in u64 (5.3): a range ending exactly at 2^64 gets high 0 "
                                  "and the descent steers past it, so an overlapping insert is accepted; at b48735e5 (mmio.c last changed 72e13944)"),
    "REGISTRATION/remove": Fate("stands", "a range ending at 2^64 (high 0) is never found by rb_int_search_single, so deregister fails (5.3, 5.6); at b48735e5"),
    "REGISTRATION/relocate": Fate("stands", "pci_config_bar_wr at b48735e5: a BAR whose node cannot be found (zero length, high wrapped to 0) "
                                  "is never deactivated, so the write is dropped; an activation past a high-0 node is accepted (5.3); "
                                  "and when activation fails the old BAR is not re-activated (5.6)"),
    "REGISTRATION": Fate("stands", "unchecked u64 high (5.3) at b48735e5"),
    "MISSED/access": Fate("stands", "the 52d4ee7 guard `addr + len <= addr` misses any access reaching 2^64 (the last byte), and a range "
                          "ending at 2^64 has high 0 (5.3, 5.5); at b48735e5"),
    "SPURIOUS/access": Fate("stands", "kvm__register_pio widens the u16 port and length to u64 (5.3): a range past port 0xffff is stored "
                            "whole and a 2-byte access at 0xffff is contained; at b48735e5"),
}
_QEMU_FATES: dict[str, Fate] = {}


def _kvmtool_history() -> list["VmmBus"]:
    """kvmtool at the named versions of ``vmm/kvmtool.py`` (reference 5.7), each ``kvmtool@<commit>``:
    the behaviour from that commit until the next one, which fixed something."""
    fixes = {
        "8682490": "c59e43aa29229d10fecea1f919077084ce3c328c (2012-10-29) \"fix rbtree-interval search\": max_high initialised, the propagate guard",
        "c59e43a": "3e64a4a46295168d4db83838a4321a65ae65454d (2012-11-24) \"ensure non-overlapping intervals in rb_int_insert()\"",
        "3e64a4a": "ffc83de3572f96c484b199d743ed4fbf8ce1caba / a83f8ed142f0df82e233a08d450bb80d002c399a (2012-11-24): plain BST search, augmentation removed",
        "a83f8ed": "bea6c33ca17c85c76e8455fb86e38036bdb2a928 (2020-04-14) \"ioport: Fail when registering overlapping ports\"",
        "bea6c33": "96f0c86ce221e4a7b3a350068ea93b478493ee8c / 7e19cb54a7cc584164c98912157f2ba08ecfb0ca (2021-03-15): PIO through mmio_search (whole access contained)",
        "96f0c86": "52d4ee7cb52071f6ca5cdd0c9e504c4f0fefcc35 (2022-05-09) \"mmio: Sanitize addr and len\"",
    }
    out = []
    for v, fix in fixes.items():
        fates = {k: Fate("fixed", f"{fix}: {why}") for k, why in _KVMTOOL_HISTORY_FATES.get(v, {}).items()}
        out.append(VmmBus(
            f"kvmtool@{v}",
            f"kvmtool at {v} (reference 5.7), until {fix.split(' ')[0][:8]}",
            f"iobus_verify.vmm.adapters:kvmtool_model_{v}",
            KVMTOOL,
            f"kvmtool/kvmtool@{v} (vmm/kvmtool.py VERSIONS)",
            {"mmio": 64, "pio": 16},
            fates={**_KVMTOOL_FATES, **fates},
            contract_note=f"as kvmtool; fixed by {fix}",
            requires="iobus_verify.vmm.kvmtool",
        ))
    return out


_ACCESS_GUARD = ("zero-length accesses and accesses wrapping past 2^64 are refused from 52d4ee7 on "
                 "(the SPURIOUS/access left today is kvm__register_pio's u64 widening, which stands)")
#: per historical version, the "CLASS/op" keys its next commit removed, and how (reviewed in the
#: seed-0 report: each key is found at that version and is gone, or has another cause, at the next).
_KVMTOOL_HISTORY_FATES: dict[str, dict[str, str]] = {
    "8682490": {"PANIC": "erasing a root with at most one child no longer calls propagate_callback on NULL",
                "SPURIOUS/access": _ACCESS_GUARD},
    "c59e43a": {"REGISTRATION/register": "an overlap with another low (and 0 vs 2^32 lows) is refused; a range ending at 2^64 "
                "(high 0) still passes, which stands", "SPURIOUS/access": _ACCESS_GUARD},
    "3e64a4a": {"SPURIOUS/access": _ACCESS_GUARD},
    "a83f8ed": {"REGISTRATION/register": "ioport__register no longer evicts the node holding the port (PIO); the MMIO "
                "range ending at 2^64 still passes, which stands", "SPURIOUS/access": _ACCESS_GUARD},
    "bea6c33": {"SPURIOUS/access": "96f0c86 contains a PIO access whole; " + _ACCESS_GUARD},
    "96f0c86": {"SPURIOUS/access": _ACCESS_GUARD},
}


def _registry() -> dict[str, VmmBus]:
    fc_now = Contract(top="reject", match="point", zero_access="deliver", remove_by="base", relocate_len="exact")
    ch = Contract(top="clip", match="point", zero_access="deliver", remove_by="base", relocate_len="any")
    fc_old = Contract(top="clip", match="point", zero_access="deliver", remove_by="exact")
    cros = Contract(top="clip", match="point", zero_access="deliver", remove_by="exact", relocate_len="exact", relocate_absent="insert", relocate_reports="nothing")
    ch_note = "no length check on accesses (PR #8102 to add one closed: fw_cfg's repeated I/O has no known size); ranges are trusted from the allocator (no top check)"
    out = [
        VmmBus(
            "rust-vmm",
            "rust-vmm vm-device Bus: BTreeMap by base, checked {base,size}, inclusive overlap scan, accesses contained whole; MMIO u64, PIO u16",
            "iobus_verify.vmm.rust_vmm:vmm_model",
            Contract(remove_by="interior"),
            "rust-vmm/vm-device@39ceae64edc11860c44679f4b1563cec358047e2",
            {"mmio": 64, "pio": 16},
            "checked",
            fates=_RUSTVMM_FATES,
            contract_note="deregister takes any address inside the range; no relocation API; several resources of a device registered in one call (IoManager)",
        ),
        VmmBus(
            "firecracker",
            "Firecracker v1.16+ (main): BusRange{base,end} checked, inclusive overlaps, atomic move_range that asserts the registered length",
            "iobus_verify.vmm.firecracker:vmm_model",
            fc_now,
            "firecracker-microvm/firecracker@81b38b9dad6056d7a48073e95ac5a9aed51cb2ab",
            arithmetic="checked",
            fates=_FNOW_FATES,
            contract_note="accesses matched by their first byte (data.len() is never checked); remove and move_range key on the base",
        ),
        VmmBus(
            "firecracker-1.13",
            "Firecracker v1.13-v1.15: cloud-hypervisor's bus (wrapping overlaps, same-base insert replaces, update_range without restore), release build",
            "iobus_verify.vmm.firecracker:vmm_model_mid",
            ch,
            "firecracker-microvm/firecracker v1.13.0 (4184de05fd65a7b351ad4e48fd94d6a75c8ebb92, src/vm-device/src/bus.rs)",
            fates=_FMID_FATES,
            contract_note=ch_note,
        ),
        VmmBus(
            "firecracker-1.13@debug",
            "firecracker-1.13 in the dev/test profile: overflow checks panic",
            "iobus_verify.vmm.firecracker:vmm_model_mid_debug",
            ch,
            "firecracker-microvm/firecracker v1.13.0 (4184de05fd65a7b351ad4e48fd94d6a75c8ebb92), dev profile",
            arithmetic="panic",
            fates=_FMID_FATES,
            contract_note=ch_note,
        ),
        VmmBus(
            "firecracker-1.12",
            "Firecracker up to v1.12: base-keyed map, two-probe insert with unchecked base+len-1, no removal, release build",
            "iobus_verify.vmm.firecracker:vmm_model_old",
            fc_old,
            "firecracker-microvm/firecracker@00a69e2a13a7fc03ba607d9c62b6afbc0ccf6aac (src/devices/src/bus.rs)",
            fates=_FOLD_FATES,
            contract_note="zero length refused as Overlap; no length check on accesses; no removal or relocation",
        ),
        VmmBus(
            "firecracker-1.12@debug",
            "firecracker-1.12 in the dev/test profile: base + len overflowing panics",
            "iobus_verify.vmm.firecracker:vmm_model_old_debug",
            fc_old,
            "firecracker-microvm/firecracker@00a69e2a13a7fc03ba607d9c62b6afbc0ccf6aac, dev profile",
            arithmetic="panic",
            fates=_FOLD_FATES,
        ),
        VmmBus(
            "cloud-hypervisor",
            "cloud-hypervisor vm-device Bus: BTreeMap by base, wrapping overlaps, same-base insert replaces then errors, update_range without restore, release build",
            "iobus_verify.vmm.cloud_hypervisor:vmm_model",
            ch,
            "cloud-hypervisor/cloud-hypervisor@ae44c2971c83dd2b1bd704fa81102ec0dec4e7d4",
            fates=_CH_FATES,
            contract_note=ch_note,
        ),
        VmmBus(
            "cloud-hypervisor@debug",
            "cloud-hypervisor in the dev/test profile: the unchecked sums of overlaps panic",
            "iobus_verify.vmm.cloud_hypervisor:vmm_model_debug",
            ch,
            "cloud-hypervisor/cloud-hypervisor@ae44c2971c83dd2b1bd704fa81102ec0dec4e7d4, dev profile",
            arithmetic="panic",
            fates=_CH_FATES,
            contract_note=ch_note,
        ),
        VmmBus(
            "crosvm",
            "crosvm Bus: BTreeMap by base, saturating overlaps, remove by exact range, BAR moves via PciRoot ignoring errors (release has overflow-checks, no sum left)",
            "iobus_verify.vmm.crosvm:vmm_model",
            cros,
            "google/crosvm@f1e797a68dada35cbafef8d0cfae36bacfaea85e",
            arithmetic="checked",
            fates=_CROSVM_FATES,
            contract_note="zero length refused as Overlap; no length check on accesses; a BAR move has no error path",
        ),
        # -- adapter slots: models written apart (vmm/kvmtool.py, vmm/qemu.py) --------
        VmmBus(
            "kvmtool",
            "kvmtool: red-black tree of (low, high) intervals, high exclusive in wrapping u64, -EEXIST on overlap, accesses contained whole; BAR moves by pci_config_bar_wr",
            "iobus_verify.vmm.adapters:kvmtool_model",
            KVMTOOL,
            "kvmtool/kvmtool@b48735e5d562eaffb96cf98a91da212176f1534c",
            {"mmio": 64, "pio": 16},
            fates=_KVMTOOL_FATES,
            contract_note=KVMTOOL_NOTE,
            requires="iobus_verify.vmm.kvmtool",
        ),
        *_kvmtool_history(),
        VmmBus(
            "qemu",
            "QEMU: region tree flattened into disjoint FlatRanges; overlaps resolved by priority, then recency",
            "iobus_verify.vmm.adapters:qemu_model",
            Contract(zero_len="accept", top="clip", overlap="priority", match="point", zero_access="miss", remove_by="exact",
                     relocate_len="any", relocate_order="newest-if-moved", relocate_by="device-base"),
            "qemu/qemu system/memory.c@f96b157ebb93f94cd56ebbc99bc20982b8fd86ef",
            {"mmio": 64, "pio": 16},
            fates=_QEMU_FATES,
            contract_note="overlaps are resolved by priority, newest first among equals (reference 6.2); zero-size regions render nothing (6.3); "
            "an access goes to the region holding its first byte, not clamped (6.5); set_address names the region object, cannot fail, "
            "and moves it to the front of its priority group only when the address changes (6.6, memory.c @f96b157e); "
            "a size of UINT64_MAX means 2^64 (6.3), so a length of 2^64-1 is not driven; the I/O space is 65536 ports",
            requires="iobus_verify.vmm.qemu",
        ),
    ]
    return {b.name: b for b in out}


#: Every VMM bus by name (adapter slots included; see :func:`available`).
VMM_REGISTRY: dict[str, VmmBus] = _registry()


def load_model(bus: VmmBus) -> tuple[Callable[..., Any] | None, str | None]:
    """``(factory, None)``, or ``(None, why)`` when the model's module or factory
    is missing (a model written apart and not merged yet): the bus is skipped."""
    module, _, func = bus.model.partition(":")
    if bus.requires is not None and bus.requires not in sys.modules and importlib.util.find_spec(bus.requires) is None:
        return None, f"{bus.name}: model {bus.requires} is not installed (needed by {bus.model}): skipped"
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None, f"{bus.name}: model {bus.model} is not installed (module {module} missing): skipped"
        raise
    factory = getattr(mod, func, None)
    if not callable(factory):
        return None, f"{bus.name}: model {bus.model} has no callable {func!r}: skipped"
    return factory, None


def available() -> tuple[dict[str, VmmBus], list[str]]:
    """The buses whose model loads, and one message per skipped one."""
    ok, skipped = {}, []
    for name, bus in VMM_REGISTRY.items():
        f, why = load_model(bus)
        if f is None:
            skipped.append(why)
        else:
            ok[name] = bus
    return ok, skipped


def get(name: str) -> VmmBus:
    """A bus by name; a one-line :class:`UsageError` listing the names otherwise."""
    if name not in VMM_REGISTRY:
        raise UsageError(f"unknown VMM bus {name!r}: use one of {', '.join(VMM_REGISTRY)}")
    return VMM_REGISTRY[name]


def make(bus: VmmBus, space: str) -> Any:
    """A model instance for one space; a :class:`UsageError` when its model is missing."""
    f, why = load_model(bus)
    if f is None:
        raise UsageError(why)
    return f(space, bus.widths.get(space, 64))
