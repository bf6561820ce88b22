"""Run every proof obligation for a variant; the entry point the reports and tests call.

``run_proofs(spec_name, n=, timeout_s=, jobs=)`` returns project
:class:`~iobus_verify.reports.records.Result` records (kind ``proof``):

* the comparator obligations (unbounded: every 64-bit/``int`` value);
* the lookup obligations: for ``seed-2011`` and ``upstream`` the exact
  exploration's minimal, replayed counterexample; for ``fixed`` the lemma route,
  one result bounded to ``N <= n`` and one for every N (id suffix ``@none`` is
  never used: unconditional results carry the bare id, and ``extra.scope`` says
  ``bounded``/``unbounded``);
* for every refuted obligation of ``seed-2011``/``upstream``: the weakest
  conditions (minimal conjunctions of :data:`conditions.ATOMS`) under which it
  is proved, as results ``<id>@<condition>`` (bounded and unbounded).

A refutation is only ever reported after the concrete model replayed it; a
solver timeout gives ``unknown`` with the limit, never ``pass``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Sequence

from iobus_verify.model import conditions as C
from iobus_verify.proofs import lookup as L
from iobus_verify.proofs import obligations as O
from iobus_verify.proofs import search as S
from iobus_verify.proofs.encode import ProofVariant, proof_variant
from iobus_verify.proofs.results import ProofResult
from iobus_verify.proofs.search import SearchOutcome
from iobus_verify.reports.records import Result

#: A progress callback (:mod:`iobus_verify.reports.progress`), or None.
Progress = Callable[..., Any] | None

#: Obligations (not lookup) checked under a condition: comparator laws as the ``swo`` lemma would.
_COMPARATOR_LAWS = tuple(f"comparator.{law}" for law in O.LAWS)


@lru_cache(maxsize=None)
def _comparator_status(pv: ProofVariant, ob_id: str, cond: C.Condition, timeout_s: float) -> tuple[str, float]:
    """(raw z3 outcome of the negated law under ``cond``, solve seconds); cached: the search and the
    conditional proof ask the same question."""
    import z3

    from iobus_verify.proofs.encode import Z3, fresh_range, range_cmp

    t0 = time.perf_counter()
    if ob_id == "comparator.match_interval":
        out = L.lemma(pv, "monotone", cond, timeout_s)
    else:
        x, y, z_ = fresh_range("x"), fresh_range("y"), fresh_range("z")
        hold = cond.holds(Z3, [(x.addr, x.len), (y.addr, y.len), (z_.addr, z_.len)])
        viol = O._laws(range_cmp(pv), x, y, z_)[ob_id.split(".")[1]]
        out = L._check(z3.And(*hold, viol), timeout_s)
    return out, time.perf_counter() - t0


def _comparator_under(pv: ProofVariant, ob_id: str, cond: C.Condition, timeout_s: float) -> ProofResult:
    out, seconds = _comparator_status(pv, ob_id, cond, timeout_s)
    return ProofResult(
        id=ob_id, variant=pv.name, outcome=out if out != "refuted" else "unknown", seconds=seconds,
        scope="unbounded", condition=cond.name, method="z3: negated law under the condition",
        limit="" if out == "proved" else f"{out} under this condition (timeout {timeout_s:g}s)",
    )


def _status_under(pv: ProofVariant, ob_id: str, cond: C.Condition, timeout_s: float) -> str:
    """``proved``, ``refuted`` (a needed lemma or the law has a violation under ``cond``) or ``unknown``."""
    if not ob_id.startswith("lookup."):
        return _comparator_status(pv, ob_id, cond, timeout_s)[0]
    for k in L.needed(ob_id):  # stop at the first lemma that is not proved, as prove_by_lemmas does
        out = L.lemma(pv, k, cond, timeout_s)
        if out != "proved":
            return out
    return "proved"


def condition_search(pv: ProofVariant, ob_id: str, timeout_s: float, *, hinted: bool = True) -> SearchOutcome:
    """The monotone search (:mod:`iobus_verify.proofs.search`) over :data:`conditions.ATOMS` for ``ob_id``.

    ``hinted``: evaluate the committed expectation (``proofs/expected.json``,
    ``conditions``) first; it only orders the search, the answer is the same.
    """
    names = [a.name for a in C.ATOMS]
    expected = expected_conditions(pv.name).get(ob_id) if hinted else None
    hint = None if expected is None else [frozenset(c.split("+")) for c in expected]
    return S.minimal_sets(names, lambda atoms: _status_under(pv, ob_id, C.conjunction(atoms), timeout_s), hint)


def weakest_conditions(pv: ProofVariant, ob_id: str, timeout_s: float, *, hinted: bool = True) -> list[C.Condition]:
    """The minimal conjunctions of condition atoms under which ``ob_id`` is proved (by the lemma route)."""
    return [C.conjunction(m) for m in condition_search(pv, ob_id, timeout_s, hinted=hinted).minimal]


def _task(args) -> list[ProofResult]:
    kind, name, ob_id, n, timeout_s = args
    pv = proof_variant(name)
    if kind == "comparators":
        return O.check_all(pv, timeout_s)
    if kind == "refute":
        return [L.refute(pv, ob_id, n_max=n, timeout_s=timeout_s)]
    if kind == "lemma":
        return L.prove_by_lemmas(pv, ob_id, C.NONE, n, timeout_s)
    raise ValueError(kind)


def _names(sets) -> list[str]:
    return [C.conjunction(x).name for x in sets]


def _conditional(pv: ProofVariant, refuted: list[str], n: int, timeout_s: float, hinted: bool = True) -> list[ProofResult]:
    out: list[ProofResult] = []
    for ob_id in refuted:
        t0 = time.perf_counter()
        found = condition_search(pv, ob_id, timeout_s, hinted=hinted)
        # how the answer is certified: the maximal sets shown insufficient, and the search's cost
        search = {
            "evaluated": found.evaluated,
            "implied": found.implied,
            "insufficient": _names(found.maximal_failing),
            "undecided": _names(found.unknown),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if not found.minimal:
            out.append(
                ProofResult(
                    id=ob_id, variant=pv.name, outcome="unknown", seconds=time.perf_counter() - t0, scope="bounded", n=n,
                    condition="searched", method="condition search over " + ", ".join(a.name for a in C.ATOMS),
                    limit=f"no conjunction of the condition atoms proves it (timeout {timeout_s:g}s per lemma)",
                    extra={"search": search},
                )
            )
        for cond in (C.conjunction(m) for m in found.minimal):
            if ob_id.startswith("lookup."):
                rs = L.prove_by_lemmas(pv, ob_id, cond, n, timeout_s)
            else:
                rs = [_comparator_under(pv, ob_id, cond, timeout_s)]
            out.extend(dataclasses.replace(r, extra={**r.extra, "search": search}) for r in rs)
    return out


class _Done:
    """What one finished task adds to a progress display's counters (read by
    :class:`iobus_verify.reports.progress.PhaseProgress`): ``runs`` obligations
    done, ``found`` the obligations refuted."""

    def __init__(self, runs: int, found: Sequence[str] = ()) -> None:
        self.runs = runs
        self.found = dict.fromkeys(found)


def _outcomes(results: Sequence[ProofResult]) -> str:
    """``refuted`` / ``proved (N<=16 and every N)`` / ``2 proved, 1 refuted``: a task's results in words."""
    if len({r.id for r in results}) > 1:
        counts: dict[str, int] = {}
        for r in results:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        return ", ".join(f"{k} {o}" for o, k in counts.items())
    outs = sorted({r.outcome for r in results})
    scopes = " and ".join("every N" if r.scope == "unbounded" else f"N<={r.n}" for r in results if r.outcome != "refuted")
    return "/".join(outs) + (f" ({scopes})" if scopes and outs != ["refuted"] else "")


