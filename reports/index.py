"""``iobus-verify report``: check every named variant, then write the index pages.

For each variant of :data:`iobus_verify.model.sorted_bus.VARIANTS` it runs
:func:`iobus_verify.reports.check.check` (same phases, same baselines, same
per-bus files under ``DIR/<bus>/``), then writes ``DIR/index.html`` and
``DIR/index.md``: the variant x obligation matrix (each finding linked to its
counterexample), the interval diagram of every counterexample, the lookup-cost
plot (:mod:`iobus_verify.reports.cost`), and the diff against the previous
report of each bus in the same folder (``DIR/<bus>/previous.json``). The SVGs are
inlined in the HTML and written under ``DIR/svg/`` for the Markdown.

Exit status: the worst of the per-bus ``check`` statuses (130 if interrupted,
then 2, then 1, else 0).
"""

from __future__ import annotations

import argparse
import sys
import time
from html import escape
from pathlib import Path
from typing import IO, Sequence

from iobus_verify.errors import UsageError
from iobus_verify.model.sorted_bus import DEFAULT_FAMILY, REGISTRY, VARIANTS, families, family_variants
from iobus_verify.model.spec import resolve
from iobus_verify.reports import render_html
from iobus_verify.reports.check import DEFAULT_SEED, CheckOutcome, Phase, add_assume_option, check, safe_name, scenario_path, summary_lines
from iobus_verify.reports.cost import EXPERIMENT_DEVICES, NOT_REPORTED, CostFigure, cost_figure, cost_svg, with_buses
from iobus_verify.reports.diff import ReportDiff, diff_reports
from iobus_verify.reports.matrix import cell as matrix_cell
from iobus_verify.reports.matrix import rows as matrix_rows
from iobus_verify.reports.render_md import anchor, md_escape
from iobus_verify.reports.report import PROFILES, Report, load_report

#: The default budget of `report`: the README's first command must finish in minutes.
DEFAULT_PROFILE = "ci"


def _previous(bus_dir: Path) -> Report | None:
    p = bus_dir / "previous.json"
    if not p.is_file():
        return None
    try:
        return load_report(p)
    except UsageError:
        return None


def _worst(codes: Sequence[int]) -> int:
    for c in (130, 2, 1):
        if c in codes:
            return c
    return 0


