"""``iobus-verify campaign``: a long search on a Dask cluster, written as the report ``check`` writes.

Wiring only: the scheduling is :mod:`iobus_verify.properties.campaign`, the
tasks :mod:`iobus_verify.properties.tasks`, the database
:mod:`iobus_verify.properties.database`. Here the campaign's merged and
minimised findings become the same :class:`~iobus_verify.reports.records.Result`
records the properties phase returns
(:func:`~iobus_verify.properties.run.differential_results`), judged by the same
gate against the bus's baseline and written by the same writers
(:func:`~iobus_verify.reports.outputs.write_outputs`: ``report.json`` with its
schema, HTML, Markdown, JUnit, scenarios), so ``baseline update --from-report``
and ``diff`` read it as they read ``check``'s.

What only a campaign has goes into the properties phase's message and each
differential result's detail: tasks run, retried and failed, workers, the
example database and whether a lost Redis was replaced by the local one.

Exit status as ``check``: 0 the findings match the baseline, 1 a new or lost
finding, 2 bad input (one line; also when the ``campaign`` extra is missing),
130 Ctrl-C (the merged partial report is written first, marked incomplete).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from iobus_verify.errors import UsageError
from iobus_verify.reports import baseline as baselines
from iobus_verify.reports import gate as gates
from iobus_verify.reports.records import Finding, Result
from iobus_verify.reports.report import PROFILES, BusInfo, PhaseRun, Report, load_report


def parse_seeds(text: str | None) -> tuple[int, int | None]:
    """``A:B`` (seeds A..B-1), ``A:`` (from A until a budget is spent) or ``N`` (seed N alone)."""
    if text is None:
        return 0, None
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            start, stop = int(a or 0), (int(b) if b else None)
        else:
            start = int(text)
            stop = start + 1
    except ValueError:
        raise UsageError(f"--seeds {text}: give A:B (seeds A to B-1), A: (until a budget is spent) or one seed") from None
    if start < 0 or (stop is not None and stop <= start):
        raise UsageError(f"--seeds {text}: give 0 <= A < B")
    return start, stop


def campaign_detail(out: Any) -> str:
    """What the campaign did, in one line (the phase message and each result's detail)."""
    p = out.plan
    n = len(out.outcomes)
    runs = sum(cov.get("by_condition", {}).get(o.task.rung, {}).get("runs", 0) for o in out.outcomes for cov in [o.coverage or {}])
    text = (
        f"campaign, profile {p.profile}, seeds {p.seeds_text()}: {n} task(s) (bus, rung, seed) on {out.workers} worker(s), "
        f"{runs} runs, {out.ops} ops executed ({out.shrink_ops} more shrinking) in {out.seconds:.1f} s"
    )
    if p.budget_ops is not None:
        text += f"; budget {p.budget_ops} ops"
    if p.minutes is not None:
        text += f"; budget {p.minutes:g} min"
    text += f"; {out.retried} task(s) retried"
    if out.failed:
        text += f"; {len(out.failed)} task(s) failed"
    text += f"; example database {p.database.describe()}"
    for note in out.database_notes:
        text += f"; {note}"
    if p.assume:
        text += f"; contract {p.assume}"
    return text


def campaign_results(spec: Any, out: Any, contract: str | None) -> tuple[list[Result], list[PhaseRun]]:
    """The results and phase runs of a campaign, as ``check``'s phases give them."""
    from iobus_verify.model import conditions as C
    from iobus_verify.properties.campaign import merge, merge_coverage
    from iobus_verify.properties.run import differential_results
    from iobus_verify.reports.phases import unique_ids

    detail = campaign_detail(out)
    if out.minimised is not None:
        found = dict(out.minimised)
    else:  # interrupted: the merge, not minimised (each class's strongest condition, then fewest ops)
        from iobus_verify.properties.campaign import condition_of
        from iobus_verify.properties.run import _rung_rank

        found = {}
        for c, cands in merge(list(out.reported) + [w for o in out.outcomes for w in o.found], spec.era).items():
            found[c] = min(cands, key=lambda f: (_rung_rank(condition_of(f.scenario, spec.era)), len(f.scenario["ops"])))
        detail += "; interrupted: witnesses merged but not minimised"
    errors = list(out.failed) + [e for o in out.outcomes for e in o.errors] + list(out.minimise_errors)
    props = differential_results(spec, found, out.seconds, detail, errors, coverage=merge_coverage(out.outcomes), contract=C.parse(contract))
    if out.interrupted:
        # a class not found in the tasks that finished is not established absent
        props = [
            replace(r, status="unknown", detail=f"not established: {out.interrupted}; {r.detail}") if r.status == "pass" else r for r in props
        ]
    props += list(out.pieces)
    props.sort(key=lambda r: r.id)
    results = unique_ids(props, set())
    runs = [PhaseRun("properties", "interrupted" if out.interrupted else "done", out.seconds, detail)]
    if out.interrupted:
        results.append(Result("phase.properties", "property", "unknown", out.seconds, detail=f"{out.interrupted}: the report holds what finished tasks found"))
    if not out.proofs:
        why = out.interrupted or "not run by this campaign"
        runs.append(PhaseRun("proofs", "not-run", 0.0, f"not run: {why}"))
    else:
        status, seconds, message, got = out.proofs
        if status == "error":
            results.append(Result("phase.proofs", "proof", "error", seconds, Finding("PHASE_ERROR", message)))
        got = sorted(got, key=lambda r: r.id)
        results += unique_ids(got, {r.id for r in results})
        runs.append(PhaseRun("proofs", status, seconds, message))
    return results, runs


def campaign_report(spec: Any, out: Any, *, contract: str | None, baseline_path: Path | None, base: Any) -> Report:
    """The campaign's :class:`Report`, judged on the baseline as ``check`` judges."""
    from iobus_verify.reports.phases import PHASES, judged_kinds

    results, runs = campaign_results(spec, out, contract)
    reason = out.interrupted
    gate = gates.judge(results, runs, reason, baseline_path, baseline=base, spec=spec, judged_kinds=judged_kinds(PHASES, runs), contract=contract)
    return Report(
        BusInfo.of(spec),
        out.plan.profile,
        out.plan.seed_start,
        tuple(results),
        tuple(runs),
        gate,
        incomplete=reason is not None,
        incomplete_reason=reason,
        contract=contract,
    )


def scheduler_reachable(address: str, timeout: float = 10.0) -> None:
    """A ``--scheduler`` that does not accept a connection is bad input, said
    before the campaign starts (Dask's own client would say it after a wait,
    with a traceback's worth of logging)."""
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(address if "://" in address else f"tcp://{address}")
    if u.scheme not in ("tcp", "tls") or not u.hostname or u.port is None:
        raise UsageError(f"--scheduler {address}: give tcp://HOST:PORT")
    try:
        socket.create_connection((u.hostname, u.port), timeout=timeout).close()
    except OSError as exc:
        raise UsageError(f"--scheduler {address}: cannot connect ({exc.strerror or exc})") from None


def setup(p: argparse.ArgumentParser) -> None:
    from iobus_verify.reports.check import add_assume_option

    p.add_argument("--bus", required=True, metavar="SPEC", help="a variant name, FILE.py:factory, module:factory, or c:FILE.c[:prefix]")
    p.add_argument("--seeds", metavar="A:B", help="seeds A to B-1 (default 0:8; A: with a budget runs until it is spent)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--budget-ops", type=int, metavar="N", help="stop submitting tasks once finished ones executed N operations")
    budget.add_argument("--minutes", type=float, metavar="M", help="stop submitting tasks after M minutes (running ones finish)")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="worker processes of the embedded local cluster (default 2)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use this Dask scheduler's workers instead of a local cluster")
    p.add_argument("--db", metavar="DIR|redis://HOST:PORT/N|none", help="the shared example database (default $IOBUS_VERIFY_DB or .hypothesis/iobus-verify)")
    p.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="reports go to DIR/<bus>/ (default out)")
    p.add_argument("--profile", choices=PROFILES, default="ci", help="the budget each task spends on its rung (default ci)")
    p.add_argument("--baseline", type=Path, metavar="FILE", help="baseline to compare with (default: the committed one of a named bus)")
    p.add_argument("--no-proofs", action="store_true", help="skip the proofs task (the report then does not judge proof findings)")
    add_assume_option(p)


