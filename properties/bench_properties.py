"""Benchmark of the differential machine: how fast does it find each class?

    python -m iobus_verify.properties.bench_properties [--buses seed-2011 upstream]
        [--seeds 20] [--profile ci] [--workers 2]

For each bus, over ``--seeds`` independent seeds (one search each, no example
database, so seeds do not help each other), prints per divergence class: the
detection rate, and the median wall time and the median number of executed
operations to the first divergence of that class (and of each machine
invariant), counted over the surveys, which run first (full capacity, then
small capacity) and do not shrink; then steps per second, shrinking included,
and the wall time of the same seeds run on ``--workers`` processes (the
campaign path) with the speed-up.

Targets (issue 5) on ``seed-2011``: median <= 1,000 operations to the first
MISSED and to the first REORDERED, and <= 1 s in process. A figure, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time

from iobus_verify.properties.campaign import run_seeds
from iobus_verify.properties.machine import CLASSES, INVARIANTS


def _median(xs):
    return statistics.median(xs) if xs else None


def bench(bus: str, *, seeds: int, profile: str, workers: int, examples: int | None) -> list[str]:
    lines = [f"## {bus}: {seeds} seeds, profile {profile}" + (f", {examples} runs per seed" if examples else "")]
    t0 = time.perf_counter()
    outs = run_seeds(bus, profile=profile, seeds=range(seeds), workers=1, use_database=False, examples=examples)
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
    if workers > 1:
        t1 = time.perf_counter()
        run_seeds(bus, profile=profile, seeds=range(seeds), workers=workers, use_database=False, examples=examples)
        par = time.perf_counter() - t1
        lines.append(f"--workers {workers}: {par:.1f} s vs {serial:.1f} s serial: speed-up {serial / par:.2f}x")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--buses", nargs="+", default=["seed-2011", "upstream"])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--profile", default="ci", choices=("dev", "ci", "thorough"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--examples", type=int, default=None, help="runs per seed (default: the profile's budget)")
    args = p.parse_args(argv)
    for bus in args.buses:
        for line in bench(bus, seeds=args.seeds, profile=args.profile, workers=args.workers, examples=args.examples):
            print(line, flush=True)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
