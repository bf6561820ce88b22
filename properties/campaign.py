"""Campaigns: the search's tasks scheduled on a Dask cluster, their findings merged.

A campaign cuts one bus's search into independent tasks (bus, rung of the
condition ladder, seed; :mod:`iobus_verify.properties.tasks`) and schedules
them on a `Dask distributed <https://distributed.dask.org>`_ cluster: an
embedded ``LocalCluster`` of N worker processes on this machine, or the
user's own cluster (``scheduler="tcp://host:port"``). It adds no search of its
own: every task is the surveys and shrinks ``check`` runs for that rung and
seed. What it adds is the scheduling:

* **budget**: tasks are submitted seed after seed (every rung of a seed, strongest
  first), a few more than there are workers at a time, until the seeds run
  out, the operations the finished tasks executed reach ``budget_ops``, or
  ``minutes`` have passed; tasks already running then finish;
* **the shared example database** (:mod:`iobus_verify.properties.database`):
  what a task's shrink saves is replayed first by every later task of the
  same bus and rung, in this campaign and the next; a Redis server lost
  mid-run is replaced by the local directory for the remaining tasks, and
  the outcome says so;
* **faults**: a finished task's outcome is gathered at once, and each class a
  survey sees is reported as an event before the task shrinks it, so a
  worker killed mid-task loses neither; Dask reschedules the killed task
  (and ``retries`` more times if the task itself raises); the outcome counts
  the tasks started more than once. Ctrl-C stops submitting, cancels what
  runs and returns what was gathered, marked interrupted;
* **merging**: per (class, condition) the witness with the fewest
  operations, from finished tasks and from what surveys reported; each
  class's candidates are then minimised on the cluster with
  :func:`~iobus_verify.properties.run.minimise_found`, the same reduction
  ``check`` applies.

``iobus-verify campaign`` (:mod:`iobus_verify.reports.campaign`) turns the
outcome into the report ``check`` writes. ``distributed`` and ``redis`` are the
optional extra ``campaign``: without them :func:`require_distributed` is a
UsageError giving the install line.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from iobus_verify.errors import UsageError
from iobus_verify.properties.database import DatabaseSpec, check_reachable
from iobus_verify.properties.tasks import FOUND_TOPIC, START_TOPIC, Task, TaskOutcome, Witness, reported_witness, run_task

INSTALL = "pip install 'iobus-verify[campaign]'"
#: Dask retries of a task that raises (a killed worker's task is rescheduled
#: by the scheduler on its own, up to ``distributed.scheduler.allowed-failures``)
RETRIES = 2
#: seeds of a campaign given neither seeds nor a budget
DEFAULT_SEEDS = (0, 8)


def portable_spec(text: str) -> str:
    """A bus spec every worker resolves alike: a file path made absolute
    (``FILE.py:factory``, ``c:FILE.c[:prefix]``); names and modules as given."""
    from pathlib import Path

    if text.startswith("c:"):
        path, sep, rest = text[2:].partition(":")
        return "c:" + (str(Path(path).resolve()) if Path(path).is_file() else path) + sep + rest
    path, sep, factory = text.rpartition(":")
    if sep and path.endswith(".py") and Path(path).is_file():
        return f"{Path(path).resolve()}:{factory}"
    return text


def require_distributed():
    """The ``distributed`` module, or a UsageError with the install line."""
    try:
        import distributed
    except ImportError:
        raise UsageError(f"the campaign needs Dask distributed (the 'campaign' extra), which is not installed: {INSTALL}") from None
    return distributed


@dataclass(frozen=True)
class CampaignPlan:
    """What to run: the bus, the profile whose budget each task spends, the
    seeds ``[seed_start, seed_stop)`` (``seed_stop`` None: until a budget is
    spent), the budgets, the contract, the example database, and whether the
    piece properties and the proofs run too (one task each, so that the
    report holds every result ``check`` gives)."""

    bus: str
    profile: str = "ci"
    seed_start: int = 0
    seed_stop: int | None = DEFAULT_SEEDS[1]
    budget_ops: int | None = None
    minutes: float | None = None
    assume: str | None = None
    examples: int | None = None
    database: DatabaseSpec = DatabaseSpec("none")
    pieces: bool = True
    proofs: bool = True
    #: reduce each class's merged witnesses with the deterministic minimiser
    #: (``check`` does; a test of the scheduling may skip it)
    minimise: bool = True

    def rungs(self) -> list[str]:
        from iobus_verify.model import conditions as C

        return [r.name for r in C.LADDER]

    def tasks(self, campaign: str = "") -> Iterator[Task]:
        seeds = itertools.count(self.seed_start) if self.seed_stop is None else range(self.seed_start, self.seed_stop)
        for seed in seeds:
            for rung in self.rungs():
                yield Task(self.bus, rung, seed, self.profile, self.assume, self.examples, campaign)

    @property
    def planned(self) -> int | None:
        """Tasks the seeds make (None: open-ended, a budget decides)."""
        return None if self.seed_stop is None else max(0, self.seed_stop - self.seed_start) * len(self.rungs())

    def seeds_text(self) -> str:
        return f"{self.seed_start}:{'' if self.seed_stop is None else self.seed_stop}"


@dataclass
class CampaignStats:
    """The live counters (read by the progress display while tasks run):
    tasks done, operations executed by them, classes seen so far."""

    runs: int = 0
    ops: int = 0
    silent: dict[str, float] = field(default_factory=dict)  # class -> seconds into the campaign when first reported
    running: int = 0


@dataclass(frozen=True)
class CampaignOutcome:
    """What a campaign did. ``reported``: witnesses the surveys reported
    before their tasks ended; ``retried``: tasks started more than once;
    ``failed``: tasks Dask gave up on, with why; ``first_seconds``: per class,
    seconds from the campaign's start to its first report; ``database_notes``:
    what happened to the shared database (a Redis server lost, the fallback)."""

    plan: CampaignPlan
    outcomes: tuple[TaskOutcome, ...]
    reported: tuple[Witness, ...]
    retried: int
    failed: tuple[str, ...]
    seconds: float
    workers: int
    dashboard: str | None = None
    interrupted: str | None = None
    first_seconds: dict[str, float] = field(default_factory=dict)
    database_notes: tuple[str, ...] = ()
    database_used: DatabaseSpec = DatabaseSpec("none")
    pieces: tuple = ()  # piece-property Results
    proofs: tuple = ()  # (status, seconds, message, Results)
    minimised: dict[str, Any] | None = None  # cls -> run.Found, the merged and minimised witness
    minimise_errors: tuple[str, ...] = ()

    @property
    def ops(self) -> int:
        return sum(o.ops for o in self.outcomes)

    @property
    def shrink_ops(self) -> int:
        return sum(o.shrink_ops for o in self.outcomes)


# -- the side tasks: piece properties, proofs, minimisation -------------------------


def _pieces_task(bus: str, profile: str, seed: int) -> list:
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.profiles import budget
    from iobus_verify.properties.run import _piece_results

    return _piece_results(resolve(bus), budget(profile).piece_examples, seed, None)


def _proofs_task(bus: str, profile: str) -> tuple[str, float, str, list]:
    """``check``'s proofs phase at ``profile``'s budget, one obligation at a
    time (a Dask worker is a daemon process: it may not start a pool)."""
    from iobus_verify.model.spec import resolve
    from iobus_verify.reports.phases import BUDGETS

    spec = resolve(bus)
    if spec.kind != "variant":
        return ("not-run", 0.0, f"no proofs for a {spec.kind} bus: it has no comparator to prove (the properties check it)", [])
    from iobus_verify.proofs.run import run_proofs

    b = BUDGETS[profile]
    t0 = time.perf_counter()
    got = run_proofs(spec.spec, n=b.proof_n, timeout_s=b.proof_timeout_s, jobs=1)
    return ("done", time.perf_counter() - t0, "", got)


def _minimise_task(bus: str, cls: str, candidates: list) -> Any:
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.run import minimise_found

    return minimise_found(resolve(bus), {cls: candidates})[cls]


# -- merging --------------------------------------------------------------------------


def condition_of(scenario: dict[str, Any], era: str | None) -> str | None:
    """The strongest rung ``scenario`` satisfies (None: the VM rejects it)."""
    from iobus_verify.properties.run import _rung_name_safe

    return _rung_name_safe(scenario, era)


def merge(witnesses: Any, era: str | None) -> dict[str, list[Any]]:
    """Per (class, condition), the witness with the fewest operations (a
    shrunk one first on a tie, then the scenario's text, so the merge does
    not depend on arrival order); returned per class as the candidates
    :func:`~iobus_verify.properties.run.minimise_found` takes."""
    import json

    from iobus_verify.properties.run import Found

    best: dict[tuple[str, str | None], Witness] = {}
    for w in witnesses:
        k = (w.cls, condition_of(w.scenario, era))
        rank = (w.ops, not w.shrunk, json.dumps(w.scenario, sort_keys=True))
        if k not in best or rank < (best[k].ops, not best[k].shrunk, json.dumps(best[k].scenario, sort_keys=True)):
            best[k] = w
    out: dict[str, list[Any]] = {}
    for (cls, cond), w in sorted(best.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        out.setdefault(cls, []).append(Found(cls, w.explanation, w.scenario))
    return out


def merge_coverage(outcomes: Any) -> dict[str, Any] | None:
    """The tasks' coverage (each :func:`~iobus_verify.properties.run.ladder_coverage`
    of one rung) added up, in all and per rung."""
    covs = [o.coverage for o in outcomes if o.coverage]
    if not covs:
        return None
    from iobus_verify.properties.machine import COVERAGE_KEYS

    total: dict[str, Any] = dict.fromkeys(COVERAGE_KEYS, 0)
    by: dict[str, dict[str, Any]] = {}
    for c in covs:
        for k in COVERAGE_KEYS:
            total[k] += c.get(k, 0)
        for name, row in c.get("by_condition", {}).items():
            acc = by.setdefault(name, {**dict.fromkeys(COVERAGE_KEYS, 0), "runs": 0, "inside_contract": row.get("inside_contract", True), "classes": []})
            for k in list(COVERAGE_KEYS) + ["runs"]:
                acc[k] += row.get(k, 0)
            acc["classes"] = sorted(set(acc["classes"]) | set(row.get("classes", ())))
    from iobus_verify.model import conditions as C

    total["by_condition"] = {r.name: by[r.name] for r in C.LADDER if r.name in by}
    total["stopped_by_error"] = any(c.get("stopped_by_error") for c in covs)
    total["has_ranges"] = all(c.get("has_ranges") for c in covs)
    return total


# -- the scheduling -------------------------------------------------------------------


class _Events:
    """What the workers report while tasks run (called on the client's event
    loop thread, read by the campaign's thread)."""

    def __init__(self, started: float, stats: CampaignStats) -> None:
        self.lock = threading.Lock()
        self.starts: Counter[str] = Counter()
        self.reported: list[Witness] = []
        self.started, self.stats = started, stats
        #: keys of this campaign's tasks (a scheduler's events reach every client)
        self.keys: set[str] = set()

    def on_start(self, event) -> None:
        with self.lock:
            if event[1] in self.keys:
                self.starts[event[1]] += 1

    def on_found(self, event) -> None:
        key, w = reported_witness(event[1])
        with self.lock:
            if key not in self.keys:
                return
            self.reported.append(w)
            self.stats.silent.setdefault(w.cls, time.monotonic() - self.started)


def _connect(distributed, scheduler: str | None, workers: int):
    """(client, cluster or None): the user's scheduler, or an embedded LocalCluster."""
    if scheduler is not None:
        try:
            return distributed.Client(scheduler, timeout=15), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"--scheduler {scheduler}: cannot connect ({type(exc).__name__}: {exc})") from None
    if workers < 1:
        raise UsageError(f"--workers {workers}: give at least 1")
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    return distributed.Client(cluster), cluster


