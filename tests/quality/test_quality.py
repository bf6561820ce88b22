"""The quality set: can the gate tell a correct bus from a broken one?

In the spirit of Hypothesis's own ``quality`` tests. ``buses.py`` holds a
correct range bus of our own (``correct``, written differently from ``fixed``)
and buses that each differ from it by one planted bug. Under the ci profile
and the contract ``positive-len+no-wrap``:

* ``correct`` (and ``one_past_end``, a change no device can observe) passes
  the check: no finding inside the contract, verdict MATCH;
* every planted bug fails that check, or shows a finding (class, condition)
  that ``correct`` does not have;
* a planted bug that lies outside the contract (``signed_len``) is not held
  against the bus: its findings, if any, are marked outside the contract and
  the verdict is MATCH.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from iobus_verify.model.spec import resolve
from iobus_verify.reports.check import check

HERE = Path(__file__).parent
BUSES = HERE / "buses.py"
CONTRACT = "positive-len+no-wrap"

import importlib.util

_spec = importlib.util.spec_from_file_location("iobus_quality_buses", BUSES)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
PLANTED, OUTSIDE, EQUIVALENT = _mod.PLANTED, _mod.OUTSIDE_CONTRACT, _mod.EQUIVALENT

_RUNS: dict[str, object] = {}


def _run(name: str, tmp_path_factory):
    """One bus's ci check, once per process. Each test runs its own bus's check
    (pytest-xdist spreads them over the cores, so no single test waits for the
    whole set); the planted-bug tests share ``correct``'s."""
    if name not in _RUNS:
        out = tmp_path_factory.mktemp(f"quality-{name}")
        _RUNS[name] = check(resolve(f"{BUSES}:{name}"), profile="ci", seed=0, out_root=out, assume=CONTRACT, stream=None, bar=False)
    return _RUNS[name]


def _keys(outcome) -> set[tuple[str, str, str | None]]:
    """(class, condition, outside contract) of every finding."""
    return {
        (r.finding.cls, r.finding.condition, r.finding.outside_contract)
        for r in outcome.report.results
        if r.finding is not None
    }


def _inside(outcome) -> set[tuple[str, str]]:
    return {(c, cond) for c, cond, outside in _keys(outcome) if not outside}


@pytest.mark.parametrize("name", ["correct", *EQUIVALENT])
def test_correct_buses_pass_under_the_contract(name, tmp_path_factory):
    o = _run(name, tmp_path_factory)
    assert _inside(o) == set(), [r.finding for r in o.report.results if r.finding]
    assert o.exit_code == 0, o.report.gate
    # a pass means something was exercised: no unknown, and the coverage shows accesses
    # (a finding outside the contract is listed as a fail, and does not gate)
    statuses = {r.id: r.status for r in o.report.results if not (r.finding and r.finding.outside_contract)}
    assert set(statuses.values()) == {"pass"}, statuses
    cov = next(r.coverage for r in o.report.results if r.id == "differential.REORDERED")
    assert cov["accesses_handled"] > 0 and cov["multi_candidate"] > 0 and cov["registrations"] > 0


@pytest.mark.parametrize("name", sorted(set(PLANTED) - set(OUTSIDE)))
def test_every_planted_bug_is_told_apart(name, tmp_path_factory):
    good = _run("correct", tmp_path_factory)
    bad = _run(name, tmp_path_factory)
    told_apart = bad.exit_code != 0 or bool(_inside(bad) - _inside(good))
    assert told_apart, f"{name} ({PLANTED[name]}) looks like the correct bus: {sorted(_keys(bad), key=str)}"
    assert bad.exit_code == 1, f"{name}: a planted bug inside the contract must fail the gate, got {bad.exit_code}"


@pytest.mark.parametrize("name", sorted(OUTSIDE))
def test_a_bug_outside_the_contract_does_not_gate(name, tmp_path_factory):
    o = _run(name, tmp_path_factory)
    assert _inside(o) == set(), f"{name}: {sorted(_keys(o), key=str)}"
    assert o.exit_code == 0