def run(args: argparse.Namespace) -> int:
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.campaign import CampaignPlan, portable_spec, require_distributed, run_campaign
    from iobus_verify.properties.database import check_reachable, parse_database
    from iobus_verify.reports.check import summary_lines
    from iobus_verify.reports.contract import resolve_contract
    from iobus_verify.reports.outputs import safe_name, write_outputs
    from iobus_verify.reports.progress import PhaseProgress

    require_distributed()
    start, stop = parse_seeds(args.seeds)
    if args.seeds is None and args.budget_ops is None and args.minutes is None:
        stop = 8
    if args.budget_ops is not None and args.budget_ops < 1:
        raise UsageError(f"--budget-ops {args.budget_ops}: give a positive number of operations")
    if args.minutes is not None and not args.minutes > 0:
        raise UsageError(f"--minutes {args.minutes}: give a positive number of minutes")
    if args.scheduler is None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: give at least 1")
    spec = resolve(args.bus)
    contract = resolve_contract(getattr(args, "assume", None), spec)
    bpath = baselines.find(spec.name, spec.kind, args.baseline)
    base = baselines.load(bpath) if bpath is not None else None
    db = parse_database(args.db)
    check_reachable(db)  # before anything is started or printed: one line, exit 2
    if args.scheduler is not None:
        scheduler_reachable(args.scheduler)
    plan = CampaignPlan(
        portable_spec(args.bus), args.profile, start, stop, args.budget_ops, args.minutes, contract, None, db, pieces=True, proofs=not args.no_proofs
    )
    bus_dir = Path(args.out) / safe_name(spec.name)
    previous = None
    if (bus_dir / "report.json").is_file():
        try:
            previous = load_report(bus_dir / "report.json")
        except UsageError:
            previous = None
    progress = PhaseProgress("campaign")
    progress.begin()
    try:
        out = run_campaign(plan, workers=args.workers, scheduler=args.scheduler, progress=progress, explicit=gates.stored_scenarios(base))
    except BaseException:
        progress.end("stopped", 0)
        raise
    report = campaign_report(spec, out, contract=contract, baseline_path=bpath, base=base)
    progress.end("interrupted" if out.interrupted else "done", len(report.results))
    write_outputs(report, bus_dir, previous)
    for line in summary_lines(report):
        print(line)
    print(f"campaign: {len(out.outcomes)} task(s) on {out.workers} worker(s), {out.retried} retried, {out.ops} ops in {out.seconds:.1f} s")
    for note in out.database_notes:
        print(f"campaign: {note}")
    print(f"reports: {bus_dir}/report.html, report.md, report.json, junit.xml")
    if out.interrupted:
        print(f"iobus-verify campaign: {out.interrupted}: partial report written to {bus_dir}", file=sys.stderr)
        return 130
    if report.gate.verdict == "error":
        return 2
    return 1 if report.gate.verdict == "regressed" else 0
