"""End to end: a real plugin that differs from the linear bus in one corner
fails the gate with that corner's scenario, and the scenario replays."""

import json
import subprocess
import sys
from pathlib import Path

from iobus_verify.cli import main

PLUGIN = str(Path(__file__).resolve().parents[2] / "examples" / "python" / "corner_bus.py") + ":factory"


def test_corner_plugin_fails_the_gate_with_the_corner_scenario(tmp_path, capsys):
    # As a user runs it: a fresh process. (Known gap: inside a pytest session that
    # collected tests/proofs and tests/model, the same in-process check draws
    # differently at seed 0 and misses this corner; not yet explained.)
    proc = subprocess.run(
        [sys.executable, "-m", "iobus_verify", "check", "--bus", PLUGIN, "--profile", "ci", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1, proc.stdout[-2000:]
    report = json.loads(next(tmp_path.glob("*/report.json")).read_text())
    failing = [r for r in report["results"] if r["status"] != "pass"]
    assert [r["id"] for r in failing] == ["differential.MISSED"]
    scenario = failing[0]["finding"]["scenario"]
    accesses = [op for op in scenario["ops"] if op["op"] in ("read", "write")]
    assert accesses and accesses[-1]["len"] == 0  # the corner: a zero-length access
    path = next(tmp_path.glob("*/scenarios/differential.MISSED*.json"))
    capsys.readouterr()
    assert main(["replay", str(path), "--bus", PLUGIN]) == 1
    assert "MISSED" in capsys.readouterr().out
    assert main(["replay", str(path), "--bus", "linear"]) == 0
