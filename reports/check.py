"""``iobus-verify check``: run every phase against one bus, gate it on its baseline, write the reports.

Wiring only: the phases and how they run are :mod:`~iobus_verify.reports.phases`,
the gate :mod:`~iobus_verify.reports.gate`, the files
:mod:`~iobus_verify.reports.outputs`, the contract
:mod:`~iobus_verify.reports.contract`. The names other modules and tests import
from here (``Phase``, ``PHASES``, ``write_outputs``...) are re-exported.

Exit status: 0 the findings match the baseline; 1 a new or lost finding (or a
run cut short by ``--timeout``: it cannot confirm the baseline); 2 bad input or
an internal error; 130 interrupted by Ctrl-C. Whatever happens after the bus is
resolved, the report is written with what was computed, marked incomplete when
the run was cut short.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Sequence

from iobus_verify.errors import UsageError
from iobus_verify.model.spec import BusSpec, resolve
from iobus_verify.reports import baseline as baselines
from iobus_verify.reports import gate as gates
from iobus_verify.reports.contract import resolve_contract
from iobus_verify.reports.outputs import safe_name, scenario_files, scenario_path, write_outputs
from iobus_verify.reports.phases import (
    BUDGETS,
    PHASES,
    Budget,
    Phase,
    PhaseContext,
    PhaseNotApplicable,
    PhaseUnavailable,
    judged_kinds,
    run_phases,
    unique_ids,
)
from iobus_verify.reports.report import PROFILES, BusInfo, Report, load_report

__all__ = [
    "BUDGETS", "DEFAULT_SEED", "PHASES", "Budget", "CheckOutcome", "Phase", "PhaseContext", "PhaseNotApplicable",
    "PhaseUnavailable", "check", "judge", "run_phases", "safe_name", "scenario_files", "scenario_path",
    "summary_lines", "unique_ids", "write_outputs",
]

DEFAULT_SEED = 0
judge = gates.judge


@dataclass(frozen=True)
class CheckOutcome:
    report: Report
    bus_dir: Path
    exit_code: int
    messages: tuple[str, ...]


def _unique(scenarios: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Scenarios without repeats, first occurrence kept (replaying one twice is waste)."""
    seen, out = set(), []
    for s in scenarios:
        k = json.dumps(s, sort_keys=True)
        if k not in seen:
            seen.add(k)
            out.append(s)
    return tuple(out)


