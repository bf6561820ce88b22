"""The VMM differential search: Hypothesis draws op sequences per condition rung, a minimiser cuts each witness.

Why not the KVM machine (``properties/machine.py``): it drives a VM (irqchip,
ioeventfds, zones) over ``int``-length buses; here the ops are the VMM
buses' own (register, remove by range or device, relocate, accesses of any
width) on u64 spaces. What is shared is the rest of the path: the condition
atoms and the ladder (``model.conditions.VMM_LADDER``), the budgets of the
profiles (``properties.profiles.BUDGETS``), the result records and the
report writers.

Runs are drawn by a ``random.Random`` seeded from (seed, bus, rung,
contract), so a profile and seed give the same findings; the KVM stateful
machine's Hypothesis engine is not used here because a VMM run is a few list
operations and Hypothesis's per-draw cost (about 0.1 ms, 8 draws an op) made
the search ten times slower for no shrinking we use (witnesses are cut by
:func:`minimise`). The draw is stateful: each op is drawn against what the scenario has
registered so far, so that bases and addresses land **around existing
ranges** (just inside, on the last byte, one past the end), at the **64-bit
top** (``2^64 - k``, lengths that end exactly at ``2^64`` or one past it) and
at the 16-bit top on a u16 PIO bus. A drawn op that breaks an atom of the
rung being searched is dropped, so each rung's search stays inside it.

Two searches per bus: against its own contract (every divergence is a
**defect**) and against REF-strict (a divergence that does not reproduce
under the bus's own contract is a **contract difference**).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from iobus_verify.model.cints import INT
from iobus_verify.model.conditions import NONE, VMM_LADDER, VMM_ATOMS, Condition
from iobus_verify.vmm.compare import run as run_scenario
from iobus_verify.vmm.compare import supported
from iobus_verify.vmm.reference import STRICT, Contract, RefBus
from iobus_verify.vmm.registry import VmmBus, make
from iobus_verify.vmm.scenario import ACCESSES, VmmOp, VmmScenario

M = (1 << 64) - 1

#: runs per rung and most ops per run, by profile (a VMM run is a few list
#: operations, a KVM machine run a whole VM, hence more runs than ``properties.profiles.BUDGETS``)
VMM_BUDGETS = {"dev": (150, 10), "ci": (1000, 12), "thorough": (20000, 30)}


# -- conditions on a concrete VMM scenario ---------------------------------------------


class ConditionTracker:
    """The VMM atoms op by op: each attempted registration (or move target)
    and each access against the ranges live on the reference under the bus's
    own contract, which holds what was really registered (a removal that the
    contract refuses removes nothing). Ops the bus cannot run are skipped.
    Incremental, so that the search can drop a drawn op that leaves its rung
    without replaying the scenario."""

    def __init__(self, bus: VmmBus):
        self.bus = bus
        self.perm = bus.contract
        self.refs: dict[str, RefBus] = {}
        self.models: dict[str, Any] = {}

    def _space(self, space: str) -> RefBus:
        if space not in self.refs:
            self.refs[space] = RefBus(self.perm, self.bus.widths.get(space, 64))
            self.models[space] = make(self.bus, space)
        return self.refs[space]

    def runs(self, op: VmmOp) -> bool:
        self._space(op.space)
        return supported(self.models[op.space], op)

    def broken(self, op: VmmOp) -> set[str]:
        """The atoms ``op`` breaks against the current state."""
        ref = self._space(op.space)
        if not supported(self.models[op.space], op):
            return set()
        out: set[str] = set()
        # A W-bit space is read as the top 2^W bytes of the 64-bit one, so that
        # "below-top" means at or below 2^W there (the other atoms do not move).
        sh = (1 << 64) - (1 << ref.width)
        live = [(e.base + sh, e.len) for e in ref.entries]
        targets: list[tuple[int, int]] = []
        if op.op in ACCESSES:
            rngs = [(op.addr + sh, op.len)]
        elif op.op == "register":
            rngs = targets = [(op.base + sh, op.len)]
        elif op.op == "register_resources":
            rngs = targets = [(b + sh, n) for b, n in op.ranges]
        elif op.op == "relocate":
            rngs = targets = [(op.new_base + sh, op.len)]
            mover = ref._find_moved(op.dev, op.base, op.len)
            live = [(e.base + sh, e.len) for e in ref.entries if e is not mover]
        else:
            rngs = []
        for atom in VMM_ATOMS:
            if atom.unary and not all(u(INT, *r) for u in atom.unary for r in rngs):
                out.add(atom.name)
            for k, t in enumerate(targets):  # against the live ranges and the op's own earlier ones
                if atom.binary and not all(b(INT, *t, a, n) for b in atom.binary for a, n in live + targets[:k]):
                    out.add(atom.name)
            if op.op in ACCESSES and atom.access and not all(f(INT, op.addr + sh, op.len, live) for f in atom.access):
                out.add(atom.name)
        return out

    def apply(self, op: VmmOp) -> None:
        ref = self._space(op.space)
        if not supported(self.models[op.space], op):
            return
        if op.op == "register":
            ref.register(op.dev, op.base, op.len)
        elif op.op == "register_resources":
            ref.register_resources(op.dev, op.ranges)
        elif op.op == "remove":
            ref.remove(op.base, op.len)
        elif op.op == "remove_device":
            ref.remove_device(op.dev)
        elif op.op == "relocate":
            ref.relocate(op.dev, op.base, op.len, op.new_base)

    def live(self) -> list[tuple[str, int, int, str]]:
        return [(sp, e.base, e.len, e.dev) for sp, r in self.refs.items() for e in r.entries]


def violations(bus: VmmBus, scenario: VmmScenario) -> dict[str, int]:
    """The first op index breaking each VMM atom (see :class:`ConditionTracker`)."""
    found: dict[str, int] = {}
    t = ConditionTracker(bus)
    for i, op in enumerate(scenario.ops):
        for a in t.broken(op):
            found.setdefault(a, i)
        t.apply(op)
    return found


def rung_of(bus: VmmBus, scenario: VmmScenario) -> Condition:
    """The strongest rung of the VMM ladder the scenario satisfies."""
    broken = set(violations(bus, scenario))
    for rung in VMM_LADDER:
        if not rung.atoms & broken:
            return rung
    return NONE


# -- drawing ---------------------------------------------------------------------------


def _draw_op(rnd: random.Random, ops_allowed: list[str], space_width: dict[str, int], live: list[tuple[str, int, int, str]]) -> VmmOp:
    """One op, drawn against ``live`` (``(space, base, len, dev)`` as the permissive reference holds them)."""
    space = rnd.choice(["mmio", "mmio", "mmio", "pio"])
    top = 1 << space_width.get(space, 64)
    here = [e for e in live if e[0] == space]
    small = [0, 1, 2, 3, 4, 8, 0x10, 0x20, 0x100]

    def addr() -> int:
        k = rnd.choice(["low", "top", "top"] + (["near"] * 3 if here else []))
        if k == "low":
            return rnd.randint(0, 0x20) * 0x10
        if k == "top":
            return top - 1 - rnd.randint(0, 0x40)
        _, b, n, _ = rnd.choice(here)
        pivot = rnd.choice([b, b, b + n, b + n - 1, b + n // 2])
        delta = 0 if rnd.random() < 0.5 else rnd.randint(-0x10, 0x10)  # on the pivot itself half the time
        return min(max(pivot + delta, 0), top - 1)

    def length(base: int) -> int:
        k = rnd.choice(["small", "small", "small", "to-top", "past-top", "huge"])
        if k == "small":
            return rnd.choice(small)
        if k == "to-top":
            return top - base
        if k == "past-top":
            return min(top - base + rnd.randint(1, 0x20), M)
        return rnd.choice([M, M - base, top - 1])

    kind = rnd.choice(ops_allowed)
    dev = f"d{rnd.randint(0, 5)}"
    if kind == "register":
        b = addr()
        return VmmOp("register", space, dev=dev, base=b, len=length(b))
    if kind == "register_resources":
        rs = []
        for _ in range(rnd.randint(1, 3)):
            b = addr()
            rs.append((b, length(b)))
        return VmmOp("register_resources", space, dev=dev, ranges=tuple(rs))
    if kind in ACCESSES:
        a = addr()
        return VmmOp(kind, space, addr=a, len=rnd.choice([0, 1, 2, 4, 8, 0x10]) if rnd.random() < 0.5 else length(a))
    if here and rnd.random() < 0.75:  # mostly an existing range
        _, b, n, d = rnd.choice(here)
        b = b if rnd.random() < 0.75 else min(b + rnd.randint(0, 4), top - 1)
        n = n if rnd.random() < 0.75 else rnd.choice(small)
        dev = d
    else:
        b = addr()
        n = length(b)
    if kind == "remove":
        return VmmOp("remove", space, base=b, len=n)
    if kind == "remove_device":
        return VmmOp("remove_device", space, dev=dev)
    return VmmOp("relocate", space, dev=dev, base=b, len=n, new_base=addr())


def _within(bus: VmmBus, ops: list[VmmOp], rung: Condition) -> bool:
    return not (rung.atoms & set(violations(bus, VmmScenario(tuple(ops)))))


# -- minimising --------------------------------------------------------------------------


def _size(v: int, f: str = "base") -> int:
    """How complicated an integer is to read, what the minimiser lowers: an
    address's distance from the nearer end of the 64-bit space (``2^64 - 1``
    is as simple as 1); a length's value (a length of ``2^64 - 1`` is not simple)."""
    return v if f == "len" else min(v, (1 << 64) - v)


