"""Benchmark of the differential machine: how fast does it find each class?

    python -m iobus_verify.properties.bench_properties [--buses seed-2011 upstream]
        [--seeds 20] [--profile ci]

For each bus, over ``--seeds`` independent seeds (one search each, no example
database, so seeds do not help each other), prints per divergence class: the
detection rate, and the median wall time and the median number of executed
operations to the first divergence of that class (and of each machine
invariant), counted over the surveys, which run first (full capacity, then
small capacity) and do not shrink; then steps per second, shrinking included.
Campaigns on several workers are measured by
:mod:`iobus_verify.properties.bench_campaign`.

Targets (issue 5) on ``seed-2011``: median <= 1,000 operations to the first
MISSED and to the first REORDERED, and <= 1 s in process. A figure, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from iobus_verify.properties.machine import CLASSES, INVARIANTS


@dataclass(frozen=True)
class SeedOutcome:
    """One seed's search: operations (surveys and shrinking), seconds, and per
    class the operations and seconds into the surveys at which it was first seen."""

    seed: int
    ops: int
    seconds: float
    first_ops: dict[str, int]
    first_seconds: dict[str, float]


def seed_outcome(bus: str, *, profile: str, seed: int, examples: int | None = None) -> SeedOutcome:
    """``check``'s search of ``bus`` at one seed, without an example database."""
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.run import run_differential

    t0 = time.perf_counter()
    diff = run_differential(resolve(bus), profile=profile, seed=seed, database=None, examples=examples)
    first_ops: dict[str, int] = {}
    first_seconds: dict[str, float] = {}
    offset_ops, offset_s = 0, 0.0
    for s in diff.searches:  # the surveys ran one after the other, before any shrinking
        for c, n in s.stats.first_ops.items():
            first_ops.setdefault(c, offset_ops + n)
            first_seconds.setdefault(c, offset_s + s.stats.first_seconds[c])
        offset_ops += s.stats.ops
        offset_s += s.seconds
    return SeedOutcome(seed, diff.ops, time.perf_counter() - t0, first_ops, first_seconds)


def _median(xs):
    return statistics.median(xs) if xs else None


def bench(bus: str, *, seeds: int, profile: str, examples: int | None) -> list[str]:
    lines = [f"## {bus}: {seeds} seeds, profile {profile}" + (f", {examples} runs per seed" if examples else "")]
    t0 = time.perf_counter()
    outs = [seed_outcome(bus, profile=profile, seed=s, examples=examples) for s in range(seeds)]
    serial = time.perf_counter() - t0
    ops = sum(o.ops for o in outs)
    lines.append(f"{'class':<26}{'detected':>10}{'median ops':>12}{'median s':>10}{'max ops':>9}")
    for c in list(CLASSES) + [f"invariant.{i}" for i in INVARIANTS]:
        hit = [o for o in outs if c in o.first_ops]
        if not hit:
            if c.startswith("invariant."):
                continue  # listed only when some seed broke it
            lines.append(f"{c:<26}{'0/' + str(seeds):>10}{'-':>12}{'-':>10}{'-':>9}")
            continue
        mops = _median([o.first_ops[c] for o in hit])
        ms = _median([o.first_seconds[c] for o in hit])
        lines.append(f"{c:<26}{f'{len(hit)}/{seeds}':>10}{mops:>12.0f}{ms:>10.3f}{max(o.first_ops[c] for o in hit):>9}")
    lines.append(f"steps per second (serial, including shrinking): {ops / serial:,.0f}  ({ops} ops in {serial:.1f} s)")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--buses", nargs="+", default=["seed-2011", "upstream"])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--profile", default="ci", choices=("dev", "ci", "thorough"))
    p.add_argument("--examples", type=int, default=None, help="runs per seed (default: the profile's budget)")
    args = p.parse_args(argv)
    for bus in args.buses:
        for line in bench(bus, seeds=args.seeds, profile=args.profile, examples=args.examples):
            print(line, flush=True)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
