"""What ``check`` writes for one bus: report.json (validated), report.md,
report.html, junit.xml and one replayable scenario file per finding.

Apart from the run and the gate so that a renderer or a file name changes here
alone; the renderers import :func:`scenario_path` and :func:`safe_name` from
this module, so report pages and the files they link to cannot disagree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from iobus_verify.reports.records import Result
from iobus_verify.reports.report import Report
from iobus_verify.reports.schema import SchemaError, validate


def safe_name(name: str) -> str:
    """A bus or result name made safe for a file name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return s or "bus"


def scenario_path(result: Result) -> str:
    """Where a finding's scenario is written, relative to the bus folder:
    ``scenarios/<result id>.json`` (ids are unique in a report, and most
    already name the class: ``differential.MISSED.json``)."""
    assert result.finding is not None
    return f"scenarios/{safe_name(result.id)}.json"


def replay_command(result: Result, spec: str, bus_dir: Path | str | None = None) -> str:
    """The shell command that replays a finding's scenario, runnable from the
    folder where ``check`` ran: the scenario's path is ``bus_dir`` (as the
    user gave ``--out``) joined with :func:`scenario_path`."""
    import shlex

    rel = scenario_path(result)
    path = rel if bus_dir is None else str(Path(bus_dir) / rel)
    return f"iobus-verify replay {shlex.quote(path)} --bus {shlex.quote(spec)}"


def scenario_files(report: Report) -> dict[str, dict[str, Any]]:
    return {scenario_path(r): r.finding.scenario for r in report.findings if r.finding.scenario is not None}


def write_outputs(report: Report, bus_dir: Path, previous: Report | None = None) -> dict[str, Path]:
    """Write report.json (validated), report.md, report.html, junit.xml and one
    scenario file per finding. A report that fails its schema is still written,
    as report.invalid.json, and the SchemaError is raised after."""
    from iobus_verify.reports import render_html, render_junit, render_md

    bus_dir.mkdir(parents=True, exist_ok=True)
    obj = report.to_json()
    paths = {}
    try:
        validate(obj, "iobus-report/1", source=str(bus_dir / "report.json"))
    except SchemaError as exc:
        bad = bus_dir / "report.invalid.json"
        bad.write_text(json.dumps(obj, indent=2) + "\n")
        raise SchemaError(f"{exc} (internal error: the report was written to {bad})") from exc
    old = bus_dir / "report.json"
    if old.is_file():
        (bus_dir / "previous.json").write_text(old.read_text())
    paths["json"] = bus_dir / "report.json"
    paths["json"].write_text(json.dumps(obj, indent=2) + "\n")
    scen_dir = bus_dir / "scenarios"
    for path, scen in scenario_files(report).items():
        scen_dir.mkdir(exist_ok=True)
        (bus_dir / path).write_text(json.dumps(scen, indent=2) + "\n")
    paths["md"] = bus_dir / "report.md"
    paths["md"].write_text(render_md.render(report, bus_dir=bus_dir))
    paths["html"] = bus_dir / "report.html"
    paths["html"].write_text(render_html.render_report(report, previous=previous, bus_dir=bus_dir))
    pages = bus_dir / "findings"
    for r in report.findings:
        pages.mkdir(exist_ok=True)
        (bus_dir / render_html.finding_page_path(r)).write_text(render_html.render_finding_page(report, r, bus_dir))
    paths["junit"] = bus_dir / "junit.xml"
    paths["junit"].write_text(render_junit.render(report))
    return paths
