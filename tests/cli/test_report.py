"""`iobus-verify report` through the command line, with fake phases (the real run is
measured, not tested here: see tests/reports/test_reports_e2e.py for one real check)."""

from __future__ import annotations

import json

from iobus_verify.cli import main
from iobus_verify.model.sorted_bus import VARIANTS
from iobus_verify.reports import check as check_mod
from iobus_verify.reports import index as index_mod
from iobus_verify.reports.check import Phase
from iobus_verify.reports.records import Finding, Result
from iobus_verify.reports.schema import validate


def _phase(ctx):
    if ctx.spec.name == "fixed":
        return [Result("lookup.equivalent_to_linear", "proof", "pass", 0.0)]
    ce = ({"addr": 0x10, "len": 16}, {"addr": 0x14, "len": 4}, {"addr": 0x18, "len": 1, "role": "access"})
    return [Result("lookup.equivalent_to_linear", "proof", "fail", 0.0, Finding("refuted", "nested ranges", None, ce))]


def test_report_checks_every_variant_and_writes_the_index(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(check_mod, "PHASES", (Phase("proofs", "proof", _phase),))
    monkeypatch.setattr(index_mod, "cost_figure", _small_cost)
    code = main(["report", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    for name in VARIANTS:
        validate(json.loads((tmp_path / name / "report.json").read_text()), "iobus-report/1")
        assert f"bus {name} ({name})" in out
    # every variant gets the fake lookup.equivalent_to_linear refutation: seed-2011's and
    # upstream's baselines expect it, fixed's does not (a new finding): exit 1 exactly
    assert code == 1
    index = (tmp_path / "index.html").read_text()
    assert "Variant × obligation" in index and "Lookup cost" in index and (tmp_path / "svg" / "cost.svg").is_file()
    assert index.count('class="fail"') + index.count('class="expected"') >= 3  # the legend's, and a cell per finding
    assert "index: " in out


def _small_cost():
    from iobus_verify.reports.cost import cost_figure

    return cost_figure(sizes=(1, 2, 4))


def test_report_bad_bus_is_exit_2(tmp_path, capsys):
    assert main(["report", "--out", str(tmp_path), "--bus", "nosuch"]) == 2
    assert "unknown bus 'nosuch'" in capsys.readouterr().err


def test_report_bad_assume_is_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(check_mod, "PHASES", (Phase("proofs", "proof", _phase),))
    assert main(["report", "--out", str(tmp_path), "--bus", "fixed", "--assume", "no-wrap+sideways"]) == 2
    assert "sideways" in capsys.readouterr().err
