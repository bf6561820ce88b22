"""Figures for the history family: how soon the ci search finds each regression.

``python -m iobus_verify.properties.bench_history [--seeds 10] [--capacity N]``
prints, per historical regression (the pairs of ``tests/quality/test_history.py``):
the lifetime class found on the version before its fix, the operations the
search executed up to the first detection and the wall-clock seconds it took
(median, min and max over the seeds), in how many seeds it was found; and, on
the version after the fix, in how many seeds the full ci budget found that
class ("none" when no seed did).

Each seed runs the differential machine with the ci profile's budget (300 runs
of at most 20 operations) at ``--capacity`` (default: the ci profile's small
capacity): before the fix with the class raising (the search stops at its
first failure; its shrinking is capped, since only the detection is measured),
after it as a survey of the whole budget. The load average is printed with the
figures: seconds are wall-clock, operations are not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

PAIRS = (
    ("hist-3.18", "hist-90db", "USE_AFTER_FREE", "90db10434b16"),
    ("hist-90db", "hist-f658", "LEAK", "f65886606c2d"),
    ("hist-f658", "hist-2ee3", "USE_AFTER_FREE", "2ee3757424be"),
    ("hist-5d3c", "hist-2ee3", "USE_AFTER_FREE", "2ee3757424be"),
    ("hist-23fa", "hist-b1cb", "LEAK", "b1cb1fac22ab"),
    ("hist-xaga", "hist-b1cb", "DOUBLE_FREE", "(mis-merge; clean: b1cb1fac22ab)"),
    ("hist-5ea5-half", "hist-5ea5", "DOUBLE_FREE", "5ea5ca3c2b4b whole"),
)


def detect(name: str, cls: str, seed: int, capacity: int | None) -> tuple[int | None, float | None]:
    """(operations, seconds) to the first ``cls`` on ``name`` with ``seed``, or (None, None)."""
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.machine import SearchStats
    from iobus_verify.properties.profiles import budget
    from iobus_verify.properties.run import SearchPlan, _hypothesis_search

    b = budget("ci")
    plan = SearchPlan(resolve(name), "bench-history", seed, b.machine_examples, b.steps, capacity)
    stats = SearchStats()
    _hypothesis_search(plan.config(frozenset({cls})), stats, seed, plan.examples, plan.steps, None, plan.key, 0.1)
    return stats.first_ops.get(cls), stats.first_seconds.get(cls)


def found_after(name: str, cls: str, seed: int, capacity: int | None) -> bool:
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.profiles import budget
    from iobus_verify.properties.run import SearchPlan, survey

    b = budget("ci")
    so = survey(SearchPlan(resolve(name), "bench-history", seed, b.machine_examples, b.steps, capacity))
    return cls in so.stats.silent


def main(argv: list[str] | None = None) -> int:
    from iobus_verify.properties.profiles import budget

    p = argparse.ArgumentParser(prog="python -m iobus_verify.properties.bench_history", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    p.add_argument("--capacity", type=int, default=None, help="bus capacity (default: the ci profile's small capacity)")
    p.add_argument("--skip-after", action="store_true", help="measure the versions before the fixes only")
    p.add_argument("--skip-before", action="store_true", help="check the versions after the fixes only")
    args = p.parse_args(argv)
    cap = args.capacity if args.capacity is not None else budget("ci").small_capacity
    seeds = range(args.seeds)
    t0 = time.perf_counter()
    print(f"ci budget, capacity {cap}, seeds 0..{args.seeds - 1}; load average at start {os.getloadavg()[0]:.1f}")
    print(f"{'before the fix':<16}{'class':<16}{'found':>7}{'ops median':>12}{'(min-max)':>14}{'s median':>10}   {'after the fix':<14}{'found':>7}  fix")
    for before, after, cls, fix in PAIRS:
        got = [] if args.skip_before else [detect(before, cls, s, cap) for s in seeds]
        ops = [o for o, _ in got if o is not None]
        secs = [t for _, t in got if t is not None]
        if args.skip_after:
            after_text = "-"
        else:
            hits = sum(found_after(after, cls, s, cap) for s in seeds)
            after_text = "none" if hits == 0 else f"{hits}/{args.seeds}"
        med = f"{statistics.median(ops):.0f}" if ops else "-"
        rng = f"({min(ops)}-{max(ops)})" if ops else ""
        sec = f"{statistics.median(secs):.2f}" if secs else "-"
        print(f"{before:<16}{cls:<16}{len(ops):>4}/{args.seeds:<2}{med:>12}{rng:>14}{sec:>10}   {after:<14}{after_text:>7}  {fix}", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s; load average at end {os.getloadavg()[0]:.1f}")
    print("for scale: syzbot reported the 90db10434b16 leak (2017) in 2020, about three years later")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
