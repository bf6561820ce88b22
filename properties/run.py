"""The properties phase: differential searches and piece properties for one bus.

:func:`run_properties` is what ``iobus-verify check`` calls. For a bus it runs

1. the differential machine (:mod:`iobus_verify.properties.machine`) twice,
   once at the bus's own capacity and once at a small capacity (so that full
   buses are cheap to reach), each as one seeded :func:`search`: a
   :func:`survey` of the whole budget with every class silent (what the seed
   finds), then (:func:`shrink`) one Hypothesis search per class found, in
   which that class alone raises its exception type, so Hypothesis shrinks
   one failing run per class. Both surveys run before any shrinking;
2. for a bus with a known comparator (``seed-2011``, ``upstream``, ``fixed``)
   the piece properties of :mod:`iobus_verify.properties.pieces`.

It returns one :class:`~iobus_verify.reports.records.Result` per divergence
class (``differential.<CLASS>``), per machine invariant
(``property.invariant.<name>``) and per piece property. Every shrunk scenario
is replayed through the VM's own replay before it is reported; one that does
not reproduce its class is reported as an ``error`` result, never as a pass.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hseed
from hypothesis.database import ExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.stateful import get_state_machine_test

from iobus_verify.properties.machine import CLASSES, EXCEPTIONS, INVARIANTS, Divergence, MachineConfig, SearchStats, machine_for
from iobus_verify.properties.profiles import budget
from iobus_verify.reports.records import Finding, Result

Progress = Callable[[str], None] | None


@dataclass
class SearchOutcome:
    """What one :func:`search` of the machine found.

    ``stats`` and ``seconds`` are the survey's (what the seed found, and how
    soon); ``shrink_ops`` and ``shrink_seconds`` what the per-class searches
    that shrink the findings cost on top.
    """

    name: str
    found: dict[str, Divergence]
    stats: SearchStats
    seconds: float
    examples: int
    error: str | None = None
    shrink_ops: int = 0
    shrink_seconds: float = 0.0


@dataclass
class DifferentialOutcome:
    """The merged outcome of the searches of one bus."""

    found: dict[str, Divergence] = field(default_factory=dict)
    searches: list[SearchOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ops(self) -> int:
        """Operations executed in all, surveys and shrinking."""
        return sum(s.stats.ops + s.shrink_ops for s in self.searches)


def _leaves(exc: BaseException):
    if isinstance(exc, BaseExceptionGroup):
        for e in exc.exceptions:
            yield from _leaves(e)
    else:
        yield exc


@dataclass(frozen=True)
class SearchPlan:
    """One seeded search of the differential machine: its name (also its
    example-database key), seed, budget and bus capacity."""

    spec: Any
    name: str
    seed: Any
    examples: int
    steps: int
    capacity: int | None = None
    database: Any = None
    op_timeout: float = 5.0
    shrink_seconds: float | None = None

    @property
    def key(self) -> str:
        return f"iobus-verify:{self.spec.spec}:{self.name}"

    def config(self, raising: frozenset[str]) -> MachineConfig:
        return MachineConfig(self.spec, capacity=self.capacity, op_timeout=self.op_timeout, raising=raising)


def survey(plan: SearchPlan, stats: SearchStats | None = None) -> SearchOutcome:
    """The survey of :func:`search`: the whole budget with every class silent.

    Nothing fails, so Hypothesis neither stops early nor shrinks, and the
    classes found (each run's first divergence, kept unshrunk in
    ``stats.silent``) depend on the seed and the budget alone, not on the
    machine's speed. ``ERROR`` (a bus that raised or hung) raises even here
    and ends the survey: a broken bus is not driven through the rest of the
    budget, a hang not waited out in every run.
    """
    stats = stats or SearchStats()
    t0 = time.perf_counter()
    view = None if plan.database is None else _SurveyView(plan.database, plan.key)
    found, error = _hypothesis_search(plan.config(frozenset()), stats, plan.seed, plan.examples, plan.steps, view, plan.key, plan.shrink_seconds)
    return SearchOutcome(plan.name, found, stats, time.perf_counter() - t0, plan.examples, error)


def shrink(plan: SearchPlan, so: SearchOutcome) -> SearchOutcome:
    """The second half of :func:`search`: for each class the survey ``so``
    found, the same seed again with only that class raising, in a database
    key of its own. Until its first divergence every run is the survey's
    (what came before behaved alike), so Hypothesis finds the class where the
    survey did and shrinks it. Should it not reproduce it, the survey's
    unshrunk scenario is kept. Returns ``so`` with ``found`` filled in."""
    t0 = time.perf_counter()
    found, error, ops = dict(so.found), so.error, 0
    for cls in [c for c in EXCEPTIONS if c in so.stats.silent]:
        one = SearchStats()
        got, err = _hypothesis_search(
            plan.config(frozenset({cls})), one, plan.seed, plan.examples, plan.steps, plan.database, f"{plan.key}:{cls}", plan.shrink_seconds
        )
        ops += one.ops
        error = error or err
        if cls in got:
            found[cls] = got[cls]
        else:
            explanation, scenario = so.stats.silent[cls]
            found[cls] = EXCEPTIONS[cls](explanation, scenario, len(scenario["ops"]) - 1)
    return replace(so, found=found, error=error, shrink_ops=so.shrink_ops + ops, shrink_seconds=so.shrink_seconds + time.perf_counter() - t0)


def search(
    spec: Any,
    *,
    name: str,
    seed: Any,
    examples: int,
    steps: int,
    capacity: int | None = None,
    database: Any = None,
    op_timeout: float = 5.0,
    stats: SearchStats | None = None,
    shrink_seconds: float | None = None,
) -> SearchOutcome:
    """One seeded search of the differential machine: a :func:`survey`, then
    one shrinking search per class found (:func:`shrink`).

    (With every class raising at once, Hypothesis stops generating soon after
    its first bug, and other classes turn up, or not, while it shrinks within
    a time cap: which classes a seed found would depend on machine speed.)

    ``shrink_seconds`` caps each shrink (the engine's ``MAX_SHRINKING_SECONDS``,
    300 s by default, restored afterwards): a capped shrink still yields a
    failing, replayable scenario, only perhaps not the least (the deterministic
    minimiser reduces it further).
    """
    plan = SearchPlan(spec, name, seed, examples, steps, capacity, database, op_timeout, shrink_seconds)
    return shrink(plan, survey(plan, stats))


class _SurveyView(ExampleDatabase):
    """What the survey sees of the example database: every class's saved
    failures, read-only (replayed silently, they must not be deleted as
    "no longer failing")."""

    def __init__(self, db: ExampleDatabase, key: str) -> None:
        super().__init__()
        self._db, self._prefix = db, key

    def fetch(self, key: bytes):
        if key != self._prefix.encode():  # Hypothesis's secondary and pareto keys
            return
        for cls in EXCEPTIONS:
            yield from self._db.fetch(f"{self._prefix}:{cls}".encode())

    def save(self, key: bytes, value: bytes) -> None:
        pass

    def delete(self, key: bytes, value: bytes) -> None:
        pass


def _hypothesis_search(
    config: MachineConfig, stats: SearchStats, seed: Any, examples: int, steps: int, database: Any, key: str, shrink_seconds: float | None
) -> tuple[dict[str, Divergence], str | None]:
    """One Hypothesis run of the machine: the raised divergences by class (the
    fewest operations per class), and the text of any other failure."""
    machine = machine_for(config, stats)
    s = settings(
        max_examples=examples,
        stateful_step_count=steps,
        # one class raises: stop generating at its first failure and shrink it
        report_multiple_bugs=False,
        database=database,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        # no explain phase: it re-runs every failure many times to annotate a
        # traceback nobody reads here
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
        print_blob=False,
        verbosity=Verbosity.quiet,
    )
    test = get_state_machine_test(machine, settings=s)
    # One database key per bus, search and class, not per function (they share one).
    test._hypothesis_internal_database_key = key.encode()
    test = hseed(seed)(test)
    found: dict[str, Divergence] = {}
    error = None
    from hypothesis.internal.conjecture import engine

    saved = engine.MAX_SHRINKING_SECONDS
    if shrink_seconds is not None:
        engine.MAX_SHRINKING_SECONDS = shrink_seconds
    try:
        test()
    except BaseException as exc:  # noqa: BLE001 - sorted out below
        if isinstance(exc, KeyboardInterrupt):
            raise
        for leaf in _leaves(exc):
            if isinstance(leaf, Divergence):
                prev = found.get(leaf.cls)
                if prev is None or len(leaf.scenario["ops"]) < len(prev.scenario["ops"]):
                    found[leaf.cls] = leaf
            elif isinstance(leaf, KeyboardInterrupt):
                raise leaf
            else:
                error = f"{type(leaf).__name__}: {leaf}"
    finally:
        engine.MAX_SHRINKING_SECONDS = saved
    return found, error


def run_differential(
    spec: Any,
    *,
    profile: str,
    seed: int,
    progress: Progress = None,
    database: Any = None,
    examples: int | None = None,
) -> DifferentialOutcome:
    """Both searches of one bus (own capacity, small capacity), merged per class:
    the finding with the fewest operations wins."""
    b = budget(profile)
    total = examples if examples is not None else b.machine_examples
    layout = [("full", None, max(1, (total * 2) // 3)), ("small-capacity", b.small_capacity, max(1, total // 3))]
    plans = [
        SearchPlan(spec, name, f"{seed}:{name}", n, b.steps, cap, database, shrink_seconds=b.shrink_seconds) for name, cap, n in layout
    ]
    out = DifferentialOutcome()
    # Every survey before any shrinking: what the seed finds is known as soon
    # as possible, and the figures to a first divergence count discovery alone.
    surveys = []
    for plan in plans:
        if progress:
            progress(f"properties: {spec.name}: differential machine, {plan.name} ({plan.examples} runs of <= {plan.steps} ops, seed {seed})")
        surveys.append(survey(plan))
    for plan, so in zip(plans, surveys):
        if so.stats.silent and progress:
            progress(f"properties: {spec.name}: shrinking {', '.join(c for c in EXCEPTIONS if c in so.stats.silent)} ({plan.name})")
        so = shrink(plan, so)
        out.searches.append(so)
        if so.error:
            out.errors.append(f"{plan.name}: {so.error}")
        for cls, d in so.found.items():
            prev = out.found.get(cls)
            if prev is None or len(d.scenario["ops"]) < len(prev.scenario["ops"]):
                out.found[cls] = d
    return out


def replay_class(spec: Any, scenario: dict[str, Any]) -> str | None:
    """The class of the first divergence when ``scenario`` is replayed on the
    reference and on ``spec`` with the VM's own replay, or ``None``."""
    from iobus_verify.properties.replaying import first_divergence_class

    return first_divergence_class(spec, scenario)