def write_index(out: Path, outcomes: Sequence[CheckOutcome], fig: CostFigure | None, elapsed: float, interrupted: bool) -> tuple[Path, Path]:
    """index.html and index.md for ``outcomes`` (already written per bus)."""
    reports = [o.report for o in outcomes]
    diffs: dict[str, ReportDiff] = {}
    for o in outcomes:
        prev = _previous(o.bus_dir)
        if prev is not None:
            diffs[o.report.bus.name] = diff_reports(prev, o.report)
    svg_dir = out / "svg"
    svg_dir.mkdir(parents=True, exist_ok=True)
    prefix = {o.report.bus.name: f"{o.bus_dir.name}/" for o in outcomes}
    diagrams: list[tuple[Report, object, str | None, str | None]] = []  # (report, result, svg, file): every finding
    for rep in reports:
        for r in rep.findings:
            svg = render_html.finding_diagram(r, f"{rep.bus.name} · {r.id}: {render_html.finding_title(r)}", rep.bus.spec, rep.bus.name)
            name = None
            if svg:
                name = f"{safe_name(rep.bus.name)}-{anchor(r)}.svg"
                (svg_dir / name).write_text(svg)
            diagrams.append((rep, r, svg, name))
    cost = cost_svg(fig) if fig is not None else None
    if cost:
        (svg_dir / "cost.svg").write_text(cost)

    # -- HTML ------------------------------------------------------------------
    body = [
        "<h1>iobus-verify: every variant against the linear bus</h1>",
        f'<p class="meta">{len(reports)} bus(es) checked in {elapsed:.0f} s'
        + (" (<b>interrupted</b>: the buses below are the ones that ran)" if interrupted else "")
        + ". Each column is one <code>iobus-verify check</code> run; cells link to the finding and its counterexample.</p>",
        "<h2>Summary</h2>",
        "<table><tr><th>bus</th><th>profile / seed</th><th>pass</th><th>fail</th><th>unknown</th><th>error</th><th>gate</th><th>report</th></tr>",
    ]
    for o in outcomes:
        rep, c = o.report, o.report.counts()
        body.append(
            f"<tr><td><b>{escape(rep.bus.name)}</b><br><span class=\"meta\">{escape(rep.bus.summary)}</span></td>"
            f"<td>{escape(rep.profile)} / {rep.seed}</td>"
            + "".join(f'<td class="num">{c[s]}</td>' for s in ("pass", "fail", "unknown", "error"))
            + f"<td>{render_html.verdict_badge(rep.gate.verdict)}"
            + (f"<br>{len(rep.gate.new)} new, {len(rep.gate.lost)} lost" if rep.gate.new or rep.gate.lost else "")
            + (f"<br>incomplete: {escape(rep.incomplete_reason or '')}" if rep.incomplete else "")
            + f'</td><td><a href="{escape(prefix[rep.bus.name])}report.html">report.html</a> · '
            f'<a href="{escape(prefix[rep.bus.name])}report.json">json</a> · <a href="{escape(prefix[rep.bus.name])}junit.xml">junit</a></td></tr>'
        )
    body.append("</table>")
    body += ["<h2>Variant × obligation</h2>", render_html.MATRIX_LEGEND] + render_html.matrix(reports, prefix)
    for name, d in diffs.items():
        body += render_html.diff_section(d, f"{name}: since the previous report in this folder")
    body.append("<h2>Lookup cost</h2>")
    if fig is not None:
        body.append(
            "<p>Comparator calls plus device callbacks for one access, with <i>n</i> devices registered on one byte and "
            "the access on the next byte (no device matches, so this is the lookup alone). The ringed points are the "
            f"patch's own experiment: {EXPERIMENT_DEVICES} ioeventfds on one byte, an access to another byte.</p>"
        )
        for bus, note in fig.notes.items():
            if note.startswith(NOT_REPORTED):
                note = (
                    "comparisons not reported. It has no <code>stats()</code>, so its dotted line counts the device callbacks "
                    "alone: a lower bound on its lookup's cost. Implement <code>stats()</code> (returning a <code>BusStats</code> "
                    "of comparator calls and callbacks) to have its comparisons counted" + escape(note[len(NOT_REPORTED):])
                )
            else:
                note = escape(note)
            body.append(f"<p><b>{escape(bus)}</b>: {note}.</p>")
        body.append(f'<div class="diagram">{cost}</div>')
        body += ["<details><summary>the figures</summary>", *_cost_table_html(fig), "</details>"]
    body.append("<h2>Findings</h2>")
    if not diagrams:
        body.append("<p>No finding.</p>")
    for rep, r, svg, _ in diagrams:
        href = f"{prefix[rep.bus.name]}{render_html.finding_page_path(r)}"
        scen = f' · <a href="{escape(prefix[rep.bus.name] + scenario_path(r))}">scenario</a>' if r.finding.scenario else ""
        judged = render_html.gate_status(rep, r)
        body.append(
            f'<div class="finding"><h3 id="{escape(safe_name(rep.bus.name))}-{escape(anchor(r))}">{escape(rep.bus.name)} · <code>{escape(r.id)}</code>: '
            f"{escape(render_html.finding_title(r))}</h3>"
            + (f'<p class="meta">{escape(judged)}</p>' if judged else "")
            + f'<p>{render_html.words(r.finding.explanation)} <a href="{escape(href)}">the finding\'s page</a>{scen}</p>'
            + (f'<div class="diagram">{svg}</div>' if svg else "")
            + "</div>"
        )
    return (
        _write(out / "index.html", render_html.page("iobus-verify report", body)),
        _write(out / "index.md", _index_md(outcomes, prefix, diffs, diagrams, fig, elapsed, interrupted)),
    )