def _dashboard(client) -> str | None:
    try:
        if "dashboard" in client.scheduler_info().get("services", {}):
            return client.dashboard_link
    except Exception:  # noqa: BLE001 - the address is a convenience, never a failure
        return None
    return None


def run_campaign(
    plan: CampaignPlan,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    progress: Any = None,
    observer: Callable[[Any, TaskOutcome], None] | None = None,
    explicit: Any = (),
) -> CampaignOutcome:
    """Run ``plan`` (see the module docstring). ``progress``: a
    :class:`~iobus_verify.reports.progress.PhaseProgress` (or any callable
    taking a message). ``observer(client, outcome)`` is called after each
    finished task (how the tests kill a worker mid-campaign).
    ``explicit``: stored scenarios (a baseline's) added to the candidates,
    as ``check`` replays them first (those that still diverge count)."""
    distributed = require_distributed()
    from iobus_verify.model.spec import resolve
    from iobus_verify.reports.progress import plan as plan_runs, step

    spec = resolve(plan.bus)  # a bad spec fails here, before a cluster starts
    check_reachable(plan.database)
    client, cluster = _connect(distributed, scheduler, workers)
    stats = CampaignStats()
    t0 = time.monotonic()
    events = _Events(t0, stats)
    outcomes: list[TaskOutcome] = []
    failed: list[str] = []
    notes: list[str] = []
    db = plan.database
    interrupted = None
    side: dict[str, Any] = {}
    minimised: dict[str, Any] | None = None
    minimise_errors: list[str] = []
    pieces: tuple = ()
    proofs: tuple = ()
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        dashboard = _dashboard(client)
        client.subscribe_topic(START_TOPIC, events.on_start)
        client.subscribe_topic(FOUND_TOPIC, events.on_found)
        if plan.pieces:
            side["pieces"] = client.submit(_pieces_task, plan.bus, plan.profile, plan.seed_start, pure=False, retries=RETRIES)
        if plan.proofs:
            side["proofs"] = client.submit(_proofs_task, plan.bus, plan.profile, pure=False, retries=RETRIES)
        if plan.planned is not None:
            plan_runs(progress, plan.planned, unit="tasks")
        where = f"{n_workers} worker(s)" + (f" at {scheduler}" if scheduler else " (local cluster)")
        step(progress, f"campaign: {spec.name}: seeds {plan.seeds_text()} on {where}", watch=stats)
        _note(progress, stats, plan, t0, 0, dashboard, 0)
        ac = distributed.as_completed()
        pending: dict[Any, Task] = {}
        tasks = plan.tasks(uuid.uuid4().hex[:8])
        exhausted = False

        def spent() -> bool:
            if plan.budget_ops is not None and stats.ops >= plan.budget_ops:
                return True
            return plan.minutes is not None and time.monotonic() - t0 >= plan.minutes * 60

        def fill() -> None:
            nonlocal exhausted
            while not exhausted and len(pending) < 2 * n_workers + 1 and not spent():
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    return
                with events.lock:
                    events.keys.add(task.key)
                fut = client.submit(run_task, task, db, key=task.key, pure=False, retries=RETRIES)
                pending[fut] = task
                ac.add(fut)

        fill()
        try:
            for fut in ac:
                task = pending.pop(fut)
                out = None
                try:
                    out = fut.result()
                except Exception as exc:  # noqa: BLE001 - KilledWorker after too many deaths, or the task's own bug
                    failed.append(f"task {task.rung} seed {task.seed}: {type(exc).__name__}: {exc}")
                    stats.runs += 1
                else:
                    outcomes.append(out)
                    stats.runs += 1
                    stats.ops += out.ops + out.shrink_ops
                    for w in out.found:
                        stats.silent.setdefault(w.cls, time.monotonic() - t0)
                    if out.database_lost and db.kind == "redis":
                        notes.append(f"{out.database_lost} (task {task.rung} seed {task.seed}, {time.monotonic() - t0:.1f} s into the campaign); later tasks used it too")
                        db = DatabaseSpec("directory", db.fallback)
                    elif out.database_lost:
                        notes.append(f"{out.database_lost} (task {task.rung} seed {task.seed})")
                fut.release()
                if observer is not None:
                    observer(client, out)
                fill()
                stats.running = len(pending)
                _note(progress, stats, plan, t0, sum(max(0, n - 1) for n in events.starts.values()), dashboard, len(pending))
        except KeyboardInterrupt:
            interrupted = f"interrupted (Ctrl-C) after {stats.runs} task(s) of the campaign"
            client.cancel(list(pending) + list(side.values()), force=True)
            side = {}
        if interrupted is None:
            try:
                pieces, proofs = _gather_side(side)
                minimised, minimise_errors = _merged(client, plan, spec, outcomes, events, explicit, progress)
            except KeyboardInterrupt:
                interrupted = "interrupted (Ctrl-C) after the search, while gathering and minimising its findings"
                minimised = None
        with events.lock:
            reported = tuple(events.reported)
            retried = sum(max(0, n - 1) for n in events.starts.values())
    finally:
        try:
            client.close()
        finally:
            if cluster is not None:
                cluster.close()
    return CampaignOutcome(
        plan,
        tuple(outcomes),
        reported,
        retried,
        tuple(failed),
        time.monotonic() - t0,
        n_workers,
        dashboard,
        interrupted,
        dict(stats.silent),
        tuple(notes),
        db,
        pieces,
        proofs,
        minimised,
        tuple(minimise_errors),
    )