@dataclass(frozen=True)
class Found:
    """A divergence as plain data (picklable across campaign workers)."""

    cls: str
    explanation: str
    scenario: dict[str, Any]

    @classmethod
    def of(cls, d: Divergence) -> "Found":
        return cls(d.cls, d.explanation, d.scenario)


def run_properties(spec: Any, *, profile: str, seed: int, out_dir: Path | None, progress: Progress = None) -> list[Result]:
    """The properties phase for one bus (see the module docstring)."""
    b = budget(profile)
    t0 = time.perf_counter()
    diff = run_differential(spec, profile=profile, seed=seed, progress=progress, database=_database(profile))
    seconds = time.perf_counter() - t0
    detail = (
        f"profile {profile}, seed {seed}: {sum(s.examples for s in diff.searches)} runs of <= {b.steps} ops "
        f"({diff.ops} ops executed) at full and small ({b.small_capacity}) capacity"
    )
    found = {c: Found.of(d) for c, d in diff.found.items()}
    found = minimise_found(spec, found, progress)
    seconds = time.perf_counter() - t0
    results = differential_results(spec, found, seconds, detail, diff.errors)
    results += _piece_results(spec, b.piece_examples, seed, progress)
    if out_dir is not None:
        write_findings(results, Path(out_dir))
    return results


