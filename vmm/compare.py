"""A VMM scenario on a model and on the reference, op by op, and the class of the first divergence.

The classes are the KVM ones (:class:`~iobus_verify.model.divergence.DivergenceClass`:
``MISSED``, ``SPURIOUS``, ``REORDERED``, ``DATA``, ``REGISTRATION``, ``ERROR``)
plus two the KVM comparison cannot see:

* ``ERROR_CHANGED_STATE``: a register/remove/relocate returned an error but
  the model's mappings changed (a reference that checks return codes only
  misses it: cloud-hypervisor's same-base insert, its ``update_range``);
* ``PANIC``: the modelled code panicked or aborted (:class:`ModelPanic`),
  told apart from ``ERROR``, a crash of the suite itself.

Order on one op: ``PANIC``, ``ERROR``; then for a mutating op
``ERROR_CHANGED_STATE``, then ``REGISTRATION`` (success differs, or both
succeeded and the mappings differ); for an access ``MISSED``, ``SPURIOUS``,
``REORDERED`` (another device), ``DATA`` (same device, another base/offset).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from iobus_verify.model.divergence import DivergenceClass
from iobus_verify.vmm.protocol import Access, ModelPanic
from iobus_verify.vmm.reference import Contract, RefBus
from iobus_verify.vmm.registry import VmmBus, make
from iobus_verify.vmm.scenario import ACCESSES, VmmOp, VmmScenario, load_scenario


class VmmClass(enum.Enum):
    MISSED = DivergenceClass.MISSED.value
    SPURIOUS = DivergenceClass.SPURIOUS.value
    REORDERED = DivergenceClass.REORDERED.value
    DATA = DivergenceClass.DATA.value
    REGISTRATION = DivergenceClass.REGISTRATION.value
    ERROR = DivergenceClass.ERROR.value
    ERROR_CHANGED_STATE = "ERROR_CHANGED_STATE"  #: an error returned after the state changed
    PANIC = "PANIC"  #: the modelled code panicked / aborted


@dataclass(frozen=True)
class VmmStep:
    """One op on one side: its result (``"ok"``, an error name, ``"skipped"``),
    the device an access reached (with base and offset), the mappings after."""

    rc: str
    access: Access | None = None
    mappings: tuple = ()
    panic: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Divergence:
    op_index: int
    op: VmmOp
    cls: VmmClass
    explanation: str


def _apply(bus: Any, op: VmmOp) -> tuple[str, Access | None]:
    if op.op == "register":
        return bus.register(op.dev, op.base, op.len), None
    if op.op == "register_resources":
        return bus.register_resources(op.dev, op.ranges), None
    if op.op == "remove":
        return bus.remove(op.base, op.len), None
    if op.op == "remove_device":
        return bus.remove_device(op.dev), None
    if op.op == "relocate":
        return bus.relocate(op.dev, op.base, op.len, op.new_base), None
    a = bus.access(op.op, op.addr, op.len)
    return a.rc, a


def supported(bus: Any, op: VmmOp) -> bool:
    """The model's API has this op and can express its integers."""
    if op.op not in getattr(bus, "OPS", ()):
        return False
    acc = getattr(bus, "accepts", None)
    return acc is None or bool(acc(op))


def _who(a: Access | None) -> str:
    if a is None or a.dev is None:
        return f"no device ({a.rc if a else 'miss'})"
    if a.base is None:  # the bus reports the device only (kvmtool: absolute addresses; QEMU: pieces)
        return str(a.dev)
    return f"{a.dev} (base {a.base:#x}, offset {a.offset:#x})"


def classify_op(op: VmmOp, ref: VmmStep, got: VmmStep, before: tuple) -> tuple[VmmClass, str] | None:
    if got.panic is not None:
        return VmmClass.PANIC, f"PANIC: the modelled code panics: {got.panic}"
    if got.error is not None:
        return VmmClass.ERROR, f"ERROR: the suite crashed running the model: {got.error}"
    if op.op not in ACCESSES:
        if got.rc != "ok" and got.mappings != before:
            return VmmClass.ERROR_CHANGED_STATE, (
                f"ERROR_CHANGED_STATE: the bus returned {got.rc} but its mappings changed "
                f"from {_show(before)} to {_show(got.mappings)} (reference: {ref.rc})"
            )
        if (ref.rc == "ok") != (got.rc == "ok"):
            return VmmClass.REGISTRATION, f"REGISTRATION: reference {ref.rc}, bus {got.rc}"
        if got.mappings != ref.mappings:
            return VmmClass.REGISTRATION, f"REGISTRATION: both {got.rc}, but the bus holds {_show(got.mappings)}, the reference {_show(ref.mappings)}"
        return None
    r, g = ref.access, got.access
    rh, gh = r is not None and r.dev is not None, g is not None and g.dev is not None
    if rh and not gh:
        return VmmClass.MISSED, f"MISSED: the reference reaches {_who(r)}; the bus {_who(g)}"
    if gh and not rh:
        return VmmClass.SPURIOUS, f"SPURIOUS: the bus reaches {_who(g)}; the reference {_who(r)}"
    if rh and gh and r.dev != g.dev:
        return VmmClass.REORDERED, f"REORDERED: the reference reaches {_who(r)}; the bus {_who(g)}"
    if rh and gh and g.base is not None and (r.base, r.offset) != (g.base, g.offset):  # only when the bus says
        return VmmClass.DATA, f"DATA: the reference reaches {_who(r)}; the bus {_who(g)}"
    return None


def _show(m: tuple) -> str:
    return "{" + ", ".join(f"{d} [{b:#x}, {b + n:#x})" for b, n, d in m) + "}" if m else "{}"


@dataclass(frozen=True)
class Run:
    """A scenario's run: the first divergence (None: agreed on every op) and
    the ops run (a panic ends the run: the process aborted)."""

    divergence: Divergence | None
    ops_run: int
    skipped: int


def run(bus: VmmBus, scenario: Any, contract: Contract | None = None) -> Run:
    """Run ``scenario`` on ``bus``'s model and on the reference under ``contract``
    (default: the bus's own) until the first divergence."""
    s: VmmScenario = load_scenario(scenario)
    contract = bus.contract if contract is None else contract
    models: dict[str, Any] = {}
    refs: dict[str, RefBus] = {}
    skipped = 0
    for i, op in enumerate(s.ops):
        if op.space not in models:
            models[op.space] = make(bus, op.space)
            refs[op.space] = RefBus(contract, bus.widths.get(op.space, 64))
        m, ref = models[op.space], refs[op.space]
        if not supported(m, op):
            skipped += 1
            continue
        before = tuple(m.mappings())
        rrc, racc = _apply(ref, op)
        ref_step = VmmStep(rrc, racc, tuple(ref.mappings()))
        try:
            grc, gacc = _apply(m, op)
            got = VmmStep(grc, gacc, tuple(m.mappings()))
        except ModelPanic as exc:
            got = VmmStep("panic", panic=str(exc))
        except Exception as exc:  # noqa: BLE001 - a crash of the suite is reported, as ERROR
            got = VmmStep("error", error=f"{type(exc).__name__}: {exc}")
        c = classify_op(op, ref_step, got, before)
        if c is not None:
            return Run(Divergence(i, op, c[0], f"op {i} ({op.text()}): {c[1]}"), i + 1, skipped)
    return Run(None, len(s.ops), skipped)
