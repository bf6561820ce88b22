"""CrossHair as a third witness: piece contracts, diff-behaviour of the lookups, agreement with Hypothesis and z3.

Budgets are counted in CrossHair paths, not CPU seconds (``crosshair_checks.Budget``): CrossHair
seeds its path choices, so a violation found within N paths on this machine is found within N
paths on any machine, loaded or not (crosshair-tool and z3-solver are pinned for the same reason).
Each budget below leaves a margin over the paths measured to find what the test needs (said per
budget); the CPU caps only stop a hang. ``IOBUS_PROOFS_SLOW=1`` checks every contract with larger
budgets. "not-refuted" is never read as a proof.
"""

import os

import pytest

from iobus_verify.model.cints import INT
from iobus_verify.model.comparators import cmp_2011
from iobus_verify.proofs import crosshair_checks as X
from iobus_verify.proofs.crosshair_checks import Budget
from iobus_verify.proofs import replay
from iobus_verify.proofs.agreement import agreement
from iobus_verify.proofs.encode import proof_variant
from iobus_verify.proofs.obligations import check_all

SLOW = os.environ.get("IOBUS_PROOFS_SLOW") == "1"
#: Piece contracts: the refuted controls fall within 10 paths; the others hold.
BUDGET = Budget(600, 120.0) if SLOW else Budget(100, 30.0)
#: The agreement needs budgets at which every tool finds the violations z3 proves exist:
#: the module's defaults (agreement.REFUTE_BUDGET etc., their margins said there; CrossHair
#: finds upstream's transitivity violation at path 140), or larger with IOBUS_PROOFS_SLOW=1;
#: Hypothesis, seed 0, finds upstream's incomparability violation after 300-500 examples.
AGREE_BUDGETS = dict(crosshair_budget_s=Budget(400, 120.0), refute_budget=Budget(3000, 300.0), diff_budget_s=Budget(400, 300.0)) if SLOW else {}
AGREE_EXAMPLES = 2000 if SLOW else 500


def test_crosshair_and_z3_agree_on_the_2011_comparator():
    lines = X.check(budget_s=4.0)
    assert len(lines) == 1 and "cmp_2011_antisymmetric" in lines[0], lines  # only the refuted law
    z3_refuted = {r.id for r in check_all(proof_variant("seed-2011"), 20.0) if r.outcome == "refuted"}
    assert "comparator.antisymmetric" in z3_refuted
    # CrossHair's witness is a real violation on ints
    a = lines[0].split("cmp_2011_antisymmetric(")[1].split(")")[0]
    a1, l1, a2, l2 = (int(x) for x in a.split(","))
    assert cmp_2011(INT, a1, l1, a2, l2) != -cmp_2011(INT, a2, l2, a1, l1)


#: Default run: one sort generation of each kind and every bsearch contract (the rest with IOBUS_PROOFS_SLOW=1).
_QUICK = (
    "sort_2005_sorted_permutation",
    "bsearch_2011_index_matches",
    "bsearch_2011_complete_on_sorted",
    "bsearch_today_index_matches",
    "bsearch_today_complete_on_sorted",
)


def test_piece_contracts_hold_and_the_controls_are_refuted():
    hold = X.PIECE_CONTRACTS_HOLD if SLOW else _QUICK
    outcomes = X.check(BUDGET, hold + X.PIECE_CONTRACTS_REFUTED)
    print("\n".join(o.describe() for o in outcomes))
    by = {o.name: o for o in outcomes}
    for n in hold:
        assert by[n].status in ("confirmed", "not-refuted"), by[n].describe()
    for n in X.PIECE_CONTRACTS_REFUTED:
        assert by[n].status == "refuted", by[n].describe()
    # small bounded contracts are explored completely: a real "all paths" result, not only a budget spent.
    # CrossHair confirms this one after 25-50 paths and then stops; 400 leaves room to spare.
    (complete,) = X.check(Budget(400, 120.0), ("bsearch_2011_complete_on_sorted",))
    assert complete.status == "confirmed", complete.describe()


def test_a_contract_without_conditions_is_an_error_not_a_pass():
    (o,) = X.check(1.0, ("law_contract_name",))
    assert o.status == "error" and "no contract" in o.detail


@pytest.fixture(scope="module", params=["seed-2011", "upstream", "fixed"])
def rows(request):
    return request.param, agreement(request.param, hypothesis_examples=AGREE_EXAMPLES, **AGREE_BUDGETS)


def test_hypothesis_z3_and_crosshair_agree(rows):
    variant, table = rows
    print("\n".join(r.line() for r in table))
    assert len(table) == 5
    for r in table:
        assert r.agree, r.line() + "\n" + "\n".join(f"  {v.tool}: {v.detail}" for v in r.verdicts)
    violated = {r.question for r in table if r.z3.verdict == "violated"}
    want = {"seed-2011": {"comparator.antisymmetric", "lookup.equivalent_to_linear"}, "fixed": set()}
    want["upstream"] = {f"comparator.{x}" for x in ("antisymmetric", "transitive", "incomparability_transitive")}
    want["upstream"].add("lookup.equivalent_to_linear")
    assert violated == want[variant]


def test_crosshair_diff_finds_the_lookup_divergences_and_they_replay(rows):
    variant, table = rows
    (row,) = [r for r in table if r.question == "lookup.equivalent_to_linear"]
    if variant == "fixed":
        assert row.crosshair.verdict == "not-refuted" and "not refuted within" in row.crosshair.detail
        return
    assert row.crosshair.verdict == "violated" and row.crosshair.evidence, row.crosshair.detail
    print(row.crosshair.detail)
    # each divergence CrossHair found is a replayable scenario (find_divergences re-ran it; once more here)
    for d in row.crosshair.evidence:
        assert d.scenario["schema"] == "iobus-scenario/1"
        assert replay.diverges(d.scenario, variant), d.scenario
        assert d.linear != d.variant


def test_a_path_budget_cut_by_its_cpu_cap_says_the_verdict_is_machine_dependent():
    # fixed's transitivity holds and has more paths than 0.5 CPU s explores: the cap ends the search
    (o,) = X.check(Budget(10**6, 0.5), (X.law_contract_name("fixed", "transitive"),))
    assert o.status == "not-refuted" and o.cap_hit, o
    assert "machine-dependent" in o.describe() and "not refuted within 1000000 paths" in o.describe()
    # a search that ends within its paths does not claim the cap
    (o,) = X.check(Budget(50, 60.0), (X.law_contract_name("fixed", "transitive"),))
    assert o.status == "not-refuted" and not o.cap_hit, o
