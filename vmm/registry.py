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
            "kvmtool: red-black tree of (low, high) intervals, high exclusive in wrapping u64, -EEXIST on overlap, accesses contained whole",
            "iobus_verify.vmm.adapters:kvmtool_model",
            Contract(zero_len="accept", top="clip", remove_by="interior", relocate_absent="insert"),
            "kvmtool/kvmtool@b48735e5d562eaffb96cf98a91da212176f1534c",
            {"mmio": 64, "pio": 16},
            contract_note="zero-length ranges accepted (a phantom node); deregister by any interior address; ports are u16; "
            "a BAR write maps the BAR whether or not it was mapped (provisional: to be confirmed with the kvmtool model's CONTRACT)",
            requires="iobus_verify.vmm.kvmtool",
        ),
        VmmBus(
            "qemu",
            "QEMU: region tree flattened into disjoint FlatRanges; overlaps resolved by priority, then recency",
            "iobus_verify.vmm.adapters:qemu_model",
            Contract(zero_len="accept", top="clip", overlap="priority", match="point", zero_access="miss", remove_by="exact",
                     relocate_len="any", relocate_order="newest"),
            "qemu/qemu system/memory.c@f96b157ebb93f94cd56ebbc99bc20982b8fd86ef",
            {"mmio": 64, "pio": 16},
            contract_note="overlaps are resolved by priority (newest first among equals); zero-size regions render nothing; "
            "set_address moves a region to the front of its priority group; the I/O space is 65536 ports "
            "(provisional: to be confirmed with the QEMU model's CONTRACT)",
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
