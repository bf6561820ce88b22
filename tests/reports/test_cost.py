"""The lookup-cost plot shows a plugin bus checked by `report`, and says what it cannot count."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from iobus_verify.model.protocol import BusStats
from iobus_verify.model.spec import resolve
from iobus_verify.reports.cost import NOT_REPORTED, cost_figure, cost_svg, with_buses

NS = "{http://www.w3.org/2000/svg}"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "int_len_bus.py"


class _ScanBus:
    """Offers an access to every device, in registration order; reports its work when ``counted``."""

    def __init__(self, capacity, counted):
        self.devs, self.counted, self.calls = [], counted, 0

    def register(self, addr, length, dev):
        self.devs.append((addr, length, dev))
        return 0

    def unregister(self, dev):
        return 0

    def write(self, addr, length, data):
        for _, _, d in self.devs:
            self.calls += 1
            if d.write(addr, length, data) == 0:
                return 0
        return -95

    def read(self, addr, length):
        return -95, b""


class _Counted(_ScanBus):
    def stats(self):
        s, self.calls = BusStats(comparisons=3, callbacks=self.calls), 0
        return s


def _spec(tmp_path, counted: bool):
    f = tmp_path / f"scan_{counted}.py"
    f.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_cost import _Counted, _ScanBus\n"
        f"def factory(capacity):\n    return {'_Counted' if counted else '_ScanBus'}(capacity, {counted})\n"
    )
    return resolve(f"{f}:factory")


def test_a_plugin_without_stats_is_drawn_with_its_callbacks_and_the_plot_says_so(tmp_path):
    fig = with_buses(cost_figure(sizes=(1, 2, 4), buses=("linear", "fixed")), [_spec(tmp_path, False), resolve(f"{EXAMPLE}:factory")])
    assert fig.series["scan_False.factory"] == [(1, 1), (2, 2), (4, 4)]  # its devices counted the callbacks
    assert fig.marked["scan_False.factory"] == (200, 200)
    assert fig.series["int_len_bus.factory"] == [(1, 0), (2, 0), (4, 0)]  # bisect: no device offered
    assert fig.notes == {"scan_False.factory": NOT_REPORTED, "int_len_bus.factory": NOT_REPORTED}
    svg = cost_svg(fig)
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "scan_False.factory (= linear)" in texts and "int_len_bus.factory" in texts and texts.count(NOT_REPORTED) == 2
    width = float(root.get("width"))
    assert all(float(t.get("x", 0)) + 7.0 * len(t.text or "") <= width for t in root.iter(f"{NS}text") if t.get("text-anchor") is None)


def test_a_plugin_with_stats_has_its_comparisons_counted(tmp_path):
    fig = with_buses(cost_figure(sizes=(1, 2), buses=("linear",)), [_spec(tmp_path, True)])
    assert fig.series["scan_True.factory"] == [(1, 4), (2, 5)] and "scan_True.factory" not in fig.notes


def test_an_index_built_for_a_plugin_bus_plots_it(tmp_path, fake):
    import os

    from iobus_verify.reports.index import report_all

    report_all(tmp_path, buses=[f"{EXAMPLE}:factory"], phases=(fake.properties(),), stream=open(os.devnull, "w"))
    svg = (tmp_path / "svg" / "cost.svg").read_text()
    assert "int_len_bus.factory" in svg and NOT_REPORTED in svg and "linear" in svg
    index = (tmp_path / "index.html").read_text()
    assert "<b>int_len_bus.factory</b>: comparisons not reported" in index
    assert "int\\_len\\_bus.factory: " + NOT_REPORTED in (tmp_path / "index.md").read_text()
