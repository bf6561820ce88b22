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

from iobus_verify.properties.constants import bus_source, pinned_constants
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
    #: the ladder rung every drawn scenario satisfies (None: unrestricted)
    condition: Any = None
    #: a cap on successful shrinks (machine-independent; see profiles.Budget)
    max_shrinks: int | None = None

    @property
    def key(self) -> str:
        return f"iobus-verify:{self.spec.spec}:{self.name}"

    def config(self, raising: frozenset[str]) -> MachineConfig:
        return MachineConfig(self.spec, capacity=self.capacity, op_timeout=self.op_timeout, raising=raising, condition=self.condition)


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
    found, error = _hypothesis_search(plan.config(frozenset()), stats, plan.seed, plan.examples, plan.steps, view, plan.key, plan.shrink_seconds, plan.max_shrinks)
    return SearchOutcome(plan.name, found, stats, time.perf_counter() - t0, plan.examples, error)


def shrink(plan: SearchPlan, so: SearchOutcome, classes: Any = None) -> SearchOutcome:
    """The second half of :func:`search`: for each class the survey ``so``
    found, the same seed again with only that class raising, in a database
    key of its own. Until its first divergence every run is the survey's
    (what came before behaved alike), so Hypothesis finds the class where the
    survey did and shrinks it. Should it not reproduce it, the survey's
    unshrunk scenario is kept. Returns ``so`` with ``found`` filled in."""
    t0 = time.perf_counter()
    found, error, ops = dict(so.found), so.error, 0
    for cls in [c for c in EXCEPTIONS if c in so.stats.silent and (classes is None or c in classes)]:
        one = SearchStats()
        got, err = _hypothesis_search(
            plan.config(frozenset({cls})), one, plan.seed, plan.examples, plan.steps, plan.database, f"{plan.key}:{cls}", plan.shrink_seconds, plan.max_shrinks
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
    max_shrinks: int | None = None,
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
    plan = SearchPlan(spec, name, seed, examples, steps, capacity, database, op_timeout, shrink_seconds, max_shrinks=max_shrinks)
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
    config: MachineConfig, stats: SearchStats, seed: Any, examples: int, steps: int, database: Any, key: str, shrink_seconds: float | None, max_shrinks: int | None = None
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
    if database is not None:
        # Hypothesis's @seed turns the example database off (a seed is for
        # reproducing, not learning); these searches are seeded *and* share a
        # database on purpose (campaigns, the thorough profile), so it is put back.
        test._hypothesis_internal_use_settings = settings(test._hypothesis_internal_use_settings, database=database)
    found: dict[str, Divergence] = {}
    error = None
    from hypothesis.internal.conjecture import engine

    saved, saved_shrinks = engine.MAX_SHRINKING_SECONDS, engine.MAX_SHRINKS
    if shrink_seconds is not None:
        engine.MAX_SHRINKING_SECONDS = shrink_seconds
    if max_shrinks is not None:
        engine.MAX_SHRINKS = max_shrinks
    try:
        with pinned_constants(bus_source(config.spec)):
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
        engine.MAX_SHRINKING_SECONDS, engine.MAX_SHRINKS = saved, saved_shrinks
    return found, error


#: How the budget is shared among the rungs of ``conditions.LADDER`` (strongest
#: first) when the bus declares no contract: the unrestricted rung keeps the
#: largest share (it reaches everything), the strong rungs enough to find a
#: lookup that is broken even there.
RUNG_WEIGHTS = (15, 15, 15, 25, 30)
#: With a contract, the share of the rungs outside it (their findings are
#: listed as outside the contract and do not gate).
OUTSIDE_SHARE = 10


@dataclass(frozen=True)
class Rung:
    """One rung of the search: its condition, whether it lies inside the bus's
    contract, and its two plans (own capacity, small capacity)."""

    condition: Any
    inside: bool
    plans: tuple[SearchPlan, ...]


def ladder(spec: Any, *, profile: str, seed: int, database: Any = None, examples: int | None = None, assume: Any = None) -> list[Rung]:
    """The plans of one bus's search: every rung of the ladder, the budget
    split by :data:`RUNG_WEIGHTS` (with a contract: 90 % to the rungs that
    imply it, :data:`OUTSIDE_SHARE` % to the others), each rung's share split
    2:1 between the bus's own capacity and a small one (full buses are cheap
    to reach there)."""
    from iobus_verify.model import conditions as C

    b = budget(profile)
    total = examples if examples is not None else b.machine_examples
    contract = C.parse(assume) if isinstance(assume, (str, type(None))) else assume
    inside = [C.implies(r, contract) for r in C.LADDER]
    if contract.atoms:
        n_in, n_out = sum(inside), len(inside) - sum(inside)
        shares = [(100 - OUTSIDE_SHARE) / n_in if i else OUTSIDE_SHARE / max(n_out, 1) for i in inside]
    else:
        shares = list(RUNG_WEIGHTS)
    out = []
    for rung, ok, share in zip(C.LADDER, inside, shares):
        n = max(2, round(total * share / 100))
        layout = [("full", None, max(1, (n * 2) // 3)), ("small-capacity", b.small_capacity, max(1, n // 3))]
        plans = tuple(
            SearchPlan(
                spec, f"{rung.name}:{name}", f"{seed}:{rung.name}:{name}", k, b.steps, cap, database, shrink_seconds=b.shrink_seconds, condition=rung, max_shrinks=b.max_shrinks
            )
            for name, cap, k in layout
        )
        out.append(Rung(rung, ok, plans))
    return out


@dataclass
class LadderOutcome:
    """The surveys of every rung, and per class the plan whose survey found it
    on the strongest rung (shrunk there)."""

    rungs: list[Rung]
    surveys: dict[str, SearchOutcome]  # plan name -> its survey (shrunk classes filled in)
    found: dict[str, Divergence] = field(default_factory=dict)  # cls -> its divergence on the strongest rung
    errors: list[str] = field(default_factory=list)

    @property
    def ops(self) -> int:
        """Operations the surveys executed (shrinking left out: how far it
        gets may depend on a time cap, and reports must not)."""
        return sum(s.stats.ops for s in self.surveys.values())

    @property
    def examples(self) -> int:
        return sum(s.examples for s in self.surveys.values())


def run_ladder(
    spec: Any,
    *,
    profile: str,
    seed: int,
    progress: Progress = None,
    database: Any = None,
    examples: int | None = None,
    assume: Any = None,
    rungs: Any = None,
) -> LadderOutcome:
    """Every rung's surveys (strongest rung first), then for each class one
    shrinking search on the strongest rung whose survey found it.
    ``rungs``: the names of the rungs to run (default all; a campaign task
    runs one, with the same plans, seeds and budget as here)."""
    return shrink_ladder(
        spec, survey_ladder(spec, profile=profile, seed=seed, progress=progress, database=database, examples=examples, assume=assume, rungs=rungs), progress
    )


def survey_ladder(
    spec: Any,
    *,
    profile: str,
    seed: int,
    progress: Progress = None,
    database: Any = None,
    examples: int | None = None,
    assume: Any = None,
    rungs: Any = None,
) -> LadderOutcome:
    """The first half of :func:`run_ladder`: every survey, nothing shrunk yet
    (what each found is in its ``stats.silent``)."""
    from iobus_verify.reports.progress import plan as plan_runs, step

    chosen = ladder(spec, profile=profile, seed=seed, database=database, examples=examples, assume=assume)
    if rungs is not None:
        chosen = [r for r in chosen if r.condition.name in set(rungs)]
    out = LadderOutcome(chosen, {})
    plan_runs(progress, sum(p.examples for r in chosen for p in r.plans))
    for rung in chosen:
        for plan in rung.plans:
            stats = SearchStats()  # read live by a progress bar: runs, ops, classes so far
            step(progress, f"properties: {spec.name}: {plan.name} ({plan.examples} runs of <= {plan.steps} ops, seed {seed})", watch=stats)
            out.surveys[plan.name] = survey(plan, stats)
    return out


def shrink_ladder(spec: Any, out: LadderOutcome, progress: Progress = None) -> LadderOutcome:
    """The second half of :func:`run_ladder`: each class the surveys of ``out``
    found, shrunk once on the strongest rung whose survey found it."""
    for cls in EXCEPTIONS:
        for rung in out.rungs:
            hits = [p for p in rung.plans if cls in out.surveys[p.name].stats.silent or cls in out.surveys[p.name].found]
            if not hits:
                continue
            plan = hits[0]
            so = out.surveys[plan.name]
            if cls not in so.found:
                if progress:
                    progress(f"properties: {spec.name}: shrinking {cls} ({plan.name})")
                so = shrink(plan, so, classes={cls})
                out.surveys[plan.name] = so
            out.found[cls] = so.found[cls]
            break
    for name, so in out.surveys.items():
        if so.error:
            out.errors.append(f"{name}: {so.error}")
    return out


def run_differential(
    spec: Any,
    *,
    profile: str,
    seed: int,
    progress: Progress = None,
    database: Any = None,
    examples: int | None = None,
    assume: Any = None,
) -> DifferentialOutcome:
    """The ladder's searches of one bus, merged per class (the strongest rung's
    finding): the form campaigns and benchmarks read."""
    lo = run_ladder(spec, profile=profile, seed=seed, progress=progress, database=database, examples=examples, assume=assume)
    out = DifferentialOutcome()
    out.searches = list(lo.surveys.values())
    out.errors = list(lo.errors)
    out.found = dict(lo.found)
    return out


def replay_class(spec: Any, scenario: dict[str, Any]) -> str | None:
    """The class of the first divergence when ``scenario`` is replayed on the
    reference and on ``spec`` with the VM's own replay, or ``None``."""
    from iobus_verify.properties.replaying import first_divergence_class

    return first_divergence_class(spec, scenario)


@dataclass(frozen=True)
class Found:
    """A divergence as plain data (picklable across campaign workers), with
    the condition rung its scenario satisfies (``None`` until evaluated)."""

    cls: str
    explanation: str
    scenario: dict[str, Any]
    condition: str | None = None

    @classmethod
    def of(cls, d: Divergence) -> "Found":
        return cls(d.cls, d.explanation, d.scenario)


def run_properties(
    spec: Any,
    *,
    profile: str,
    seed: int,
    out_dir: Path | None,
    progress: Progress = None,
    assume: str | None = None,
    explicit: Any = (),
) -> list[Result]:
    """The properties phase for one bus (see the module docstring).

    ``explicit``: stored scenarios (a baseline's) replayed first, as
    Hypothesis replays its explicit examples: one that reproduces is a
    witness of its class like any the search finds. ``assume``: the bus's
    contract (default: the spec's ``assumes``)."""
    from iobus_verify.model import conditions as C

    b = budget(profile)
    contract = C.parse(assume if assume is not None else getattr(spec, "assumes", None))
    t0 = time.perf_counter()
    stored = replay_explicit(spec, explicit, progress)
    lo = run_ladder(spec, profile=profile, seed=seed, progress=progress, database=_database(profile), assume=contract)
    found: dict[str, list[Found]] = {}
    for c, d in lo.found.items():
        found.setdefault(c, []).append(Found.of(d))
    for f in stored:
        found.setdefault(f.cls, []).append(f)
    best = minimise_found(spec, found, progress)
    seconds = time.perf_counter() - t0
    detail = (
        f"profile {profile}, seed {seed}: {lo.examples} runs of <= {b.steps} ops ({lo.ops} ops executed) over "
        f"{len(lo.rungs)} condition rungs, at full and small ({b.small_capacity}) capacity"
        + (f"; contract {contract.name}" if contract.atoms else "")
        + (f"; {len(stored)} stored scenario(s) reproduced first" if stored else "")
    )
    if not getattr(spec, "accepts_alloc", True):
        detail += "; allocation-failure paths not checked: the factory takes no alloc hook"
    results = differential_results(spec, best, seconds, detail, lo.errors, coverage=ladder_coverage(lo), contract=contract)
    results += _piece_results(spec, b.piece_examples, seed, progress)
    if out_dir is not None:
        write_findings(results, Path(out_dir))
    return results


def replay_explicit(spec: Any, scenarios: Any, progress: Progress = None) -> list[Found]:
    """The stored scenarios that still reproduce a divergence on ``spec``."""
    from iobus_verify.properties.replaying import first_divergence

    out = []
    for scen in scenarios or ():
        try:
            got = first_divergence(spec, scen)
        except Exception:  # noqa: BLE001 - a stored scenario the VM rejects reproduces nothing
            got = None
        if got is not None and got[0] != "ERROR":
            out.append(Found(got[0], got[1] + " (a stored scenario, replayed first)", scen))
    if progress and scenarios:
        progress(f"properties: {spec.name}: {len(out)} of {len(scenarios)} stored scenario(s) reproduce")
    return out


def ladder_coverage(lo: LadderOutcome) -> dict[str, Any]:
    """What the surveys exercised, in all and per rung (shrinking searches are
    left out: their length depends on a time cap, the surveys' on the seed)."""
    from iobus_verify.properties.machine import COVERAGE_KEYS

    total = dict.fromkeys(COVERAGE_KEYS, 0)
    by: dict[str, dict[str, Any]] = {}
    for rung in lo.rungs:
        row = dict.fromkeys(COVERAGE_KEYS, 0)
        for plan in rung.plans:
            for k, v in lo.surveys[plan.name].stats.coverage.items():
                row[k] += v
                total[k] += v
        row["runs"] = sum(p.examples for p in rung.plans)
        row["inside_contract"] = rung.inside
        row["classes"] = sorted({c for p in rung.plans for c in list(lo.surveys[p.name].stats.silent) + list(lo.surveys[p.name].found)})
        by[rung.condition.name] = row
    total["by_condition"] = by
    total["stopped_by_error"] = any("ERROR" in so.found for so in lo.surveys.values())
    total["has_ranges"] = all(so.stats.has_ranges for so in lo.surveys.values()) if lo.surveys else False
    return total


def _rung_rank(name: str | None) -> int:
    from iobus_verify.model import conditions as C

    names = [r.name for r in C.LADDER]
    return names.index(name) if name in names else len(names)


def minimise_found(spec: Any, found: dict[str, Any], progress: Progress = None) -> dict[str, "Found"]:
    """Per class, the best witness: each candidate (the search's, the stored
    ones) reduced to a minimal scenario of the same class on a rung at least
    as strong (:mod:`iobus_verify.properties.minimise`), its condition the
    strongest rung it satisfies, its explanation re-derived from the replay
    of the minimal scenario; then the strongest condition wins, then the
    fewest operations. ERROR findings (a plugin that raised or hung) are kept
    as found: replaying them again and again would mean waiting out the hang
    each time."""
    from iobus_verify.model import conditions as C
    from iobus_verify.properties.minimise import minimise
    from iobus_verify.properties.replaying import first_divergence
    from iobus_verify.properties.strengthen import strengthen

    out = {}
    for cls, cands in found.items():
        cands = cands if isinstance(cands, list) else [cands]
        done = []
        for f in cands:
            if cls == "ERROR" or first_divergence_class_safe(spec, f.scenario) != cls:
                done.append(f)  # left to differential_results, which reports a non-replaying one
                continue
            rank = _rung_rank(C.rung_of(f.scenario, spec.era).name)
            if progress:
                progress(f"properties: {spec.name}: minimising the {cls} scenario ({len(f.scenario['ops'])} ops)")

            def keeps(s, c=cls, r=rank):
                return first_divergence_class_safe(spec, s) == c and _rung_rank(_rung_name_safe(s, spec.era)) <= r

            small, replays = minimise(f.scenario, keeps)
            # The same class under a stronger condition? (the seed must not decide it)
            stronger = strengthen(small, _rung_rank(C.rung_of(small, spec.era).name), spec.era, lambda s, c=cls: first_divergence_class_safe(spec, s) == c)
            if stronger is not None:
                small, _ = minimise(stronger[0], lambda s, c=cls, r=stronger[1]: keeps(s, c, r))
            again = first_divergence(spec, small)
            why = again[1] if again else f.explanation
            n0, n1 = len(f.scenario["ops"]), len(small["ops"])
            note = f" (minimised from {n0} to {n1} operations)" if n1 < n0 else ""
            done.append(Found(cls, why + note, small, C.rung_of(small, spec.era).name))
        out[cls] = min(done, key=lambda f: (_rung_rank(f.condition), len(f.scenario["ops"]), json.dumps(f.scenario, sort_keys=True)))
    return out


def _rung_name_safe(scenario: dict[str, Any], era: str | None = None) -> str | None:
    from iobus_verify.model import conditions as C

    try:
        return C.rung_of(scenario, era).name
    except Exception:  # noqa: BLE001 - a scenario the VM rejects has no rung
        return None


def first_divergence_class_safe(spec: Any, scenario: dict[str, Any]) -> str | None:
    """:func:`replay_class`, with a scenario the VM rejects counting as no divergence."""
    from iobus_verify.errors import UsageError

    try:
        return replay_class(spec, scenario)
    except UsageError:
        return None


def differential_results(
    spec: Any, found: dict[str, Found], seconds: float, detail: str, errors: list[str], *, coverage: dict[str, Any] | None = None, contract: Any = None
) -> list[Result]:
    """One Result per class and invariant (each finding replayed first), plus an
    error result when a search itself failed."""
    results = [_result(spec, f"differential.{c}", c, found, seconds, detail, coverage, contract) for c in CLASSES]
    results += [_result(spec, f"property.invariant.{i}", f"invariant.{i}", found, seconds, detail, coverage, contract) for i in INVARIANTS]
    if errors:
        results.append(
            Result("differential.search", "property", "error", seconds, Finding("ERROR", "the search itself failed: " + "; ".join(errors)), detail)
        )
    return results


def _class_coverage(coverage: dict[str, Any] | None, cls: str, condition: str | None) -> dict[str, Any] | None:
    """The coverage record of one class: the counts, and per rung whether the
    class diverged there (a rung's own search found it, or the witness's
    condition is that rung)."""
    if coverage is None:
        return None
    out = {k: v for k, v in coverage.items() if k != "by_condition"}
    out["by_condition"] = {
        name: {**{k: v for k, v in row.items() if k != "classes"}, "diverged": cls in row.get("classes", ()) or name == condition}
        for name, row in coverage.get("by_condition", {}).items()
    }
    return out


def _unexercised(cls: str, coverage: dict[str, Any] | None) -> str | None:
    """Why "no divergence found" would mean nothing for ``cls``, or None."""
    from iobus_verify.properties.machine import PRECONDITIONS

    if coverage is None:
        return None
    if cls != "ERROR" and coverage.get("stopped_by_error"):
        return "the search stopped at the bus's ERROR before spending its budget, so this class was not searched"
    if cls.startswith("invariant."):
        if not coverage.get("has_ranges"):
            return "the bus exposes no ranges(), so its array invariants were not checked"
        key, why = PRECONDITIONS["REGISTRATION"]
    else:
        key, why = PRECONDITIONS[cls]
    return why if not coverage.get(key) else None


def _result(spec, rid: str, cls: str, found: dict[str, Found], seconds: float, detail: str, coverage=None, contract=None) -> Result:
    from iobus_verify.model import conditions as C

    d = found.get(cls)
    if d is None:
        cov = _class_coverage(coverage, cls, None)
        why = _unexercised(cls, coverage)
        if why is not None:
            return Result(rid, "property", "unknown", seconds, None, f"not exercised: {why}; {detail}", coverage=cov)
        return Result(rid, "property", "pass", seconds, None, f"no {cls} divergence found; {detail}", coverage=cov)
    scenario = d.scenario
    finding_cls = cls if not cls.startswith("invariant.") else "REGISTRATION"
    condition = d.condition
    if condition is None and cls != "ERROR":
        condition = _rung_name_safe(scenario, getattr(spec, "era", None))
    cov = _class_coverage(coverage, cls, condition)
    outside = bool(contract is not None and contract.atoms and condition is not None and not C.implies(C.parse(condition), contract))
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
            Finding(finding_cls, f"{explanation}; but replaying the scenario gives {again!r}", scenario, condition=condition),
            detail,
            coverage=cov,
        )
    status = "error" if cls == "ERROR" else "fail"
    return Result(rid, "property", status, seconds, Finding(finding_cls, explanation, scenario, condition=condition, outside_contract=outside), detail, coverage=cov)


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
    from iobus_verify.properties.database import default_database

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