def check(
    spec: BusSpec,
    *,
    profile: str = "ci",
    seed: int = DEFAULT_SEED,
    out_root: Path = Path("out"),
    phases: Sequence[Phase] | None = None,
    baseline_path: Path | None = None,
    stream: IO[str] | None = None,
    bar: bool | None = None,
    timeout_s: float | None = None,
    prefix: str = "",
    assume: str | None = None,
    explicit: Sequence[dict[str, Any]] = (),
) -> CheckOutcome:
    """Run, judge and write one bus. ``phases``: default :data:`PHASES` (read at
    call time). ``baseline_path``: an explicit baseline file; otherwise the
    committed one of a named bus, or none (strict). ``assume``: the contract
    (default: the bus's ``assumes``). ``explicit``: scenarios to replay first,
    on top of the baseline's stored ones."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, not {seed}")
    contract = resolve_contract(assume, spec)
    bpath = baselines.find(spec.name, spec.kind, baseline_path)
    base = baselines.load(bpath) if bpath is not None else None  # a malformed baseline fails before minutes are spent
    bus_dir = Path(out_root) / safe_name(spec.name)
    previous = None
    if (bus_dir / "report.json").is_file():
        try:
            previous = load_report(bus_dir / "report.json")
        except UsageError:
            previous = None  # an unreadable old report is simply not compared with
    phase_list = PHASES if phases is None else phases
    results, runs, reason, ctrl_c = run_phases(
        spec,
        profile=profile,
        seed=seed,
        bus_dir=bus_dir,
        phases=phase_list,
        stream=stream,
        bar=bar,
        timeout_s=timeout_s,
        prefix=prefix,
        explicit=_unique(gates.stored_scenarios(base) + tuple(explicit)),
        assume=contract,
    )
    gate = gates.judge(
        results, runs, reason, bpath, baseline=base, spec=spec, judged_kinds=judged_kinds(phase_list, runs), contract=contract
    )
    report = Report(
        BusInfo.of(spec),
        profile,
        seed,
        tuple(results),
        tuple(runs),
        gate,
        incomplete=reason is not None,
        incomplete_reason=reason,
        contract=contract,
    )
    write_outputs(report, bus_dir, previous)
    messages = []
    for run in runs:
        if run.status == "error":
            messages.append(run.message)
    if ctrl_c:
        code = 130
        messages.append(f"{reason}: partial report written to {bus_dir}")
    elif gate.verdict == "error":
        code = 2
    elif gate.verdict == "incomplete":
        code = 1
        messages.append(f"{reason}: the gate cannot pass on a partial run; partial report in {bus_dir}")
    else:
        code = 1 if gate.verdict == "regressed" else 0
    return CheckOutcome(report, bus_dir, code, tuple(messages))


# -- the command ----------------------------------------------------------------


def _condition_cell(r) -> str:
    f = r.finding
    if f is None or f.condition is None:
        return ""
    return f.condition + (" (outside contract)" if f.outside_contract else "")


def summary_lines(report: Report) -> list[str]:
    """The summary table printed after a run."""
    g = report.gate
    rows = [("result", "kind", "status", "seconds", "finding", "condition")]
    for r in report.results:
        f = r.finding.cls if r.finding else ("" if r.status == "pass" else r.detail[:40])
        rows.append((r.id, r.kind, r.status, f"{r.seconds:.2f}", f, _condition_cell(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"bus {report.bus.name} ({report.bus.spec}) · profile {report.profile} · seed {report.seed}"]
    lines.append(f"contract: {report.contract or 'none: every input counts'}")
    for j, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    c = report.counts()
    lines.append(f"{len(report.results)} results: {c['pass']} pass, {c['fail']} fail, {c['unknown']} unknown, {c['error']} error")
    base = g.baseline or "none: judged strictly, every finding fails"
    lines.append(f"baseline: {base}")
    for title, k in g.listed():
        lines.append(f"  {title:<8} {k}" + (f" ({k.note})" if k.note else ""))
    if g.not_run:
        lines.append(f"{len(g.not_run)} baseline finding(s) not judged: their phase did not run")
    if g.outside:
        lines.append(f"{len(g.outside)} finding(s) outside the contract: listed, not gating")
    lines.append(f"verdict: {g.verdict.upper()}")
    return lines


def add_assume_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--assume",
        metavar="CONDITION",
        help="the bus's contract: condition atoms joined by '+' (e.g. positive-len+no-wrap) or 'none'; "
        "findings outside it are listed, not gating (default: the bus's own `assumes`, else none)",
    )


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bus", required=True, metavar="SPEC", help="a variant name (see `variants`), FILE.py:factory, module:factory, c:FILE.c[:prefix], rust:CRATE_DIR[:prefix] or kernel:PATH[@2011|@today]")
    p.add_argument("--profile", choices=PROFILES, default="ci", help="budget: dev (quick), ci (default), thorough")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED}); same seed, same report")
    p.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="reports go to DIR/<bus>/ (default out)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also copy report.json to FILE")
    p.add_argument("--baseline", type=Path, metavar="FILE", help="baseline to compare with (default: the committed one of a named bus; none for a plugin: strict)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after SECONDS, write what was computed, mark it incomplete")
    add_assume_option(p)


def run(args: argparse.Namespace) -> int:
    spec = resolve(args.bus)
    outcome = check(
        spec,
        profile=args.profile,
        seed=args.seed,
        out_root=args.out,
        baseline_path=args.baseline,
        timeout_s=args.timeout,
        assume=getattr(args, "assume", None),
    )
    for line in summary_lines(outcome.report):
        print(line)
    print(f"reports: {outcome.bus_dir}/report.html, report.md, report.json, junit.xml")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text((outcome.bus_dir / "report.json").read_text())
    for m in outcome.messages:
        print(f"iobus-verify check: {m}", file=sys.stderr)
    return outcome.exit_code
