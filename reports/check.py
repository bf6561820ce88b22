"""``iobus-verify check``: run every phase against one bus, gate it on its baseline, write the reports.

A *phase* turns a bus into :class:`~iobus_verify.reports.records.Result` records:
``properties`` (the Hypothesis stateful machines,
``iobus_verify.properties.run.run_properties``) and ``proofs`` (z3 and CrossHair,
``iobus_verify.proofs.run.run_proofs``). Both are imported only when run; a phase
that is not installed, crashes, or returns something other than results becomes
an ``error`` result named ``phase.<name>`` and exit status 2, never a silent pass.

Exit status: 0 the findings match the baseline; 1 a new or lost finding (or a
run cut short by ``--timeout``: it cannot confirm the baseline); 2 bad input or
an internal error; 130 interrupted by Ctrl-C. Whatever happens after the bus is
resolved, the report is written with what was computed, marked incomplete when
the run was cut short.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Callable, Sequence

from iobus_verify.errors import UsageError
from iobus_verify.model.spec import BusSpec, resolve
from iobus_verify.reports import baseline as baselines
from iobus_verify.reports.progress import PhaseProgress
from iobus_verify.reports.records import Finding, Result
from iobus_verify.reports.report import PROFILES, BusInfo, Gate, PhaseRun, Report, load_report
from iobus_verify.reports.schema import SchemaError, validate

DEFAULT_SEED = 0


@dataclass(frozen=True)
class Budget:
    """What a profile gives the proofs phase (the properties phase reads the
    profile name itself: its Hypothesis settings profiles carry its budget)."""

    proof_n: int
    proof_timeout_s: float
    proof_jobs: int


BUDGETS = {
    "dev": Budget(proof_n=8, proof_timeout_s=10.0, proof_jobs=1),
    "ci": Budget(proof_n=16, proof_timeout_s=30.0, proof_jobs=2),
    "thorough": Budget(proof_n=32, proof_timeout_s=300.0, proof_jobs=2),
}


@dataclass(frozen=True)
class PhaseContext:
    spec: BusSpec
    profile: str
    seed: int
    bus_dir: Path
    progress: PhaseProgress

    @property
    def budget(self) -> Budget:
        return BUDGETS[self.profile]


class PhaseUnavailable(Exception):
    """The phase's package is not installed (yet)."""


class PhaseNotApplicable(Exception):
    """The phase has nothing to check on this bus (e.g. no comparator to prove
    on a plugged-in bus); recorded as ``not-run`` with the reason."""


@dataclass(frozen=True)
class Phase:
    name: str
    kind: str  # the Result kind of the phase's own error record
    run: Callable[[PhaseContext], Sequence[Result]] = field(repr=False)


