"""The gate: stored scenarios replayed first, (id, class, condition) identity,
not-run entries not judged, findings outside the contract never gating.

The properties phase is a fake (``check(..., phases=[...])``) and the replay
of stored scenarios is monkeypatched, so each rule is tested alone and fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from iobus_verify.errors import UsageError
from iobus_verify.model.spec import resolve
from iobus_verify.reports import baseline as baselines
from iobus_verify.reports import gate as gate_mod
from iobus_verify.reports.check import Phase, check, summary_lines
from iobus_verify.reports.records import Finding, Result
from iobus_verify.reports.report import Key
from iobus_verify.reports.schema import validate

STRONG = "positive-len+no-wrap+disjoint"
WEAK = "positive-len+no-wrap"
SCEN = {
    "schema": "iobus-scenario/1",
    "ops": [
        {"op": "probe", "action": "register", "id": "a", "bus": "mmio", "addr": 0x10, "len": 4, "accepts": "range"},
        {"op": "write", "bus": "mmio", "addr": 0x11, "len": 1, "data": "00"},
    ],
}
NULL = open(os.devnull, "w")


def _props(found=(), seen=None, coverage=None):
    """A properties phase: ``found`` lists (class, condition, outside) findings;
    every other class of MISSED/REORDERED passes. Records the context in ``seen``."""

    def run(ctx):
        if seen is not None:
            seen.append(ctx)
        out = []
        by = {c: (cond, outside) for c, cond, outside in found}
        for cls in ("MISSED", "REORDERED"):
            if cls in by:
                cond, outside = by[cls]
                f = Finding(cls, f"{cls} at 0x11", SCEN, condition=cond, outside_contract=outside)
                out.append(Result(f"differential.{cls}", "property", "fail", 0.0, f, coverage=coverage))
            else:
                out.append(Result(f"differential.{cls}", "property", "pass", 0.0, coverage=coverage))
        return out

    return Phase("properties", "property", run)


def _proofs(refuted=("lookup.walkback_first",)):
    def run(ctx):
        return [Result(i, "proof", "fail", 0.0, Finding("refuted", "nested ranges")) for i in refuted]

    return Phase("proofs", "proof", run)


def _baseline(tmp_path, *entries, schema2=True):
    path = tmp_path / "base.json"
    if schema2:
        baselines.write(baselines.Baseline("fixed", tuple(entries)), path)
    else:
        obj = {"schema": "iobus-baseline/1", "bus": "fixed", "findings": [{k: v for k, v in e.to_json().items() if k not in ("condition", "scenario", "outside_contract")} for e in entries]}
        path.write_text(json.dumps(obj))
    return path


def _missed(cond=STRONG, **kw):
    return baselines.Entry("differential.MISSED", "MISSED", "fail", "property", condition=cond, scenario=SCEN, **kw)


@pytest.fixture
def classify(monkeypatch):
    """Set what a stored scenario shows when the gate replays it."""
    calls = []

    def use(shown):
        def fake(spec, scenario):
            calls.append(scenario)
            return shown

        monkeypatch.setattr(gate_mod, "classify_scenario", fake)
        return calls

    return use


def _run(tmp_path, phases, base=None, **kw):
    return check(resolve("fixed"), out_root=tmp_path / "out", phases=phases, baseline_path=base, stream=NULL, **kw)


def _validated(o):
    obj = json.loads((o.bus_dir / "report.json").read_text())
    validate(obj, "iobus-report/1")
    return obj


def test_stored_scenarios_are_replayed_first_by_the_properties_phase(tmp_path, classify):
    classify(("MISSED", STRONG))
    seen = []
    o = _run(tmp_path, [_props([("MISSED", STRONG, False)], seen)], _baseline(tmp_path, _missed()), assume=WEAK)
    assert seen[0].explicit == (SCEN,) and seen[0].assume == WEAK
    assert o.exit_code == 0 and o.report.gate.verdict == "match"
    assert _validated(o)["contract"] == WEAK


def test_lost_only_when_the_scenario_stops_reproducing_and_the_search_lacks_it(tmp_path, classify):
    base = _baseline(tmp_path, _missed())
    # the search misses it, but its stored scenario still reproduces it: kept
    calls = classify(("MISSED", STRONG))
    kept = _run(tmp_path, [_props()], base)
    assert calls == [SCEN]
    assert kept.exit_code == 0 and not kept.report.gate.lost
    assert "kept by its stored scenario" in kept.report.gate.changed[0].note
    # the scenario no longer diverges, but the search still finds it: matched
    classify(None)
    found = _run(tmp_path, [_props([("MISSED", STRONG, False)])], base)
    assert found.exit_code == 0 and not found.report.gate.lost
    assert "now shows no divergence" in found.report.gate.changed[0].note
    # neither: lost
    lost = _run(tmp_path, [_props()], base)
    assert lost.exit_code == 1 and [str(k) for k in lost.report.gate.lost] == [f"differential.MISSED [MISSED @ {STRONG}]"]
    assert "nor does its stored scenario reproduce it" in lost.report.gate.lost[0].note
    _validated(lost)


def test_a_replay_that_raises_cannot_keep_a_finding(tmp_path, monkeypatch):
    def boom(spec, scenario):
        raise RuntimeError("stale scenario")

    monkeypatch.setattr(gate_mod, "classify_scenario", boom)
    o = _run(tmp_path, [_props()], _baseline(tmp_path, _missed()))
    assert o.exit_code == 1 and "raised RuntimeError: stale scenario" in o.report.gate.lost[0].note


def test_a_stored_scenario_showing_another_condition_is_changed_not_new_and_lost(tmp_path, classify):
    classify(("MISSED", "none"))
    o = _run(tmp_path, [_props([("MISSED", "none", False)])], _baseline(tmp_path, _missed()))
    g = o.report.gate
    assert o.exit_code == 0 and not g.new and not g.lost
    assert [str(k) for k in g.changed] == [f"differential.MISSED [MISSED @ {STRONG}]"]
    assert "now shows MISSED @ none" in g.changed[0].note


def test_the_condition_is_part_of_the_identity(tmp_path, classify):
    classify(None)
    o = _run(tmp_path, [_props([("MISSED", "none", False)])], _baseline(tmp_path, _missed()))
    g = o.report.gate
    assert o.exit_code == 1
    assert [str(k) for k in g.new] == ["differential.MISSED [MISSED @ none]"]
    assert [str(k) for k in g.lost] == [f"differential.MISSED [MISSED @ {STRONG}]"]
    assert Key("a", "MISSED", condition="x") != Key("a", "MISSED", condition="y")
    assert Key("a", "MISSED", "note", "x") == Key("a", "MISSED", "other", "x")
    assert _validated(o)["gate"]["new"][0]["condition"] == "none"


def test_entries_whose_phase_did_not_run_are_not_judged(tmp_path, classify):
    classify(("MISSED", STRONG))
    proof = baselines.Entry("lookup.walkback_first", "refuted", "fail", "proof")
    base = _baseline(tmp_path, _missed(), proof)
    # only the properties phase: the proof entry is neither lost nor matched
    o = _run(tmp_path, [_props([("MISSED", STRONG, False)])], base)
    g = o.report.gate
    assert o.exit_code == 0 and g.verdict == "match" and not g.lost
    assert [str(k) for k in g.not_run] == ["lookup.walkback_first [refuted]"]
    assert any("1 baseline finding(s) not judged" in line for line in summary_lines(o.report))
    assert "not judged" in (o.bus_dir / "report.md").read_text()
    assert "not judged" in (o.bus_dir / "report.html").read_text()
    assert "<skipped" in (o.bus_dir / "junit.xml").read_text()
    _validated(o)
    # a proofs phase that is not applicable is not judged either
    from iobus_verify.reports.phases import PhaseNotApplicable

    def na(ctx):
        raise PhaseNotApplicable("no proofs here")

    o = _run(tmp_path, [_props([("MISSED", STRONG, False)]), Phase("proofs", "proof", na)], base)
    assert o.exit_code == 0 and [k.id for k in o.report.gate.not_run] == ["lookup.walkback_first"]
    # with the proofs phase run, the same entry is judged: found, then lost
    assert _run(tmp_path, [_props([("MISSED", STRONG, False)]), _proofs()], base).exit_code == 0
    lost = _run(tmp_path, [_props([("MISSED", STRONG, False)]), _proofs(())], base)
    assert lost.exit_code == 1 and [k.id for k in lost.report.gate.lost] == ["lookup.walkback_first"]


def test_an_interrupted_phase_is_not_judged(tmp_path, classify):
    classify(("MISSED", STRONG))

    def interrupted(ctx):
        raise KeyboardInterrupt

    base = _baseline(tmp_path, _missed(), baselines.Entry("lookup.walkback_first", "refuted", "fail", "proof"))
    o = _run(tmp_path, [_props([("MISSED", STRONG, False)]), Phase("proofs", "proof", interrupted)], base)
    assert o.exit_code == 130 and not o.report.gate.lost
    assert [k.id for k in o.report.gate.not_run] == ["lookup.walkback_first"]


def test_outside_contract_findings_never_gate(tmp_path, classify):
    classify(None)
    # an outside-contract finding is listed, not new; so is fixed's baseline finding outside the contract
    o = _run(tmp_path, [_props([("REORDERED", "none", True)])], assume=WEAK)
    g = o.report.gate
    assert o.exit_code == 0 and not g.new
    assert sorted(str(k) for k in g.outside) == ["differential.MISSED [MISSED @ none]", "differential.REORDERED [REORDERED @ none]"]
    assert any("outside contract" in line for line in summary_lines(o.report))
    assert "outside the contract" in (o.bus_dir / "report.md").read_text()
    assert "outside the contract" in (o.bus_dir / "junit.xml").read_text()
    # a baseline entry outside the contract that the run does not show is not lost
    base = _baseline(tmp_path, _missed("none", outside_contract=True))
    o = _run(tmp_path, [_props()], base, assume=WEAK)
    assert o.exit_code == 0 and not o.report.gate.lost and [k.id for k in o.report.gate.outside] == ["differential.MISSED"]


def test_a_stored_scenario_breaking_the_contract_is_outside(tmp_path, classify, monkeypatch):
    classify(None)
    monkeypatch.setattr(gate_mod, "violation", lambda scenario, contract, era=None: "op 0 breaks positive-len")
    o = _run(tmp_path, [_props()], _baseline(tmp_path, _missed("none")), assume=WEAK)
    assert o.exit_code == 0 and not o.report.gate.lost and [k.id for k in o.report.gate.outside] == ["differential.MISSED"]


def test_version_1_baselines_still_load_and_match_any_condition(tmp_path, classify):
    classify(None)
    proof = baselines.Entry("lookup.walkback_first", "refuted", "fail", "proof")
    base = _baseline(tmp_path, _missed(), proof, schema2=False)
    b = baselines.load(base)
    assert b.schema == "iobus-baseline/1" and b.entries[0].condition is None and b.scenarios() == ()
    o = _run(tmp_path, [_props([("MISSED", WEAK, False)]), _proofs()], base)
    assert o.exit_code == 0 and o.report.gate.verdict == "match"
    assert _run(tmp_path, [_props(), _proofs()], base).exit_code == 1  # no stored scenario: lost as before


def test_baseline_from_report_stores_condition_and_scenario(tmp_path, classify):
    classify(("MISSED", STRONG))
    o = _run(tmp_path, [_props([("MISSED", STRONG, False)]), _proofs()])
    b = baselines.from_report(o.report)
    path = tmp_path / "new.json"
    baselines.write(b, path)
    obj = json.loads(path.read_text())
    assert obj["schema"] == "iobus-baseline/2"
    by = {f["id"]: f for f in obj["findings"]}
    assert by["differential.MISSED"]["condition"] == STRONG and by["differential.MISSED"]["scenario"] == SCEN
    assert "scenario" not in by["lookup.walkback_first"] and "condition" not in by["lookup.walkback_first"]
    assert _run(tmp_path, [_props(), _proofs()], path).exit_code == 0  # kept by its scenario


def test_a_fixed_finding_whose_scenario_reproduces_is_new(tmp_path, classify):
    classify(("MISSED", STRONG))
    o = _run(tmp_path, [_props()], _baseline(tmp_path, _missed(fixed=True)))
    assert o.exit_code == 1 and "reproduces it again" in o.report.gate.new[0].note


def test_bad_contract_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="bogus"):
        _run(tmp_path, [_props()], assume="positive-len+bogus")


def test_coverage_is_rendered_and_optional(tmp_path, classify):
    classify(None)
    coverage = {
        "accesses_handled": 120,
        "multi_candidate": 7,
        "by_condition": {
            STRONG: {"accesses_handled": 40, "diverged": False},
            WEAK: {"accesses_handled": 50, "diverged": True},
            "none": {"accesses_handled": 30, "diverged": True},
        },
    }
    o = _run(tmp_path, [_props([("MISSED", WEAK, False)], coverage=coverage)])
    md = (o.bus_dir / "report.md").read_text()
    assert f"diverges under {WEAK}; no divergence found under {STRONG}" in md
    assert "accesses\\_handled 120" in md
    html = (o.bus_dir / "report.html").read_text()
    assert f"diverges under {WEAK}; no divergence found under {STRONG}" in html
    assert f"no divergence found under {STRONG}" in (o.bus_dir / "junit.xml").read_text()
    assert any(WEAK in line for line in summary_lines(o.report))
    # a result without coverage (an old report) renders without it
    plain = _run(tmp_path / "p", [_props([("MISSED", None, False)])])
    assert "Conditions:" not in (plain.bus_dir / "report.md").read_text()


def test_assume_on_the_command_line(tmp_path, capsys, monkeypatch):
    from iobus_verify.cli import main
    from iobus_verify.reports import check as check_mod

    monkeypatch.setattr(check_mod, "PHASES", (_props(),))
    assert main(["check", "--bus", "fixed", "--out", str(tmp_path), "--assume", "positive-len+nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and len(err.strip().splitlines()) == 1
    assert main(["check", "--bus", "fixed", "--out", str(tmp_path), "--assume", WEAK]) == 0
    assert f"contract: {WEAK}" in capsys.readouterr().out
    assert json.loads((tmp_path / "fixed" / "report.json").read_text())["contract"] == WEAK


def test_pytest_entry_passes_on_the_committed_baseline(tmp_path):
    """`pytest --bus seed-2011` as the README shows it: the proofs do not run
    under pytest, so the committed baseline's proof findings are not judged."""
    (tmp_path / "test_tiny.py").write_text("def test_tiny():\n    assert True\n")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("IOBUS_VERIFY_PROFILE", None)
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "--bus", "seed-2011", "-p", "no:cacheprovider", "-q", "test_tiny.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "not judged" in p.stdout