def _task_name(task) -> str:
    kind, _, ob_id, _, _ = task
    return "the comparator laws" if kind == "comparators" else ob_id


def proof_results(
    spec_name: str, *, n: int, timeout_s: float, jobs: int = 1, conditions: bool = True, progress: Progress = None
) -> list[ProofResult]:
    """Every :class:`ProofResult` for ``spec_name`` (see the module docstring).

    ``conditions=False`` skips the weakest-condition search (the costly part for
    ``upstream``, whose comparator laws under conditions take seconds each).
    ``progress``: told the obligations planned (:func:`iobus_verify.reports.progress.plan`,
    unit ``obligations``: each comparator law, each lookup obligation, and one
    weakest-condition search per refuted obligation) and each one done
    (:func:`iobus_verify.reports.progress.step`, one message per finished task).
    """
    from iobus_verify.reports.progress import plan, step

    pv = proof_variant(spec_name)
    tasks = [("comparators", pv.name, None, n, timeout_s)]
    kind = "lemma" if pv.kind == "fixed" else "refute"
    tasks += [(kind, pv.name, ob, n, timeout_s) for ob in L.LOOKUP]
    searching = pv.kind != "fixed" and conditions
    n_laws = len(O.obligations(pv)) if progress is not None else 1
    weight = [n_laws] + [1] * len(L.LOOKUP)
    # the searches are planned from the committed expectation, re-planned once the refutations are known
    planned = sum(weight) + (len(expected_refuted(pv.name)) if searching else 0)
    plan(progress, planned, unit="obligations")
    at_once = f", {min(jobs, len(tasks))} at a time" if jobs > 1 else ""
    step(progress, f"proofs: {pv.name}: {planned} obligations planned ({n_laws} comparator laws, {len(L.LOOKUP)} lookup obligations"
         + (", the weakest conditions of each refuted one" if searching else "") + f"{at_once})")

    def done(i: int, chunk: list[ProofResult]) -> None:
        refuted = sorted({r.result_id for r in chunk if r.outcome == "refuted"})
        step(progress, f"proofs: {pv.name}: {_task_name(tasks[i])}: {_outcomes(chunk)}", watch=_Done(weight[i], refuted))

    chunks: list[list[ProofResult]] = [[] for _ in tasks]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            futures = {ex.submit(_task, t): i for i, t in enumerate(tasks)}
            for f in as_completed(futures):
                i = futures[f]
                chunks[i] = f.result()
                done(i, chunks[i])
    else:
        for i, t in enumerate(tasks):
            chunks[i] = _task(t)
            done(i, chunks[i])
    results = [r for chunk in chunks for r in chunk]
    if searching:
        refuted = [r.id for r in results if r.outcome == "refuted"]
        if len(refuted) != planned - sum(weight):
            plan(progress, sum(weight) + len(refuted), unit="obligations")
        for ob_id in refuted:
            got = _conditional(pv, [ob_id], n, timeout_s)
            conds = sorted({r.condition for r in got if r.condition not in ("none", "searched")})
            held = ", ".join(conds) if conds else "no conjunction of the condition atoms proves it"
            step(progress, f"proofs: {pv.name}: weakest conditions of {ob_id}: {held}", watch=_Done(1))
            results += got
    return results


