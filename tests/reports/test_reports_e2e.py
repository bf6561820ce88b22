"""ONE real end-to-end check: the real phases against `fixed` with the smallest
budget (dev profile). Skipped, with the reason, while a phase is not installed."""

from __future__ import annotations

import importlib
import json
import os

import pytest

from iobus_verify.model.spec import resolve
from iobus_verify.reports.check import check
from iobus_verify.reports.schema import validate


def _phase_modules_or_skip():
    # the properties phase also needs the VM layer of the replay issue
    for mod in ("iobus_verify.properties.run", "iobus_verify.proofs.run", "iobus_verify.model.vm", "iobus_verify.model.divergence"):
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            pytest.skip(f"real phase not available yet ({mod}: {exc}); the gate is tested with fake phases meanwhile")


def test_fixed_end_to_end_dev_profile(tmp_path):
    _phase_modules_or_skip()
    o = check(resolve("fixed"), profile="dev", seed=0, out_root=tmp_path, stream=open(os.devnull, "w"))
    obj = json.loads((o.bus_dir / "report.json").read_text())
    validate(obj, "iobus-report/1")
    assert [p["status"] for p in obj["phases"]] == ["done", "done"], obj["phases"]
    kinds = {r["kind"] for r in obj["results"]}
    assert {"property", "proof"} <= kinds
    # fixed is the project's correct design: its one finding is the baseline's MISSED
    # outside positive-len+no-wrap (an access whose C end wraps past 2^64), so the gate passes
    off = [(r["id"], r["finding"]["condition"]) for r in obj["results"] if r["status"] != "pass"]
    assert off in ([], [("differential.MISSED", "none")]), off
    assert o.exit_code == 0 and obj["gate"]["verdict"] == "match"
