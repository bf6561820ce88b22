"""The lookup-cost figure: calls per access against device count, per bus.

Measured with the model's own benchmark (:func:`iobus_verify.model.lookup_cost.measure`,
which reads each bus's ``stats()``), in its ``one-byte`` layout: ``n`` devices
registered on one byte and an access to the next byte, so no device matches
and the cost is pure lookup. The curves go from 1 to 512 devices; the patch's
own experiment, 200 ioeventfds on one byte and an access to another byte, is
the marked point. Cost = comparator calls + device callbacks (the linear bus
spends callbacks, the range buses comparator calls).

A plugin bus checked by ``report`` joins the plot (:func:`with_buses`): its
device callbacks are counted by the devices themselves; its comparator calls
only if it implements ``stats()``. A bus without ``stats()`` is drawn dotted,
and its legend and the table say that comparisons are not reported (its line
is a lower bound: the lookup's own work is not counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from iobus_verify.model.lookup_cost import measure, measure_bus
from iobus_verify.model.sorted_bus import REGISTRY

SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
EXPERIMENT_DEVICES = 200
LAYOUT = "one-byte"


@dataclass(frozen=True)
class CostFigure:
    series: dict[str, list[tuple[int, int]]]  # bus -> [(devices, calls per access)]
    marked: dict[str, tuple[int, int]]  # bus -> (200, calls per access)
    #: bus -> what its line leaves out, in words (a plugin without stats(): comparisons not reported)
    notes: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[tuple[int, dict[str, int]]]:
        sizes = sorted({n for pts in self.series.values() for n, _ in pts} | {EXPERIMENT_DEVICES})
        table = {b: dict(pts) | ({self.marked[b][0]: self.marked[b][1]} if b in self.marked else {}) for b, pts in self.series.items()}
        return [(n, {b: table[b].get(n) for b in self.series}) for n in sizes]


def _cost(bus: str, n: int) -> int:
    p = measure(bus, LAYOUT, n)
    return p.max_comparisons + p.max_callbacks


def cost_figure(sizes: tuple[int, ...] = SIZES, buses: tuple[str, ...] | None = None) -> CostFigure:
    """Measure every named bus (the linear reference first)."""
    names = buses or tuple(REGISTRY)
    series = {b: [(n, _cost(b, n)) for n in sizes] for b in names}
    marked = {b: (EXPERIMENT_DEVICES, _cost(b, EXPERIMENT_DEVICES)) for b in names}
    return CostFigure(series, marked)


#: the legend's words for a bus whose comparator calls are unknown
NOT_REPORTED = "callbacks only: comparisons not reported (no stats())"


def with_buses(fig: CostFigure, specs: Sequence[Any]) -> CostFigure:
    """``fig`` plus a line for each bus in ``specs`` (resolved :class:`~iobus_verify.model.spec.BusSpec`,
    e.g. the plugins a report checked) not already in it, measured at the figure's device counts.
    A bus that refuses a registration stops its line there (said in its note)."""
    series, marked, notes = dict(fig.series), dict(fig.marked), dict(fig.notes)
    sizes = sorted({n for pts in fig.series.values() for n, _ in pts}) or list(SIZES)
    for spec in specs:
        if spec.name in series:
            continue
        pts: list[tuple[int, int]] = []
        unreported = False
        stopped = ""
        for n in [*sizes, EXPERIMENT_DEVICES]:
            try:
                p = measure_bus(spec.name, lambda cap: spec.make(cap), spec.capacity, LAYOUT, n)
            except Exception as exc:  # a plugin's own limit or bug: the line stops, the index is still written
                stopped = f"stops at {n} devices: {exc}"
                break
            unreported = unreported or p.max_comparisons is None
            cost = (p.max_comparisons or 0) + p.max_callbacks
            if n == EXPERIMENT_DEVICES:
                marked[spec.name] = (n, cost)
            else:
                pts.append((n, cost))
        if not pts:
            continue
        series[spec.name] = pts
        said = [NOT_REPORTED] if unreported else []
        notes[spec.name] = "; ".join(said + ([stopped[:60]] if stopped else []))
        if not notes[spec.name]:
            del notes[spec.name]
    return replace(fig, series=series, marked=marked, notes=notes)


def cost_svg(fig: CostFigure) -> str:
    from iobus_verify.reports.svg import cost_plot

    return cost_plot(fig.series, fig.marked, "Lookup cost per access: devices on one byte, access to the next byte", fig.notes)
