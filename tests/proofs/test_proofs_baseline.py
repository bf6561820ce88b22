"""The proofs at a bounded N, compared with the committed expectations (proofs/expected.json).

A refutation the expectations hold is a finding, not a failure; a new one fails;
``fixed`` has none; ``unknown`` is never accepted here (the budget is generous
for N=8). Every lookup counterexample must replay on the concrete model.
"""

import importlib.util
import os

import pytest

from iobus_verify.proofs import replay
from iobus_verify.proofs.encode import proof_variant
from iobus_verify.proofs.run import expected_refuted, proof_results, run_proofs

N = 8
TIMEOUT = 20.0
#: The unhinted (exhaustive) condition search and larger CrossHair budgets: opt in with IOBUS_PROOFS_SLOW=1.
SLOW = os.environ.get("IOBUS_PROOFS_SLOW") == "1"


@pytest.fixture(scope="module", params=["seed-2011", "upstream", "fixed"])
def outcome(request):
    return request.param, proof_results(request.param, n=N, timeout_s=TIMEOUT, conditions=True)


def test_refutations_match_the_expectations(outcome):
    name, results = outcome
    refuted = {r.id for r in results if r.outcome == "refuted" and r.condition == "none"}
    assert refuted == expected_refuted(name), f"{name}: new {refuted - expected_refuted(name)}, gone {expected_refuted(name) - refuted}"
    assert not [r for r in results if r.outcome == "unknown"], [(r.result_id, r.limit) for r in results if r.outcome == "unknown"]


def test_fixed_is_proved_bounded_and_unbounded(outcome):
    name, results = outcome
    if name != "fixed":
        pytest.skip("fixed only")
    assert all(r.outcome == "proved" for r in results)
    for ob in ("lookup.bsearch_complete", "lookup.matches_contiguous", "lookup.walkback_first", "lookup.equivalent_to_linear"):
        scopes = {(r.scope, r.n) for r in results if r.id == ob}
        assert scopes == {("bounded", N), ("unbounded", None)}, (ob, scopes)


def test_every_lookup_counterexample_replays(outcome):
    name, results = outcome
    pv = proof_variant(name)
    for r in results:
        if r.outcome != "refuted" or not r.id.startswith("lookup."):
            continue
        assert r.scenario["schema"] == "iobus-scenario/1"
        assert replay.replay_obligation(pv, r.id, r.counterexample, r.access), r.explanation
        assert replay.diverges(r.scenario, name), f"{r.id}: the scenario shows no divergence: {r.scenario}"
        assert sum(op["op"] == "probe" for op in r.scenario["ops"]) == len(r.counterexample) == r.n


@pytest.mark.skipif(importlib.util.find_spec("iobus_verify.model.vm") is None, reason="model/vm.py not in the tree yet")
def test_counterexamples_replay_through_the_vm(outcome):  # pragma: no cover - depends on issue 4
    from iobus_verify.model import vm

    name, results = outcome
    replay_fn = getattr(vm, "replay", None)
    if replay_fn is None:
        pytest.skip("model.vm has no replay() yet")
    for r in results:
        if r.outcome == "refuted" and r.scenario is not None:
            assert replay_fn(r.scenario, [name]), r.scenario


def test_seed_2011_has_conditions_for_every_refutation(outcome):
    name, results = outcome
    if name == "fixed":
        pytest.skip("fixed has no refutation")
    for ob in expected_refuted(name):
        conditional = [r for r in results if r.id == ob and r.condition != "none"]
        assert conditional and all(r.outcome == "proved" for r in conditional), ob
    eq = {r.condition for r in results if r.id == "lookup.equivalent_to_linear" and r.outcome == "proved"}
    assert any("disjoint" in c for c in eq), eq


def test_results_convert_to_project_records(outcome):
    name, results = outcome
    for p, r in zip(results, [x.to_result() for x in results]):
        assert r.kind == "proof" and r.seconds >= 0
        assert r.status == {"proved": "pass", "refuted": "fail", "unknown": "unknown"}[p.outcome]
        if r.status == "fail":
            assert r.finding.cls == "refuted" and r.finding.counterexample
            assert "\n" not in r.finding.explanation
        assert p.scope in r.detail and p.condition in r.detail


def test_run_proofs_api_and_timeout_gives_unknown():
    # a 1 ms budget cannot finish a search: unknown or an answer, never a silent pass of nothing
    res = run_proofs("fixed", n=4, timeout_s=0.001)
    assert res and all(r.status in ("pass", "unknown") for r in res)
    assert any(r.status == "unknown" for r in res), [(r.id, r.status) for r in res]
    for r in res:
        if r.status == "unknown":
            assert "timeout" in r.detail or "limit" in r.detail
