"""Replaying a found scenario: does it reproduce its class?

:func:`first_divergence_class` runs an ``iobus-scenario/1`` object on a VM over
the linear reference and a VM over the bus under test, op by op, with the same
comparison the machine made (the VM layer's
:func:`~iobus_verify.model.divergence.classify`, then the ``ranges()``
invariants), and returns the class of the first divergence. It is how
:func:`~iobus_verify.properties.run.run_properties` checks every shrunk
scenario before reporting it, and how the tests check that the scenarios the
machine emits replay.
"""

from __future__ import annotations

from typing import Any

from iobus_verify.properties.machine import _class_name, ranges_snapshot, structural_failure


def first_divergence_class(spec: Any, scenario: dict[str, Any]) -> str | None:
    """The class of the first divergence of ``spec`` from the reference on ``scenario``."""
    found = first_divergence(spec, scenario)
    return None if found is None else found[0]


def classify_scenario(spec: Any, scenario: dict[str, Any]) -> tuple[str, str] | None:
    """``(class, condition)`` of the first divergence of ``spec`` on a stored
    scenario: the class (``MISSED``, ``invariant.registered_set``...) and the
    strongest ladder rung the scenario satisfies; None when it no longer
    diverges. How the gate tells a baseline finding that still reproduces from
    one that changed or was lost."""
    from iobus_verify.model import conditions as C

    got = first_divergence(spec, scenario)
    return None if got is None else (got[0], C.rung_of(scenario, getattr(spec, "era", None)).name)


def first_divergence(spec: Any, scenario: dict[str, Any], *, era: str | None = None) -> tuple[str, str] | None:
    """The class of the first divergence and a one-line explanation naming its op.

    The VMs run under ``era``, else the scenario's ``era``, else the bus's own,
    as :func:`iobus_verify.model.vm.replay` chooses. The ledgers are compared
    to the end of the scenario, the traces up to their first divergence: a
    lifetime class anywhere wins over the trace class (a bus dropped by a
    failed unregister, REGISTRATION, leaks its devices at ``destroy_vm``,
    LEAK), as the machine's two channels report it."""
    from iobus_verify.errors import UsageError
    from iobus_verify.model import divergence, vm
    from iobus_verify.model.spec import resolve

    era = era or scenario.get("era") or getattr(spec, "era", None)
    cap = scenario.get("capacity")
    # A bus without an alloc hook: fail_alloc is a no-op on both sides.
    alloc = bool(getattr(spec, "accepts_alloc", True))
    ref = vm.VM(resolve("linear"), era=era, capacity=cap, alloc_faults=alloc, op_timeout=None)
    bus = vm.VM(spec, era=era, capacity=cap, alloc_faults=alloc)
    found = None  # the first trace divergence; the ledgers are compared to the end
    ref_seen: set = set()
    for i, op in enumerate(scenario["ops"]):
        before = ranges_snapshot(bus) if found is None else None
        try:
            r = ref.apply(op)
            b = bus.apply(op)
        except Exception as exc:  # noqa: BLE001 - a raising bus is the ERROR class
            if found is not None:  # past a trace divergence the two VMs may disagree on ids
                return found
            if isinstance(exc, UsageError):
                raise
            return "ERROR", f"op {i}: the bus raised {type(exc).__name__}: {exc}"
        if getattr(b, "error", None):
            return found or ("ERROR", f"op {i}: {b.error}")
        fault = divergence.lifetime_fault(r, b, ref_seen)
        if fault is not None:  # a lifetime class wins over an earlier trace divergence (its cause)
            return fault.cls, f"op {i} ({_describe(op)}): {divergence.explain(op, r, b, ref_seen)}"
        ref_seen |= divergence.fault_keys(r)
        if found is not None:
            continue
        d = divergence.classify_trace(op, r, b)
        if d is not None:
            found = _class_name(d), f"op {i} ({_describe(op)}): {divergence.explain(op, r, b, ref_seen)}"
            continue
        broken = structural_failure(spec, ref, bus, before)
        if broken is not None:
            found = broken[0], f"op {i} ({_describe(op)}): {broken[1]}"
    return found


def _describe(op: dict[str, Any]) -> str:
    """The op in words (one notation for ranges; see ``divergence.describe_op``)."""
    from iobus_verify.model.divergence import describe_op

    return describe_op(op)
