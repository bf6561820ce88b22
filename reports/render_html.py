"""report.html and the index page: self-contained HTML (inline CSS and SVG, no
script, no network), every printed string escaped with :func:`html.escape`."""

from __future__ import annotations

import json
import re
from html import escape
from typing import Iterable, Sequence

from iobus_verify.reports import coverage as cov
from iobus_verify.reports.records import Result
from iobus_verify.reports.report import Report
from iobus_verify.reports.scene import Scene, finding_scene
from iobus_verify.reports.svg import choice_line, hex_range, scene_diagram

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2329;max-width:1180px;margin:0 auto;padding:18px 28px 60px;background:#fafbfc}
h1{font-size:1.6em;margin:.2em 0 .4em}h2{margin-top:1.8em;border-bottom:1px solid #d8dee4;padding-bottom:.2em}h3{margin:1.4em 0 .3em}
code,pre,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f1f3f5;padding:10px;overflow:auto;max-height:340px;border-radius:4px}
table{border-collapse:collapse;margin:.6em 0;background:#fff}th,td{border:1px solid #d8dee4;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#eef1f4}td.num{text-align:right}
.pass{background:#e6f4ea;color:#136c2e}.fail{background:#fde8e8;color:#9b1c1c;font-weight:600}
.unknown{background:#fff4d6;color:#7a5200}.error{background:#f3e8fd;color:#5b21b6;font-weight:600}.none{color:#8a949e}
.verdict{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600}
.v-match{background:#e6f4ea;color:#136c2e}.v-regressed,.v-error{background:#fde8e8;color:#9b1c1c}.v-incomplete{background:#fff4d6;color:#7a5200}
.expected{background:#f6ece0;color:#7a4a12}.meta{color:#4a5560}.finding{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:4px 16px 12px;margin:14px 0}
.diagram{overflow-x:auto}.diagram svg{max-width:100%;height:auto}a{color:#0b5cad}.nw{white-space:nowrap}
.finding>h2:first-child,.finding>h3:first-child{margin-top:.6em}
table.matrix td{min-width:9em}.cond{font-size:.85em;font-weight:normal;color:#1d2329;margin-top:.3em}
.cond ul{margin:.1em 0 0;padding-left:1.1em}.cond span{background:none}.cond code{white-space:nowrap;font-size:.95em}
"""


def page(title: str, body: Iterable[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # No network, no script: a Content-Security-Policy that says so.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
            f"<title>{escape(title)}</title>",
            f"<style>{CSS}</style></head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )


#: tokens a line must not break inside: an errno name (``-EOPNOTSUPP``), a range (``[0x20, 0x23)``)
_UNBROKEN = re.compile(r"(-E[A-Z]+|\[0x[0-9a-f]+, 0x[0-9a-f]+\))")


def words(text: str) -> str:
    """``text`` escaped, its errno names and ranges kept on one line each."""
    return _UNBROKEN.sub(lambda m: f'<span class="nw">{m.group(1)}</span>', escape(text))


def status_cell(status: str, text: str | None = None, href: str | None = None) -> str:
    label = escape(text if text is not None else status)
    inner = f'<a href="{escape(href)}">{label}</a>' if href else label
    return f'<td class="{escape(status)}">{inner}</td>'


def verdict_badge(verdict: str) -> str:
    return f'<span class="verdict v-{escape(verdict)}">{escape(verdict)}</span>'


def finding_diagram(r: Result, title: str | None = None, spec: str | None = None, bus_name: str = "bus") -> str | None:
    """The interval diagram of a finding (its scenario replayed on ``spec``
    when given), or None when it has no ranges."""
    scene = finding_scene(r, spec, bus_name)
    if scene is None or not (scene.ranges or scene.access):
        return None
    return scene_diagram(scene, title if title is not None else f"{r.id}: {finding_title(r)}")


def finding_title(r: Result) -> str:
    f = r.finding
    assert f is not None
    return f"{f.cls} @ {f.condition}" if f.condition is not None else f.cls


def scene_table(scene: Scene) -> list[str]:
    """The picture's ranges as a table (what the diagram draws, in text)."""
    order = scene.has_array
    head = "<tr><th>device</th><th>bytes</th>" + ("<th>linear pos</th><th>array pos</th>" if order else "") + "<th>chosen by</th></tr>"
    out = ['<table class="scene">', head]
    for x in list(scene.ranges) + ([scene.access] if scene.access else []):
        who = []
        if not x.access and x.label == scene.reference:
            who.append("linear (reference)")
        if not x.access and x.label == scene.chosen:
            who.append(scene.bus_name)
        if x.access and scene.replayed and scene.op_index is not None:  # a side whose devices all refused
            who += [f"{side}: no device" for side, took in (("linear (reference)", scene.reference), (scene.bus_name, scene.chosen)) if not took]
        pos = ""
        if order:
            pos = "".join(f'<td class="num">{"" if x.access else ("-" if v is None else v + 1)}</td>' for v in (x.linear, x.array))
        name = f"<strong>{escape(x.label)}</strong> (the operation)" if x.access else f"<code>{escape(x.label)}</code>"
        out.append(f"<tr><td>{name}</td><td><code>{escape(hex_range(x.addr, x.length))}</code></td>{pos}<td>{escape(', '.join(who))}</td></tr>")
    out.append("</table>")
    return out


def coverage_html(r: Result) -> list[str]:
    """Condition line, counts and the per-rung table of one result (nothing
    when it carries no coverage)."""
    out = []
    line = cov.condition_line(r)
    if line:
        out.append(f"<p>Conditions: {escape(line)}</p>")
    counts = cov.counts_line(r.coverage)
    if counts:
        out.append(f'<p class="meta">Exercised: {escape(counts)}</p>')
    by, cols = cov.rungs(r.coverage), cov.rung_columns(r.coverage)
    if by:
        out.append("<table><tr><th>condition</th><th>diverged</th>" + "".join(f"<th>{escape(c)}</th>" for c in cols) + "</tr>")
        for name, v in by.items():
            d = bool(v.get("diverged"))
            out.append(
                f"<tr><td><code>{escape(name)}</code></td>{status_cell('fail' if d else 'pass', 'yes' if d else 'no')}"
                + "".join(f'<td class="num">{escape(str(v.get(c, "")))}</td>' for c in cols)
                + "</tr>"
            )
        out.append("</table>")
    return out


def finding_section(
    r: Result,
    anchor: str,
    scenario_href: str | None,
    spec: str,
    heading: str = "h3",
    contract: str | None = None,
    bus_name: str = "bus",
    replay: str | None = None,
) -> list[str]:
    """A finding's card: what happened (in words, then as a picture and a
    table of the ranges), how it was checked, its conditions, its scenario and
    the command that replays it."""
    f = r.finding
    assert f is not None
    out = [f'<div class="finding" id="{escape(anchor)}">', f"<{heading}>{escape(r.id)}: {escape(finding_title(r))}</{heading}>"]
    out.append(f"<p>{words(f.explanation)}</p>")
    scene = finding_scene(r, spec, bus_name)
    if scene is not None:
        line = choice_line(scene)
        if line:
            out.append(f"<p><strong>{escape(line)}</strong></p>")
    status = cov.contract_status(r, contract)
    if status:
        out.append(f'<p class="{"unknown" if f.outside_contract else "meta"}">Contract: {escape(status)}</p>')
    if scene is not None and (scene.ranges or scene.access):
        out.append(f'<div class="diagram">{scene_diagram(scene, f"{bus_name} · {r.id}: {finding_title(r)}")}</div>')
        out += scene_table(scene)
    if scenario_href:
        cmd = replay or f"iobus-verify replay {scenario_href} --bus {spec}"
        out.append(
            f'<p>Scenario: <a href="{escape(scenario_href)}">{escape(scenario_href)}</a>. '
            f"Replay it, from the folder where <code>check</code> ran, with<br><code>{escape(cmd)}</code></p>"
        )
    if r.detail:
        out.append(f'<p class="meta">How it was checked: {escape(r.detail)}</p>')
    out += coverage_html(r)
    if f.scenario is not None:
        out.append("<details><summary>scenario JSON</summary>")
        out.append(f"<pre>{escape(json.dumps(f.scenario, indent=2))}</pre></details>")
    out.append("</div>")
    return out


def diff_section(diff, heading: str = "Since the previous report") -> list[str]:
    """The new/lost/changed lists of a :class:`~iobus_verify.reports.diff.ReportDiff`."""
    c = diff.comparison
    out = [f"<h2>{escape(heading)}</h2>"]
    if not (c.new or c.lost or c.changed):
        return out + ["<p>No difference in findings.</p>"]
    out.append("<table><tr><th>change</th><th>result</th><th>class</th><th>condition</th><th>note</th></tr>")
    for title, keys in (("new", c.new), ("lost", c.lost), ("changed", c.changed), ("outside contract", c.outside)):
        for k in keys:
            cls = "fail" if title in ("new", "lost") else "unknown"
            out.append(
                f'<tr><td class="{cls}">{title}</td><td><code>{escape(k.id)}</code></td><td>{escape(k.cls)}</td>'
                f"<td>{escape(k.condition or '')}</td><td>{escape(k.note)}</td></tr>"
            )
    out.append("</table>")
    return out


def gate_section(report: Report) -> list[str]:
    g = report.gate
    out = [
        "<h2>Against the baseline</h2>",
        f"<p>Verdict {verdict_badge(g.verdict)}; baseline: <code>{escape(g.baseline or 'none: judged strictly, every finding fails')}</code></p>",
    ]
    rows = g.listed()
    if rows:
        out.append("<table><tr><th>change</th><th>result</th><th>class</th><th>condition</th><th>note</th></tr>")
        for t, k in rows:
            cls = "fail" if t in ("new", "lost") else "none" if t == "not judged" else "unknown"
            out.append(
                f'<tr><td class="{cls}">{escape(t)}</td><td><code>{escape(k.id)}</code></td><td>{escape(k.cls)}</td>'
                f"<td>{escape(k.condition or '')}</td><td>{escape(k.note)}</td></tr>"
            )
        out.append("</table>")
    if g.not_run:
        out.append(f'<p class="meta">{len(g.not_run)} baseline finding(s) not judged: their phase did not run.</p>')
    if g.outside:
        out.append(f'<p class="meta">{len(g.outside)} finding(s) outside the contract: listed, not gating.</p>')
    return out


def render_report(report: Report, previous: Report | None = None, bus_dir=None) -> str:
    from iobus_verify.reports.outputs import replay_command, scenario_path
    from iobus_verify.reports.render_md import anchor

    b = report.bus
    c = report.counts()
    body = [
        f"<h1>iobus-verify report: {escape(b.name)}</h1>",
        f'<p class="meta">bus <code>{escape(b.spec)}</code> ({escape(b.kind)}){": " + escape(b.summary) if b.summary else ""}<br>',
        f"profile {escape(report.profile)}, seed {report.seed}<br>",
        f"contract {escape(report.contract or 'none (every input counts)')}<br>",
        "tools: " + ", ".join(f"{escape(k)} {escape(v)}" for k, v in report.tools.items()) + "</p>",
        f"<p>{c['pass']} pass, {c['fail']} fail, {c['unknown']} unknown, {c['error']} error. Verdict {verdict_badge(report.gate.verdict)}</p>",
    ]
    if report.incomplete:
        body.append(f'<p class="unknown"><b>Incomplete:</b> {escape(report.incomplete_reason or "")}</p>')
    for p in report.phases:
        if p.status != "done":
            body.append(f'<p class="{"error" if p.status == "error" else "unknown"}">phase {escape(p.name)}: {escape(p.status)}: {escape(p.message)}</p>')
    body += gate_section(report)
    if previous is not None:
        from iobus_verify.reports.diff import diff_reports

        body += diff_section(diff_reports(previous, report))
    body += [
        "<h2>Results</h2>",
        "<table><tr><th>id</th><th>kind</th><th>status</th><th>seconds</th><th>finding / detail</th><th>condition</th></tr>",
    ]
    for r in report.results:
        f = r.finding
        if f:
            info = f'<a href="#{escape(anchor(r))}">{escape(f.cls)}</a>'
        else:
            info = escape(r.detail)
            line = cov.condition_line(r)
            if line:
                info += f'<br><span class="meta">{escape(line)}</span>'
        cond = escape(f.condition) + (" <b>(outside contract)</b>" if f.outside_contract else "") if f and f.condition else ""
        body.append(
            f"<tr><td><code>{escape(r.id)}</code></td><td>{escape(r.kind)}</td>{status_cell(r.status)}"
            f'<td class="num">{r.seconds:.2f}</td><td>{info}</td><td>{cond}</td></tr>'
        )
    body.append("</table>")
    if report.findings:
        body.append("<h2>Findings</h2>")
        for r in report.findings:
            href = scenario_path(r) if r.finding.scenario is not None else None
            cmd = replay_command(r, b.spec, bus_dir) if href else None
            body += finding_section(r, anchor(r), href, b.spec, contract=report.contract, bus_name=b.name, replay=cmd)
    return page(f"iobus-verify: {b.name}", body)


def finding_page_path(r: Result) -> str:
    """Where a finding's own page is written, relative to the bus folder."""
    from iobus_verify.reports.outputs import safe_name

    return f"findings/{safe_name(r.id)}.html"


def gate_status(report: Report, r: Result) -> str:
    """How the gate judged a finding, in words: expected (held by the
    baseline), new, outside the contract, or not judged."""
    from iobus_verify.reports.baseline import outcome_key

    g = report.gate
    key = outcome_key(r)
    if key is None:
        return ""
    if key in set(g.new):
        return "new: not in the baseline, fails the gate"
    if key in set(g.outside):
        return "outside the contract: listed, not gating"
    if g.baseline:
        return "expected: held by the baseline"
    return ""


def render_finding_page(report: Report, r: Result, bus_dir=None) -> str:
    """One finding on a page of its own (``findings/<id>.html``)."""
    from iobus_verify.reports.outputs import replay_command, scenario_path
    from iobus_verify.reports.render_md import anchor

    b = report.bus
    href = "../" + scenario_path(r) if r.finding.scenario is not None else None
    cmd = replay_command(r, b.spec, bus_dir) if href else None
    status = gate_status(report, r)
    body = [
        f'<p class="meta"><a href="../report.html#{escape(anchor(r))}">{escape(b.name)} report</a> · bus <code>{escape(b.spec)}</code> · '
        f"profile {escape(report.profile)}, seed {report.seed}</p>",
        f"<h1>{escape(b.name)} · {escape(r.id)}</h1>",
    ]
    if status:
        cls = "fail" if status.startswith("new") else "unknown" if status.startswith("outside") else "meta"
        body.append(f'<p class="{cls}">Against the baseline: {escape(status)}</p>')
    body += finding_section(r, anchor(r), href, b.spec, heading="h2", contract=report.contract, bus_name=b.name, replay=cmd)
    return page(f"iobus-verify: {b.name} · {r.id}", body)


MATRIX_LEGEND = (
    '<p class="meta">One row per obligation: a bus\'s proof bounded to arrays of <i>N</i> ≤ <i>n</i> ranges and its proof for every <i>N</i>, '
    "its proofs of each comparator (<code>fixed</code> proves a law for its segment comparator and for the point order it induces) "
    'and the conditions it holds under share the row. '
    'Legend: <span class="fail">fail: CLASS (new)</span> a finding the baseline does not hold: it fails the gate; '
    '<span class="expected">fail: CLASS (expected)</span> a finding the baseline holds (a known bug of that variant): the gate passes; '
    '<span class="unknown">outside contract</span> listed, never gating; <span class="pass">pass</span>; '
    '<span class="none">n/a</span> the bus has no such obligation; "holds under" lists the weakest conditions '
    "(conjunctions of condition atoms) under which a refuted obligation is proved. Each finding links to its page.</p>"
)


def matrix(reports: Sequence[Report], href_prefix: dict[str, str]) -> list[str]:
    """Variant x obligation table: rows are obligations (:mod:`iobus_verify.reports.matrix`),
    columns buses; a finding links to its page."""
    from iobus_verify.reports import matrix as M

    out = ['<table class="matrix"><tr><th>obligation / property</th>' + "".join(f"<th>{escape(rep.bus.name)}</th>" for rep in reports) + "</tr>"]
    for ob, by_bus in M.rows(reports):
        row = [f"<tr><td><code>{escape(ob)}</code></td>"]
        for rep in reports:
            results = by_bus.get(rep.bus.name)
            if not results:
                row.append('<td class="none" title="this bus has no such obligation or property">n/a</td>')
                continue
            colour, lines = M.cell(rep, results, href_prefix[rep.bus.name])
            main = [ln for ln in lines if not ln.conditional]
            cond = [ln for ln in lines if ln.conditional]
            parts = [f"<div>{_line_html(ln)}</div>" for ln in main]
            for ln in cond:
                if ln.conditions:  # holds under: one condition a line, never broken inside
                    head = "holds" + (f" ({escape(ln.scopes)})" if ln.scopes else "") + " under"
                    parts.append(f'<div class="cond">{head}<ul>' + "".join(f"<li><code>{escape(c)}</code></li>" for c in ln.conditions) + "</ul></div>")
                else:
                    parts.append(f'<div class="cond"><span class="{escape(ln.status)}">{_line_html(ln)}</span></div>')
            row.append(f'<td class="{escape(colour)}">' + "".join(parts) + "</td>")
        out.append("".join(row) + "</tr>")
    out.append("</table>")
    return out


def _line_html(ln) -> str:
    return f'<a href="{escape(ln.href)}">{escape(ln.text)}</a>' if ln.href else escape(ln.text)
