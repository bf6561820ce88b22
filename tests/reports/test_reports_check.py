"""The check orchestration and its gate, with fake phases (the real ones are tested in
their own packages and once end to end in test_reports_e2e.py)."""

from __future__ import annotations

import json
import time

import junitparser
import pytest

from iobus_verify.errors import UsageError
from iobus_verify.model.spec import resolve
from iobus_verify.reports import baseline as baselines
from iobus_verify.reports.check import Phase, PhaseUnavailable, check
from iobus_verify.reports.records import Finding, Result
from iobus_verify.reports.report import comparable, load_report
from iobus_verify.reports.schema import SchemaError, validate


def _validated(bus_dir):
    obj = json.loads((bus_dir / "report.json").read_text())
    validate(obj, "iobus-report/1")
    return obj


def _baseline_from(tmp_path, outcome, drop=(), add=()):
    b = baselines.from_report(outcome.report)
    entries = [e for e in b.entries if e.id not in drop] + [baselines.Entry(i, c, "fail") for i, c in add]
    path = tmp_path / "base.json"
    baselines.write(baselines.Baseline(b.bus, tuple(entries)), path)
    return path


def test_writes_every_file_and_validates(tmp_path, phases):
    o = check(resolve("seed-2011"), out_root=tmp_path, phases=phases, baseline_path=None, bar=False, stream=open("/dev/null", "w"))
    d = tmp_path / "seed-2011"
    for name in ("report.json", "report.md", "report.html", "junit.xml"):
        assert (d / name).is_file(), name
    obj = _validated(d)
    assert obj["bus"]["name"] == "seed-2011" and obj["profile"] == "ci" and obj["seed"] == 0
    assert "hypothesis" in obj["tools"] and "z3-solver" in obj["tools"]
    scen = list((d / "scenarios").glob("*.json"))
    assert [p.name for p in scen] == ["differential.MISSED.json"]
    assert json.loads(scen[0].read_text())["schema"] == "iobus-scenario/1"
    # seed-2011 has a committed baseline, and check judges on it by default
    assert o.report.gate.baseline is not None and o.report.gate.baseline.endswith("seed-2011.json")


def test_match_new_lost(tmp_path, phases):
    null = open("/dev/null", "w")
    first = check(resolve("seed-2011"), out_root=tmp_path / "a", phases=phases, baseline_path=None, stream=null)
    base = _baseline_from(tmp_path, first)
    match = check(resolve("seed-2011"), out_root=tmp_path / "b", phases=phases, baseline_path=base, stream=null)
    assert match.exit_code == 0 and match.report.gate.verdict == "match"
    assert _validated(match.bus_dir)["gate"]["baseline"] == str(base)

    new = check(resolve("seed-2011"), out_root=tmp_path / "c", phases=phases, baseline_path=_baseline_from(tmp_path, first, drop=("comparator.transitive",)), stream=null)
    assert new.exit_code == 1 and [str(k) for k in new.report.gate.new] == ["comparator.transitive [refuted]"]
    _validated(new.bus_dir)

    lost = check(resolve("seed-2011"), out_root=tmp_path / "d", phases=phases, baseline_path=_baseline_from(tmp_path, first, add=[("lookup.walkback_first", "refuted")]), stream=null)
    assert lost.exit_code == 1 and [str(k) for k in lost.report.gate.lost] == ["lookup.walkback_first [refuted]"]
    assert lost.report.gate.lost[0].note == "no longer reproduced"
    _validated(lost.bus_dir)


def test_fixed_entry_that_returns_is_new(tmp_path, phases):
    null = open("/dev/null", "w")
    first = check(resolve("seed-2011"), out_root=tmp_path, phases=phases, baseline_path=None, stream=null)
    b = baselines.from_report(first.report)
    marked = baselines.Baseline(b.bus, tuple(baselines.Entry(e.id, e.cls, e.status, fixed=e.id == "comparator.transitive") for e in b.entries))
    baselines.write(marked, tmp_path / "b.json")
    o = check(resolve("seed-2011"), out_root=tmp_path, phases=phases, baseline_path=tmp_path / "b.json", stream=null)
    assert o.exit_code == 1 and o.report.gate.new[0].note.startswith("marked fixed")