def _merged(client, plan: CampaignPlan, spec: Any, outcomes: list, events: _Events, explicit: Any, progress: Any) -> tuple[dict[str, Any], list[str]]:
    """Per class, the merged witness (see :func:`merge`), with the stored
    scenarios that still diverge, minimised on the cluster (one task per
    class) unless the plan says not to."""
    from iobus_verify.properties.run import _rung_rank, replay_explicit

    with events.lock:
        reported = list(events.reported)
    cands = merge(reported + [w for o in outcomes for w in o.found], spec.era)
    for f in replay_explicit(spec, explicit, None):
        cands.setdefault(f.cls, []).append(f)
    if not plan.minimise:
        return {c: min(cs, key=lambda f: (_rung_rank(condition_of(f.scenario, spec.era)), len(f.scenario["ops"]))) for c, cs in cands.items()}, []
    if progress:
        progress(f"campaign: {spec.name}: minimising {len(cands)} class(es) on the cluster")
    futs = {c: client.submit(_minimise_task, plan.bus, c, cs, pure=False, retries=RETRIES) for c, cs in cands.items()}
    out: dict[str, Any] = {}
    errors: list[str] = []
    for c, f in futs.items():
        try:
            out[c] = f.result()
        except Exception as exc:  # noqa: BLE001 - kept unminimised, said why
            errors.append(f"minimising {c}: {type(exc).__name__}: {exc}")
            out[c] = min(cands[c], key=lambda x: len(x.scenario["ops"]))
    return out, errors


