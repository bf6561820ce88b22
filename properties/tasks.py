"""A campaign task: one rung of one bus's search, at one seed, run where a worker is.

A :class:`Task` is (bus, rung of the condition ladder, seed): exactly the
surveys ``check`` runs for that rung and seed (the same plans, seeds and
budget, :func:`~iobus_verify.properties.run.survey_ladder`), then one
Hypothesis shrink per class they found
(:func:`~iobus_verify.properties.run.shrink_ladder`). Nothing here searches
on its own; it only names the piece of work, runs it, and returns what it
found as plain data (:class:`TaskOutcome`) that crosses processes and machines.

While it runs on a Dask worker a task reports as events (topics
:data:`START_TOPIC`, :data:`FOUND_TOPIC`): that it started (a second start of
one task is a retry, counted by the campaign), and each class as soon as a
survey has seen it, with the survey's unshrunk witness. A worker killed
while it shrinks therefore does not take the findings it reported with it.
Outside a worker (a benchmark, a test) the events are simply not sent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from iobus_verify.properties.database import DatabaseSpec, open_database

START_TOPIC = "iobus-verify-task-start"
FOUND_TOPIC = "iobus-verify-found"


@dataclass(frozen=True)
class Task:
    """One piece of a campaign. ``examples``: the whole ladder's runs per
    seed (None: the profile's budget); the task runs its rung's share."""

    bus: str
    rung: str
    seed: int
    profile: str = "ci"
    assume: str | None = None
    examples: int | None = None
    #: the campaign's id: two campaigns on one scheduler never share a task
    #: (nor each other's events)
    campaign: str = ""

    @property
    def key(self) -> str:
        """A Dask key naming the task (readable on the dashboard)."""
        safe = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in self.bus)
        return f"iobus-task-{self.campaign}-{safe}-{self.rung}-{self.seed}"


@dataclass(frozen=True)
class Witness:
    """A divergence as plain data: its class, the rung the task searched, the
    explanation and the scenario (shrunk, or the survey's own when
    ``shrunk`` is False)."""

    cls: str
    rung: str
    explanation: str
    scenario: dict[str, Any]
    shrunk: bool = True

    @property
    def ops(self) -> int:
        return len(self.scenario["ops"])


@dataclass(frozen=True)
class TaskOutcome:
    """What one task did. ``ops``: operations its surveys executed;
    ``shrink_ops`` those of its shrinking; ``first_seconds``: per class, the
    seconds into the task at which a survey first saw it; ``database_lost``:
    why the shared Redis database failed during the task, if it did."""

    task: Task
    found: tuple[Witness, ...]
    ops: int
    shrink_ops: int
    seconds: float
    coverage: dict[str, Any] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    first_seconds: dict[str, float] = field(default_factory=dict)
    database_lost: str | None = None
    #: per class, the operations the surveys executed up to its first sight
    #: (a class replayed from the shared database shows up within the first run)
    first_ops: dict[str, int] = field(default_factory=dict)
    #: CPU seconds of the task's thread: its work whatever else the machine runs
    cpu_seconds: float = 0.0


def _publish(topic: str, msg: Any) -> None:
    """An event to the campaign's client, when running on a Dask worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    worker.log_event(topic, msg)


def survey_witnesses(lo: Any, rung: str) -> list[Witness]:
    """The classes the surveys of ``lo`` saw, each with the first survey's
    unshrunk witness (fewest operations among the task's plans)."""
    best: dict[str, Witness] = {}
    for so in lo.surveys.values():
        seen = {c: v for c, v in so.stats.silent.items()}
        for c, d in so.found.items():  # ERROR raises even in a survey
            seen.setdefault(c, (d.explanation, d.scenario))
        for c, (why, scen) in seen.items():
            w = Witness(c, rung, why, scen, shrunk=False)
            if c not in best or w.ops < best[c].ops:
                best[c] = w
    return list(best.values())


def _quiet_foreign_random() -> None:
    """On a Dask worker, the worker's own threads use the ``random`` module
    while a search draws; Hypothesis sees the global state move and warns
    that a *strategy* used it, once per draw site: noise, not a finding."""
    import warnings

    from hypothesis.errors import HypothesisDeprecationWarning

    warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies", category=HypothesisDeprecationWarning)


def run_task(task: Task, database: DatabaseSpec | None = None) -> TaskOutcome:
    """Run one task (see the module docstring); the worker resolves the bus
    spec itself, so plugins loaded from files work wherever the file is."""
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.run import ladder_coverage, shrink_ladder, survey_ladder

    _publish(START_TOPIC, task.key)
    _quiet_foreign_random()
    t0, c0 = time.perf_counter(), time.thread_time()
    spec = resolve(task.bus)
    db = open_database(database)
    lo = survey_ladder(spec, profile=task.profile, seed=task.seed, database=db, examples=task.examples, assume=task.assume or "none", rungs=(task.rung,))
    if not lo.rungs:
        raise ValueError(f"no rung named {task.rung!r} in the condition ladder")
    first: dict[str, float] = {}
    first_ops: dict[str, int] = {}
    offset, offset_ops = 0.0, 0
    for so in lo.surveys.values():  # the surveys ran one after the other
        for c, s in so.stats.first_seconds.items():
            first.setdefault(c, offset + s)
            first_ops.setdefault(c, offset_ops + so.stats.first_ops[c])
        offset += so.seconds
        offset_ops += so.stats.ops
    for w in survey_witnesses(lo, task.rung):
        _publish(FOUND_TOPIC, json.dumps({"task": task.key, "cls": w.cls, "rung": w.rung, "explanation": w.explanation, "scenario": w.scenario}))
    lo = shrink_ladder(spec, lo)
    found = tuple(Witness(c, task.rung, d.explanation, d.scenario) for c, d in lo.found.items())
    return TaskOutcome(
        task,
        found,
        lo.ops,
        sum(s.shrink_ops for s in lo.surveys.values()),
        time.perf_counter() - t0,
        ladder_coverage(lo),
        tuple(f"{task.rung}, seed {task.seed}: {e}" for e in lo.errors),
        first,
        getattr(db, "lost", None),
        first_ops,
        time.thread_time() - c0,
    )


def reported_witness(msg: str) -> tuple[str, Witness]:
    """(task key, witness) of a :data:`FOUND_TOPIC` event."""
    d = json.loads(msg)
    return d["task"], Witness(d["cls"], d["rung"], d["explanation"], d["scenario"], shrunk=False)
