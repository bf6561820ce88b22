"""The lookup-cost figure: calls per access against device count, per bus.

Measured with the model's own benchmark (:func:`iobus_verify.model.lookup_cost.measure`,
which reads each bus's ``stats()``), in its ``one-byte`` layout: ``n`` devices
registered on one byte and an access to the next byte, so no device matches
and the cost is pure lookup. The curves go from 1 to 512 devices; the patch's
own experiment, 200 ioeventfds on one byte and an access to another byte, is
the marked point. Cost = comparator calls + device callbacks (the linear bus
spends callbacks, the range buses comparator calls).
"""

from __future__ import annotations

from dataclasses import dataclass

from iobus_verify.model.lookup_cost import measure
from iobus_verify.model.sorted_bus import REGISTRY

SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
EXPERIMENT_DEVICES = 200
LAYOUT = "one-byte"


@dataclass(frozen=True)
class CostFigure:
    series: dict[str, list[tuple[int, int]]]  # bus -> [(devices, calls per access)]
    marked: dict[str, tuple[int, int]]  # bus -> (200, calls per access)

    def rows(self) -> list[tuple[int, dict[str, int]]]:
        sizes = sorted({n for pts in self.series.values() for n, _ in pts} | {EXPERIMENT_DEVICES})
        table = {b: dict(pts) | {self.marked[b][0]: self.marked[b][1]} for b, pts in self.series.items()}
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


def cost_svg(fig: CostFigure) -> str:
    from iobus_verify.reports.svg import cost_plot

    return cost_plot(fig.series, fig.marked, "Lookup cost per access: devices on one byte, access to the next byte")