def minimise_found(spec: Any, found: dict[str, "Found"], progress: Progress = None) -> dict[str, "Found"]:
    """Each finding reduced to a minimal scenario of the same class
    (:mod:`iobus_verify.properties.minimise`), with its explanation re-derived
    from the replay of the minimal scenario. ERROR findings (a plugin that
    raised or hung) are kept as found: replaying them again and again would
    mean waiting out the hang each time."""
    from iobus_verify.properties.minimise import minimise
    from iobus_verify.properties.replaying import first_divergence

    out = {}
    for cls, f in found.items():
        if cls == "ERROR" or first_divergence_class_safe(spec, f.scenario) != cls:
            out[cls] = f  # left to differential_results, which reports a non-replaying one
            continue
        if progress:
            progress(f"properties: {spec.name}: minimising the {cls} scenario ({len(f.scenario['ops'])} ops)")
        small, replays = minimise(f.scenario, lambda s, c=cls: first_divergence_class_safe(spec, s) == c)
        again = first_divergence(spec, small)
        why = again[1] if again else f.explanation
        note = f" (minimised from {len(f.scenario['ops'])} to {len(small['ops'])} ops in {replays} replays)"
        out[cls] = Found(cls, why + note, small)
    return out


def first_divergence_class_safe(spec: Any, scenario: dict[str, Any]) -> str | None:
    """:func:`replay_class`, with a scenario the VM rejects counting as no divergence."""
    from iobus_verify.errors import UsageError

    try:
        return replay_class(spec, scenario)
    except UsageError:
        return None


