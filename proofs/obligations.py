"""Comparator obligations: is the variant's comparator an order sort and bsearch can rely on?

Each law is checked over the exact C types (``gpa_t`` = BitVec(64), ``int len`` =
BitVec(32), the int-to-u64 conversion and wrap-around, all inside the model's
comparator definitions), for every value: a ``proved`` law is unbounded.

For a three-way comparator ``c`` ("less" = ``c < 0``, "equivalent" = ``c == 0``,
which is what the kernel's sort, bsearch and walk-back act on):

* ``comparator.irreflexive``: ``c(x, x) == 0``.
* ``comparator.antisymmetric``: ``sign c(x, y) == -sign c(y, x)``.
* ``comparator.transitive``: ``c(x,y) < 0 and c(y,z) < 0 => c(x,z) < 0``, and the same for ``> 0``.
* ``comparator.incomparability_transitive``: ``c(x,y) == 0 and c(y,z) == 0 => c(x,z) == 0``.
* ``comparator.match_interval``: the match comparator's equal set is an interval
  of the sort order. Stated pairwise: for an access ``k`` and two elements
  ``e1`` before ``e2`` in a sorted array, ``sign m(k, e1) >= sign m(k, e2)``;
  along any sorted array the results then read ``+1.., 0.., -1..``, so the equal
  set is one run (and it is the lemma the lookup proofs build on). "``e1``
  before ``e2``" is ``c(e1,e2) <= 0 and c(e2,e1) >= 0`` for the range variants
  and ``hi1 <= lo2`` (disjoint, ordered by ``lo``) for ``fixed``'s segments.

``fixed`` has two comparators: the four laws are checked on its sort comparator
(``.sort``, on segments ``lo < hi <= 2**64``) and on its match comparator
(``.match``) as the order it induces on first bytes: ``m(p, q)`` is
``fixed_point_cmp`` of the point ``p`` against ``fixed_extent(q, 0)``, the
one-byte segment at ``q``, both taken from the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import z3

from iobus_verify.model.cints import U64_MOD
from iobus_verify.model.comparators import fixed_extent
from iobus_verify.proofs.encode import (
    Z3,
    ProofVariant,
    SymRange,
    fresh_point,
    fresh_range,
    hexrange,
    is_access,
    range_cmp,
    sign,
    solve,
)
from iobus_verify.proofs.minimise import minimise
from iobus_verify.proofs.results import ProofResult

LAWS = ("irreflexive", "antisymmetric", "transitive", "incomparability_transitive")

_WHAT = {
    "irreflexive": "an element does not compare equal to itself",
    "antisymmetric": "swapping the arguments does not flip the sign",
    "transitive": "x<y and y<z (or x>y and y>z) but not x<z (x>z)",
    "incomparability_transitive": "x==y and y==z but x!=z",
    "match_interval": "an element sorted before another matches the access less well",
}


@dataclass(frozen=True)
class Obligation:
    """A law as a violation formula over fresh symbols (ranges and points)."""

    id: str
    violation: Any
    ranges: tuple[SymRange, ...]
    points: tuple = ()
    # renders a model as (counterexample ranges, explanation)
    render: Callable[[z3.ModelRef], tuple[tuple[dict[str, int], ...], str]] | None = None


def _laws(c: Callable, x, y, z) -> dict[str, Any]:
    """Violation formulas of the four laws for a comparator ``c`` on three symbols."""
    xy, yx, yz, xz = c(x, y), c(y, x), c(y, z), c(x, z)
    return {
        "irreflexive": c(x, x) != 0,
        "antisymmetric": sign(xy) != -sign(yx),
        "transitive": z3.Or(
            z3.And(xy < 0, yz < 0, z3.Not(xz < 0)),
            z3.And(xy > 0, yz > 0, z3.Not(xz > 0)),
        ),
        "incomparability_transitive": z3.And(xy == 0, yz == 0, xz != 0),
    }


def _render_ranges(law: str, syms: tuple[SymRange, ...], c: Callable):
    def render(m):
        vals = tuple(r.value(m) for r in syms)
        names = [f"{r.name}={hexrange(v['addr'], v['len'])}" for r, v in zip(syms, vals)]
        pairs = []
        for a, b in ((0, 1), (1, 0), (1, 2), (0, 2)):
            if max(a, b) < len(syms):
                pairs.append(f"cmp({syms[a].name},{syms[b].name})={m.eval(c(syms[a], syms[b])).as_signed_long()}")
        if law == "irreflexive":
            pairs = [f"cmp(x,x)={m.eval(c(syms[0], syms[0])).as_signed_long()}"]
        return vals, f"{_WHAT[law]}: {', '.join(names)}; {', '.join(pairs)}"

    return render


def range_obligations(pv: ProofVariant) -> list[Obligation]:
    """The comparator obligations of a range variant (one comparator for sort and match)."""
    c = range_cmp(pv)
    x, y, z = fresh_range("x"), fresh_range("y"), fresh_range("z")
    out = []
    for law, viol in _laws(c, x, y, z).items():
        syms = (x,) if law == "irreflexive" else (x, y) if law == "antisymmetric" else (x, y, z)
        out.append(Obligation(f"comparator.{law}", viol, syms, render=_render_ranges(law, syms, c)))
    k, e1, e2 = fresh_range("access"), fresh_range("e1"), fresh_range("e2")
    viol = z3.And(
        is_access(Z3, k.addr, k.len),
        c(e1, e2) <= 0,
        c(e2, e1) >= 0,
        sign(c(k, e1)) < sign(c(k, e2)),
    )

    def render(m):
        vals = tuple(r.value(m) for r in (e1, e2, k))
        s1, s2 = (m.eval(c(k, e)).as_signed_long() for e in (e1, e2))
        return vals, (
            f"{_WHAT['match_interval']}: e1={hexrange(**vals[0])} sorts before e2={hexrange(**vals[1])} "
            f"but the access {hexrange(**vals[2])} gives cmp(access,e1)={s1}, cmp(access,e2)={s2}"
        )

    out.append(Obligation("comparator.match_interval", viol, (e1, e2, k), render=render))
    return out


def _segment(name: str):
    lo, hi = z3.BitVec(f"{name}.lo", 66), z3.BitVec(f"{name}.hi", 66)
    ok = z3.And(z3.ULT(lo, hi), z3.ULE(hi, z3.BitVecVal(U64_MOD, 66)))
    return (lo, hi), ok


def fixed_obligations(pv: ProofVariant) -> list[Obligation]:
    """``fixed``: laws of the segment (sort) comparator, of the induced point order, and the interval law."""
    out = []
    segs = [_segment(n) for n in ("x", "y", "z")]
    ok = z3.And(*(s[1] for s in segs))

    def sc(a, b):
        return pv.sort_cmp(Z3, a[0], a[1], b[0], b[1])

    def seg_render(law, syms):
        def render(m):
            vals = tuple(
                {"addr": m.eval(s[0]).as_long(), "len": m.eval(s[1]).as_long() - m.eval(s[0]).as_long()} for s in syms
            )
            return vals, f"{_WHAT[law]}: " + ", ".join(hexrange(**v) for v in vals)

        return render

    x, y, z = (s[0] for s in segs)
    for law, viol in _laws(sc, x, y, z).items():
        out.append(Obligation(f"comparator.{law}.sort", z3.And(ok, viol), (), render=seg_render(law, (x, y, z))))

    def pc(p, q):
        lo, hi = fixed_extent(Z3, q, z3.BitVecVal(0, 32))  # the one-byte segment at q
        return pv.match_cmp(Z3, p, lo, hi)

    p, q, r = fresh_point("p"), fresh_point("q"), fresh_point("r")

    def pt_render(law):
        def render(m):
            vals = tuple({"addr": m.eval(t).as_long(), "len": 0} for t in (p, q, r))
            return vals, f"{_WHAT[law]}: points " + ", ".join(hex(v["addr"]) for v in vals)

        return render

    for law, viol in _laws(pc, p, q, r).items():
        out.append(Obligation(f"comparator.{law}.match", viol, (), (p, q, r), render=pt_render(law)))

    (s1, ok1), (s2, ok2) = _segment("e1"), _segment("e2")
    k = fresh_point("access")
    m1, m2 = pv.match_cmp(Z3, k, *s1), pv.match_cmp(Z3, k, *s2)
    viol = z3.And(ok1, ok2, z3.ULE(s1[1], s2[0]), z3.Or(sign(m1) < sign(m2), z3.And(m1 == 0, m2 == 0)))
    out.append(
        Obligation("comparator.match_interval", viol, (), (k,), render=seg_render("match_interval", (s1, s2)))
    )
    return out


def obligations(pv: ProofVariant) -> list[Obligation]:
    return fixed_obligations(pv) if pv.kind == "fixed" else range_obligations(pv)


def check(pv: ProofVariant, ob: Obligation, timeout_s: float) -> ProofResult:
    """Prove ``ob`` (violation unsatisfiable) or refute it with a minimised model."""
    t0 = time.perf_counter()
    r, s = solve(ob.violation, timeout_s)
    common = dict(id=ob.id, variant=pv.name, n=None, scope="unbounded", method="z3: negated law over BitVec(64)/BitVec(32)")
    if r == z3.unsat:
        return ProofResult(outcome="proved", seconds=time.perf_counter() - t0, **common)
    if r == z3.unknown:
        return ProofResult(
            outcome="unknown", seconds=time.perf_counter() - t0, limit=f"z3 timeout {timeout_s:g}s ({s.reason_unknown()})", **common
        )
    # the least model, the same in every run; z3's own model only if the minimiser's budget ran out
    m = minimise([ob.violation], ob.ranges, ob.points) or s.model()
    ce, why = ob.render(m)
    return ProofResult(
        outcome="refuted", seconds=time.perf_counter() - t0, explanation=why, counterexample=ce, **common
    )


@lru_cache(maxsize=None)
def _check_all(pv: ProofVariant, timeout_s: float) -> tuple[ProofResult, ...]:
    return tuple(check(pv, ob, timeout_s) for ob in obligations(pv))


def check_all(pv: ProofVariant, timeout_s: float) -> list[ProofResult]:
    """Every comparator obligation of ``pv`` (cached per process: the results are immutable and
    the same question is asked by the proofs, the agreement report and the tests)."""
    return list(_check_all(pv, timeout_s))