def test_unknown_is_never_a_pass(fake, tmp_path):
    null = open("/dev/null", "w")
    o = check(resolve("fixed"), out_root=tmp_path, phases=(fake.proofs(refuted=(), unknown=("lookup.walkback_first",)),), baseline_path=None, stream=null)
    assert o.exit_code == 1 and [str(k) for k in o.report.gate.new] == ["lookup.walkback_first [unknown]"]


def test_plugin_without_baseline_is_strict(fake, tmp_path):
    plugin = tmp_path / "mybus.py"
    plugin.write_text("from iobus_verify.model.linear_bus import LinearBus\ndef make(capacity):\n    return LinearBus(capacity)\n")
    null = open("/dev/null", "w")
    spec = resolve(f"{plugin}:make")
    bad = check(spec, out_root=tmp_path / "o", phases=(fake.properties(),), stream=null)
    assert bad.exit_code == 1 and bad.report.gate.baseline is None and bad.report.gate.new
    good = check(spec, out_root=tmp_path / "o", phases=(fake.properties(findings=()),), stream=null)
    assert good.exit_code == 0


def test_phase_missing_or_crashing_is_exit_2_with_the_rest_kept(fake, tmp_path):
    def missing(ctx):
        raise PhaseUnavailable("the proofs phase is not available: module iobus_verify.proofs.run is missing")

    def crash(ctx):
        raise ZeroDivisionError("boom")

    null = open("/dev/null", "w")
    o = check(resolve("fixed"), out_root=tmp_path, phases=(fake.properties(findings=()), Phase("proofs", "proof", missing), Phase("crosshair", "crosshair", crash)), stream=null)
    assert o.exit_code == 2 and o.report.gate.verdict == "error"
    st = {r.id: r.status for r in o.report.results}
    assert st["differential.MISSED"] == "pass" and st["phase.proofs"] == "error" and st["phase.crosshair"] == "error"
    assert any("not available" in m for m in o.messages)
    assert any("ZeroDivisionError: boom" in m for m in o.messages)
    assert (o.bus_dir / "phase-crosshair.traceback.txt").is_file()
    _validated(o.bus_dir)


def test_real_phases_absent_give_an_error_not_a_pass(tmp_path, monkeypatch):
    # Whatever is installed, a phase module that cannot be imported must be an error result.
    import sys

    monkeypatch.setitem(sys.modules, "iobus_verify.proofs.run", None)  # makes the import fail
    from iobus_verify.reports.check import PHASES

    o = check(resolve("fixed"), out_root=tmp_path, phases=[p for p in PHASES if p.name == "proofs"], stream=open("/dev/null", "w"))
    assert o.exit_code == 2 and o.report.results[0].status == "error"


def test_ctrl_c_keeps_what_was_computed(fake, tmp_path):
    def interrupted(ctx):
        raise KeyboardInterrupt

    o = check(resolve("seed-2011"), out_root=tmp_path, phases=(fake.properties(), Phase("proofs", "proof", interrupted), fake.proofs()), stream=open("/dev/null", "w"))
    assert o.exit_code == 130
    obj = _validated(o.bus_dir)
    assert obj["incomplete"] is True and "Ctrl-C" in obj["incomplete_reason"]
    assert [p["status"] for p in obj["phases"]] == ["done", "interrupted", "not-run"]
    ids = {r["id"]: r["status"] for r in obj["results"]}
    assert ids["differential.MISSED"] == "fail" and ids["phase.proofs"] == "unknown"
    assert (o.bus_dir / "scenarios" / "differential.MISSED.json").is_file()


def test_timeout_marks_incomplete_and_fails_the_gate(fake, tmp_path):
    def slow(ctx):
        time.sleep(60)
        return []

    t = time.monotonic()
    o = check(resolve("fixed"), out_root=tmp_path, phases=(fake.properties(findings=()), Phase("proofs", "proof", slow)), stream=open("/dev/null", "w"), timeout_s=0.3)
    # far below the phase's 60 s, with room for a loaded machine: the deadline cut it
    assert time.monotonic() - t < 20
    assert o.exit_code == 1 and o.report.incomplete and "--timeout" in o.report.incomplete_reason
    assert _validated(o.bus_dir)["gate"]["verdict"] == "incomplete"


