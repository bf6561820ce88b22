"""`iobus-verify check`, `diff` and `baseline update` through the command line: exit codes."""

from __future__ import annotations

import json

import pytest

from iobus_verify.cli import main
from iobus_verify.reports import check as check_mod
from iobus_verify.reports.check import Phase
from iobus_verify.reports.records import Finding, Result
from iobus_verify.reports.schema import validate

PLUGIN = "from iobus_verify.model.linear_bus import LinearBus\ndef make(capacity):\n    return LinearBus(capacity)\n"


def _phase(findings):
    def run(ctx):
        out = []
        for cls in ("MISSED", "SPURIOUS"):
            if cls in findings:
                scen = {"schema": "iobus-scenario/1", "ops": [{"op": "read", "bus": "pio", "addr": 0x60, "len": 1}]}
                out.append(Result(f"differential.{cls}", "property", "fail", 0.0, Finding(cls, f"{cls} at 0x60", scen)))
            else:
                out.append(Result(f"differential.{cls}", "property", "pass", 0.0))
        return out

    return Phase("properties", "property", run)


@pytest.fixture
def with_findings(monkeypatch):
    def use(*findings):
        monkeypatch.setattr(check_mod, "PHASES", (_phase(findings),))

    return use


def test_check_exit_codes_match_new_lost(tmp_path, with_findings, capsys):
    plugin = tmp_path / "mybus.py"
    plugin.write_text(PLUGIN)
    bus = f"{plugin}:make"
    base = tmp_path / "base.json"
    out = tmp_path / "out"
    with_findings("MISSED")
    # a plugin with no baseline is judged strictly
    assert main(["check", "--bus", bus, "--out", str(out), "--json", str(tmp_path / "r.json")]) == 1
    validate(json.loads((tmp_path / "r.json").read_text()), "iobus-report/1")
    assert "verdict: REGRESSED" in capsys.readouterr().out
    # a plugin's baseline must be given a place
    assert main(["baseline", "update", "--bus", bus]) == 2
    assert "--baseline FILE" in capsys.readouterr().err
    assert main(["baseline", "update", "--bus", bus, "--baseline", str(base), "--out", str(out)]) == 0
    assert json.loads(base.read_text())["findings"][0]["class"] == "MISSED"
    assert main(["check", "--bus", bus, "--out", str(out), "--baseline", str(base)]) == 0
    scen = out / "mybus.make" / "scenarios" / "differential.MISSED.json"
    assert json.loads(scen.read_text())["ops"][0]["addr"] == 0x60
    with_findings("MISSED", "SPURIOUS")  # new
    assert main(["check", "--bus", bus, "--out", str(out), "--baseline", str(base)]) == 1
    assert "new      differential.SPURIOUS [SPURIOUS]" in capsys.readouterr().out
    with_findings()  # lost
    assert main(["check", "--bus", bus, "--out", str(out), "--baseline", str(base)]) == 1
    assert "lost     differential.MISSED [MISSED]" in capsys.readouterr().out


def test_baseline_from_reviewed_report(tmp_path, with_findings):
    with_findings("SPURIOUS")
    out = tmp_path / "out"
    assert main(["check", "--bus", "fixed", "--out", str(out), "--baseline", str(_empty_baseline(tmp_path))]) == 1
    base = tmp_path / "fixed.json"
    assert main(["baseline", "update", "--bus", "fixed", "--from-report", str(out / "fixed" / "report.json"), "--baseline", str(base)]) == 0
    assert main(["check", "--bus", "fixed", "--out", str(out), "--baseline", str(base)]) == 0
    # a report of another bus is refused
    assert main(["baseline", "update", "--bus", "upstream", "--from-report", str(out / "fixed" / "report.json"), "--baseline", str(base)]) == 2


def _empty_baseline(tmp_path):
    p = tmp_path / "empty.json"
    p.write_text(json.dumps({"schema": "iobus-baseline/1", "bus": "fixed", "findings": []}))
    return p


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bus", "no/such/file.py:make"], "no file no/such/file.py"),
        (["--bus", "nosuch"], "unknown bus 'nosuch'"),
        (["--bus", "fixed", "--seed", "-1"], "--seed must be a non-negative integer"),
    ],
)
def test_check_bad_input_is_exit_2(args, message, capsys, tmp_path):
    assert main(["check", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_plugin_raising_on_import_is_exit_2(tmp_path, capsys):
    plugin = tmp_path / "broken.py"
    plugin.write_text("raise RuntimeError('my bus is broken')\n")
    assert main(["check", "--bus", f"{plugin}:make", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "raised RuntimeError: my bus is broken" in err and "Traceback" not in err


def test_malformed_baseline_is_exit_2(tmp_path, capsys, with_findings):
    with_findings()
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"schema": "iobus-baseline/1", "bus": "fixed", "findings": [{"id": "x", "class": "MISSED", "status": "pass"}]}))
    assert main(["check", "--bus", "fixed", "--out", str(tmp_path), "--baseline", str(bad)]) == 2
    assert "findings/0/status" in capsys.readouterr().err
    assert main(["check", "--bus", "fixed", "--out", str(tmp_path), "--baseline", str(tmp_path / "none.json")]) == 2


def test_malformed_scenario_is_exit_2(tmp_path, capsys, monkeypatch):
    def bad(ctx):
        return [Result("differential.DATA", "property", "fail", 0.0, Finding("DATA", "d", {"schema": "iobus-scenario/1", "ops": "nope"}))]

    monkeypatch.setattr(check_mod, "PHASES", (Phase("properties", "property", bad),))
    assert main(["check", "--bus", "fixed", "--out", str(tmp_path)]) == 2
    assert "scenario" in capsys.readouterr().err
    assert (tmp_path / "fixed" / "report.invalid.json").is_file()


def test_diff_exit_codes(tmp_path, with_findings, capsys):
    with_findings("MISSED")
    main(["check", "--bus", "fixed", "--out", str(tmp_path / "a"), "--baseline", str(_empty_baseline(tmp_path))])
    with_findings("MISSED", "SPURIOUS")
    main(["check", "--bus", "fixed", "--out", str(tmp_path / "b"), "--baseline", str(_empty_baseline(tmp_path))])
    a, b = (str(tmp_path / d / "fixed" / "report.json") for d in "ab")
    capsys.readouterr()
    assert main(["diff", a, a]) == 0
    assert "no difference" in capsys.readouterr().out
    assert main(["diff", a, b]) == 1
    assert "new      differential.SPURIOUS [SPURIOUS]" in capsys.readouterr().out
    assert main(["diff", b, a]) == 1
    assert "lost     differential.SPURIOUS [SPURIOUS]" in capsys.readouterr().out
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema": "iobus-report/1", "bus": {}}))
    assert main(["diff", a, str(broken)]) == 2
    assert "broken.json: field" in capsys.readouterr().err
