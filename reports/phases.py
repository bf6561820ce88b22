"""The phases of ``check`` and how they are run: in order, under a deadline, Ctrl-C safe.

A *phase* turns a bus into :class:`~iobus_verify.reports.records.Result`
records: ``properties`` (the Hypothesis stateful machines,
``iobus_verify.properties.run.run_properties``) and ``proofs`` (z3 and
CrossHair, ``iobus_verify.proofs.run.run_proofs``). Both are imported only when
run; a phase that is not installed, crashes, or returns something other than
results becomes an ``error`` result named ``phase.<name>``, never a silent
pass. Kept apart from the gate so that a new phase, or a new way to stop one,
touches this module alone.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Callable, Sequence

from iobus_verify.errors import UsageError
from iobus_verify.model.spec import BusSpec
from iobus_verify.reports.progress import PhaseProgress
from iobus_verify.reports.records import Finding, Result
from iobus_verify.reports.report import PhaseRun


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
    """What a phase is given. ``explicit``: the baseline's stored scenarios,
    replayed before any search (a finding the baseline knows is checked on its
    own witness first, so a search that wanders elsewhere cannot lose it);
    ``assume``: the bus's contract (a condition ladder name) or None."""

    spec: BusSpec
    profile: str
    seed: int
    bus_dir: Path
    progress: PhaseProgress
    explicit: tuple[dict[str, Any], ...] = ()
    assume: str | None = None

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
    """One phase. ``kinds``: the result kinds it produces (default its own
    ``kind``); the gate judges a baseline entry only when a phase producing
    its kind ran to completion."""

    name: str
    kind: str  # the Result kind of the phase's own error record
    run: Callable[[PhaseContext], Sequence[Result]] = field(repr=False)
    kinds: tuple[str, ...] = ()

    @property
    def result_kinds(self) -> tuple[str, ...]:
        return self.kinds or (self.kind,)


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
    # ctx.assume is already resolved (the option, else the spec's assumes); its
    # None means "no contract", which must not fall back to the spec's again.
    return mod.run_properties(
        ctx.spec, profile=ctx.profile, seed=ctx.seed, out_dir=None, progress=ctx.progress, explicit=tuple(ctx.explicit), assume=ctx.assume or "none"
    )


def _proofs(ctx: PhaseContext) -> Sequence[Result]:
    if ctx.spec.kind != "variant":
        raise PhaseNotApplicable(
            f"no proofs for a {ctx.spec.kind} bus: it has no comparator to prove (the properties check it)"
        )
    from iobus_verify.proofs.encode import PROOF_VARIANTS

    if ctx.spec.name not in PROOF_VARIANTS:
        # The history family: its lookups use the comparators of seed-2011 and
        # upstream (proved there); what differs is lifetimes, which the
        # properties (the ledger) check.
        raise PhaseNotApplicable(f"no proofs for {ctx.spec.name}: its comparators are proved on {', '.join(sorted(PROOF_VARIANTS))}; its lifetimes are checked by the properties")
    mod = _import_phase("iobus_verify.proofs.run", "proofs")
    b = ctx.budget
    return mod.run_proofs(ctx.spec.spec, n=b.proof_n, timeout_s=b.proof_timeout_s, jobs=b.proof_jobs, progress=ctx.progress)


#: The phases ``check`` runs, in order.
PHASES: tuple[Phase, ...] = (
    Phase("properties", "property", _properties),
    Phase("proofs", "proof", _proofs, kinds=("proof", "crosshair")),
)


class _Deadline(KeyboardInterrupt):
    """Raised by the --timeout alarm. A KeyboardInterrupt subclass so that no
    phase (Hypothesis, z3, a plugin) swallows it as an ordinary error."""


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
    explicit: Sequence[dict[str, Any]] = (),
    assume: str | None = None,
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

        handled: list[bool] = []

        def on_alarm(signum, frame):  # pragma: no cover - timing dependent
            if not handled:
                raise _Deadline()

        old_hook = sys.unraisablehook

        def quiet_deadline(unraisable):  # a deadline swallowed by a finalizer: the next alarm lands, no noise
            if not isinstance(unraisable.exc_value, _Deadline):
                old_hook(unraisable)

        sys.unraisablehook = quiet_deadline
        old_handler = signal.signal(signal.SIGALRM, on_alarm)
        # The alarm repeats every 0.5 s past the deadline: an exception raised
        # while Python runs a finalizer or a callback that swallows it ("Exception
        # ignored in ...") must not lose the deadline; the next alarm lands.
        signal.setitimer(signal.ITIMER_REAL, max(timeout_s, 0.001), 0.5)
    try:
        for phase in phases:
            if reason is not None:
                runs.append(PhaseRun(phase.name, "not-run", 0.0, f"not run: {reason}"))
                continue
            progress = PhaseProgress(phase.name, stream=stream, bar=bar, prefix=prefix)
            progress.begin()
            t0 = time.monotonic()
            ctx = PhaseContext(spec, profile, seed, bus_dir, progress, tuple(explicit), assume)
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
                if alarm:
                    handled.append(True)  # the repeating alarm has done its job
                    signal.setitimer(signal.ITIMER_REAL, 0)
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
            sys.unraisablehook = old_hook
    return results, runs, reason, ctrl_c


def judged_kinds(phases: Sequence[Phase], runs: Sequence[PhaseRun]) -> frozenset[str]:
    """The result kinds whose phase ran to completion: only their baseline
    entries can be found lost (what did not run is not judged)."""
    done = {r.name for r in runs if r.status == "done"}
    return frozenset(k for p in phases if p.name in done for k in p.result_kinds)


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
