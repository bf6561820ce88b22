"""Verdicts a CI can trust: a pass backs nothing unexercised, --timeout is
kept, and the same seed gives the same report."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from iobus_verify.model.spec import resolve
from iobus_verify.reports.check import check
from iobus_verify.reports.report import comparable

RAISING_WRITE = textwrap.dedent(
    """
    from iobus_verify.model.linear_bus import LinearBus

    class Bus(LinearBus):
        def write(self, addr, length, data):
            raise RuntimeError("write is broken")

    def make(capacity):
        return Bus(capacity)
    """
)


def test_a_bus_whose_write_raises_gets_no_pass_on_the_lookup_classes(tmp_path):
    plugin = tmp_path / "raising.py"
    plugin.write_text(RAISING_WRITE)
    out = check(resolve(f"{plugin}:make"), profile="dev", seed=0, out_root=tmp_path / "out", bar=False)
    status = {r.id: r.status for r in out.report.results}
    assert status["differential.ERROR"] == "error"
    for cls in ("MISSED", "REORDERED", "DATA", "SPURIOUS"):
        assert status[f"differential.{cls}"] != "pass", (cls, status)
    assert out.exit_code != 0


def test_timeout_is_kept(tmp_path):
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "iobus_verify", "check", "--bus", "seed-2011", "--timeout", "10", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.monotonic() - t0
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / "seed-2011" / "report.json").read_text())
    assert report["incomplete"] is True
    assert wall < 20, wall


def test_same_seed_same_report(tmp_path):
    spec = "examples/python/corner_bus.py:factory"
    root = Path(__file__).resolve().parents[2]
    a = check(resolve(str(root / spec)), profile="dev", seed=3, out_root=tmp_path / "a", bar=False)
    b = check(resolve(str(root / spec)), profile="dev", seed=3, out_root=tmp_path / "b", bar=False)
    ja = comparable(json.loads((a.bus_dir / "report.json").read_text()))
    jb = comparable(json.loads((b.bus_dir / "report.json").read_text()))
    assert ja == jb
