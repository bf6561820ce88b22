"""Lookup obligations: does bsearch + walk-back find exactly what the linear scan would?

Obligations, for an access ``k`` (``1 <= len <= 8``, not past 2**64) and an
array the variant can produce:

* ``lookup.bsearch_complete``: if an element matches ``k``, bsearch returns one.
* ``lookup.matches_contiguous``: the matching elements form one run.
* ``lookup.walkback_first``: the walk-back stops at the first matching element.
* ``lookup.equivalent_to_linear``: the forward walk offers every range whose
  probe accepts ``k`` (all its bytes inside the range), in registration order,
  i.e. the probes that accept, in the order the linear bus tries them.

Two routes, reported apart:

**Refutation and exact small-N proof** (:mod:`iobus_verify.proofs.symexec`):
the model's own register and lookup code runs on z3-backed comparator oracles,
so "sorted" is exactly what ``n`` registrations produce. Each witness is
minimised, replayed on the concrete model (internally and as an
``iobus-scenario/1`` write through probes) and only then reported.

**Lemma route for every N** (pairwise lemmas + the sign sequence). Under a
condition that makes the comparator a strict weak order (four laws proved by
z3 on three ranges), any correct sort or ordered insert yields an array with
``cmp(a_i, a_j) <= 0 and cmp(a_j, a_i) >= 0`` for all ``i < j``: that pairwise
relation is how "sorted" is encoded here (tested against ``ksort``/``RangeBus``
on random inputs; it over-approximates the arrays, so proofs stay sound, and it
also covers arrays left by unregistration). For ``fixed`` the table is sorted
disjoint segments: ``hi_i <= lo_j`` for ``i < j`` (tested against
``build_segments``). Then

1. *monotone* (z3, one access and two elements): ``sign m(k, a_i) >= sign m(k, a_j)``,
   so the signs along the array read ``+1^p 0^(q-p) -1^(N-q)``;
2. *bounded*: every such sequence for every length up to ``N`` is run through
   the model's exact bsearch, walk-back and forward walk (the real ``RangeBus``/
   ``FixedBus`` code on placeholder elements) and checked;
3. *unbounded*: the bsearch loop invariant ``start <= p and q <= end`` (and the
   walk-back's) is proved by z3 over unbounded integers for one step of the
   loop (the step functions below are tested against ``kbsearch``);
4. for ``equivalent_to_linear`` also *accept => match* and *at most one range
   accepts* (z3, one access and two ranges); for ``fixed``, *a probe that
   accepts has the access's first byte in its extent* and the segment-table
   invariant (tested on ``build_segments``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import z3

from iobus_verify.model.cints import U64_MOD
from iobus_verify.model.comparators import fixed_extent
from iobus_verify.model.fixed_bus import FixedBus, Segment
from iobus_verify.model.kbsearch import BSEARCHES
from iobus_verify.model.sorted_bus import RangeBus
from iobus_verify.model import conditions as C
from iobus_verify.proofs import replay
from iobus_verify.proofs.encode import Z3, ProofVariant, fresh_point, fresh_range, is_access, probe_accepts, range_cmp, sign, solve
from iobus_verify.proofs.minimise import minimise
from iobus_verify.proofs.obligations import _laws
from iobus_verify.proofs.results import ProofResult
from iobus_verify.proofs.symexec import explore

LOOKUP = ("lookup.bsearch_complete", "lookup.matches_contiguous", "lookup.walkback_first", "lookup.equivalent_to_linear")

#: Largest number of ranges the exact exploration tries when looking for a counterexample.
REFUTE_MAX_N = 4

_EXPLAIN = {
    "lookup.bsearch_complete": "a registered range matches the access but bsearch returns NULL",
    "lookup.matches_contiguous": "the ranges matching the access are not one run of the array",
    "lookup.walkback_first": "the walk-back stops after an earlier matching range",
    "lookup.equivalent_to_linear": "the write is handled by a different device than on the linear bus",
}


# -- pairwise lemmas ------------------------------------------------------------


def _check(formula, timeout_s: float) -> str:
    r, _ = solve(formula, timeout_s)
    return "proved" if r == z3.unsat else "refuted" if r == z3.sat else "unknown"


def sorted_pair(pv: ProofVariant, r1, r2):
    """``r1`` may precede ``r2`` in a sorted array (range variants)."""
    c = range_cmp(pv)
    return z3.And(c(r1, r2) <= 0, c(r2, r1) >= 0)


LEMMAS = ("swo", "monotone", "accept_match", "unique")


def lemmas(pv: ProofVariant, cond: C.Condition, timeout_s: float) -> dict[str, str]:
    """Outcome of every pairwise lemma under ``cond``."""
    return {k: lemma(pv, k, cond, timeout_s) for k in LEMMAS}


@lru_cache(maxsize=None)
def lemma(pv: ProofVariant, name: str, cond: C.Condition, timeout_s: float) -> str:
    """Outcome of one pairwise lemma under ``cond`` (cached: the condition search reuses them).

    ``swo``: the four comparator laws on three ranges; ``monotone``: the match
    signs along two sorted elements; ``accept_match``: a probe that accepts the
    access matches it; ``unique``: two ranges never both accept one access
    (for ``fixed``: the segment-table invariant gives exactly the covering extents).
    """
    if pv.kind == "fixed":
        k = fresh_point("k")
        segs = []
        for nm in ("s1", "s2"):
            lo, hi = z3.BitVec(f"{nm}.lo", 66), z3.BitVec(f"{nm}.hi", 66)
            segs.append((lo, hi, z3.And(z3.ULT(lo, hi), z3.ULE(hi, z3.BitVecVal(U64_MOD, 66)))))
        (l1, h1, ok1), (l2, h2, ok2) = segs
        m1, m2 = pv.match_cmp(Z3, k, l1, h1), pv.match_cmp(Z3, k, l2, h2)
        key, r = fresh_range("access"), fresh_range("r")
        lo, hi = fixed_extent(Z3, r.addr, r.len)
        if name == "swo":  # segments by lo: comparator.*.sort laws, re-checked here
            (a1, b1, o1), (a2, b2, o2) = segs
            (a3, b3, o3) = (z3.BitVec("s3.lo", 66), z3.BitVec("s3.hi", 66), z3.BoolVal(True))
            c = lambda u, v: pv.sort_cmp(Z3, u[0], u[1], v[0], v[1])  # noqa: E731
            return _worst([_check(v, timeout_s) for v in _laws(c, (a1, b1), (a2, b2), (a3, b3)).values()])
        if name == "monotone":
            return _check(z3.And(ok1, ok2, z3.ULE(h1, l2), z3.Or(sign(m1) < sign(m2), z3.And(m1 == 0, m2 == 0))), timeout_s)
        if name == "accept_match":
            acc = probe_accepts(Z3, key.addr, key.len, r.addr, r.len)
            return _check(z3.And(is_access(Z3, key.addr, key.len), acc, pv.match_cmp(Z3, key.addr, lo, hi) != 0), timeout_s)
        # segment invariant: a segment inside or outside each extent; a point of the segment
        # is then in the extent exactly when the segment is (so slots = covering extents)
        x = fresh_point("x")
        sl, sh = z3.BitVec("seg.lo", 66), z3.BitVec("seg.hi", 66)
        inside = z3.And(z3.ULE(lo, sl), z3.ULE(sh, hi))
        outside = z3.Or(z3.ULE(sh, lo), z3.ULE(hi, sl))
        in_seg = pv.match_cmp(Z3, x, sl, sh) == 0
        in_ext = pv.match_cmp(Z3, x, lo, hi) == 0
        return _check(z3.And(z3.ULT(sl, sh), z3.Or(inside, outside), in_seg, in_ext != inside), timeout_s)
    c = range_cmp(pv)
    if name == "swo":
        x, y, z_ = fresh_range("x"), fresh_range("y"), fresh_range("z")
        hold3 = cond.holds(Z3, [(x.addr, x.len), (y.addr, y.len), (z_.addr, z_.len)])
        return _first_failure(_check(z3.And(*hold3, v), timeout_s) for v in _laws(c, x, y, z_).values())
    k, r1, r2 = fresh_range("access"), fresh_range("e1"), fresh_range("e2")
    hold2 = cond.holds(Z3, [(r1.addr, r1.len), (r2.addr, r2.len)])
    acc = is_access(Z3, k.addr, k.len)
    m1 = pv.match_cmp(Z3, k.addr, k.len, r1.addr, r1.len)
    m2 = pv.match_cmp(Z3, k.addr, k.len, r2.addr, r2.len)
    p1 = probe_accepts(Z3, k.addr, k.len, r1.addr, r1.len)
    p2 = probe_accepts(Z3, k.addr, k.len, r2.addr, r2.len)
    if name == "monotone":
        return _check(z3.And(*hold2, acc, sorted_pair(pv, r1, r2), sign(m1) < sign(m2)), timeout_s)
    if name == "accept_match":
        return _check(z3.And(*cond.holds(Z3, [(r1.addr, r1.len)]), acc, p1, m1 != 0), timeout_s)
    if name == "unique":
        return _check(z3.And(*hold2, acc, p1, p2), timeout_s)
    raise ValueError(f"unknown lemma {name!r}")


def _first_failure(outcomes) -> str:
    """``_worst`` of a lazy sequence, stopping at the first ``refuted`` (nothing can change the answer then)."""
    seen = []
    for o in outcomes:
        if o == "refuted":
            return o
        seen.append(o)
    return _worst(seen)


def _worst(outcomes: list[str]) -> str:
    for o in ("refuted", "unknown"):
        if o in outcomes:
            return o
    return "proved"


def needed(obligation: str) -> tuple[str, ...]:
    if obligation == "lookup.equivalent_to_linear":
        return ("swo", "monotone", "accept_match", "unique")
    return ("swo", "monotone")


# -- the sign sequence: bounded (exhaustive, concrete code) and unbounded (induction) ---


def _monotone(n: int, p: int, q: int) -> list[int]:
    return [1] * p + [0] * (q - p) + [-1] * (n - q)


def sign_sequences_ok(pv: ProofVariant, n_max: int) -> tuple[bool, int, str]:
    """Runs the model's bsearch, walk-back and forward walk on every monotone sign sequence.

    Returns (all good, sequences checked, first failure). Range variants: a
    ``RangeBus`` whose array holds placeholders and whose match comparator
    returns the placeholder's sign. ``fixed``: a ``FixedBus`` whose table is
    ``[2i, 2i+1)`` and every point ``0..2n``, which realises every monotone
    sequence with at most one zero (the only ones ``fixed``'s lemma allows).
    """
    count = 0
    for n in range(0, n_max + 1):
        if pv.kind == "fixed":
            bus = FixedBus(capacity=max(n, 1))
            bus._entries = [(2 * i, 1, f"d{i}") for i in range(n)]
            bus._table = tuple(Segment(2 * i, 2 * i + 1, (i,)) for i in range(n))
            for x in range(0, 2 * n + 1):
                count += 1
                want = [f"d{x // 2}"] if x % 2 == 0 and x // 2 < n else []
                if bus.candidates(x) != want:
                    return False, count, f"n={n} point={x}: offered {bus.candidates(x)}, want {want}"
            continue
        for p in range(n + 1):
            for q in range(p, n + 1):
                count += 1
                signs = _monotone(n, p, q)
                v = dataclasses.replace(pv.variant, match_cmp=lambda d, ka, kl, a, l, s=signs: s[a])
                bus = RangeBus(v, capacity=max(n, 1))
                bus._range = [(i, 1, i) for i in range(n)]
                key = (0, 1)
                found = BSEARCHES[v.bsearch](key, bus._range, bus._match_cmp).index
                first = bus._first(key)
                offered = list(bus._candidates(*key))
                zero = list(range(p, q))
                ok = (found in zero) if zero else found is None
                ok = ok and (first == (p if zero else None)) and offered == zero
                if not ok:
                    return False, count, f"signs {signs}: bsearch {found}, walk-back {first}, offered {offered}"
    return True, count, ""


def _div2(x):
    return x / 2 if isinstance(x, z3.ArithRef) else x // 2


def step_2011(start, end, r):
    """One iteration of ``bsearch_2011`` on ``[start, end)`` given ``r = cmp(key, a[mid])``: (mid, start', end')."""
    mid = start + _div2(end - start)
    return mid, (start, mid) if r < 0 else (mid + 1, end)


def step_today(base, num, r):
    """One iteration of today's ``bsearch`` on ``[base, base+num)``: (pivot, base', num')."""
    pivot = base + _div2(num)
    return pivot, (pivot + 1, _div2(num - 1)) if r > 0 else (base, _div2(num))


def induction(bsearch: str, timeout_s: float) -> str:
    """z3 over unbounded integers: one loop step preserves ``start <= p, q <= end`` and shrinks the interval;
    the walk-back from a zero stops at ``p``; so on a monotone sign sequence of ANY length bsearch finds a
    zero when there is one, and the walk-back returns the first."""
    N, p, q, lo, w = z3.Ints("N p q lo w")
    seq = z3.And(0 <= p, p <= q, q <= N)

    def s(i):  # the monotone sign at index i
        return z3.If(i < p, 1, z3.If(i < q, 0, -1))

    outcomes = []
    if bsearch == "2011":
        hi = z3.Int("hi")
        inv = lambda a, b: z3.And(0 <= a, a <= p, q <= b, b <= N)  # noqa: E731
        guard = lo < hi
        mid, (gs, ge) = step_2011(lo, hi, -1)
        _, (ps, pe) = step_2011(lo, hi, 1)
        size, new_lt, new_gt = hi - lo, ge - gs, pe - ps
        ends = (ge, pe)
    else:
        num = z3.Int("num")
        inv = lambda a, n: z3.And(0 <= a, a <= p, q <= a + n, a + n <= N, n >= 0)  # noqa: E731
        guard = num > 0
        mid, (gs, ge) = step_today(lo, num, -1)
        _, (ps, pe) = step_today(lo, num, 1)
        size, new_lt, new_gt = num, ge, pe
        hi = num
    pre = z3.And(seq, inv(lo, hi), guard)
    goal = z3.And(
        lo <= mid,
        mid < lo + size,  # the probe lies inside the interval
        z3.Implies(s(mid) == 0, z3.And(p <= mid, mid < q)),
        z3.Implies(s(mid) < 0, z3.And(inv(gs, ge), 0 <= new_lt, new_lt < size)),
        z3.Implies(s(mid) > 0, z3.And(inv(ps, pe), 0 <= new_gt, new_gt < size)),
    )
    outcomes.append(_check(z3.And(pre, z3.Not(goal)), timeout_s))
    # exit: an empty interval satisfying the invariant means the zero block is empty
    exit_ = z3.And(seq, inv(lo, hi), z3.Not(guard), p < q)
    outcomes.append(_check(exit_, timeout_s))
    # walk-back: from p <= w < q, stepping while s(w-1) == 0 keeps p <= w and ends at w == p
    wb = z3.And(seq, p <= w, w < q, z3.Not(z3.And(w > 0, s(w - 1) == 0)), w != p)
    outcomes.append(_check(wb, timeout_s))
    wstep = z3.And(seq, p <= w, w < q, w > 0, s(w - 1) == 0, z3.Not(z3.And(p <= w - 1, w - 1 < q)))
    outcomes.append(_check(wstep, timeout_s))
    return _worst(outcomes)


# -- the obligations --------------------------------------------------------------


def prove_by_lemmas(pv: ProofVariant, obligation: str, cond: C.Condition, n: int, timeout_s: float) -> list[ProofResult]:
    """The bounded (N <= n) and the unbounded result of the lemma route under ``cond``."""
    t0 = time.perf_counter()
    need = needed(obligation)
    lem = {}
    for k in need:  # stop at the first lemma that fails
        lem[k] = lemma(pv, k, cond, timeout_s)
        if lem[k] != "proved":
            break
    state = _worst(list(lem.values()))
    common = dict(id=obligation, variant=pv.name, condition=cond.name)
    if state != "proved":
        why = ", ".join(f"{k}: {v}" for k, v in lem.items())
        return [
            ProofResult(
                outcome="unknown", seconds=time.perf_counter() - t0, n=n, scope="bounded", method="pairwise lemmas",
                limit=f"lemma not proved under this condition ({why}); timeout {timeout_s:g}s", **common,
            )
        ]
    t_lem = time.perf_counter() - t0
    ok, count, fail = (True, 0, "") if obligation == "lookup.matches_contiguous" else sign_sequences_ok(pv, n)
    t_seq = time.perf_counter() - t0
    if not ok:  # the lemmas hold but the code does not do what the sign argument says: a model bug
        raise AssertionError(f"{pv.name} {obligation}: monotone sign sequence mishandled: {fail}")
    seqs = "monotone signs form one run" if count == 0 else f"all {count} monotone sign sequences of length <= {n} run on the model"
    bounded = ProofResult(
        outcome="proved", seconds=t_seq, n=n, scope="bounded",
        method=f"z3 pairwise lemmas ({', '.join(need)}) + {seqs}",
        extra={"lemmas": {"seconds": round(t_lem, 3)}}, **common,
    )
    if obligation == "lookup.matches_contiguous":
        ind = "proved"  # monotone signs along any array: one run, whatever N
    else:
        ind = induction(pv.bsearch, timeout_s)
    t_all = time.perf_counter() - t0
    unb = ProofResult(
        outcome=ind if ind != "refuted" else "unknown", seconds=t_all, n=None, scope="unbounded",
        method=f"z3 pairwise lemmas + loop invariant of the {pv.bsearch} bsearch over unbounded integers",
        limit="" if ind == "proved" else f"induction {ind} (timeout {timeout_s:g}s)", **common,
    )
    return [bounded, unb]


def refute(pv: ProofVariant, obligation: str, *, n_max: int, timeout_s: float) -> ProofResult:
    """The smallest counterexample the exact exploration finds (replayed), or a bounded proof/unknown."""
    t0 = time.perf_counter()
    limit = ""
    top = min(n_max, REFUTE_MAX_N)
    for n in range(1, top + 1):
        e = explore(pv, n, obligations=(obligation,), timeout_s=max(0.1, timeout_s - (time.perf_counter() - t0)))
        w = e.witnesses.get(obligation)
        if w is not None:
            return _report(pv, w, time.perf_counter() - t0, timeout_s)
        if not e.complete:
            limit = f"{e.limit} at n={n}"
            break
    common = dict(id=obligation, variant=pv.name, scope="bounded", method="exact exploration of register + lookup")
    if limit:
        return ProofResult(outcome="unknown", seconds=time.perf_counter() - t0, n=n, limit=limit, **common)
    return ProofResult(outcome="proved", seconds=time.perf_counter() - t0, n=top, **common)


def _report(pv: ProofVariant, w, seconds: float, timeout_s: float) -> ProofResult:
    t0 = time.perf_counter()
    m = minimise(w.constraints, (*w.ranges, w.key))  # the least model: the same in every run
    ranges = [r.value(m) for r in w.ranges]
    access = w.key.value(m)
    scen = replay.build_scenario(ranges, access)
    really = replay.replay_obligation(pv, w.obligation, ranges, access)
    shown = replay.diverges(scen, pv.name)
    if not really or (w.observable and not shown):
        raise AssertionError(
            f"encoding bug: {pv.name} {w.obligation} counterexample does not replay "
            f"(violation on the concrete bus: {really}, divergence on a write: {shown}): {ranges} {access}"
        )
    lin, bus = replay.replay_scenario(scen, pv.name)
    from iobus_verify.proofs.encode import hexrange

    text = (
        f"{_EXPLAIN[w.obligation]}: registered {', '.join(hexrange(**r) for r in ranges)}; "
        f"write {hexrange(**access)} -> linear: {lin[0].device or 'none'}, {pv.name}: {bus[0].device or 'none'}"
    )
    return ProofResult(
        id=w.obligation, variant=pv.name, outcome="refuted", seconds=seconds + time.perf_counter() - t0, n=w.n,
        scope="bounded", method="exact exploration of register + lookup, minimised, replayed",
        explanation=text, counterexample=tuple(ranges), access=access, scenario=scen,
        extra={"observable": shown},
    )