def differential_results(spec: Any, found: dict[str, Found], seconds: float, detail: str, errors: list[str]) -> list[Result]:
    """One Result per class and invariant (each finding replayed first), plus an
    error result when a search itself failed."""
    results = [_result(spec, f"differential.{c}", c, found, seconds, detail) for c in CLASSES]
    results += [_result(spec, f"property.invariant.{i}", f"invariant.{i}", found, seconds, detail) for i in INVARIANTS]
    if errors:
        results.append(
            Result("differential.search", "property", "error", seconds, Finding("ERROR", "the search itself failed: " + "; ".join(errors)), detail)
        )
    return results


def _result(spec, rid: str, cls: str, found: dict[str, Found], seconds: float, detail: str) -> Result:
    d = found.get(cls)
    if d is None:
        return Result(rid, "property", "pass", seconds, None, f"no {cls} divergence found; {detail}")
    scenario = d.scenario
    finding_cls = cls if not cls.startswith("invariant.") else "REGISTRATION"
    try:
        again = replay_class(spec, scenario)
    except Exception as exc:  # noqa: BLE001 - a replay that crashes is reported, never hidden
        again = f"replay raised {type(exc).__name__}: {exc}"
    explanation = d.explanation
    if cls.startswith("invariant."):
        ok = isinstance(again, str) and again in CLASSES or again == cls
    else:
        ok = again == cls
    if not ok:
        return Result(
            rid,
            "property",
            "error",
            seconds,
            Finding(finding_cls, f"{explanation}; but replaying the scenario gives {again!r}", scenario),
            detail,
        )
    status = "error" if cls == "ERROR" else "fail"
    return Result(rid, "property", status, seconds, Finding(finding_cls, explanation, scenario), detail)


def _piece_results(spec, examples: int, seed: int, progress: Progress) -> list[Result]:
    from iobus_verify.properties.pieces import ORDERS, check_pieces

    if spec.name not in ORDERS or getattr(spec, "kind", "variant") == "plugin":
        return []
    if progress:
        progress(f"properties: {spec.name}: comparator laws, sort and bsearch ({examples} examples each)")
    out = []
    for o in check_pieces(spec.name, max_examples=examples, seed=seed):
        if o.holds:
            out.append(Result(o.id, "property", "pass", o.seconds, None, o.detail))
        else:
            ce = None if o.counterexample is None else tuple({"addr": a, "len": n} for a, n in o.counterexample)
            out.append(Result(o.id, "property", "fail", o.seconds, Finding("refuted", o.explanation, None, ce), o.detail))
    return out


def _database(profile: str):
    """The example database of a profile: none for dev/ci (reruns agree), the
    shared directory database for thorough."""
    if not budget(profile).use_database:
        return None
    from iobus_verify.properties.campaign import default_database

    return default_database()


def write_findings(results: list[Result], out_dir: Path) -> list[Path]:
    """Write each finding's scenario as ``<id>.<class>.json`` (iobus-scenario/1)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in results:
        if r.finding is not None and r.finding.scenario is not None:
            p = out_dir / f"{r.id}.{r.finding.cls}.json"
            p.write_text(json.dumps(r.finding.scenario, indent=2) + "\n")
            paths.append(p)
    return paths