def _import_phase(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise PhaseUnavailable(
                f"the {what} phase is not available: module {module} is missing "
                f"(install a version of iobus-verify that has it)"
            ) from exc
        raise


def _properties(ctx: PhaseContext) -> Sequence[Result]:
    mod = _import_phase("iobus_verify.properties.run", "properties")
    # out_dir None: check writes one scenario file per finding itself (scenarios/).
    return mod.run_properties(ctx.spec, profile=ctx.profile, seed=ctx.seed, out_dir=None, progress=ctx.progress)


def _proofs(ctx: PhaseContext) -> Sequence[Result]:
    if ctx.spec.kind != "variant":
        raise PhaseNotApplicable(
            f"no proofs for a {ctx.spec.kind} bus: it has no comparator to prove (the properties check it)"
        )
    mod = _import_phase("iobus_verify.proofs.run", "proofs")
    b = ctx.budget
    return mod.run_proofs(ctx.spec.spec, n=b.proof_n, timeout_s=b.proof_timeout_s, jobs=b.proof_jobs)


#: The phases ``check`` runs, in order.
PHASES: tuple[Phase, ...] = (Phase("properties", "property", _properties), Phase("proofs", "proof", _proofs))


class _Deadline(KeyboardInterrupt):
    """Raised by the --timeout alarm. A KeyboardInterrupt subclass so that no
    phase (Hypothesis, z3, a plugin) swallows it as an ordinary error."""


@dataclass(frozen=True)
class CheckOutcome:
    report: Report
    bus_dir: Path
    exit_code: int
    messages: tuple[str, ...]


def safe_name(name: str) -> str:
    """A bus or result name made safe for a file name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return s or "bus"


def _bus_info(spec: BusSpec) -> BusInfo:
    return BusInfo(spec.name, spec.spec, spec.kind, spec.summary)


def run_phases(
    spec: BusSpec,
    *,
    profile: str,
    seed: int,
    bus_dir: Path,
    phases: Sequence[Phase],
    stream: IO[str] | None = None,
    bar: bool | None = None,
    timeout_s: float | None = None,
    prefix: str = "",
) -> tuple[list[Result], list[PhaseRun], str | None, bool]:
    """Run ``phases`` in order. Returns (results, phase runs, incomplete reason
    or None, interrupted by Ctrl-C)."""
    results: list[Result] = []
    runs: list[PhaseRun] = []
    reason: str | None = None
    ctrl_c = False
    alarm = timeout_s is not None and threading.current_thread() is threading.main_thread()
    old_handler = None
    if alarm:

        def on_alarm(signum, frame):  # pragma: no cover - timing dependent
            raise _Deadline()

        old_handler = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, max(timeout_s, 0.001))
    started = time.monotonic()
    try:
        for i, phase in enumerate(phases):
            if reason is not None:
                runs.append(PhaseRun(phase.name, "not-run", 0.0, f"not run: {reason}"))
                continue
            progress = PhaseProgress(phase.name, stream=stream, bar=bar, prefix=prefix)
            progress.begin()
            t0 = time.monotonic()
            ctx = PhaseContext(spec, profile, seed, bus_dir, progress)
            try:
                got = list(phase.run(ctx))
                bad = [type(r).__name__ for r in got if not isinstance(r, Result)]
                if bad:
                    raise TypeError(f"phase {phase.name} returned {bad[0]} objects, not Result records")
                got.sort(key=lambda r: r.id)  # parallel phases may finish in any order
                results += unique_ids(got, {r.id for r in results})
                runs.append(PhaseRun(phase.name, "done", time.monotonic() - t0))
                progress.end("done", len(got))
            except PhaseNotApplicable as exc:
                runs.append(PhaseRun(phase.name, "not-run", time.monotonic() - t0, str(exc)))
                progress.end("not applicable", 0)
            except KeyboardInterrupt as exc:
                dt = time.monotonic() - t0
                if isinstance(exc, _Deadline):
                    reason = f"--timeout {timeout_s:g} s reached during the {phase.name} phase"
                else:
                    reason = f"interrupted (Ctrl-C) during the {phase.name} phase"
                    ctrl_c = True
                results.append(
                    Result(
                        f"phase.{phase.name}",
                        phase.kind,
                        "unknown",
                        dt,
                        detail=f"{reason} after {dt:.1f} s: this phase's results are missing; rerun it to completion",
                    )
                )
                runs.append(PhaseRun(phase.name, "interrupted", dt, reason))
                progress.end("interrupted", 0)
            except Exception as exc:  # a phase's crash is an internal error: recorded, exit 2
                dt = time.monotonic() - t0
                if isinstance(exc, PhaseUnavailable):
                    msg = str(exc)
                elif isinstance(exc, UsageError):
                    msg = f"bad input: {exc}"
                else:
                    tb = bus_dir / f"phase-{phase.name}.traceback.txt"
                    bus_dir.mkdir(parents=True, exist_ok=True)
                    tb.write_text("".join(traceback.format_exception(exc)))
                    msg = f"the {phase.name} phase crashed: {type(exc).__name__}: {exc} (traceback in {tb}; this is a bug in iobus-verify)"
                results.append(Result(f"phase.{phase.name}", phase.kind, "error", dt, Finding("PHASE_ERROR", msg)))
                runs.append(PhaseRun(phase.name, "error", dt, msg))
                progress.end("error", 0)
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
    del started
    return results, runs, reason, ctrl_c


def unique_ids(results: Sequence[Result], taken: set[str]) -> list[Result]:
    """Results with ids unique in the report: a repeated id (e.g. the bounded and
    the unbounded proof of one obligation) gets its ``extra["scope"]`` appended
    as ``id#scope``, or ``#2``, ``#3``... Deterministic, so baselines keep them."""
    out = []
    seen = set(taken)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.id] = counts.get(r.id, 0) + 1
    for r in results:
        rid = r.id
        if counts[r.id] > 1 or rid in seen:
            scope = r.extra.get("scope") if isinstance(r.extra, dict) else None
            rid = f"{r.id}#{scope}" if scope else r.id
            k = 2
            while rid in seen:
                rid = f"{r.id}#{k}"
                k += 1
        seen.add(rid)
        out.append(r if rid == r.id else replace(r, id=rid))
    return out