def test_malformed_scenario_from_a_phase_is_an_error_and_kept(tmp_path):
    def bad(ctx):
        return [Result("differential.DATA", "property", "fail", 0.1, Finding("DATA", "x", {"schema": "iobus-scenario/1"}))]

    with pytest.raises(SchemaError, match="scenario"):
        check(resolve("fixed"), out_root=tmp_path, phases=(Phase("properties", "property", bad),), stream=open("/dev/null", "w"))
    assert (tmp_path / "fixed" / "report.invalid.json").is_file()


def test_malformed_baseline_fails_before_running(tmp_path, phases):
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"schema": "iobus-baseline/1", "bus": "x", "findings": [{"id": "a"}]}))
    ran = []
    with pytest.raises(UsageError, match="findings/0"):
        check(resolve("fixed"), out_root=tmp_path, phases=(Phase("p", "property", lambda ctx: ran.append(1) or []),), baseline_path=bad)
    assert not ran
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="not JSON"):
        check(resolve("fixed"), out_root=tmp_path, phases=(), baseline_path=bad)


def test_same_seed_same_report(tmp_path, phases):
    null = open("/dev/null", "w")
    a = check(resolve("seed-2011"), seed=7, out_root=tmp_path / "a", phases=phases, stream=null)
    b = check(resolve("seed-2011"), seed=7, out_root=tmp_path / "b", phases=phases, stream=null)
    c = check(resolve("seed-2011"), seed=8, out_root=tmp_path / "c", phases=phases, stream=null)
    ja, jb, jc = (json.loads((o.bus_dir / "report.json").read_text()) for o in (a, b, c))
    assert comparable(ja) == comparable(jb)
    assert comparable(ja) != comparable(jc)  # the seed reaches the phases
    assert (a.bus_dir / "report.md").read_text().split("## Results")[0] == (b.bus_dir / "report.md").read_text().split("## Results")[0]


def test_junit_one_case_per_result_and_agrees_with_gate(tmp_path, phases):
    null = open("/dev/null", "w")
    first = check(resolve("seed-2011"), out_root=tmp_path / "a", phases=phases, stream=null)
    base = _baseline_from(tmp_path, first, drop=("comparator.transitive",))
    o = check(resolve("seed-2011"), out_root=tmp_path / "b", phases=phases, baseline_path=base, stream=null)
    xml = junitparser.JUnitXml.fromfile(str(o.bus_dir / "junit.xml"))
    cases = {c.name: c for suite in xml for c in suite}
    assert set(cases) == {r.id for r in o.report.results}
    failed = {n for n, c in cases.items() if not c.is_passed}
    assert failed == {"comparator.transitive"}  # the expected MISSED passes, the new refutation fails
    assert "expected finding" in (cases["differential.MISSED"].system_out or "")


def test_load_report_roundtrip(tmp_path, phases):
    o = check(resolve("seed-2011"), out_root=tmp_path, phases=phases, stream=open("/dev/null", "w"))
    again = load_report(o.bus_dir / "report.json")
    assert again.to_json() | {"tools": {}} == o.report.to_json() | {"tools": {}}


def test_repeated_ids_are_made_unique(tmp_path):
    def twice(ctx):
        return [
            Result("lookup.x@c", "proof", "pass", 0.0, extra={"scope": "bounded"}),
            Result("lookup.x@c", "proof", "pass", 0.0, extra={"scope": "unbounded"}),
            Result("lookup.y", "proof", "pass", 0.0),
            Result("lookup.y", "proof", "pass", 0.0),
        ]

    o = check(resolve("fixed"), out_root=tmp_path, phases=(Phase("proofs", "proof", twice),), stream=open("/dev/null", "w"))
    assert [r.id for r in o.report.results] == ["lookup.x@c#bounded", "lookup.x@c#unbounded", "lookup.y", "lookup.y#2"]


def test_proofs_do_not_apply_to_a_plugin(tmp_path):
    plugin = tmp_path / "p.py"
    plugin.write_text("from iobus_verify.model.linear_bus import LinearBus\ndef make(capacity):\n    return LinearBus(capacity)\n")
    from iobus_verify.reports.check import PHASES

    o = check(resolve(f"{plugin}:make"), out_root=tmp_path, phases=[p for p in PHASES if p.name == "proofs"], stream=open("/dev/null", "w"))
    assert o.exit_code == 0 and o.report.results == ()
    assert o.report.phases[0].status == "not-run" and "no comparator" in o.report.phases[0].message
