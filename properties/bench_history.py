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
figures: seconds are wall-clock, operations are not. A tree and the history
variant it matches are searched with the same draws: every search pins
Hypothesis's constants pool (``properties/constants.py``), whatever modules
the process has loaded.

Any bus spec can be measured instead of the history variants, a kernel tree
above all (``--bus kernel:PATH``, the tree's own code through the C bridge):
``--bus SPEC --class CLASS [--after SPEC]`` measures one pair, the class on
``--bus`` and whether ``--after`` (the tree after the fix) shows it, e.g.
``--bus kernel:trees/hi3660-4.9 --class LEAK --after kernel:trees/sm8250``.
A survey of one spec and seed is run once and reused for every pair that
names the same version after its fix.
"""

from __future__ import annotations

import argparse
import os
import sys
import statistics
import time


def _pairs() -> tuple:
    from iobus_verify.model.history import REGRESSIONS

    return tuple((r.before, r.after, r.cls, r.fix) for r in REGRESSIONS)


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


_SURVEYS: dict[tuple[str, int, int | None], frozenset[str]] = {}


def found_after(name: str, cls: str, seed: int, capacity: int | None) -> bool:
    """Whether the full ci budget's survey of ``name`` with ``seed`` found ``cls``
    (one survey per spec, seed and capacity, whatever the class asked)."""
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.profiles import budget
    from iobus_verify.properties.run import SearchPlan, survey

    key = (name, seed, capacity)
    if key not in _SURVEYS:
        b = budget("ci")
        so = survey(SearchPlan(resolve(name), "bench-history", seed, b.machine_examples, b.steps, capacity))
        _SURVEYS[key] = frozenset(so.stats.silent)
    return cls in _SURVEYS[key]


def main(argv: list[str] | None = None) -> int:
    from iobus_verify.properties.profiles import budget

    p = argparse.ArgumentParser(prog="python -m iobus_verify.properties.bench_history", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    p.add_argument("--capacity", type=int, default=None, help="bus capacity (default: the ci profile's small capacity)")
    p.add_argument("--skip-after", action="store_true", help="measure the versions before the fixes only")
    p.add_argument("--skip-before", action="store_true", help="check the versions after the fixes only")
    p.add_argument("--bus", metavar="SPEC", action="append", help="measure this bus instead of the history pairs (e.g. kernel:PATH); repeatable, each with its --class")
    p.add_argument("--class", dest="cls", metavar="CLASS", action="append", help="with --bus: the lifetime class to detect on it (LEAK, DOUBLE_FREE, USE_AFTER_FREE)")
    p.add_argument("--after", metavar="SPEC", action="append", help="with --bus: the version after the fix, surveyed for the same class ('-': none)")
    p.add_argument("--fix", action="append", help="with --bus: the fixing commit, printed in the last column")
    args = p.parse_args(argv)
    pairs: tuple = _pairs()
    if args.bus or args.cls or args.after:
        from iobus_verify.errors import UsageError
        from iobus_verify.model.lifetime import LIFETIME_CLASSES

        buses, classes = args.bus or [], args.cls or []
        afters = [None if a == "-" else a for a in (args.after or [])]
        fixes = args.fix or []
        try:
            if not buses or len(classes) != len(buses) or any(c not in LIFETIME_CLASSES for c in classes) or len(afters) > len(buses):
                raise UsageError(
                    f"give each --bus SPEC its --class {'|'.join(LIFETIME_CLASSES)} (and at most one --after SPEC, in the same order); "
                    f"got {len(buses)} --bus, classes {classes}, {len(afters)} --after"
                )
            from iobus_verify.model.spec import resolve

            for spec in {*buses, *(a for a in afters if a)}:
                resolve(spec)  # a spec that does not resolve: its one line, before any search
        except UsageError as exc:
            print(f"iobus-verify: {exc}", file=sys.stderr)
            return 2
        afters += [None] * (len(buses) - len(afters))
        fixes += [""] * (len(buses) - len(fixes))
        pairs = tuple(zip(buses, afters, classes, fixes))
    cap = args.capacity if args.capacity is not None else budget("ci").small_capacity
    seeds = range(args.seeds)
    t0 = time.perf_counter()
    print(f"ci budget, capacity {cap}, seeds 0..{args.seeds - 1}; load average at start {os.getloadavg()[0]:.1f}")
    width = max(16, *(len(b) + 2 for b, *_ in pairs))
    awidth = max(14, *(len(a or "-") + 2 for _, a, *_ in pairs))
    print(f"{'before the fix':<{width}}{'class':<16}{'found':>7}{'ops median':>12}{'(min-max)':>14}{'s median':>10}   {'after the fix':<{awidth}}{'found':>7}  fix")
    for before, after, cls, fix in pairs:
        got = [] if args.skip_before else [detect(before, cls, s, cap) for s in seeds]
        ops = [o for o, _ in got if o is not None]
        secs = [t for _, t in got if t is not None]
        if args.skip_after or after is None:
            after_text = "-"
        else:
            hits = sum(found_after(after, cls, s, cap) for s in seeds)
            after_text = "none" if hits == 0 else f"{hits}/{args.seeds}"
        med = f"{statistics.median(ops):.0f}" if ops else "-"
        rng = f"({min(ops)}-{max(ops)})" if ops else ""
        sec = f"{statistics.median(secs):.2f}" if secs else "-"
        print(f"{before:<{width}}{cls:<16}{len(ops):>4}/{args.seeds:<2}{med:>12}{rng:>14}{sec:>10}   {after or '-':<{awidth}}{after_text:>7}  {fix}", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s; load average at end {os.getloadavg()[0]:.1f}")
    print("for scale: syzbot reported the 90db10434b16 leak (2017) in 2020, about three years later")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