def run_proofs(
    spec_name: str, *, n: int, timeout_s: float, jobs: int = 1, conditions: bool = True, progress: Progress = None
) -> list[Result]:
    """The proofs of ``spec_name`` as project results (``pass``/``fail``/``unknown``).
    ``progress``: see :func:`proof_results` (the obligations planned, each one done)."""
    return [
        r.to_result()
        for r in proof_results(spec_name, n=n, timeout_s=timeout_s, jobs=jobs, conditions=conditions, progress=progress)
    ]


@lru_cache(maxsize=None)
def _expected() -> dict[str, list[str]]:
    text = resources.files("iobus_verify.proofs").joinpath("expected.json").read_text()
    return json.loads(text)["refuted"]


@lru_cache(maxsize=None)
def _expected_conditions() -> dict[str, dict[str, list[str]]]:
    text = resources.files("iobus_verify.proofs").joinpath("expected.json").read_text()
    return json.loads(text).get("conditions", {})


def expected_conditions(variant: str) -> dict[str, list[str]]:
    """The committed weakest conditions per refuted obligation of ``variant`` (proofs/expected.json)."""
    return dict(_expected_conditions().get(variant, {}))


def expected_refuted(variant: str) -> set[str]:
    """The obligation ids the committed baseline (proofs/expected.json) expects refuted for ``variant``."""
    return set(_expected().get(variant, ()))


def render(results: list[ProofResult]) -> str:
    """Human-readable lines: status, id, scope, time; counterexamples and conditions below."""
    lines = []
    for r in results:
        lines.append(f"{r.outcome:8} {r.result_id:55} {r.describe()}  {r.seconds:.2f}s")
        if r.outcome == "refuted":
            lines.append(f"         {r.explanation}")
        if r.outcome == "unknown":
            lines.append(f"         limit: {r.limit}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m iobus_verify.proofs.run", description="z3 proofs of a variant")
    ap.add_argument("variant", nargs="*", default=["seed-2011", "upstream", "fixed"])
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--no-conditions", action="store_true", help="skip the weakest-condition search")
    a = ap.parse_args(argv)
    for v in a.variant:
        print(f"== {v}")
        print(render(proof_results(v, n=a.n, timeout_s=a.timeout, jobs=a.jobs, conditions=not a.no_conditions)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
