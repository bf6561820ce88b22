"""``iobus-verify report --family vmm``: the conformance table, the per-VMM findings, the gate.

For every VMM bus whose model loads (a missing one is skipped with a
message), each corner of :data:`~iobus_verify.vmm.corners.CORNERS` runs
against the bus's own contract and against REF-strict, giving one cell:

* ``same``: behaves as REF-strict;
* ``contract``: differs from REF-strict as the bus's documented contract says (a contract difference);
* ``defect``: differs from its own contract (class of the first divergence);
* ``n/a``: the bus's API lacks an op the corner needs.

Then the search (:func:`iobus_verify.vmm.search.search`) runs on each bus.
Results are the suite's records (:class:`~iobus_verify.reports.records.Result`);
defects are gated against ``vmm/baseline.json`` with the suite's comparison
(:func:`iobus_verify.reports.baseline.compare`): exit 1 on a new or lost
defect, contract differences listed, never gating (``outside_contract``).
Written to ``OUT``: ``vmm.html``, ``vmm.md``, ``vmm-junit.xml``, ``vmm.json``
and one scenario per cell and finding under ``vmm-scenarios/<bus>/``, each
replayed by ``iobus-verify vmm-replay FILE --bus NAME``.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Sequence

from iobus_verify.errors import UsageError
from iobus_verify.reports.baseline import Entry, compare
from iobus_verify.reports.outputs import safe_name
from iobus_verify.reports.records import Finding, Result
from iobus_verify.reports.render_html import page, words
from iobus_verify.reports.render_md import md_escape
from iobus_verify.reports.report import Gate, Key
from iobus_verify.vmm import registry
from iobus_verify.vmm.compare import run as run_scenario
from iobus_verify.vmm.compare import supported
from iobus_verify.vmm.corners import CORNERS, Corner
from iobus_verify.vmm.reference import STRICT
from iobus_verify.vmm.registry import Fate, VmmBus
from iobus_verify.vmm.search import SearchResult, rung_of, search

BASELINE = Path(__file__).with_name("baseline.json")
BASELINE_FORMAT = "iobus-vmm-baseline/1"
SYMBOL = {"same": "✓ same", "contract": "≈ contract", "defect": "✗", "n/a": "n/a"}
#: inline cell colours (the page's Content-Security-Policy allows inline styles only)
CELL_STYLE = {"same": "background:#eaf6ea", "contract": "background:#fff4d6", "defect": "background:#fbe0e0", "n/a": "background:#f2f2f2;color:#777"}


@dataclass(frozen=True)
class Cell:
    status: str  # same | contract | defect | n/a
    cls: str | None = None
    explanation: str = ""
    condition: str | None = None
    op: str | None = None  # the kind of the divergent op ("access" for reads and writes)


def cell(bus: VmmBus, corner: Corner) -> Cell:
    """One bus on one corner (see the module docstring)."""
    probe = registry.make(bus, "mmio")
    if corner.needs - set(probe.OPS) or not any(supported(registry.make(bus, o.space), o) for o in corner.ops if o.op != "read"):
        return Cell("n/a", explanation=f"{bus.name} has no {', '.join(sorted(corner.needs - set(probe.OPS))) or 'way to express these integers'}")
    s = corner.scenario(bus.name)
    own = run_scenario(bus, s).divergence
    if own is not None:
        return Cell("defect", own.cls.value, own.explanation, rung_of(bus, s).name, op_kind(own.op.op))
    strict = run_scenario(bus, s, STRICT).divergence
    if strict is not None:
        why = "; ".join(bus.contract.differences(STRICT))
        return Cell("contract", strict.cls.value, f"{strict.explanation} ({why})", rung_of(bus, s).name, op_kind(strict.op.op))
    return Cell("same")


def op_kind(op: str) -> str:
    return "access" if op in ("read", "write") else op


def fate(bus: VmmBus, cls: str, op: str | None = None) -> Fate:
    """What later history did about a defect of class ``cls`` on an ``op`` on
    ``bus`` (reference history sections): the entry for ``CLS/op``, else for ``CLS``."""
    return bus.fates.get(f"{cls}/{op}") or bus.fates.get(cls) or Fate("stands", registry.STANDS)


@dataclass(frozen=True)
class BusOutcome:
    bus: VmmBus
    cells: dict[str, Cell]
    search: SearchResult
    results: tuple[Result, ...]
    gate: Gate
    seconds: float


@dataclass(frozen=True)
class Conformance:
    outcomes: tuple[BusOutcome, ...]
    skipped: tuple[str, ...]
    profile: str
    seed: int
    seconds: float
    baseline: str | None = None
    exit_code: int = 0
    files: dict[str, Path] = field(default_factory=dict)


def results_of(bus: VmmBus, cells: dict[str, Cell], found: SearchResult) -> tuple[Result, ...]:
    """The suite's records: a result per applicable corner and per search finding."""
    out: list[Result] = []
    for c in CORNERS:
        x = cells[c.name]
        if x.status == "n/a":
            continue
        scen = c.scenario(bus.name).to_json()
        if x.status == "same":
            out.append(Result(f"corner.{c.name}", "property", "pass", 0.0, detail=c.text))
        else:
            f = Finding(x.cls, x.explanation, scen, condition=x.condition, outside_contract=x.status == "contract")
            out.append(Result(f"corner.{c.name}", "property", "fail", 0.0, f, detail=c.text, extra={"op": x.op}))
    for f in found.findings:
        kind = "defect" if f.kind == "defect" else "contract"
        out.append(
            Result(
                f"differential.{kind}.{f.op}.{f.cls}",
                "property",
                "fail",
                f.seconds,
                Finding(f.cls, f.explanation, f.scenario.to_json(), condition=f.condition, outside_contract=f.kind != "defect"),
                detail=f"{found.profile} profile, seed {found.seed}, {found.runs} runs",
                extra={"op": f.op, "scenario_ops": len(f.scenario.ops), "contract_note": f.contract_note},
            )
        )
    return tuple(out)


