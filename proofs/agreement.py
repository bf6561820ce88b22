"""Do Hypothesis, z3 and CrossHair agree? One row per variant and question.

Questions: each comparator law (on the comparator each variant sorts with,
:data:`iobus_verify.properties.pieces.ORDERS`), and ``lookup.equivalent_to_linear``
(does some registration + one write reach a different probe than on the linear
bus?). Per tool:

* **Hypothesis**: the law as a piece property
  (:func:`iobus_verify.properties.pieces.find_law_violation`); for the lookup, a
  property over the tiny world of :mod:`iobus_verify.proofs.crosshair_diff`
  (the same :func:`~iobus_verify.proofs.crosshair_diff.handler`, ranges from the
  edge-case strategies).
* **z3**: :mod:`iobus_verify.proofs.obligations` (``fixed``: the ``.sort``
  law, the comparator the others check) and, for the lookup, the exact
  exploration (:func:`iobus_verify.proofs.lookup.refute`, bounded) or the
  lemma route (``fixed``).
* **CrossHair**: the law contracts of :mod:`iobus_verify.proofs.crosshair_checks`
  and the diff-behaviour of :mod:`iobus_verify.proofs.crosshair_diff`.

Each verdict is ``violated`` (a counterexample, re-checked on the model),
``holds`` (z3 proved it, or CrossHair confirmed every path) or ``not-refuted``
(a search budget ran out; never a proof), or ``unknown`` (z3 timeout). A row
*agrees* when all three found a violation, or when z3 proved it and neither
search found one. Anything else (a missed violation, a violation of a proved
law, an unknown) is a disagreement and says so.

CrossHair's budgets are paths, not seconds (:class:`~iobus_verify.proofs.crosshair_checks.Budget`),
so the agreement is the same on any machine. z3 answers first; a law z3
refutes gets the wide ``refute_budget`` (a check stops at its first
counterexample, so the width costs only the paths the search needs), a law
z3 proves the small ``crosshair_budget_s`` (CrossHair cannot refute it; any
budget ends in "confirmed" or "not refuted").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iobus_verify.properties.pieces import LAWS, ORDERS, find_law_violation, law_holds
from iobus_verify.proofs.crosshair_checks import Budget

TOOLS = ("hypothesis", "z3", "crosshair")

# CrossHair's default budgets, in paths (measured with crosshair-tool 0.0.113 and
# z3-solver 5.4.1.0: the violations appear by path 25 (antisymmetry), 50
# (upstream's incomparability), 140 (upstream's transitivity) and, for the
# lookup diffs, 50; 2011's transitivity is confirmed over all paths by 400).
# The CPU caps only guard against a hang; a run that hits one says so.
#: per law z3 refutes: stops at the first counterexample, so it may be wide (7x the 140 measured)
REFUTE_BUDGET = Budget(1000, 120.0)
#: per law z3 proves: CrossHair can only confirm it or run out
HOLD_BUDGET = Budget(100, 60.0)
#: per lookup diff: CrossHair explores every path of it (no early stop); twice the 50 measured (25 finds none)
DIFF_BUDGET = Budget(100, 60.0)


@dataclass(frozen=True)
class Verdict:
    tool: str
    verdict: str  # violated | holds | not-refuted | unknown
    detail: str
    #: what backs a ``violated`` verdict when it is more than text (e.g. CrossHair's replayed divergences)
    evidence: tuple[Any, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class AgreementRow:
    variant: str
    question: str  # comparator.<law> or lookup.equivalent_to_linear
    hypothesis: Verdict
    z3: Verdict
    crosshair: Verdict

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        return (self.hypothesis, self.z3, self.crosshair)

    @property
    def agree(self) -> bool:
        vs = [v.verdict for v in self.verdicts]
        return all(v == "violated" for v in vs) or (self.z3.verdict == "holds" and "violated" not in vs)

    def line(self) -> str:
        cells = " | ".join(f"{v.tool}: {v.verdict}" for v in self.verdicts)
        return f"{self.variant:10} {self.question:36} {cells} -> {'agree' if self.agree else 'DISAGREE'}"


def _z3_laws(variant: str, timeout_s: float) -> dict[str, Verdict]:
    from iobus_verify.proofs.encode import proof_variant
    from iobus_verify.proofs.obligations import check_all

    suffix = ".sort" if variant == "fixed" else ""
    by_id = {r.id: r for r in check_all(proof_variant(variant), timeout_s)}
    out = {}
    for law in LAWS:
        r = by_id[f"comparator.{law}{suffix}"]
        verdict = {"proved": "holds", "refuted": "violated", "unknown": "unknown"}[r.outcome]
        out[law] = Verdict("z3", verdict, r.explanation or r.limit or f"proved for every value ({r.id})")
    return out


def _crosshair_laws(variant: str, budget_s: Any, refute_budget: Any, z3v: dict[str, Verdict]) -> dict[str, Verdict]:
    import ast

    from iobus_verify.proofs import crosshair_checks as X

    outcomes = {}
    for budget, laws in ((refute_budget, [l for l in LAWS if z3v[l].verdict == "violated"]), (budget_s, [l for l in LAWS if z3v[l].verdict != "violated"])):
        if laws:
            outcomes.update(zip(laws, X.check(budget, tuple(X.law_contract_name(variant, law) for law in laws))))
    out = {}
    for law, o in ((law, outcomes[law]) for law in LAWS):
        if o.status == "refuted":
            args = ast.literal_eval("(" + o.detail.split(f"{o.name}(", 1)[1].split(")", 1)[0] + ",)")
            a1, l1, a2, l2, a3, l3 = args
            if law_holds(law, ORDERS[variant].cmp, (a1, l1), (a2, l2), (a3, l3)):
                raise AssertionError(f"CrossHair's counterexample does not violate {law} on the model: {o.detail}")
            out[law] = Verdict("crosshair", "violated", o.detail)
        elif o.status == "confirmed":
            out[law] = Verdict("crosshair", "holds", o.describe())
        elif o.status == "not-refuted":
            out[law] = Verdict("crosshair", "not-refuted", o.describe())
        else:
            raise RuntimeError(f"CrossHair could not check {o.name}: {o.detail}")
    return out


def hypothesis_lookup(variant: str, *, size: int = 2, max_examples: int = 300, seed: int = 0) -> Verdict:
    """Hypothesis over the tiny world: linear and ``variant`` hand one write to the same probe."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from iobus_verify.properties import strategies as S
    from iobus_verify.proofs.crosshair_diff import _bus, handler

    found: list = []

    class _Diverged(Exception):
        pass

    world = S.range_families(min_size=size, max_size=size).flatmap(lambda f: st.tuples(st.just(f), S.keys_for(f)))

    @settings(max_examples=max_examples, database=None, deadline=None, suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(world)
    def prop(x):
        family, key = x
        try:
            lin = handler(_bus("linear"), family, key)
        except ValueError:
            return  # outside the world (e.g. an access longer than 8 bytes): same in every bus
        var = handler(_bus(variant), family, key)
        if lin != var:
            found.append((family, key, lin, var))
            raise _Diverged()

    try:
        hseed(seed)(prop)()
    except _Diverged:
        family, key, lin, var = found[-1]
        return Verdict("hypothesis", "violated", f"ranges {family}, write {key}: linear p{lin + 1}, {variant} p{var + 1}")
    return Verdict("hypothesis", "not-refuted", f"no divergence in {max_examples} examples of {size} ranges, seed {seed}")


def _z3_lookup(variant: str, n: int, timeout_s: float) -> Verdict:
    from iobus_verify.proofs import lookup as L
    from iobus_verify.model import conditions as C
    from iobus_verify.proofs.encode import proof_variant

    pv = proof_variant(variant)
    ob = "lookup.equivalent_to_linear"
    if pv.kind == "fixed":
        rs = L.prove_by_lemmas(pv, ob, C.NONE, n, timeout_s)
        ok = all(r.outcome == "proved" for r in rs)
        return Verdict("z3", "holds" if ok else "unknown", "; ".join(f"{r.scope}: {r.outcome}" for r in rs))
    r = L.refute(pv, ob, n_max=n, timeout_s=timeout_s)
    verdict = {"refuted": "violated", "proved": "not-refuted", "unknown": "unknown"}[r.outcome]
    # the exact exploration is bounded (n ranges): "no counterexample up to n" is not "holds"
    return Verdict("z3", verdict, r.explanation or r.limit or f"no counterexample with up to {r.n} ranges")


def _crosshair_lookup(variant: str, size: int, budget_s: Any) -> Verdict:
    from iobus_verify.proofs.crosshair_diff import find_divergences

    o = find_divergences(variant, size=size, budget_s=budget_s)
    return Verdict("crosshair", "violated" if o.divergences else "not-refuted", o.describe(), o.divergences)


def agreement(
    variant: str,
    *,
    hypothesis_examples: int = 500,
    z3_timeout_s: float = 20.0,
    crosshair_budget_s: Any = None,
    refute_budget: Any = None,
    diff_budget_s: Any = None,
    lookup: bool = True,
    seed: int = 0,
) -> list[AgreementRow]:
    """One :class:`AgreementRow` per comparator law (and, with ``lookup``, one for the lookup) of ``variant``.

    Budgets (:class:`~iobus_verify.proofs.crosshair_checks.Budget`, or CPU
    seconds): ``crosshair_budget_s`` per law contract z3 proves (default
    :data:`HOLD_BUDGET`), ``refute_budget`` per law z3 refutes (default
    :data:`REFUTE_BUDGET`), ``diff_budget_s`` for the diff-behaviour of the
    lookups (default :data:`DIFF_BUDGET`).
    """
    hold = HOLD_BUDGET if crosshair_budget_s is None else crosshair_budget_s
    z3v = _z3_laws(variant, z3_timeout_s)
    chv = _crosshair_laws(variant, hold, REFUTE_BUDGET if refute_budget is None else refute_budget, z3v)
    rows = []
    for law in LAWS:
        v = find_law_violation(variant, law, max_examples=hypothesis_examples, seed=seed)
        hyp = Verdict("hypothesis", "violated", v.explain()) if v else Verdict(
            "hypothesis", "not-refuted", f"no counterexample in {hypothesis_examples} examples, seed {seed}"
        )
        rows.append(AgreementRow(variant, f"comparator.{law}", hyp, z3v[law], chv[law]))
    if lookup:
        rows.append(
            AgreementRow(
                variant,
                "lookup.equivalent_to_linear",
                hypothesis_lookup(variant, max_examples=hypothesis_examples, seed=seed),
                _z3_lookup(variant, 4, z3_timeout_s),
                _crosshair_lookup(variant, 2, DIFF_BUDGET if diff_budget_s is None else diff_budget_s),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m iobus_verify.proofs.agreement", description=__doc__.splitlines()[0])
    ap.add_argument("variant", nargs="*", default=list(ORDERS))
    ap.add_argument("--examples", type=int, default=500, help="Hypothesis examples per question")
    ap.add_argument("--crosshair-paths", type=int, help="CrossHair paths per contract and per diff (default: the module's budgets)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    bad = 0
    for v in a.variant:
        b = None if a.crosshair_paths is None else Budget(a.crosshair_paths, 120.0)
        for row in agreement(v, hypothesis_examples=a.examples, crosshair_budget_s=b, refute_budget=b, diff_budget_s=b, seed=a.seed):
            print(row.line())
            bad += not row.agree
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