def _cost_table_html(fig: CostFigure) -> list[str]:
    buses = list(fig.series)
    out = ["<table><tr><th>devices</th>" + "".join(f"<th>{escape(b)}" + ("*" if b in fig.notes else "") + "</th>" for b in buses) + "</tr>"]
    for n, row in fig.rows():
        mark = " ★" if n == EXPERIMENT_DEVICES else ""
        out.append(f"<tr><td class=\"num\">{n}{mark}</td>" + "".join(f'<td class="num">{"" if row[b] is None else row[b]}</td>' for b in buses) + "</tr>")
    out += [f'<tr><td colspan="{len(buses) + 1}" class="meta">* {escape(b)}: {escape(note)}</td></tr>' for b, note in fig.notes.items()]
    return out + ["</table>"]


def _index_md(outcomes, prefix, diffs, diagrams, fig, elapsed, interrupted) -> str:
    reports = [o.report for o in outcomes]
    lines = ["# iobus-verify: every variant against the linear bus", ""]
    lines.append(f"{len(reports)} bus(es) checked in {elapsed:.0f} s" + (" (interrupted)" if interrupted else "") + ".")
    lines += ["", "| bus | profile / seed | pass | fail | unknown | error | gate | report |", "|---|---|---|---|---|---|---|---|"]
    for rep in reports:
        c = rep.counts()
        p = prefix[rep.bus.name]
        lines.append(
            f"| {md_escape(rep.bus.name)} | {rep.profile} / {rep.seed} | {c['pass']} | {c['fail']} | {c['unknown']} | {c['error']} "
            f"| {rep.gate.verdict}{' (incomplete)' if rep.incomplete else ''} | [report.md]({p}report.md) |"
        )
    lines += ["", "## Variant × obligation", "", "One row per obligation: bounded and unbounded proofs, each comparator's proof and the conditions a refuted obligation holds under share it.", ""]
    lines += ["| obligation / property | " + " | ".join(md_escape(r.bus.name) for r in reports) + " |", "|---" * (len(reports) + 1) + "|"]
    for ob, by_bus in matrix_rows(reports):
        cells = []
        for rep in reports:
            results = by_bus.get(rep.bus.name)
            if not results:
                cells.append("n/a")
                continue
            _, cell_lines = matrix_cell(rep, results, prefix[rep.bus.name])
            cells.append("; ".join(_md_line(ln, prefix[rep.bus.name]) for ln in cell_lines))
        lines.append(f"| {md_escape(ob)} | " + " | ".join(cells) + " |")
    for name, d in diffs.items():
        c = d.comparison
        lines += ["", f"## {md_escape(name)}: since the previous report in this folder", ""]
        entries = [(t, k) for t, keys in (("new", c.new), ("lost", c.lost), ("changed", c.changed)) for k in keys]
        lines += [f"- {t}: {md_escape(str(k))}" + (f" ({md_escape(k.note)})" if k.note else "") for t, k in entries] or ["No difference in findings."]
    lines += ["", "## Findings", ""]
    for rep, r, _, file in diagrams:
        lines.append(f"### {md_escape(rep.bus.name)} · {md_escape(r.id)}: {md_escape(r.finding.cls)}")
        lines += ["", md_escape(r.finding.explanation), ""] + ([f"![interval diagram](svg/{file})", ""] if file else [])
    if not diagrams:
        lines.append("No finding.")
    if fig is not None:
        lines += ["", "## Lookup cost", "", "![lookup cost](svg/cost.svg)", ""]
        buses = list(fig.series)
        lines += ["| devices | " + " | ".join(buses) + " |", "|---" * (len(buses) + 1) + "|"]
        for n, row in fig.rows():
            mark = " (the patch's experiment)" if n == EXPERIMENT_DEVICES else ""
            lines.append(f"| {n}{mark} | " + " | ".join("" if row[b] is None else str(row[b]) for b in buses) + " |")
        lines += [""] + [f"{md_escape(b)}: {md_escape(note)}." for b, note in fig.notes.items()]
    return "\n".join(lines).rstrip() + "\n"