def load_baseline(path: Path | None) -> dict[str, dict[Key, Entry]] | None:
    """Expected defects per bus, or None when there is no baseline file (judged strictly)."""
    if path is None or not path.is_file():
        return None
    from iobus_verify.model.scenario import read_json_file

    obj = read_json_file(path, "baseline")
    if not isinstance(obj, dict) or obj.get("format") != BASELINE_FORMAT or not isinstance(obj.get("buses"), dict):
        raise UsageError(f"{path}: not an {BASELINE_FORMAT} file (want {{'format': {BASELINE_FORMAT!r}, 'buses': {{name: [entries]}}}})")
    out = {}
    for bus, entries in obj["buses"].items():
        es = [Entry(e["id"], e["class"], "fail", "property", condition=e.get("condition")) for e in entries]
        out[bus] = {e.key: e for e in es}
    return out


def stored_witnesses(path: Path | None) -> dict[str, list[Any]]:
    """The baseline's search witnesses per bus (scenarios), for the search to
    replay first; a file without them (an older baseline) gives none."""
    if path is None or not path.is_file():
        return {}
    from iobus_verify.model.scenario import read_json_file
    from iobus_verify.vmm.scenario import parse_scenario

    obj = read_json_file(path, "baseline")
    return {
        bus: [parse_scenario(e["scenario"], f"{path}: {bus} {e.get('id')}") for e in entries if isinstance(e, dict) and e.get("scenario") is not None]
        for bus, entries in obj.get("buses", {}).items()
    }


def gate_of(
    bus: VmmBus, results: Sequence[Result], expected: dict[str, dict[Key, Entry]] | None, path: Path | None, cut_short: bool = False
) -> Gate:
    """The suite's comparison of a bus's results with its expected defects. A
    search cut short by ``--timeout`` is ``incomplete``: an expected search
    finding it did not reach is *not judged* rather than lost (what did not run
    is not judged); new findings still show."""
    exp = None if expected is None else expected.get(bus.name, {})
    judged = (lambda e: not e.id.startswith("differential.")) if cut_short else None
    cmp = compare(results, exp, judged=judged)
    verdict = "incomplete" if cut_short else "regressed" if cmp.regressed else "match"
    return Gate(verdict, None if expected is None else str(path), cmp.new, cmp.lost, cmp.changed, cmp.outside, cmp.not_run)


def baseline_json(outcomes: Sequence[BusOutcome], profile: str, seed: int) -> dict[str, Any]:
    """A baseline expecting exactly the defects of ``outcomes``."""
    buses = {}
    for o in outcomes:
        # a search finding keeps its witness, replayed first by the next search (see search.search)
        keys = sorted(
            (
                {"id": r.id, "class": r.finding.cls, "condition": r.finding.condition}
                | ({"scenario": r.finding.scenario} if r.id.startswith("differential.") else {})
                for r in o.results
                if r.finding is not None and not r.finding.outside_contract
            ),
            key=lambda e: (e["id"], e["class"]),
        )
        buses[o.bus.name] = keys
    return {"format": BASELINE_FORMAT, "profile": profile, "seed": seed, "buses": buses}