def judge(results: Sequence[Result], runs: Sequence[PhaseRun], reason: str | None, baseline_path: Path | None) -> Gate:
    base = baselines.load(baseline_path) if baseline_path is not None else None
    cmp = baselines.compare_baseline(results, base)
    if any(r.status == "error" for r in runs):
        verdict = "error"
    elif reason is not None:
        verdict = "incomplete"
    else:
        verdict = "regressed" if cmp.regressed else "match"
    return Gate(verdict, None if baseline_path is None else str(baseline_path), cmp.new, cmp.lost, cmp.changed)


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
    paths["md"].write_text(render_md.render(report))
    paths["html"] = bus_dir / "report.html"
    paths["html"].write_text(render_html.render_report(report, previous=previous))
    paths["junit"] = bus_dir / "junit.xml"
    paths["junit"].write_text(render_junit.render(report))
    return paths


def scenario_path(result: Result) -> str:
    """Where a finding's scenario is written, relative to the bus folder."""
    assert result.finding is not None
    return f"scenarios/{safe_name(result.id)}.{safe_name(result.finding.cls)}.json"


def scenario_files(report: Report) -> dict[str, dict[str, Any]]:
    return {scenario_path(r): r.finding.scenario for r in report.findings if r.finding.scenario is not None}


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
) -> CheckOutcome:
    """Run, judge and write one bus. ``phases``: default :data:`PHASES` (read at
    call time). ``baseline_path``: an explicit baseline file; otherwise the
    committed one of a named bus, or none (strict)."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)}")
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, not {seed}")
    bpath = baselines.find(spec.name, spec.kind, baseline_path)
    if bpath is not None:
        baselines.load(bpath)  # a malformed baseline fails before minutes are spent
    bus_dir = Path(out_root) / safe_name(spec.name)
    previous = None
    if (bus_dir / "report.json").is_file():
        try:
            previous = load_report(bus_dir / "report.json")
        except UsageError:
            previous = None  # an unreadable old report is simply not compared with
    results, runs, reason, ctrl_c = run_phases(
        spec, profile=profile, seed=seed, bus_dir=bus_dir, phases=PHASES if phases is None else phases, stream=stream, bar=bar, timeout_s=timeout_s, prefix=prefix
    )
    gate = judge(results, runs, reason, bpath)
    report = Report(
        _bus_info(spec), profile, seed, tuple(results), tuple(runs), gate, incomplete=reason is not None, incomplete_reason=reason
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


def summary_lines(report: Report) -> list[str]:
    """The summary table printed after a run."""
    g = report.gate
    rows = [("result", "kind", "status", "seconds", "finding")]
    for r in report.results:
        f = r.finding.cls if r.finding else ("" if r.status == "pass" else r.detail[:40])
        rows.append((r.id, r.kind, r.status, f"{r.seconds:.2f}", f))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [f"bus {report.bus.name} ({report.bus.spec}) · profile {report.profile} · seed {report.seed}"]
    for j, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    c = report.counts()
    lines.append(f"{len(report.results)} results: {c['pass']} pass, {c['fail']} fail, {c['unknown']} unknown, {c['error']} error")
    base = g.baseline or "none: judged strictly, every finding fails"
    lines.append(f"baseline: {base}")
    for title, keys in (("new", g.new), ("lost", g.lost), ("changed", g.changed)):
        for k in keys:
            lines.append(f"  {title:<8} {k}" + (f" ({k.note})" if k.note else ""))
    lines.append(f"verdict: {g.verdict.upper()}")
    return lines


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bus", required=True, metavar="SPEC", help="a variant name (see `variants`), FILE.py:factory, module:factory, or c:FILE.c[:prefix]")
    p.add_argument("--profile", choices=PROFILES, default="ci", help="budget: dev (quick), ci (default), thorough")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED}); same seed, same report")
    p.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="reports go to DIR/<bus>/ (default out)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also copy report.json to FILE")
    p.add_argument("--baseline", type=Path, metavar="FILE", help="baseline to compare with (default: the committed one of a named bus; none for a plugin: strict)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after SECONDS, write what was computed, mark it incomplete")


def run(args: argparse.Namespace) -> int:
    spec = resolve(args.bus)
    outcome = check(
        spec, profile=args.profile, seed=args.seed, out_root=args.out, baseline_path=args.baseline, timeout_s=args.timeout
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