def _md_line(ln, prefix: str) -> str:
    """A matrix line in Markdown; a finding links to its section of the bus's report.md."""
    return f"[{md_escape(ln.text)}]({prefix}report.md#{anchor(ln.result)})" if ln.result is not None else md_escape(ln.text)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def report_all(
    out: Path,
    *,
    profile: str = DEFAULT_PROFILE,
    seed: int = DEFAULT_SEED,
    buses: Sequence[str] | None = None,
    phases: Sequence[Phase] | None = None,
    stream: IO[str] | None = None,
    bar: bool | None = None,
    with_cost: bool = True,
    timeout_s: float | None = None,
    assume: str | None = None,
    family: str = DEFAULT_FAMILY,
) -> tuple[list[CheckOutcome], int]:
    """Check each bus (default every named variant of ``family``) and write the index.
    ``assume``: one contract for every bus (default: each bus's own)."""
    started = time.monotonic()
    outcomes: list[CheckOutcome] = []
    interrupted = False
    for name in buses or list(family_variants(family)):
        spec = resolve(name)
        o = check(spec, profile=profile, seed=seed, out_root=out, phases=phases, stream=stream, bar=bar, timeout_s=timeout_s, prefix=f"{spec.name} ", assume=assume)
        outcomes.append(o)
        if o.exit_code == 130:
            interrupted = True
            break
    fig = cost_figure() if with_cost and not interrupted else None
    if fig is not None:
        fig = with_buses(fig, _plugin_specs(outcomes))
    write_index(out, outcomes, fig, time.monotonic() - started, interrupted)
    return outcomes, _worst([o.exit_code for o in outcomes])


def _plugin_specs(outcomes: Sequence[CheckOutcome]) -> list:
    """The checked buses that are not named variants (plugins), resolved again for the cost plot;
    one that no longer resolves is left out of the plot, not the index."""
    out = []
    for o in outcomes:
        b = o.report.bus
        if b.name in REGISTRY or b.kind != "plugin":
            continue
        try:
            out.append(resolve(b.spec))
        except UsageError:
            pass
    return out


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="write DIR/index.html, DIR/index.md and DIR/<bus>/ (default out)")
    p.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE, help=f"budget per bus (default {DEFAULT_PROFILE})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--bus", action="append", metavar="SPEC", help="check these buses instead of every named variant (repeatable)")
    p.add_argument(
        "--family",
        default=DEFAULT_FAMILY,
        metavar="NAME",
        help=f"check every variant of this family (default {DEFAULT_FAMILY}; `iobus-verify variants` lists the families)",
    )
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="per-bus time limit; a bus cut short is marked incomplete")
    add_assume_option(p)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    family = getattr(args, "family", DEFAULT_FAMILY)
    from iobus_verify.vmm.registry import FAMILY as VMM_FAMILY

    if family == VMM_FAMILY:  # other VMMs' buses: their own protocol, reference and report
        from iobus_verify.vmm.conformance import run_command

        return run_command(args)
    if family not in families():
        raise UsageError(f"unknown family {family!r}: use one of {', '.join(families() + (VMM_FAMILY,))} (see `iobus-verify variants`)")
    if args.bus and family != DEFAULT_FAMILY:
        raise UsageError("give either --bus or --family, not both")
    outcomes, code = report_all(
        args.out, profile=args.profile, seed=args.seed, buses=args.bus, timeout_s=args.timeout, assume=getattr(args, "assume", None), family=family
    )
    for o in outcomes:
        print()
        for line in summary_lines(o.report):
            print(line)
        for m in o.messages:
            print(f"iobus-verify report: {o.report.bus.name}: {m}", file=sys.stderr)
    print(f"\nindex: {args.out / 'index.html'} and {args.out / 'index.md'} ({time.monotonic() - started:.0f} s)")
    return code
