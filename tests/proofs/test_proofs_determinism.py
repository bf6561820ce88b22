"""Same seed, same report: the proofs of a bus do not depend on what ran before in the process.

``iobus-verify report`` proves seed-2011, upstream and fixed in one process; the
results of a bus must equal those of a fresh run, apart from fields named
``seconds`` (``reports.report.comparable``). What used to differ: z3's model of
a refutation depends on the z3 context's history (term ids), and the
minimiser's ``Optimize`` ran under a wall-clock timeout whose fallback model
was whatever z3 returned. The minimiser now returns the unique
lexicographically least model, solved in a fresh context under ``rlimit``
budgets (``proofs/minimise.py``).
"""

from __future__ import annotations

from iobus_verify.proofs import lookup as L
from iobus_verify.proofs import obligations as O
from iobus_verify.proofs import run as R
from iobus_verify.proofs.run import run_proofs
from iobus_verify.reports.report import comparable


def _json(results) -> dict:
    return comparable({"results": [r.to_json() for r in results]})


def _keys(x, out: set[str]) -> set[str]:
    if isinstance(x, dict):
        for k, v in x.items():
            out.add(k)
            _keys(v, out)
    elif isinstance(x, list):
        for v in x:
            _keys(v, out)
    return out


def _clear_caches() -> None:
    """Forget the per-process caches, so the next run recomputes every answer in the z3 context
    the previous bus left (the caches are keyed by bus, so they cannot mix buses up; clearing them
    makes the test see what the solver does, not what a cache remembers)."""
    for f in (L.lemma, R._comparator_status, O._check_all):
        f.cache_clear()


def test_seed_2011_proofs_are_the_same_after_another_bus_in_the_same_process():
    # as `check`/`report` call it (jobs=2: the pool's workers fork from this process and
    # inherit its z3 context), at a small N; about 15 s on 2 cores
    kw = dict(n=4, timeout_s=30.0, jobs=2)
    first = run_proofs("seed-2011", **kw)
    run_proofs("upstream", **kw, conditions=False)  # another bus's formulas and models in between
    _clear_caches()
    second = run_proofs("seed-2011", **kw)
    a, b = _json(first), _json(second)
    assert a == b
    # the comparison is not vacuous: refutations with counterexamples are in it
    refuted = [r for r in a["results"] if r["status"] == "fail"]
    assert {r["id"] for r in refuted} >= {"comparator.antisymmetric", "lookup.matches_contiguous"}
    assert all(r["finding"]["counterexample"] for r in refuted)
    # every timing is named `seconds` (what `comparable` strips), none `*_seconds`
    raw = {"results": [r.to_json() for r in first]}
    assert not [k for k in _keys(raw, set()) if k.endswith("seconds") and k != "seconds"]
