"""The pieces as Hypothesis properties: comparator laws, sort and bsearch.

A law that fails for a variant is a finding: these tests assert that Hypothesis
FINDS it (and that the reported example really violates the law), and that the
laws that hold are not falsified within the budget.
"""

import pytest

from iobus_verify.model.ksort import SORTS
from iobus_verify.model.kbsearch import BSEARCHES
from iobus_verify.properties.pieces import (
    EXPECTED_LAW_FAILURES,
    LAWS,
    ORDERS,
    bsearch_agrees,
    check_pieces,
    find_law_violation,
    law_holds,
    sort_is_ordered_permutation,
)

BUDGET_HOLDS = 400  # examples when the law is expected to hold (z3 proves it; this is a second witness)
BUDGET_FIND = 2000  # a cap when a violation is expected; the search stops at the first one


@pytest.mark.parametrize("variant", sorted(ORDERS))
@pytest.mark.parametrize("law", LAWS)
def test_hypothesis_finds_exactly_the_expected_law_violations(variant, law):
    expected_to_fail = law in EXPECTED_LAW_FAILURES[variant]
    v = find_law_violation(variant, law, max_examples=BUDGET_FIND if expected_to_fail else BUDGET_HOLDS, seed=0)
    if expected_to_fail:
        assert v is not None, f"Hypothesis did not find the known {law} violation of {variant}"
        padded = (v.ranges + (v.ranges[-1],) * 3)[:3]
        assert not law_holds(law, ORDERS[variant].cmp, *padded), v.explain()
        assert variant in v.explain() and law in v.explain()
    else:
        assert v is None, v.explain()


@pytest.mark.parametrize("law", ["transitive", "incomparability_transitive"])
@pytest.mark.parametrize("variant", sorted(ORDERS))
def test_premise_chains_satisfy_the_premises(variant, law):
    from hypothesis import given, settings

    from iobus_verify.properties.pieces import premise_chains

    cmp = ORDERS[variant].cmp
    chains = premise_chains(law, cmp)
    if chains.is_empty:  # fixed's segment order has no two-step chain of equal elements
        assert law == "incomparability_transitive"
        return

    @settings(max_examples=200, database=None, deadline=None)
    @given(chains)
    def prop(t):
        a, b, c = t
        if law == "transitive":
            assert cmp(a, b) != 0 and (cmp(a, b) > 0) == (cmp(b, c) > 0) and cmp(b, c) != 0
        else:
            assert cmp(a, b) == 0 and cmp(b, c) == 0

    prop()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_todays_transitivity_violation_is_found_at_a_small_budget_from_any_seed(seed):
    # Once found at seed 0 only by luck: about 1 triple in 500 of the tiny
    # world breaks it. The premise chains make it about 1 in 20 of theirs.
    assert find_law_violation("upstream", "transitive", max_examples=300, seed=seed) is not None


def test_law_checker_is_not_vacuous_on_hand_made_violations():
    c11, cup = ORDERS["seed-2011"].cmp, ORDERS["upstream"].cmp
    assert not law_holds("antisymmetric", c11, (0, 2), (0, 1), (0, 0))
    assert not law_holds("transitive", cup, (5, -5), (3, 0), (0, 1))  # wrapped end, wildcard in the middle
    assert not law_holds("incomparability_transitive", cup, (1, 1), (0, 4), (0, 0))
    assert law_holds("transitive", c11, (5, -5), (3, 0), (0, 1))  # 2011 has no wildcard: holds


def test_sort_check_detects_a_misordered_output():
    # kernel-facts 3: the 2005 heapsort reverses (0,1),(0,2) under the 2011 comparator
    msg = sort_is_ordered_permutation("2005", ORDERS["seed-2011"].cmp, [(0, 1), (0, 2)])
    assert msg is not None and "sorts below" in msg


def test_bsearch_check_detects_the_known_miss():
    cmp = ORDERS["seed-2011"].cmp
    table = list(SORTS["2005"]([(0, 1), (0, 2)], cmp).items)
    assert table == [(0, 2), (0, 1)]
    msg = bsearch_agrees("2011", (0, 2), table, cmp)
    assert msg is not None and "linear search finds index 0" in msg


@pytest.mark.parametrize("variant", sorted(ORDERS))
def test_sort_and_bsearch_hold_on_strict_weak_orders(variant):
    outcomes = {o.id: o for o in check_pieces(variant, max_examples=150, seed=0, laws=False)}
    assert set(outcomes) == {"property.sort.ordered_permutation", "property.bsearch.agrees_with_linear"}
    for o in outcomes.values():
        assert o.holds, o.explanation
    assert set(SORTS) == {"2005", "2019", "today"} and set(BSEARCHES) == {"2011", "today"}
