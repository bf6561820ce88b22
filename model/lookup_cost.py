"""Lookup cost: comparator calls and device callbacks per access against device count.

``python -m iobus_verify.model.lookup_cost`` prints the table for the linear bus
and every variant, for 1 to 1024 devices, in three layouts:

* ``one-byte``: the patch's experiment, ``n`` ioeventfd-like devices on one byte
  and an access to the next byte (``k = 0`` ranges contain it);
* ``disjoint``: ``n`` one-byte ranges side by side, each accessed once (``k = 1``);
* ``nested``: ``n`` ranges nested around one byte, accessed there (``k = n``).

:func:`measure` takes a registered name; :func:`measure_bus` any factory
(a plugin's): it counts the device callbacks itself (the devices count the
calls they get) and the comparator calls only when the bus reports them
(``stats()``); without ``stats()`` the point's ``max_comparisons`` is None.

For ``fixed`` it checks the design bound ``ceil(log2(n + 1)) + k + 2`` on
comparator calls *plus* devices offered (the devices refuse, so every matching
range is offered) and exits 1 if any access exceeds it. This is a benchmark: figures, not a timed test.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from iobus_verify.model.protocol import EOPNOTSUPP
from iobus_verify.model.sorted_bus import REGISTRY

BASE = 0x1000
LAYOUTS = ("one-byte", "disjoint", "nested")


class _Dev:
    """Refuses every access, so that each lookup walks all the ranges it matches
    (an ioeventfd whose datamatch never hits): the worst case of the walk.
    Counts the calls it gets in ``calls[0]`` (shared by the devices of one bus)."""

    ioeventfd = True

    def __init__(self, calls: list[int] | None = None) -> None:
        self.calls = calls if calls is not None else [0]

    def write(self, addr: int, length: int, data: bytes) -> int:
        self.calls[0] += 1
        return -EOPNOTSUPP

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        self.calls[0] += 1
        return -EOPNOTSUPP, b""


@dataclass(frozen=True)
class CostPoint:
    """Worst and mean cost over the layout's accesses, for one bus and one ``n``."""

    bus: str
    layout: str
    devices: int
    max_comparisons: int | None  # None: the bus does not report comparator calls (no stats())
    mean_comparisons: float | None
    max_callbacks: int
    k: int  # ranges containing the accessed byte, for the bound
    bound: int  # ceil(log2(n + 1)) + k + 2, the fixed design's bound
    max_steps: int  # comparator calls + devices offered: what the bound is checked on


def _layout(layout: str, n: int) -> tuple[list[tuple[int, int]], list[int], int]:
    """(registrations, accessed addresses, k)."""
    if layout == "one-byte":
        return [(BASE, 1)] * n, [BASE + 1], 0
    if layout == "disjoint":
        regs = [(BASE + 2 * i, 1) for i in range(n)]
        return regs, [a for a, _ in regs], 1
    if layout == "nested":
        return [(BASE + n - i, 2 * i + 1) for i in range(n)], [BASE + n], n
    raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS}")


def measure(bus_name: str, layout: str, n: int) -> CostPoint:
    """Register ``n`` devices in the layout on a fresh registered bus, then time each access."""
    named = REGISTRY[bus_name]
    return measure_bus(bus_name, lambda cap: named.factory(cap), named.capacity, layout, n)


def measure_bus(name: str, make: Callable[[int], Any], capacity: int, layout: str, n: int) -> CostPoint:
    """:func:`measure` for any bus: ``make(capacity)`` returns a new one (a plugin's factory).
    Callbacks: the bus's ``stats()`` when it has one, else the calls its devices counted;
    comparator calls: ``stats()``'s, else None (not reported)."""
    regs, accesses, k = _layout(layout, n)
    bus = make(max(n, capacity))
    calls = [0]
    for a, length in regs:
        rc = bus.register(a, length, _Dev(calls))
        if rc != 0:
            raise RuntimeError(f"{name}: register({a:#x}, {length}) returned {rc}")
    stats = getattr(bus, "stats", None)
    if not callable(stats):
        stats = None
    if stats is not None:
        stats()
    comps: list[int] = []
    cbs: list[int] = []
    for x in accesses:
        calls[0] = 0
        bus.write(x, 1, b"\0")
        if stats is not None:
            s = stats()
            comps.append(s.comparisons)
            cbs.append(s.callbacks)
        else:
            cbs.append(calls[0])
    steps = [c + b for c, b in zip(comps, cbs)] if comps else cbs
    return CostPoint(
        name,
        layout,
        n,
        max(comps) if comps else None,
        sum(comps) / len(comps) if comps else None,
        max(cbs),
        k,
        math.ceil(math.log2(n + 1)) + k + 2,
        max(steps),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-devices", type=int, default=1024)
    p.add_argument("--layout", choices=LAYOUTS, action="append")
    args = p.parse_args(argv)
    sizes = [1]
    while sizes[-1] * 2 <= args.max_devices:
        sizes.append(sizes[-1] * 2)
    over = 0
    for layout in args.layout or LAYOUTS:
        print(f"\nlayout {layout}: max comparator calls (max device callbacks) per access")
        print(f"{'devices':>8} " + " ".join(f"{b:>16}" for b in REGISTRY) + f" {'fixed bound':>12}")
        for n in sizes:
            t = time.perf_counter()
            pts = {b: measure(b, layout, n) for b in REGISTRY}
            row = " ".join(f"{pts[b].max_comparisons:>9} ({pts[b].max_callbacks:>4})" for b in REGISTRY)
            bound = pts["fixed"].bound
            # Conservative: the offered devices count against the bound too.
            flag = "" if pts["fixed"].max_steps <= bound else "  EXCEEDED"
            over += bool(flag)
            print(f"{n:>8} {row} {bound:>12}{flag}   [{time.perf_counter() - t:.1f}s]")
    print("\nfixed within ceil(log2(n+1)) + k + 2 everywhere" if not over else f"\nfixed exceeded its bound {over} time(s)")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
