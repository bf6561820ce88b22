"""report.md: the Markdown form of one bus's report."""

from __future__ import annotations

import json

from iobus_verify.reports.records import Result
from iobus_verify.reports.report import Report
from iobus_verify.reports.svg import hex_range


def md_escape(text: str) -> str:
    """Text safe inside a Markdown table cell or line: no table breaks, no HTML."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "<>`*_[]":
        out = out.replace(ch, "\\" + ch)
    return out


def finding_lines(r: Result, scenario_link: str | None, spec: str) -> list[str]:
    f = r.finding
    assert f is not None
    lines = [f"### {md_escape(r.id)}: {md_escape(f.cls)}", "", md_escape(f.explanation), ""]
    if r.detail:
        lines += [f"How it was checked: {md_escape(r.detail)}", ""]
    if f.counterexample:
        lines.append("Counterexample:")
        lines.append("")
        for e in f.counterexample:
            role = e.get("role", "range")
            lines.append(f"- {md_escape(str(e.get('label', role)))}: `{hex_range(int(e['addr']), int(e['len']))}`")
        lines.append("")
    if scenario_link:
        lines += [
            f"Scenario: [{scenario_link}]({scenario_link}); replay with",
            "",
            "```",
            f"iobus-verify replay {scenario_link} --bus {json.dumps(spec)}",
            "```",
            "",
        ]
    return lines


def render(report: Report) -> str:
    from iobus_verify.reports.outputs import scenario_path

    g = report.gate
    b = report.bus
    c = report.counts()
    lines = [
        f"# iobus-verify report: {md_escape(b.name)}",
        "",
        f"- bus: `{md_escape(b.spec)}` ({b.kind}){': ' + md_escape(b.summary) if b.summary else ''}",
        f"- profile: {report.profile}, seed: {report.seed}",
        "- tools: " + ", ".join(f"{md_escape(k)} {md_escape(v)}" for k, v in report.tools.items()),
        f"- verdict: **{g.verdict}** (baseline: {md_escape(g.baseline or 'none, judged strictly')})",
        f"- results: {c['pass']} pass, {c['fail']} fail, {c['unknown']} unknown, {c['error']} error",
    ]
    if report.incomplete:
        lines.append(f"- **incomplete**: {md_escape(report.incomplete_reason or '')}")
    for p in report.phases:
        if p.status != "done":
            lines.append(f"- phase {p.name}: {p.status}: {md_escape(p.message)}")
    lines.append("")
    if g.new or g.lost or g.changed:
        lines += ["## Against the baseline", ""]
        for title, keys in (("new", g.new), ("lost", g.lost), ("changed", g.changed)):
            for k in keys:
                lines.append(f"- {title}: {md_escape(str(k))}" + (f" ({md_escape(k.note)})" if k.note else ""))
        lines.append("")
    lines += ["## Results", "", "| id | kind | status | seconds | finding |", "|---|---|---|---|---|"]
    for r in report.results:
        f = r.finding
        cell = f"[{md_escape(f.cls)}](#{anchor(r)})" if f else md_escape(r.detail if r.status == "unknown" else "")
        lines.append(f"| {md_escape(r.id)} | {r.kind} | {r.status} | {r.seconds:.2f} | {cell} |")
    lines.append("")
    if report.findings:
        lines += ["## Findings", ""]
        for r in report.findings:
            lines.append(f'<a id="{anchor(r)}"></a>')
            lines.append("")
            link = scenario_path(r) if r.finding.scenario is not None else None
            lines += finding_lines(r, link, b.spec)
    return "\n".join(lines).rstrip() + "\n"


def anchor(r: Result) -> str:
    """The anchor of a finding in report.md/report.html (ids are [a-z0-9-] only)."""
    from iobus_verify.reports.outputs import safe_name

    cls = r.finding.cls if r.finding else r.status
    return "f-" + safe_name(f"{r.id}-{cls}").lower().replace(".", "-").replace("_", "-")
