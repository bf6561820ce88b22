"""Exact bounded exploration of a range bus: the model's own code, driven by z3.

The concrete :class:`~iobus_verify.model.sorted_bus.RangeBus` is run on
placeholder entries (entry ``i`` stands for the symbolic range ``r_i``,
registered ``i``-th) with comparators that are *oracles*: each time the bus's
sort, ordered insert, bsearch, walk-back or forward walk asks ``cmp(a, b)``,
the oracle answers -1, 0 or 1 and records ``cmp(r_a, r_b) == answer``, where
``cmp`` is the variant's comparator evaluated on z3 terms. A depth-first search
re-runs the bus with every answer sequence whose constraints z3 finds
satisfiable (answers are memoised per pair: a comparator is a function).

This is how "sorted" is encoded here: the arrays are exactly those the
variant's register path (append + the 2005 heapsort for ``seed-2011``, ordered
insertion for ``upstream``) produces from ``n`` registrations of arbitrary
64-bit/``int`` ranges, whatever the comparator's inconsistencies. It is exact
but exponential, so it serves the small ``n`` of minimal counterexamples and a
cross-check of the lemma-based proofs (:mod:`iobus_verify.proofs.lookup`).
Arrays reached through unregistration are not explored here.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import z3

from iobus_verify.model.kbsearch import BSEARCHES
from iobus_verify.model.sorted_bus import RangeBus
from iobus_verify.proofs.encode import Z3, ProofVariant, SymRange, fresh_range, is_access, probe_accepts

KEY = -1  # the placeholder address of the access


class _Need(Exception):
    def __init__(self, qkey, term) -> None:
        self.qkey, self.term = qkey, term


class _Oracle:
    def __init__(self, answers: list[int], ranges: list[SymRange], key: SymRange, pv: ProofVariant) -> None:
        self.answers, self.pos, self.memo = answers, 0, {}
        self.ranges, self.key, self.pv = ranges, key, pv

    def _sym(self, a) -> SymRange:
        return self.key if a == KEY else self.ranges[a]

    def cmp(self, d, a1, l1, a2, l2) -> int:
        qkey = (a1, a2)
        if qkey in self.memo:
            return self.memo[qkey]
        x, y = self._sym(a1), self._sym(a2)
        term = self.pv.sort_cmp(Z3, x.addr, x.len, y.addr, y.len)
        if self.pos < len(self.answers):
            a = self.answers[self.pos]
            self.pos += 1
            self.memo[qkey] = a
            return a
        raise _Need(qkey, term)


class _Dev:
    def __init__(self, i: int) -> None:
        self.i = i


@dataclass(frozen=True)
class PathOutcome:
    """One complete path: the array (registration ids), bsearch's position, the walk-back's, the offered ids."""

    array: tuple[int, ...]
    found: int | None
    first: int | None
    offered: tuple[int, ...]


def run_path(pv: ProofVariant, n: int, oracle: _Oracle) -> PathOutcome:
    """Runs ``n`` registrations and one lookup of the access on the real bus code."""
    v = dataclasses.replace(pv.variant, sort_cmp=oracle.cmp, match_cmp=oracle.cmp)
    bus = RangeBus(v, capacity=max(n, 1))
    for i in range(n):
        rc = bus.register(i, 0, _Dev(i))
        assert rc == 0, rc
    arr = tuple(e[0] for e in bus.ranges())
    key = (KEY, 0)
    found = BSEARCHES[v.bsearch](key, bus._range, bus._match_cmp).index
    first = bus._first(key)
    offered = tuple(d.i for d in bus._candidates(KEY, 0))
    return PathOutcome(arr, found, first, offered)


def _lin_first(P):
    out = z3.IntVal(-1)
    for i in reversed(range(len(P))):
        out = z3.If(P[i], i, out)
    return out


def violations(pv: ProofVariant, ranges: list[SymRange], key: SymRange, o: PathOutcome) -> dict[str, Any]:
    """The z3 violation of each lookup obligation on one path (see :mod:`iobus_verify.proofs.lookup`)."""
    m = [pv.match_cmp(Z3, key.addr, key.len, ranges[i].addr, ranges[i].len) for i in o.array]
    n = len(m)
    P = [probe_accepts(Z3, key.addr, key.len, r.addr, r.len) for r in ranges]
    out: dict[str, Any] = {}
    out["lookup.bsearch_complete"] = z3.And(o.found is None, z3.Or(*(x == 0 for x in m))) if n else z3.BoolVal(False)
    gaps = [z3.And(m[i] == 0, m[j] != 0, m[k] == 0) for i in range(n) for j in range(i + 1, n) for k in range(j + 1, n)]
    out["lookup.matches_contiguous"] = z3.Or(*gaps) if gaps else z3.BoolVal(False)
    out["lookup.walkback_first"] = (
        z3.Or(*(m[j] == 0 for j in range(o.first))) if o.first is not None and o.first > 0 else z3.BoolVal(False)
    )
    missing = [P[i] for i in range(len(ranges)) if i not in o.offered]
    reorder = [
        z3.And(P[o.offered[a]], P[o.offered[b]])
        for a in range(len(o.offered))
        for b in range(a + 1, len(o.offered))
        if o.offered[a] > o.offered[b]
    ]
    out["lookup.equivalent_to_linear"] = z3.Or(*missing, *reorder) if missing or reorder else z3.BoolVal(False)
    return out


def divergence(ranges: list[SymRange], key: SymRange, o: PathOutcome):
    """The device that handles one write differs: linear's first accepting probe vs the bus's."""
    P = [probe_accepts(Z3, key.addr, key.len, r.addr, r.len) for r in ranges]
    bus_first = z3.IntVal(-1)
    for i in reversed(o.offered):
        bus_first = z3.If(P[i], i, bus_first)
    return _lin_first(P) != bus_first


@dataclass(frozen=True)
class Witness:
    """A satisfiable violation on one path: its constraints, symbols and whether one write shows it."""

    obligation: str
    n: int
    constraints: tuple
    ranges: tuple[SymRange, ...]
    key: SymRange
    observable: bool
    path: PathOutcome


@dataclass
class Exploration:
    n: int
    witnesses: dict[str, Witness]
    paths: int
    complete: bool  # every path explored, no solver unknown, within the budget
    seconds: float
    limit: str = ""


def explore(
    pv: ProofVariant,
    n: int,
    *,
    obligations: tuple[str, ...],
    conditions=None,
    timeout_s: float = 10.0,
    want_observable: bool = True,
) -> Exploration:
    """All paths of ``n`` registrations + one lookup; the first witness of each obligation.

    ``conditions(ranges, key)`` returns extra z3 constraints (preconditions).
    A witness that one write shows (the handling device differs from the linear
    bus's) is preferred; otherwise the first violation found is kept.
    """
    t0 = time.perf_counter()
    deadline = t0 + timeout_s
    ranges = [fresh_range(f"r{i}") for i in range(n)]
    key = fresh_range("access")
    s = z3.Solver()
    s.set(timeout=max(1, int(timeout_s * 1000)))
    s.add(is_access(Z3, key.addr, key.len))
    if conditions is not None:
        s.add(*conditions(ranges, key))
    found: dict[str, Witness] = {}
    state = {"paths": 0, "unknown": False, "timeout": False}

    def done() -> bool:
        return all(ob in found and found[ob].observable for ob in obligations)

    def rec(answers: list[int]) -> None:
        if time.perf_counter() > deadline:
            state["timeout"] = True
            return
        oracle = _Oracle(answers, ranges, key, pv)
        try:
            o = run_path(pv, n, oracle)
        except _Need as need:
            for a in (-1, 0, 1):
                s.push()
                s.add(need.term == a)
                r = s.check()
                if r == z3.sat:
                    rec(answers + [a])
                elif r == z3.unknown:
                    state["unknown"] = True
                s.pop()
                if done() or state["timeout"]:
                    return
            return
        state["paths"] += 1
        viols = violations(pv, ranges, key, o)
        div = divergence(ranges, key, o)
        for ob in obligations:
            if ob in found and (found[ob].observable or not want_observable):
                continue
            for observable, extra in ((True, [viols[ob], div]), (False, [viols[ob]])):
                if not observable and ob in found:
                    break
                s.push()
                s.add(*extra)
                r = s.check()
                if r == z3.sat:
                    found[ob] = Witness(ob, n, tuple(s.assertions()), tuple(ranges), key, observable, o)
                elif r == z3.unknown:
                    state["unknown"] = True
                s.pop()
                if r == z3.sat:
                    break

    rec([])
    limit = ""
    if state["timeout"]:
        limit = f"exploration budget {timeout_s:g}s"
    elif state["unknown"]:
        limit = f"z3 timeout {timeout_s:g}s on a path"
    return Exploration(n, found, state["paths"], not limit, time.perf_counter() - t0, limit)
