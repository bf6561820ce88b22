"""report.md: the Markdown form of one bus's report."""

from __future__ import annotations

from iobus_verify.reports import coverage as cov
from iobus_verify.reports.records import Result
from iobus_verify.reports.report import Report
from iobus_verify.reports.svg import hex_range


def md_escape(text: str) -> str:
    """Text safe inside a Markdown table cell or line: no table breaks, no HTML."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "<>`*_[]":
        out = out.replace(ch, "\\" + ch)
    return out


def coverage_lines(r: Result) -> list[str]:
    """Condition line, counts and the per-rung table of one result (nothing
    when it carries no coverage)."""
    lines = []
    line = cov.condition_line(r)
    if line:
        lines += [f"Conditions: {md_escape(line)}", ""]
    counts = cov.counts_line(r.coverage)
    if counts:
        lines += [f"Exercised: {md_escape(counts)}", ""]
    cols = cov.rung_columns(r.coverage)
    by = cov.rungs(r.coverage)
    if by:
        lines.append("| condition | diverged | " + " | ".join(md_escape(c) for c in cols) + " |")
        lines.append("|---" * (len(cols) + 2) + "|")
        for name, v in by.items():
            cells = [str(v.get(c, "")) for c in cols]
            lines.append(f"| {md_escape(name)} | {'yes' if v.get('diverged') else 'no'} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def scene_lines(scene) -> list[str]:
    """The ranges a finding's picture draws, as a Markdown table."""
    from iobus_verify.reports.svg import choice_line

    lines = []
    line = choice_line(scene)
    if line:
        lines += [f"**{md_escape(line)}**", ""]
    if scene.op_index is not None:
        lines += [f"At op {scene.op_index}: {md_escape(scene.op_text)}", ""]
    order = scene.has_array
    lines.append("| device | bytes |" + (" linear pos | array pos |" if order else "") + " chosen by |")
    lines.append("|---|---|" + ("---|---|" if order else "") + "---|")
    for x in list(scene.ranges) + ([scene.access] if scene.access else []):
        who = []
        if not x.access and x.label == scene.reference:
            who.append("linear (reference)")
        if not x.access and x.label == scene.chosen:
            who.append(scene.bus_name)
        name = f"**{md_escape(x.label)}** (the operation)" if x.access else md_escape(x.label)
        pos = ""
        if order:
            pos = "".join(f" {'' if x.access else ('-' if v is None else v + 1)} |" for v in (x.linear, x.array))
        lines.append(f"| {name} | `{hex_range(x.addr, x.length)}` |{pos} {md_escape(', '.join(who))} |")
    if scene.hidden:
        lines += ["", f"{scene.hidden} other range(s) on that bus neither overlap the operation nor were chosen."]
    return lines + [""]


def finding_lines(
    r: Result, scenario_link: str | None, spec: str, contract: str | None = None, bus_name: str = "bus", replay: str | None = None
) -> list[str]:
    from iobus_verify.reports.scene import finding_scene

    f = r.finding
    assert f is not None
    title = f"{f.cls} @ {f.condition}" if f.condition is not None else f.cls
    lines = [f"### {md_escape(r.id)}: {md_escape(title)}", "", md_escape(f.explanation), ""]
    scene = finding_scene(r, spec, bus_name)
    if scene is not None and (scene.ranges or scene.access):
        lines += scene_lines(scene)
    status = cov.contract_status(r, contract)
    if status:
        lines += [f"Contract: {md_escape(status)}", ""]
    if scenario_link:
        lines += [
            f"Scenario: [{scenario_link}]({scenario_link}); replay it, from the folder where `check` ran, with",
            "",
            "```",
            replay or f"iobus-verify replay {scenario_link} --bus {spec}",
            "```",
            "",
        ]
    if r.detail:
        lines += [f"How it was checked: {md_escape(r.detail)}", ""]
    lines += coverage_lines(r)
    return lines


def render(report: Report, bus_dir=None) -> str:
    from iobus_verify.reports.outputs import replay_command, scenario_path

    g = report.gate
    b = report.bus
    c = report.counts()
    lines = [
        f"# iobus-verify report: {md_escape(b.name)}",
        "",
        f"- bus: `{md_escape(b.spec)}` ({b.kind}){': ' + md_escape(b.summary) if b.summary else ''}",
        f"- profile: {report.profile}, seed: {report.seed}",
        f"- contract: {md_escape(report.contract or 'none (every input counts)')}",
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
    listed = g.listed()
    if listed:
        lines += ["## Against the baseline", ""]
        for title, k in listed:
            lines.append(f"- {title}: {md_escape(str(k))}" + (f" ({md_escape(k.note)})" if k.note else ""))
        if g.not_run:
            lines.append(f"- {len(g.not_run)} baseline finding(s) not judged: their phase did not run")
        lines.append("")
    lines += ["## Results", "", "| id | kind | status | seconds | finding | condition |", "|---|---|---|---|---|---|"]
    for r in report.results:
        f = r.finding
        cell = f"[{md_escape(f.cls)}](#{anchor(r)})" if f else md_escape(r.detail if r.status == "unknown" else "")
        cond = md_escape(f.condition) + (" (outside contract)" if f.outside_contract else "") if f and f.condition else ""
        lines.append(f"| {md_escape(r.id)} | {r.kind} | {r.status} | {r.seconds:.2f} | {cell} | {cond} |")
    lines.append("")
    covered = [r for r in report.results if r.finding is None and (cov.condition_line(r) or cov.counts_line(r.coverage))]
    if covered:
        lines += ["## Coverage of the results without a finding", ""]
        for r in covered:
            lines += [f"### {md_escape(r.id)}: {r.status}", ""] + coverage_lines(r)
    if report.findings:
        lines += ["## Findings", ""]
        for r in report.findings:
            lines.append(f'<a id="{anchor(r)}"></a>')
            lines.append("")
            link = scenario_path(r) if r.finding.scenario is not None else None
            cmd = replay_command(r, b.spec, bus_dir) if link else None
            lines += finding_lines(r, link, b.spec, report.contract, b.name, cmd)
    return "\n".join(lines).rstrip() + "\n"


def anchor(r: Result) -> str:
    """The anchor of a finding in report.md/report.html (ids are [a-z0-9-] only)."""
    from iobus_verify.reports.outputs import safe_name

    cls = r.finding.cls if r.finding else r.status
    return "f-" + safe_name(f"{r.id}-{cls}").lower().replace(".", "-").replace("_", "-")