def run_conformance(
    out: Path,
    *,
    profile: str = "ci",
    seed: int = 0,
    names: Sequence[str] | None = None,
    baseline: Path | None = BASELINE,
    timeout_s: float | None = None,
    write_baseline: Path | None = None,
) -> Conformance:
    """Check every available VMM bus (or ``names``) and write the outputs to ``out``."""
    started = time.monotonic()
    ok, skipped = registry.available()
    if names:
        for n in names:
            registry.get(n)  # unknown name: UsageError
        chosen = [ok[n] for n in names if n in ok]
        skipped = [m for m in skipped if m.split(":")[0] in names]
    else:
        chosen = list(ok.values())
    expected = load_baseline(baseline)
    stored = stored_witnesses(baseline) if expected is not None else {}
    outcomes = []
    for bus in chosen:
        t0 = time.monotonic()
        cells = {c.name: cell(bus, c) for c in CORNERS}
        found = search(bus, profile=profile, seed=seed, timeout_s=timeout_s, stored=stored.get(bus.name, ()))
        results = results_of(bus, cells, found)
        gate = gate_of(bus, results, expected, baseline, found.cut_short)
        outcomes.append(BusOutcome(bus, cells, found, results, gate, time.monotonic() - t0))
    code = 1 if any(o.gate.verdict in ("regressed", "incomplete") or o.gate.new or o.gate.lost for o in outcomes) else 0
    conf = Conformance(tuple(outcomes), tuple(skipped), profile, seed, time.monotonic() - started, None if expected is None else str(baseline), code)
    files = write_outputs(conf, out)
    if write_baseline is not None:
        write_baseline.write_text(json.dumps(baseline_json(outcomes, profile, seed), indent=2) + "\n")
    return Conformance(**{**conf.__dict__, "files": files})


# -- writing -------------------------------------------------------------------------------


def scenario_file(bus: VmmBus, result_id: str) -> str:
    return f"vmm-scenarios/{safe_name(bus.name)}/{safe_name(result_id)}.json"


def replay_line(bus: VmmBus, result_id: str, out: Path) -> str:
    import shlex

    return f"iobus-verify vmm-replay {shlex.quote(str(out / scenario_file(bus, result_id)))} --bus {shlex.quote(bus.name)}"


def _cell_text(x: Cell) -> str:
    if x.status == "defect":
        return f"✗ {x.cls}"
    if x.status == "contract":
        return f"≈ contract ({x.cls})"
    return SYMBOL[x.status]


def figures(conf: Conformance) -> list[dict[str, Any]]:
    """The note's figures: per bus and search finding, class, op, condition,
    scenario length, seconds, contract difference or defect, and the defect's fate."""
    rows = []
    for o in conf.outcomes:
        for f in o.search.findings:
            fa = fate(o.bus, f.cls, f.op) if f.kind == "defect" else None
            rows.append(
                {
                    "bus": o.bus.name,
                    "kind": f.kind,
                    "class": f.cls,
                    "op": f.op,
                    "condition": f.condition,
                    "scenario_ops": len(f.scenario.ops),
                    "seconds": round(f.seconds, 3),
                    "fate": None if fa is None else fa.status,
                    "fate_text": None if fa is None else fa.text,
                }
            )
    return rows


def to_json(conf: Conformance) -> dict[str, Any]:
    return {
        "format": "iobus-vmm-conformance/1",
        "profile": conf.profile,
        "seed": conf.seed,
        "baseline": conf.baseline,
        "seconds": round(conf.seconds, 3),
        "skipped": list(conf.skipped),
        "corners": [{"name": c.name, "text": c.text, "needs": sorted(c.needs)} for c in CORNERS],
        "buses": [
            {
                "name": o.bus.name,
                "summary": o.bus.summary,
                "source": o.bus.source,
                "arithmetic": o.bus.arithmetic,
                "contract": o.bus.contract.__dict__,
                "contract_differences": o.bus.contract.differences(STRICT),
                "cells": {
                    k: {"status": v.status, "class": v.cls, "op": v.op, "condition": v.condition, "explanation": v.explanation}
                    | ({"fate": fate(o.bus, v.cls, v.op).__dict__} if v.status == "defect" else {})
                    for k, v in o.cells.items()
                },
                "results": [r.to_json() for r in o.results],
                "runs": o.search.runs,
                "seconds": round(o.seconds, 3),
                "gate": o.gate.to_json(),
            }
            for o in conf.outcomes
        ],
        "figures": figures(conf),
    }