def _nicer(v: int, f: str = "base") -> list[int]:
    """Candidate replacements for an integer in field ``f``, each strictly simpler
    (:func:`_size`), simplest first: small round numbers (and, for addresses, their
    mirrors below ``2^64``), then ``v``'s size rounded down to 0x100 and 0x10, then halved."""
    T = 1 << 64
    d = _size(v, f)
    near_top = f != "len" and v > T // 2

    def at(dist: int) -> int:
        return T - dist if near_top else dist

    out = [0, 1, 2, 4, 0x10, 0x100, 0x1000] + ([] if f == "len" else [M, T - 0x10, T - 0x100])
    out += [at(d - d % 0x100), at(d - d % 0x10), at(d // 2)]
    return [c for c in dict.fromkeys(out) if 0 <= c <= M and _size(c, f) < d]




def _fields(o: VmmOp) -> list[tuple[Any, int]]:
    """Every integer of an op with where it sits: a field name, or
    ``(k, j)`` for element ``j`` (0 base, 1 length) of range ``k`` of ``ranges``."""
    out: list[tuple[Any, int]] = [(f, getattr(o, f)) for f in ("base", "len", "new_base", "addr") if getattr(o, f) is not None]
    for k, (b, n) in enumerate(o.ranges or ()):
        out += [((k, 0), b), ((k, 1), n)]
    return out


def _kind(where: Any) -> str:
    """The field kind an integer's place has (``len`` or an address), for :func:`_size`."""
    if isinstance(where, tuple):
        return "len" if where[1] == 1 else "base"
    return where


def _set(o: VmmOp, upd: dict[Any, int]) -> VmmOp:
    plain = {k: v for k, v in upd.items() if not isinstance(k, tuple)}
    if any(isinstance(k, tuple) for k in upd):
        rs = [list(r) for r in o.ranges]
        for k, v in upd.items():
            if isinstance(k, tuple):
                rs[k[0]][k[1]] = v
        plain["ranges"] = tuple((b, n) for b, n in rs)
    return replace(o, **plain) if plain else o


def _simplify_integers(ops: list[VmmOp], keeps) -> list[VmmOp]:
    """Make the integers simpler while ``keeps`` holds, three ways, each to a
    fixpoint: every occurrence of one value replaced at once (a base and the
    remove or relocate naming it move together); every address within 0x1000
    of it shifted by the same amount (a cluster of ranges moves as one); one
    integer alone."""

    def weight(cand: list[VmmOp]) -> int:
        # what every step must lower, so that the passes end
        return sum(_size(x, _kind(w)) for o in cand for w, x in _fields(o))

    def try_all(make) -> bool:
        nonlocal ops
        for v in sorted({x for o in ops for _, x in _fields(o)}, key=_size, reverse=True):
            for c in dict.fromkeys(_nicer(v) + _nicer(v, "len")):
                cand = make(v, c)
                if weight(cand) < weight(ops) and keeps(cand):
                    ops = cand
                    return True
        return False

    def same_value(v, c):
        return [_set(o, {w: c for w, x in _fields(o) if x == v}) for o in ops]

    def cluster(v, c):
        d = c - v
        return [_set(o, {w: x + d for w, x in _fields(o) if _kind(w) != "len" and abs(x - v) < 0x1000 and 0 <= x + d <= M}) for o in ops]

    for make in (same_value, cluster):
        while try_all(make):
            pass
    for i in range(len(ops)):
        for w, _ in _fields(ops[i]):
            progress = True
            while progress:
                progress = False
                cur = dict(_fields(ops[i]))[w]
                for c in _nicer(cur, _kind(w)):
                    cand = ops[:i] + [_set(ops[i], {w: c})] + ops[i + 1 :]
                    if keeps(cand):
                        ops, progress = cand, True
                        break
    return ops


def _renamed(ops: list[VmmOp]) -> list[VmmOp]:
    """Devices renamed ``a``, ``b``, ... in order of first appearance (an injective renaming: same behaviour)."""
    names: dict[str, str] = {}
    out = []
    for o in ops:
        if o.dev is not None and o.dev not in names:
            names[o.dev] = chr(ord("a") + len(names)) if len(names) < 26 else f"d{len(names)}"
        out.append(replace(o, dev=names.get(o.dev)) if o.dev is not None else o)
    return out


def minimise(bus: VmmBus, scenario: VmmScenario, key: tuple[str, str], contract: Contract, rung: Condition) -> VmmScenario:
    """Cut a witness while its first divergence keeps its class and op kind and
    the scenario stays inside ``rung``: everything after the divergent op goes,
    then single ops (to a fixpoint), then each integer is replaced by a simpler
    one where it can be (round numbers, round distances from the top), and the
    devices are renamed ``a``, ``b``, ..."""
    ops = list(scenario.ops)

    def keeps(cand: list[VmmOp]) -> bool:
        r = run_scenario(bus, VmmScenario(tuple(cand)), contract)
        return r.divergence is not None and _key(r.divergence) == key and _within(bus, cand, rung)

    d = run_scenario(bus, VmmScenario(tuple(ops)), contract).divergence
    if d is not None:
        ops = ops[: d.op_index + 1]
    changed = True
    while changed:
        changed = False
        for i in range(len(ops) - 1, -1, -1):
            cand = ops[:i] + ops[i + 1 :]
            if cand and keeps(cand):
                ops = cand
                changed = True
    ops = _simplify_integers(ops, keeps)
    named = _renamed(ops)
    return VmmScenario(tuple(named if keeps(named) else ops), vmm=bus.name)


# -- the search ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFinding:
    """One class found on one bus: its strongest rung, its minimal scenario, the
    explanation of its first divergence, and the seconds to find and minimise it."""

    bus: str
    kind: str  # "defect" | "contract-difference"
    cls: str
    op: str  # the kind of the divergent op
    condition: str
    scenario: VmmScenario
    explanation: str
    seconds: float
    contract_note: str = ""


@dataclass(frozen=True)
class SearchResult:
    bus: str
    findings: tuple[SearchFinding, ...]
    runs: int
    seconds: float
    profile: str
    seed: int
    per_rung: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the time limit stopped the search before its budget was spent
    cut_short: bool = False


def _key(d) -> tuple[str, str]:
    """A finding's identity within one search: its class and the kind of op it
    shows on (reads and writes are one kind: accesses)."""
    return d.cls.value, "access" if d.op.op in ACCESSES else d.op.op


def _search_one(bus: VmmBus, contract: Contract, runs_per_rung: int, steps: int, seed: int, deadline: float | None, stored: Sequence[VmmScenario] = ()):
    """{(class, op kind): (rung, scenario, seconds)}: the first witness of each class
    on each kind of op (an error that changed the state on a register and on a
    relocate are different defects), strongest rung first.

    ``stored``: the baseline's witnesses, replayed before any draw; one that
    still diverges is found on its own rung, so a finding the baseline holds is
    lost only when its stored scenario stops reproducing (a seed whose draws
    reach the class only on a weaker rung does not move it). A drawn witness
    on a stronger rung still replaces it."""
    probe = make(bus, "mmio")
    ops_allowed = sorted(set(probe.OPS))
    found: dict[tuple[str, str], tuple[Condition, VmmScenario, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    runs = 0
    started = time.monotonic()
    order = {r.name: i for i, r in enumerate(VMM_LADDER)}
    for scen in stored:
        r = run_scenario(bus, scen, contract)
        if r.divergence is None:
            continue
        key, rung = _key(r.divergence), rung_of(bus, scen)
        if key not in found or order[rung.name] < order[found[key][0].name]:
            found[key] = (rung, scen, 0.0)
    for k, rung in enumerate(VMM_LADDER):
        tally = counts.setdefault(rung.name, {"runs": 0, "ops": 0, "accesses": 0, "diverged": 0})
        # seeded by what the search is, not by the contract's fields (a new knob must not move the draws)
        rnd = random.Random(f"{seed}/{bus.name}/{rung.name}/{'strict' if contract == STRICT and bus.contract != STRICT else 'own'}")
        for _ in range(runs_per_rung):
            if deadline is not None and time.monotonic() > deadline:
                break
            ops: list[VmmOp] = []
            tracker = ConditionTracker(bus)
            for _ in range(rnd.randint(1, steps)):
                op = _draw_op(rnd, ops_allowed, bus.widths, tracker.live())
                if not tracker.runs(op) or tracker.broken(op) & rung.atoms:
                    continue  # outside the rung (or not expressible): dropped
                ops.append(op)
                tracker.apply(op)
            runs += 1
            tally["runs"] += 1
            tally["ops"] += len(ops)
            tally["accesses"] += sum(o.op in ACCESSES for o in ops)
            r = run_scenario(bus, VmmScenario(tuple(ops)), contract)
            if r.divergence is not None:
                tally["diverged"] += 1
                key = _key(r.divergence)
                if key not in found or order[rung.name] < order[found[key][0].name]:
                    found[key] = (rung, VmmScenario(tuple(ops), vmm=bus.name), time.monotonic() - started)
    return found, runs, counts


def search(bus: VmmBus, *, profile: str = "ci", seed: int = 0, timeout_s: float | None = None, stored: Sequence[VmmScenario] = ()) -> SearchResult:
    """Both searches on one bus (see the module docstring), each witness
    minimised; ``stored`` (the baseline's defect witnesses) replayed first."""
    examples, steps = VMM_BUDGETS[profile]
    started = time.monotonic()
    deadline = None if timeout_s is None else started + timeout_s
    out: list[SearchFinding] = []
    defects, runs1, counts = _search_one(bus, bus.contract, examples, steps, seed, deadline, stored)
    for (cls, kind), (rung, scen, secs) in defects.items():
        t0 = time.monotonic()
        small = minimise(bus, scen, (cls, kind), bus.contract, rung)
        d = run_scenario(bus, small, bus.contract).divergence
        out.append(SearchFinding(bus.name, "defect", cls, kind, rung_of(bus, small).name, small, d.explanation, secs + time.monotonic() - t0))
    runs2 = 0
    if bus.contract != STRICT:
        diffs, runs2, _ = _search_one(bus, STRICT, examples, steps, seed, deadline)
        note = "; ".join(bus.contract.differences(STRICT))
        for (cls, kind), (rung, scen, secs) in diffs.items():
            t0 = time.monotonic()
            small = minimise(bus, scen, (cls, kind), STRICT, rung)
            own = run_scenario(bus, small, bus.contract).divergence
            if own is not None:
                continue  # the bus's own contract does not explain it: a defect, searched for above
            d = run_scenario(bus, small, STRICT).divergence
            out.append(SearchFinding(bus.name, "contract-difference", cls, kind, rung_of(bus, small).name, small, d.explanation, secs + time.monotonic() - t0, note))
    order = {r.name: i for i, r in enumerate(VMM_LADDER)}
    out.sort(key=lambda f: (f.kind != "defect", order.get(f.condition, 99), f.cls, f.op))
    budget = examples * len(VMM_LADDER) * (1 if bus.contract == STRICT else 2)
    return SearchResult(bus.name, tuple(out), runs1 + runs2, time.monotonic() - started, profile, seed, counts, runs1 + runs2 < budget)
