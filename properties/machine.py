"""The differential state machine: a VM on the linear reference and a VM on the
bus under test, driven side by side by Hypothesis.

:func:`machine_for` builds a :class:`~hypothesis.stateful.RuleBasedStateMachine`
bound to one bus. Its rules are the operations of the ``iobus-scenario/1``
vocabulary (create irqchip and PIT2 in ``initialize``; assign/deassign
ioeventfds, register/unregister coalesced zones and probes, guest reads and
writes on both buses, and an injected allocation failure on the next register
or unregister). Live device ids live in Bundles; unregister and deassign
``consume`` them. Every operation is applied to both VMs and the two
:class:`Step` records are compared with
:func:`iobus_verify.model.divergence.classify`; where the bus exposes
``ranges()`` the invariants are checked too (the registered set equals the
reference's, the count never exceeds capacity, the array order is what the
variant's own register rule and sort must give).

A divergence raises the exception type of its class (:data:`EXCEPTIONS`), so
Hypothesis keeps, shrinks and reports one failure per class; the exception
carries the ``iobus-scenario/1`` object of the operations run so far, which
after shrinking is the minimal replayable scenario. A bus that raises, or runs
past the per-operation time limit, raises the ``ERROR`` class with the
operation at fault. Only the *first* divergence of a run counts: later ones
may be its consequences. ``MachineConfig.raising`` names the classes that
raise; a class that does not is recorded silently in :class:`SearchStats`
and the run goes on without comparing (see ``properties.run.search``).

The VMs' lifetime ledgers are a second channel: a trace divergence stops the
comparison of traces, but the ledgers are still compared until their own first
divergence (``LEAK``, ``DOUBLE_FREE``, ``USE_AFTER_FREE``), because a lifetime
fault usually comes after, and from, a trace divergence: a bus dropped on a
failed unregister (a REGISTRATION) leaks its devices only at ``destroy_vm``.
When ``MachineConfig.teardown`` is set (scenario version 2), a ``reader``
rule draws ``hold_bus`` / ``release_bus``, and every run that raised nothing
ends with ``destroy_vm`` (in the machine's ``teardown``): a device that
outlives its VM shows only there.

Probes drawn here accept ``"range"`` or ``"none"``, never ``"all"``: a probe
that accepts every access makes every range bus trivially diverge from the
linear scan (which offers each access to every device, so the catch-all wins
wherever it sits in registration order), which says nothing about the lookup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, precondition, rule

from iobus_verify.model.cints import INT, U32_MAX, U64_MAX, c_int
from iobus_verify.properties import strategies as S

SCHEMA = "iobus-scenario/1"  # the version of a scenario without a teardown op
CLASSES = ("MISSED", "SPURIOUS", "REORDERED", "DATA", "REGISTRATION", "ERROR", "LEAK", "DOUBLE_FREE", "USE_AFTER_FREE")
#: the classes of the ledger channel
LIFETIME_CLASSES = ("LEAK", "DOUBLE_FREE", "USE_AFTER_FREE")
BUSES = ("pio", "mmio")
#: invariant ids (reported as ``property.invariant.<name>``)
INVARIANTS = ("registered_set", "capacity", "order")


_FRESH = st.one_of(S.small_world_ranges(), S.ranges())
_FRESH_ACCESS = st.tuples(S.addresses(), st.sampled_from(S.ACCESS_SIZES))


class Divergence(Exception):
    """A divergence of the bus under test from the reference, with its scenario."""

    cls = ""

    def __init__(self, explanation: str, scenario: dict[str, Any], op_index: int):
        super().__init__(f"{self.cls}: {explanation} (op {op_index})")
        self.explanation = explanation
        self.scenario = scenario
        self.op_index = op_index


def _exc(name: str, cls: str) -> type[Divergence]:
    return type(name, (Divergence,), {"cls": cls, "__doc__": f"A {cls} divergence (or failed invariant)."})


#: One exception type per class, so Hypothesis tells them apart.
EXCEPTIONS: dict[str, type[Divergence]] = {c: _exc(f"{c.title()}Divergence", c) for c in CLASSES}
EXCEPTIONS.update({f"invariant.{n}": _exc(f"Invariant{n.title().replace('_', '')}Broken", f"invariant.{n}") for n in INVARIANTS})


#: What a search counts of the operations it compared (the bus ran them and
#: the result was compared with the reference's), so that a class whose
#: precondition was never exercised is reported ``unknown``, not ``pass``.
COVERAGE_KEYS = (
    "ops_compared",  # any operation
    "accesses_handled",  # reads and writes some device of the reference took
    "reads_handled",  # of those, reads (their data can differ)
    "multi_candidate",  # of those, with two or more live ranges holding the first byte
    "nested_candidates",  # of those, with two candidates that nest (one holds the other)
    "unhandled_accesses",  # reads and writes no device of the reference took
    "registrations",  # registrations the reference accepted
    "unregistrations",  # unregistrations the reference accepted
    "alloc_failures",  # allocation failures armed on a bus that takes the hook
    "lifetime_ends",  # ops in which a tracked device's life ended on the reference (unregistered, destroyed, freed) or the VM was destroyed
    "bus_holds",  # readers that took a bus (hold_bus)
)

#: The coverage count each class needs above zero before "no divergence
#: found" means anything.
PRECONDITIONS = {
    "MISSED": ("accesses_handled", "no access was handled by the reference, so none could be missed"),
    "REORDERED": ("multi_candidate", "no handled access had two or more candidate ranges, so no order could differ"),
    "DATA": ("reads_handled", "no read was handled by the reference, so no data could differ"),
    "SPURIOUS": ("unhandled_accesses", "no access went unhandled on the reference, so none could be taken spuriously"),
    "REGISTRATION": ("registrations", "no registration succeeded on the reference"),
    "ERROR": ("ops_compared", "no operation was compared"),
    "LEAK": ("lifetime_ends", "no tracked device's life ended (no unregister, destroy or destroy_vm), so none could leak"),
    "DOUBLE_FREE": ("lifetime_ends", "no tracked device's life ended, so none could be destroyed twice"),
    "USE_AFTER_FREE": ("lifetime_ends", "no tracked device's life ended, so none could be reached after it"),
}


@dataclass
class SearchStats:
    """Counters shared by every run of one search: operations executed, and the
    operation count and wall time at which each class was first seen."""

    ops: int = 0
    runs: int = 0
    started: float = field(default_factory=time.perf_counter)
    first_ops: dict[str, int] = field(default_factory=dict)
    first_seconds: dict[str, float] = field(default_factory=dict)
    #: the first silent divergence of each class: (explanation, scenario)
    silent: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: what the compared operations exercised (see :data:`COVERAGE_KEYS`)
    coverage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COVERAGE_KEYS, 0))
    #: every bus of every run exposed ranges() (the array invariants were checked)
    has_ranges: bool = True

    def seen(self, cls: str) -> None:
        if cls not in self.first_ops:
            self.first_ops[cls] = self.ops
            self.first_seconds[cls] = time.perf_counter() - self.started


@dataclass(frozen=True)
class MachineConfig:
    """What one search runs: the bus, the VMs' capacity, the per-op time limit,
    and which divergence classes raise (``None``: all of them)."""

    spec: Any  # a model.spec.BusSpec
    capacity: int | None = None
    op_timeout: float = 5.0
    pile_max: int = 24  # most devices stacked on one range in one rule
    raising: frozenset[str] | None = None
    #: the rung every drawn scenario satisfies by construction
    #: (``model.conditions``; None: unrestricted)
    condition: Any = None
    #: draw the reader ops (hold_bus, release_bus) and end every run with destroy_vm
    teardown: bool = True


def _vm_api():
    """The VM layer (imported lazily: model/vm.py and model/divergence.py)."""
    from iobus_verify.model import divergence, vm

    return vm, divergence


def _class_name(d: Any) -> str:
    cls = getattr(d, "cls", d)
    return getattr(cls, "name", None) or getattr(cls, "value", None) or str(cls)


def _explanation(d: Any) -> str:
    for attr in ("explanation", "reason", "message"):
        v = getattr(d, attr, None)
        if isinstance(v, str) and v:
            return v
    return str(d)


def machine_for(config: MachineConfig, stats: SearchStats | None = None) -> type[RuleBasedStateMachine]:
    """A state machine class bound to ``config`` (Hypothesis instantiates it per run)."""
    vm_mod, div_mod = _vm_api()
    from iobus_verify.model.scenario import schema_id_for

    spec = config.spec
    draw_teardown = config.teardown  # (not `teardown`: the class body below defines a method of that name)
    era = getattr(spec, "era", None)
    stats = stats if stats is not None else SearchStats()
    from iobus_verify.model import conditions as C
    from iobus_verify.model.spec import resolve

    ref_spec = resolve("linear")
    cond = config.condition if config.condition is not None else C.NONE
    # Optional capabilities: a factory without an ``alloc`` hook cannot fail an
    # allocation, so no ``fail_alloc`` is drawn and the reference arms none
    # (else a lone armed failure is a false REGISTRATION).
    alloc = bool(getattr(spec, "accepts_alloc", True))
    piles = not cond.binary  # many devices on one range nest and share starts
    inside = bool(cond.access)

    class DifferentialMachine(RuleBasedStateMachine):
        ioeventfds = Bundle("ioeventfds")
        zones = Bundle("zones")
        probes = Bundle("probes")

        def __init__(self) -> None:
            super().__init__()
            stats.runs += 1
            self.ops: list[dict[str, Any]] = []
            # The VM keeps the per-op limit (one definition, vm._run_limited,
            # which leaves an outer --timeout deadline armed); the reference
            # is our own code and runs unlimited.
            self.ref = vm_mod.VM(ref_spec, era=era, capacity=config.capacity, op_timeout=None, alloc_faults=alloc)
            self.bus = vm_mod.VM(spec, era=era, capacity=config.capacity, op_timeout=config.op_timeout, alloc_faults=alloc)
            self.live: dict[str, tuple[str, int, int]] = {}  # id -> (bus, addr, len) as registered
            self.counter = 0
            self.focus = "mmio"
            self.steps_ref: list[Any] = []
            self.diverged = False  # after a run's first trace divergence traces are not compared
            # after its first lifetime divergence ledgers are not compared; a search
            # in which only trace classes raise (check's shrinking of a trace
            # finding) has no use for them at all: after the trace divergence the
            # bus is not run on, as before the ledgers existed
            raising = config.raising
            self.ledger_diverged = raising is not None and not (set(raising) & set(LIFETIME_CLASSES))
            self.ref_seen: set = set()  # the reference's lifetime fault keys so far
            self.raised = False  # a divergence was raised: the run ends without teardown
            self.holds = {b: 0 for b in BUSES}
            if any(not callable(getattr(b, "ranges", None)) for b in bus_objects(self.bus).values()):
                stats.has_ranges = False

        # -- running one op on both VMs -----------------------------------------------
        def scenario(self) -> dict[str, Any]:
            out: dict[str, Any] = {"schema": schema_id_for(self.ops)}
            if config.capacity is not None:
                out["capacity"] = config.capacity  # the VMs' bus capacity; replay uses it
            out["ops"] = [dict(o) for o in self.ops]
            return out

        def fail(self, cls: str, explanation: str) -> None:
            """The run's first divergence: raise it, or record it silently and stop comparing."""
            stats.seen(cls)
            # ERROR always raises: a bus that raised or hung must not be driven
            # through the rest of a survey (a hang would be waited out in every run).
            if config.raising is None or cls in config.raising or cls == "ERROR":
                self.raised = True
                raise EXCEPTIONS[cls](explanation, self.scenario(), len(self.ops) - 1)
            if cls in LIFETIME_CLASSES:
                self.ledger_diverged = True
            else:
                self.diverged = True
            stats.silent.setdefault(cls, (explanation, self.scenario()))

        def teardown(self) -> None:
            # Every run that raised nothing ends with the VM's teardown (the
            # issue's "checked at the end of every run and at destroy_vm"): a
            # device that outlives its VM is a LEAK only destroy_vm shows.
            # (Not in a search where only trace classes raise, check's shrinking of
            # a trace finding: there the ledgers are not compared at all.)
            if draw_teardown and not self.raised and self.ops and not self.ledger_diverged:
                try:
                    self.apply({"op": "destroy_vm"})
                finally:
                    self._close_buses()
            else:
                self._close_buses()

        def _close_buses(self) -> None:
            # Stop the C bridge's bus processes now: the traceback of a failing
            # run keeps this machine, and so its buses, alive while Hypothesis
            # shrinks, and every C (or Rust) bus holds a worker process.
            for b in bus_objects(self.bus).values():
                close = getattr(b, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:  # a crash in destroy() was not this run's question
                        pass

        def apply(self, op: dict[str, Any]) -> tuple[Any, Any]:
            self.ops.append(op)
            stats.ops += 1
            # the candidates an access meets, for the coverage counts (only while comparing)
            before_ref = self.live_ranges(op["bus"]) if not self.diverged and op["op"] in ("read", "write") else None
            ref_step = self.ref.apply(op)
            if self.diverged and self.ledger_diverged:  # the rules only read the reference's step
                return ref_step, None
            before = self.ranges_snapshot() if not self.diverged else None
            try:
                bus_step = self.bus.apply(op)
            except Exception as exc:  # a VM that lets a plugin's exception through
                self.fail("ERROR", f"bus {spec.name} raised {type(exc).__name__}: {exc} on op {op}")
                return ref_step, None
            if getattr(bus_step, "error", None):
                self.fail("ERROR", f"bus {spec.name}: {bus_step.error} on op {op}")
                return ref_step, bus_step
            self.count(op, ref_step, before_ref)
            if not self.ledger_diverged:
                seen = set(self.ref_seen)
                self.ref_seen |= div_mod.fault_keys(ref_step)
                fault = div_mod.lifetime_fault(ref_step, bus_step, seen)
                if fault is not None:
                    self.fail(fault.cls, div_mod.explain(op, ref_step, bus_step, seen) or fault.show())
                    return ref_step, bus_step
            if self.diverged:
                return ref_step, bus_step
            d = div_mod.classify_trace(op, ref_step, bus_step)
            if d is not None:
                self.fail(_class_name(d), div_mod.explain(op, ref_step, bus_step) or _explanation(d))
                return ref_step, bus_step
            self.check_structure(op, before)
            return ref_step, bus_step

        def ranges_snapshot(self) -> dict[str, list | None]:
            return ranges_snapshot(self.bus)

        def live_ranges(self, bus: str) -> list[tuple[int, int]]:
            """What the reference holds on ``bus`` (fixed devices included):
            what the rung's atoms are checked against."""
            return [(a, n) for a, n, _ in self.ref.buses[bus].ranges()]

        def count(self, op: dict[str, Any], ref_step: Any, before: list | None) -> None:
            cov = stats.coverage
            cov["ops_compared"] += 1
            kind, action = op["op"], op.get("action")
            if kind == "destroy_vm" or any(e.what in ("unregistered", "destroyed", "freed") for e in getattr(ref_step, "ledger", ())):
                cov["lifetime_ends"] += 1
            cov["bus_holds"] += kind == "hold_bus"
            if self.diverged:  # the trace counts only while traces are compared
                return
            if kind in ("read", "write"):
                if ref_step.device is None:
                    cov["unhandled_accesses"] += 1
                    return
                cov["accesses_handled"] += 1
                cov["reads_handled"] += kind == "read"
                holding = [r for r in before or () if C.holds_byte(*r, op["addr"])]
                if len(holding) >= 2:
                    cov["multi_candidate"] += 1
                    # candidates hold a byte, so none has length 0: the atom's extents are their bytes
                    if any(not C.no_nest(INT, *x, *y) for i, x in enumerate(holding) for y in holding[i + 1 :]):
                        cov["nested_candidates"] += 1
            elif kind == "fail_alloc":
                cov["alloc_failures"] += alloc
            elif ref_step.rc == 0 and action in ("register", "assign") or kind in ("create_irqchip", "create_pit2") and ref_step.rc == 0:
                cov["registrations"] += 1
            elif ref_step.rc == 0 and action in ("unregister", "deassign"):
                cov["unregistrations"] += 1

        def check_structure(self, op: dict[str, Any], before: dict[str, list | None]) -> None:
            broken = structural_failure(spec, self.ref, self.bus, before)
            if broken is not None:
                self.fail(*broken)

        # -- ids --------------------------------------------------------------------
        def new_id(self, prefix: str) -> str:
            self.counter += 1
            return f"{prefix}{self.counter}"

        def _bases(self, data, bus: str) -> list[tuple[int, int]]:
            """Ranges to relate a new range or an access to: the live ranges of
            ``bus``, newest first (half the time only the newest, which is what
            nesting and equal-start chains need), and now and then the fixed
            devices' real ranges and the sign boundaries (``S.ANCHOR_RANGES``)
            alone, so that one of them is picked."""
            live = [(a, n) for b, a, n in reversed(list(self.live.values())) if b == bus]
            if not live or data.draw(st.integers(0, 3), label="anchors?") == 0:
                return [(a, n) for b, a, n in S.ANCHOR_RANGES if b == bus]
            if data.draw(st.booleans(), label="newest only"):
                return live[:1]
            return live

        def draw_range(self, data, bus: str, *, zero: bool = True) -> tuple[int, int] | None:
            """A range on ``bus``: related to a live one (nested, equal start, adjacent,
            overlapping, wrapped...) or to a fixed device, or drawn afresh;
            then fitted into the rung (None: nothing fits, register nothing)."""
            bases = self._bases(data, bus)
            if bases and data.draw(st.integers(0, 3), label="related?"):
                base = bases[data.draw(st.integers(0, len(bases) - 1), label="base")]
                r = S.draw_related(data.draw, base)
            else:
                r = data.draw(_FRESH, label="fresh range")
            if not zero and r[1] == 0:
                r = (r[0], 1)
            return self.fit(r, bus)

        def fit(self, r: tuple[int, int], bus: str) -> tuple[int, int] | None:
            if not cond.atoms:
                return r
            return S.fit_range(cond, r, self.live_ranges(bus))

        def draw_access(self, data, bus: str) -> tuple[int, int] | None:
            if inside:
                return S.draw_access_inside(data.draw, self.live_ranges(bus))
            bases = self._bases(data, bus)
            if bases and data.draw(st.integers(0, 4), label="near?"):
                base = bases[data.draw(st.integers(0, len(bases) - 1), label="base")]
                r = S.draw_access_near(data.draw, base)
            else:
                r = data.draw(_FRESH_ACCESS, label="access")
            return S._fix_unary(cond, r) if cond.unary else r

        def draw_bus(self, data) -> str:
            # Three ops in four go to the run's focus bus, so that ranges meet.
            if data.draw(st.integers(0, 3), label="off focus"):
                return self.focus
            return data.draw(st.sampled_from(BUSES), label="bus")

        # -- initialize: the fixed devices ---------------------------------------------
        @initialize(irqchip=st.booleans(), pit=st.sampled_from([None, False, True]), focus=st.sampled_from(BUSES))
        def setup(self, irqchip, pit, focus):
            self.focus = focus
            if irqchip:
                self.apply({"op": "create_irqchip"})
            if pit is not None:
                self.apply({"op": "create_pit2", "speaker": pit})

        # -- ioeventfds ------------------------------------------------------------------
        @rule(target=ioeventfds, data=st.data())
        def assign_ioeventfd(self, data):
            """One ioeventfd, or now and then a pile of them on one range told apart
            by datamatch (the seed patch's experiment: 200 ioeventfds on one byte);
            returns the last id."""
            bus = self.draw_bus(data)
            r = self.draw_range(data, bus)
            if r is None:
                return ""
            addr, _ = r
            n = 1 if not piles or data.draw(st.integers(0, 7), label="pile?") else data.draw(st.integers(2, config.pile_max), label="count")
            if n == 1:
                length = data.draw(st.one_of(st.sampled_from((1, 2, 4, 8, 0)), st.sampled_from((3, -1, 16))), label="len")
                dms = [data.draw(st.one_of(st.none(), st.integers(0, 3), st.integers(0, U64_MAX)), label="datamatch")]
                if cond.atoms:
                    fitted = self.fit((addr, length), bus)
                    if fitted is None:
                        return ""
                    addr, length = fitted
            else:
                length = data.draw(st.sampled_from((1, 2, 4, 8)), label="len")
                dms = list(range(n))
            eid = ""
            for dm in dms:
                eid = self.new_id("e")
                op = {"op": "ioeventfd", "action": "assign", "id": eid, "bus": bus, "addr": addr, "len": length, "datamatch": dm}
                ref_step, _ = self.apply(op)
                if ref_step.rc == 0:
                    self.live[eid] = (bus, addr, length)
            return eid

        def maybe_fail_first(self, data, bus: str) -> None:
            """Now and then arm an allocation failure on ``bus`` just before an
            unregister: the failure only matters on the next register or
            unregister of its bus, and a failed shrink is where today's bus
            drops every device (kernel-facts: kvm_io_bus_unregister_dev sets the
            bus to NULL)."""
            if alloc and data.draw(st.integers(0, 3), label="fail its allocation?") == 0:
                self.apply({"op": "fail_alloc", "bus": bus})

        @rule(eid=consumes(ioeventfds), data=st.data())
        def deassign_ioeventfd(self, eid, data):
            self.maybe_fail_first(data, self.live.get(eid, (self.focus,))[0])
            self.apply({"op": "ioeventfd", "action": "deassign", "id": eid})
            self.live.pop(eid, None)

        # -- coalesced MMIO zones -------------------------------------------------------
        @rule(target=zones, data=st.data())
        def register_zone(self, data):
            # today's zones may live on the PIO bus (zone->pio); 2011 zones are MMIO only
            bus = data.draw(st.sampled_from(("mmio", "pio")), label="zone bus") if era == "today" else "mmio"
            r = self.draw_range(data, bus)
            size = data.draw(S.zone_sizes(), label="size")
            if r is not None and cond.atoms:
                r = self.fit((r[0], c_int(size)), bus)
                size = None if r is None else r[1] & U32_MAX
            if r is None:
                return ""
            addr = r[0]
            zid = self.new_id("z")
            op = {"op": "coalesced_mmio", "action": "register", "id": zid, "addr": addr, "size": size}
            if bus == "pio":
                op["pio"] = 1
            ref_step, _ = self.apply(op)
            if ref_step.rc == 0:
                self.live[zid] = (bus, addr, c_int(size))
            return zid

        @rule(zid=consumes(zones), data=st.data())
        def unregister_zone(self, zid, data):
            bus, addr, length = self.live.pop(zid, ("mmio", 0, 0))
            self.maybe_fail_first(data, bus)
            op = {"op": "coalesced_mmio", "action": "unregister", "id": zid, "addr": addr, "size": length & U32_MAX}
            if bus == "pio":
                op["pio"] = 1
            self.apply(op)

        # -- probes ----------------------------------------------------------------------
        @rule(target=probes, data=st.data())
        def register_probe(self, data):
            """One probe, or now and then (where ranges may nest) a pile of
            two to four on one range; returns the *first* id, so that the
            pile's unregister removes an entry that is not the last, which
            is where the linear bus's move-last and a range bus's own
            unregister order part."""
            bus = self.draw_bus(data)
            r = self.draw_range(data, bus)
            if r is None:
                return ""
            addr, length = r
            accepts = "none" if data.draw(st.integers(0, 7), label="accepts none?") == 0 else "range"
            n = 1 if not piles or data.draw(st.integers(0, 5), label="probe pile?") else data.draw(st.integers(2, 4), label="probes")
            first = ""
            for _ in range(n):
                pid = self.new_id("p")
                op = {"op": "probe", "action": "register", "id": pid, "bus": bus, "addr": addr, "len": length, "accepts": accepts}
                ref_step, _ = self.apply(op)
                if ref_step.rc == 0:
                    self.live[pid] = (bus, addr, length)
                first = first or pid
            return first

        @precondition(lambda self: bool(self.live))
        @rule(target=probes, data=st.data())
        def register_probe_related(self, data):
            """A probe in some relation (nested, equal start, adjacent...) to the
            newest live range, followed, half the time, by an access near the
            two: the shape every lookup divergence has. A second probe rule
            doubles the weight of probes among the rules Hypothesis picks from."""
            bus, a, n = list(self.live.values())[-1]
            r = self.fit(S.draw_related(data.draw, (a, n)), bus)
            if r is None:
                return ""
            addr, length = r
            pid = self.new_id("p")
            op = {"op": "probe", "action": "register", "id": pid, "bus": bus, "addr": addr, "len": length, "accepts": "range"}
            ref_step, _ = self.apply(op)
            if ref_step.rc == 0:
                self.live[pid] = (bus, addr, length)
            if data.draw(st.booleans(), label="access now?"):
                if data.draw(st.booleans(), label="first shared byte?"):
                    # The first byte both ranges may hold: where an order
                    # difference between the two shows.
                    at, size = max(a, addr), 1
                    if inside and not any(C.holds_byte(*x, at) for x in self.live_ranges(bus)):
                        return pid
                else:
                    acc = self.draw_access(data, bus) if inside else S.draw_access_near(data.draw, (a, n) if data.draw(st.booleans(), label="older?") else (addr, length))
                    if acc is None:
                        return pid
                    at, size = S._fix_unary(cond, acc) if cond.unary else acc
                self.apply({"op": "read", "bus": bus, "addr": at, "len": size})
            return pid

        @rule(pid=consumes(probes), data=st.data())
        def unregister_probe(self, pid, data):
            """Unregister a probe, then, half the time, read the first byte it
            held: what the ranges still sharing it see is exactly what an
            unregister that reorders or drops the wrong entry changes."""
            bus, addr, _ = self.live.get(pid, ("mmio", None, None))
            self.maybe_fail_first(data, bus)
            self.apply({"op": "probe", "action": "unregister", "id": pid, "bus": bus})
            self.live.pop(pid, None)
            if addr is not None and data.draw(st.booleans(), label="read where it was?"):
                if not inside or any(C.holds_byte(*x, addr) for x in self.live_ranges(bus)):
                    self.apply({"op": "read", "bus": bus, "addr": addr, "len": 1})

        # -- guest accesses ----------------------------------------------------------------
        @rule(data=st.data())
        def access(self, data):
            """A guest write or read, usually near a live range or a fixed device."""
            bus = self.draw_bus(data)
            acc = self.draw_access(data, bus)
            if acc is None:
                return
            addr, length = acc
            if data.draw(st.booleans(), label="read?"):
                self.apply({"op": "read", "bus": bus, "addr": addr, "len": length})
                return
            payload = data.draw(st.binary(min_size=max(length, 0), max_size=max(length, 0)), label="data")
            self.apply({"op": "write", "bus": bus, "addr": addr, "len": length, "data": payload.hex()})

        # -- readers and teardown (scenario version 2) ---------------------------------------
        if draw_teardown:

            # One rule for both reader ops, and destroy_vm at the end of every
            # run (see teardown): Hypothesis picks among the rules that apply
            # with equal weight, and cannot end a run early, so three more
            # rules (one of them ending the run, its remaining steps wasted)
            # took a fifth of every run's operations from the trace rules (the
            # quality set's read_reversed was no longer found at the ci budget).
            @rule(data=st.data())
            def reader(self, data):
                """A reader takes a bus (and keeps it across the next ops), or the oldest one leaves it."""
                held = [b for b in BUSES if self.holds[b]]
                if held and data.draw(st.booleans(), label="a reader leaves?"):
                    bus = data.draw(st.sampled_from(held), label="bus")
                    self.apply({"op": "release_bus", "bus": bus})
                    self.holds[bus] -= 1
                    return
                bus = self.draw_bus(data)
                ref_step, _ = self.apply({"op": "hold_bus", "bus": bus})
                if ref_step.rc == 0:
                    self.holds[bus] += 1

        # -- allocation failure ------------------------------------------------------------
        @precondition(lambda self: alloc and len(self.ops) > 0)
        @rule(data=st.data())
        def fail_next_allocation(self, data):
            """Arm an allocation failure on the next register or unregister of a bus."""
            self.apply({"op": "fail_alloc", "bus": self.draw_bus(data)})

    DifferentialMachine.__name__ = f"Differential_{_safe(spec.name)}"
    DifferentialMachine.__qualname__ = DifferentialMachine.__name__
    return DifferentialMachine


# -- the invariants on ranges() ------------------------------------------------------------------


def bus_objects(vm: Any) -> dict[str, Any]:
    """The VM's bus objects by name (``pio``, ``mmio``)."""
    buses = getattr(vm, "buses", None)
    if isinstance(buses, dict):
        return buses
    return {b: getattr(vm, b, None) for b in BUSES}


def ranges_snapshot(vm: Any) -> dict[str, list | None]:
    out: dict[str, list | None] = {}
    for name, b in bus_objects(vm).items():
        r = getattr(b, "ranges", None)
        out[name] = list(r()) if callable(r) else None
    return out


def structural_failure(spec: Any, ref_vm: Any, bus_vm: Any, before: dict[str, list | None]) -> tuple[str, str] | None:
    """``(class, explanation)`` of the first broken invariant after an op, or None.

    Where the bus exposes ``ranges()``: the registered set equals the
    reference's (as (addr, len, device id) multisets), the count never exceeds
    capacity, and the order is what :func:`expected_order` re-derives.
    Not after ``destroy_vm``: ``kvm_destroy_vm`` has freed every bus, so there
    is no array left to compare (a kernel tree's glue clears the bus pointer
    before the tree's ``kvm_io_bus_destroy`` frees it, and its ``ranges()`` is
    then empty, while a Python bus keeps its list).
    """
    if getattr(bus_vm, "dead", None) is not None or getattr(ref_vm, "dead", None) is not None:
        return None
    refs = bus_objects(ref_vm)
    for name, b in bus_objects(bus_vm).items():
        r = getattr(b, "ranges", None)
        if not callable(r):
            continue
        now = list(r())
        ref_now = list(refs[name].ranges())
        if sorted(map(_ident, now)) != sorted(map(_ident, ref_now)):
            return ("invariant.registered_set", f"{name} bus registers {_show(now)}, the reference {_show(ref_now)}")
        cap = getattr(b, "capacity", None)
        if isinstance(cap, int) and _counted(b, now, getattr(spec, "era", None)) > cap:
            return ("invariant.capacity", f"{name} bus holds {len(now)} ranges, capacity {cap}")
        prev = before.get(name)
        if prev is not None:
            expected = expected_order(spec, b, prev, now, ref_now)
            if expected is not None and list(map(_ident, expected)) != list(map(_ident, now)):
                return ("invariant.order", f"{name} bus array is {_show(now)}; its variant's rule gives {_show(expected)}")
    return None



def device_id(dev: Any) -> str:
    """A device's scenario id (the VM names its devices), for comparing two VMs
    and for naming a device in a report."""
    for attr in ("id", "dev_id", "name"):
        v = getattr(dev, attr, None)
        if isinstance(v, str):
            return v
    return type(dev).__name__


def _ident(e) -> tuple[int, int, str]:
    return (e[0], e[1], device_id(e[2]))


def _show(entries) -> str:
    return "[" + ", ".join(f"({a:#x},{n})" for a, n, *_ in entries) + "]"


def _counted(bus: Any, entries: list, era: str | None = None) -> int:
    """Entries that count against capacity. The bus says whether ioeventfds
    count (``capacity_excludes_ioeventfds``, on the bus or its variant);
    otherwise its era's registration contract decides (today's leaves them
    out, 2011's counts them), as the reference the bus is compared with does."""
    excludes = getattr(bus, "capacity_excludes_ioeventfds", None)
    if excludes is None:
        variant = getattr(bus, "variant", None)
        excludes = getattr(variant, "capacity_excludes_ioeventfds", None)
    if excludes is None:
        excludes = era == "today"
    if excludes:
        from iobus_verify.model.sorted_bus import is_ioeventfd

        return sum(1 for e in entries if not is_ioeventfd(e[2]))
    return len(entries)


def expected_order(spec: Any, bus: Any, before: list, now: list, ref_now: list) -> list | None:
    """The array order the bus's own rules must give after one register or
    unregister, re-derived from the array before the op with the one definition
    of each sort and comparator; ``None`` when the bus has no such rule to check
    (a plugin) or the array did not change.

    * ``fixed``: the linear order (the reference's array).
    * append-then-sort variants: ``sort(before + [new])``, or on unregister
      ``sort(before with the last entry moved into the hole)``.
    * ordered-insert variants: ``new`` inserted before the first entry that
      compares greater; unregister removes the entry keeping the order.
    """
    if spec.name == "fixed":
        return ref_now
    variant = getattr(bus, "variant", None)
    if variant is None or list(map(_ident, before)) == list(map(_ident, now)):
        return None
    from iobus_verify.model.cints import INT
    from iobus_verify.model.ksort import SORTS
    from iobus_verify.model.sorted_bus import RegisterRule, UnregisterRule

    def cmp(a, b):
        return variant.sort_cmp(INT, a[0], a[1], b[0], b[1])

    ids_before = {id(e[2]) for e in before}
    added = [e for e in now if id(e[2]) not in ids_before]
    if len(added) == 1 and len(now) == len(before) + 1:
        new = added[0]
        if variant.register_rule is RegisterRule.APPEND_THEN_SORT:
            return list(SORTS[variant.sort](before + [new], cmp).items)
        i = 0
        while i < len(before) and not cmp(before[i], new) > 0:
            i += 1
        return before[:i] + [new] + before[i:]
    ids_now = {id(e[2]) for e in now}
    gone = [i for i, e in enumerate(before) if id(e[2]) not in ids_now]
    if len(gone) == 1 and len(now) == len(before) - 1:
        i = gone[0]
        if variant.unregister_rule is UnregisterRule.SWAP_LAST_THEN_SORT:
            rest = list(before)
            last = rest.pop()
            if i < len(rest):
                rest[i] = last
            return list(SORTS[variant.sort](rest, cmp).items)
        return before[:i] + before[i + 1 :]
    return None  # several changes in one op (an irqchip unwind, a NULL bus): not checked here


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