def write_outputs(conf: Conformance, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    for o in conf.outcomes:
        for r in o.results:
            if r.finding is not None and r.finding.scenario is not None:
                p = out / scenario_file(o.bus, r.id)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(json.dumps(r.finding.scenario, indent=2) + "\n")
    files = {
        "json": out / "vmm.json",
        "md": out / "vmm.md",
        "html": out / "vmm.html",
        "junit": out / "vmm-junit.xml",
    }
    files["json"].write_text(json.dumps(to_json(conf), indent=2) + "\n")
    files["md"].write_text(render_md(conf, out))
    files["html"].write_text(render_html(conf, out))
    files["junit"].write_text(render_junit(conf))
    return files


def _gate_line(o: BusOutcome) -> str:
    g = o.gate
    extra = "".join(f"; {t}: {k}" for t, k in g.listed() if t in ("new", "lost"))
    return f"{g.verdict}{extra}"


def render_md(conf: Conformance, out: Path) -> str:
    buses = [o.bus for o in conf.outcomes]
    L = ["# iobus-verify: other VMMs' device buses, against each other and their contracts", ""]
    L.append(
        f"{len(buses)} bus(es), profile {conf.profile}, seed {conf.seed}, {conf.seconds:.0f} s; baseline: {md_escape(conf.baseline or 'none, judged strictly')}."
    )
    for m in conf.skipped:
        L.append(f"- skipped: {md_escape(m)}")
    L += ["", "## Conformance", "", "✓ same: as REF-strict; ≈ contract: differs as the bus's contract documents; ✗: a defect (against its own contract); n/a: no such API.", ""]
    L.append("| corner | " + " | ".join(md_escape(b.name) for b in buses) + " |")
    L.append("|---" * (len(buses) + 1) + "|")
    for c in CORNERS:
        cells = []
        for o in conf.outcomes:
            x = o.cells[c.name]
            t = md_escape(_cell_text(x))
            cells.append(f"[{t}]({scenario_file(o.bus, 'corner.' + c.name)})" if x.status in ("defect", "contract") else t)
        L.append(f"| {md_escape(c.name)}: {md_escape(c.text)} | " + " | ".join(cells) + " |")
    L += ["", "## Contracts", "", "| bus | source | arithmetic | differs from REF-strict in | note |", "|---|---|---|---|---|"]
    for o in conf.outcomes:
        b = o.bus
        L.append(f"| {md_escape(b.name)} | {md_escape(b.source)} | {b.arithmetic} | {md_escape('; '.join(b.contract.differences(STRICT)) or 'nothing')} | {md_escape(b.contract_note)} |")
    L += ["", "## Findings of the search", "", "| bus | kind | class | op | condition | ops | seconds | later history |", "|---|---|---|---|---|---|---|---|"]
    for row in figures(conf):
        L.append(
            f"| {md_escape(row['bus'])} | {row['kind']} | {row['class']} | {row['op']} | {md_escape(row['condition'])} | {row['scenario_ops']} | {row['seconds']:.2f} | "
            + (md_escape(f"{row['fate']}: {row['fate_text']}") if row["fate"] else "")
            + " |"
        )
    for o in conf.outcomes:
        L += ["", f"## {md_escape(o.bus.name)}", "", md_escape(o.bus.summary), "", f"Gate: {md_escape(_gate_line(o))}; {o.search.runs} runs in {o.seconds:.1f} s.", ""]
        for r in o.results:
            if r.finding is None:
                continue
            f = r.finding
            tag = "contract difference" if f.outside_contract else "defect"
            L += [f"### {md_escape(r.id)}: {f.cls} @ {md_escape(f.condition or 'none')} ({tag})", "", md_escape(f.explanation), ""]
            if not f.outside_contract:
                fa = fate(o.bus, f.cls, r.extra.get("op"))
                L += [f"Later history: {fa.status}: {md_escape(fa.text)}", ""]
            L += ["```", replay_line(o.bus, r.id, out), "```", ""]
    return "\n".join(L).rstrip() + "\n"


def _fate_pair(bus: VmmBus, r: Result) -> tuple[str, str]:
    fa = fate(bus, r.finding.cls, r.extra.get("op"))
    return fa.status, fa.text


def render_html(conf: Conformance, out: Path) -> str:
    buses = [o.bus for o in conf.outcomes]
    body = [
        "<h1>iobus-verify: other VMMs' device buses</h1>",
        f'<p class="meta">{len(buses)} bus(es), profile {escape(conf.profile)}, seed {conf.seed}, {conf.seconds:.0f} s; '
        f"baseline: {escape(conf.baseline or 'none, judged strictly')}.</p>",
    ]
    body += [f'<p class="meta">skipped: {escape(m)}</p>' for m in conf.skipped]
    body += [
        "<h2>Conformance</h2>",
        "<p>✓ same: as REF-strict (a linear list over exact integers: zero length, ranges past the top and overlaps rejected, "
        "accesses contained whole); ≈ contract: differs as the bus's documented contract says; ✗: a defect against its own contract; "
        "n/a: the bus has no such API. Each marked cell links to its scenario.</p>",
        '<div style="overflow-x:auto"><table><tr><th>corner</th>' + "".join(f"<th>{escape(b.name)}</th>" for b in buses) + "</tr>",
    ]
    for c in CORNERS:
        row = f'<tr><td style="min-width:18em"><b>{escape(c.name)}</b><br><span class="meta">{escape(c.text)}</span></td>'
        for o in conf.outcomes:
            x = o.cells[c.name]
            t = escape(_cell_text(x))
            if x.status in ("defect", "contract"):
                t = f'<a href="{escape(scenario_file(o.bus, "corner." + c.name))}" title="{escape(x.explanation)}">{t}</a>'
            row += f'<td style="{CELL_STYLE[x.status]}">{t}</td>'
        body.append(row + "</tr>")
    body.append("</table></div>")
    body += ["<h2>Contracts</h2>", "<table><tr><th>bus</th><th>source</th><th>arithmetic</th><th>differs from REF-strict in</th><th>note</th></tr>"]
    for o in conf.outcomes:
        b = o.bus
        body.append(
            f"<tr><td>{escape(b.name)}</td><td><code>{escape(b.source)}</code></td><td>{escape(b.arithmetic)}</td>"
            f"<td>{escape('; '.join(b.contract.differences(STRICT)) or 'nothing')}</td><td>{escape(b.contract_note)}</td></tr>"
        )
    body.append("</table>")
    body += ["<h2>Findings of the search</h2>", "<table><tr><th>bus</th><th>kind</th><th>class</th><th>op</th><th>condition</th><th>ops</th><th>seconds</th><th>later history</th></tr>"]
    for row in figures(conf):
        body.append(
            f"<tr><td>{escape(row['bus'])}</td><td>{row['kind']}</td><td>{row['class']}</td><td>{row['op']}</td><td>{escape(row['condition'])}</td>"
            f"<td class=\"num\">{row['scenario_ops']}</td><td class=\"num\">{row['seconds']:.2f}</td>"
            f"<td>{escape((row['fate'] + ': ' + row['fate_text']) if row['fate'] else '')}</td></tr>"
        )
    body.append("</table>")
    for o in conf.outcomes:
        body += [f"<h2>{escape(o.bus.name)}</h2>", f"<p>{escape(o.bus.summary)}</p>", f'<p class="meta">gate: {escape(_gate_line(o))}; {o.search.runs} runs in {o.seconds:.1f} s</p>']
        for r in o.results:
            if r.finding is None:
                continue
            f = r.finding
            tag = "contract difference" if f.outside_contract else "defect"
            body.append(
                f'<div class="finding"><h3>{escape(r.id)}: {escape(f.cls)} @ {escape(f.condition or "none")} ({tag})</h3>'
                f"<p>{words(f.explanation)}</p>"
                + ("" if f.outside_contract else "<p>Later history: {}: {}</p>".format(*map(escape, _fate_pair(o.bus, r))))
                + f'<p><a href="{escape(scenario_file(o.bus, r.id))}">scenario</a> · <code>{escape(replay_line(o.bus, r.id, out))}</code></p></div>'
            )
    return page("iobus-verify: VMM buses", body)


def render_junit(conf: Conformance) -> str:
    """One suite per bus, one case per result: a new defect (against the baseline)
    or a lost one is a failure; an expected defect and a contract difference pass,
    marked so in ``system-out``."""
    suites = ET.Element("testsuites", name="iobus-verify vmm")
    for o in conf.outcomes:
        s = ET.SubElement(suites, "testsuite", name=f"vmm.{o.bus.name}")
        new = {(k.id, k.cls) for k in o.gate.new}
        lost = {k.id: k for k in o.gate.lost}
        fails = 0
        for r in o.results:
            case = ET.SubElement(s, "testcase", name=r.id, classname=f"vmm.{o.bus.name}", time=f"{r.seconds:.3f}")
            f = r.finding
            if f is not None and (r.id, f.cls) in new:
                el = ET.SubElement(case, "failure", message=f"new {f.cls} @ {f.condition}: {f.explanation}"[:500], type=f.cls)
                el.text = f.explanation
                fails += 1
            elif r.id in lost:
                ET.SubElement(case, "failure", message=f"baseline defect lost: {lost[r.id]}", type="LOST")
                fails += 1
            elif f is not None:
                tag = "contract difference (listed, not gating)" if f.outside_contract else "expected defect (baseline)"
                ET.SubElement(case, "system-out").text = f"{tag}: {f.cls} @ {f.condition}: {f.explanation}"
            elif r.detail:
                ET.SubElement(case, "system-out").text = r.detail
        for k in o.gate.lost:
            if k.id not in {r.id for r in o.results}:
                case = ET.SubElement(s, "testcase", name=k.id, classname=f"vmm.{o.bus.name}", time="0")
                ET.SubElement(case, "failure", message=f"baseline defect lost: {k}", type="LOST")
                fails += 1
        if o.search.cut_short:
            case = ET.SubElement(s, "testcase", name="search.complete", classname=f"vmm.{o.bus.name}", time="0")
            ET.SubElement(case, "failure", message=f"incomplete: the time limit stopped the search after {o.search.runs} runs", type="INCOMPLETE")
            fails += 1
        s.set("tests", str(len(s)))
        s.set("failures", str(fails))
        s.set("errors", "0")
        s.set("skipped", "0")
        s.set("time", f"{o.seconds:.3f}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# -- the command ------------------------------------------------------------------------------


def summary_lines(conf: Conformance) -> list[str]:
    out = []
    for o in conf.outcomes:
        cnt = {k: sum(1 for x in o.cells.values() if x.status == k) for k in ("same", "contract", "defect", "n/a")}
        d = sum(1 for f in o.search.findings if f.kind == "defect")
        c = len(o.search.findings) - d
        out.append(
            f"{o.bus.name}: corners {cnt['same']} same, {cnt['contract']} contract, {cnt['defect']} defect, {cnt['n/a']} n/a; "
            f"search {d} defect(s), {c} contract difference(s) in {o.search.runs} runs; gate {_gate_line(o)}"
        )
    return out + [f"skipped: {m}" for m in conf.skipped]


def run_command(args: Any) -> int:
    """``report --family vmm`` (called from :func:`iobus_verify.reports.index.run`)."""
    import sys

    if getattr(args, "assume", None):
        raise UsageError("--assume names KVM condition atoms; the vmm family is judged against each VMM's own contract (drop --assume)")
    conf = run_conformance(args.out, profile=args.profile, seed=args.seed, names=args.bus, timeout_s=args.timeout)
    for line in summary_lines(conf):
        print(line)
    for o in conf.outcomes:
        for t, k in o.gate.listed():
            if t in ("new", "lost"):
                print(f"iobus-verify report: {o.bus.name}: {t} {k}", file=sys.stderr)
    print(f"\nconformance: {conf.files['html']}, {conf.files['md']}, {conf.files['junit']} ({conf.seconds:.0f} s)")
    return conf.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m iobus_verify.vmm.conformance --write-baseline [PATH]``: record the
    current defects (ci profile, seed 0) as the expected ones, after review."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m iobus_verify.vmm.conformance")
    p.add_argument("--out", type=Path, default=Path("out-vmm"))
    p.add_argument("--write-baseline", type=Path, nargs="?", const=BASELINE, default=None)
    a = p.parse_args(argv)
    conf = run_conformance(a.out, baseline=None, write_baseline=a.write_baseline)
    print("\n".join(summary_lines(conf)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