def _gather_side(side: dict[str, Any]) -> tuple[tuple, tuple]:
    pieces: tuple = ()
    proofs: tuple = ()
    if "pieces" in side:
        pieces = tuple(side["pieces"].result())
    if "proofs" in side:
        try:
            proofs = side["proofs"].result()
        except Exception as exc:  # noqa: BLE001 - a crashed phase is recorded, as check records it
            proofs = ("error", 0.0, f"the proofs phase crashed: {type(exc).__name__}: {exc} (this is a bug in iobus-verify)", [])
    return pieces, proofs


def _note(progress: Any, stats: CampaignStats, plan: CampaignPlan, t0: float, retried: int, dashboard: str | None, running: int) -> None:
    """The campaign's part of the progress status: tasks running and left,
    operations per second, retries, the dashboard."""
    fn = getattr(progress, "note", None)
    if not callable(fn):
        return
    dt = max(time.monotonic() - t0, 1e-9)
    parts = [f"{running} running"]
    if plan.planned is not None:
        parts.append(f"{max(0, plan.planned - stats.runs - running)} queued")
    if plan.budget_ops is not None:
        parts.append(f"budget {min(100, math.floor(100 * stats.ops / plan.budget_ops))}% spent")
    if plan.minutes is not None:
        parts.append(f"{max(0.0, plan.minutes - dt / 60):.1f} min left")
    parts.append(f"{stats.ops / dt:,.0f} ops/s")
    if retried:
        parts.append(f"{retried} retried")
    if dashboard:
        parts.append(f"dashboard {dashboard}")
    fn(", ".join(parts))
