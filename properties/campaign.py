"""Campaigns: independent seeds on all cores, findings merged, one shared example database.

``run_campaign(spec, profile=..., seeds=range(8), workers=4)`` runs
:func:`~iobus_verify.properties.run.run_differential` once per seed in a
:mod:`multiprocessing` pool (each worker resolves the bus spec itself, so
plugins loaded from files work) and merges the findings: per class, the
scenario with the fewest operations wins. Nothing here searches: each worker is
an ordinary Hypothesis search; the scale-out is Hypothesis's own example
database, shared by every worker:

* by default a :class:`~hypothesis.database.DirectoryBasedExampleDatabase`
  at ``$IOBUS_VERIFY_DB`` (default ``.hypothesis/iobus-verify``): every failing
  run a worker saves is replayed first by the next search of the same bus
  (same key: bus spec and search name), in this or a later campaign;
* for workers on several machines, set ``IOBUS_VERIFY_REDIS=redis://host:port/db``
  to use Hypothesis's :class:`~hypothesis.extra.redis.RedisExampleDatabase`
  (needs ``pip install redis``); each machine runs its own campaign with
  different seeds, and they share what they find.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from iobus_verify.errors import UsageError

DB_ENV = "IOBUS_VERIFY_DB"
REDIS_ENV = "IOBUS_VERIFY_REDIS"


def default_database():
    """The shared example database (see the module docstring)."""
    url = os.environ.get(REDIS_ENV)
    if url:
        try:
            import redis  # noqa: F401
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError:
            raise UsageError(f"{REDIS_ENV} is set but the redis package is missing: pip install redis") from None
        import redis as _redis

        return RedisExampleDatabase(_redis.Redis.from_url(url), key_prefix=b"iobus-verify:")
    from hypothesis.database import DirectoryBasedExampleDatabase

    return DirectoryBasedExampleDatabase(os.environ.get(DB_ENV, ".hypothesis/iobus-verify"))


@dataclass(frozen=True)
class SeedOutcome:
    """What one worker's seed found (plain data: it crosses processes)."""

    seed: int
    found: dict[str, Any]  # cls -> run.Found
    ops: int
    seconds: float
    first_ops: dict[str, int]
    first_seconds: dict[str, float]
    errors: tuple[str, ...]


@dataclass
class CampaignOutcome:
    seeds: list[SeedOutcome] = field(default_factory=list)
    results: list = field(default_factory=list)
    seconds: float = 0.0


def _one_seed(args) -> SeedOutcome:
    spec_str, profile, seed, use_db, examples = args
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.run import Found, run_differential

    spec = resolve(spec_str)
    t0 = time.perf_counter()
    diff = run_differential(spec, profile=profile, seed=seed, database=default_database() if use_db else None, examples=examples)
    first_ops: dict[str, int] = {}
    first_seconds: dict[str, float] = {}
    offset_ops, offset_s = 0, 0.0
    for s in diff.searches:  # the surveys ran one after the other, before any shrinking
        for c, n in s.stats.first_ops.items():
            first_ops.setdefault(c, offset_ops + n)
            first_seconds.setdefault(c, offset_s + s.stats.first_seconds[c])
        offset_ops += s.stats.ops
        offset_s += s.seconds
    return SeedOutcome(
        seed,
        {c: Found.of(d) for c, d in diff.found.items()},
        diff.ops,
        time.perf_counter() - t0,
        first_ops,
        first_seconds,
        tuple(diff.errors),
    )


def run_seeds(
    spec_str: str, *, profile: str, seeds: Iterable[int], workers: int, use_database: bool = True, examples: int | None = None
) -> list[SeedOutcome]:
    """Each seed's differential searches, ``workers`` at a time."""
    jobs = [(spec_str, profile, s, use_database, examples) for s in seeds]
    if workers <= 1:
        return [_one_seed(j) for j in jobs]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers) as pool:
        return list(pool.imap(_one_seed, jobs))


def run_campaign(
    spec: Any, *, profile: str, seeds: Iterable[int], workers: int, out_dir: Path | None = None, use_database: bool = True
) -> CampaignOutcome:
    """A campaign over ``seeds`` on ``workers`` processes; Results as run_properties gives
    (the differential ones; the piece properties run once, in this process)."""
    from iobus_verify.properties.profiles import budget
    from iobus_verify.properties.run import _piece_results, differential_results, write_findings

    if workers < 1:
        raise UsageError(f"--workers {workers}: give at least 1")
    seeds = list(seeds)
    t0 = time.perf_counter()
    outs = run_seeds(spec.spec, profile=profile, seeds=seeds, workers=workers, use_database=use_database)
    merged: dict[str, Any] = {}
    for o in outs:
        for c, f in o.found.items():
            if c not in merged or len(f.scenario["ops"]) < len(merged[c].scenario["ops"]):
                merged[c] = f
    seconds = time.perf_counter() - t0
    detail = f"profile {profile}, campaign of seeds {seeds} on {workers} workers: {sum(o.ops for o in outs)} ops executed"
    errors = [f"seed {o.seed}: {e}" for o in outs for e in o.errors]
    results = differential_results(spec, merged, seconds, detail, errors)
    results += _piece_results(spec, budget(profile).piece_examples, seeds[0] if seeds else 0, None)
    if out_dir is not None:
        write_findings(results, Path(out_dir))
    return CampaignOutcome(outs, results, seconds)
