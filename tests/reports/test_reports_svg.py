"""Interval diagrams for a nested, an overlapping and a wrapping counterexample, and the cost plot."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from iobus_verify.reports.svg import (
    TOP,
    Interval,
    cost_plot,
    hex_range,
    interval_diagram,
    intervals_from_counterexample,
    intervals_from_scenario,
)

NS = "{http://www.w3.org/2000/svg}"


def _bars(svg: str):
    """(row label, [(x1, x2)]) for every drawn row, read back from the SVG."""
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    rows = []
    for g in root.iter(f"{NS}g"):
        rects = [(float(r.get("x")), float(r.get("x")) + float(r.get("width"))) for r in g.iter(f"{NS}rect")]
        rows.append((g.find(f"{NS}title").text, rects))
    return rows


def test_nested(fake):
    svg = interval_diagram(intervals_from_counterexample(fake.NESTED), "nested")
    (outer, [o]), (inner, [i]), (access, [a]) = _bars(svg)
    assert outer.startswith("r1: [0x10, 0x20)") and inner.startswith("r2: [0x14, 0x18)")
    assert o[0] < i[0] and i[1] < o[1]  # drawn inside
    assert o[0] < a[0] < o[1] and not (i[0] <= a[0] < i[1])  # the access is in r1 only
    assert "stroke-dasharray" in svg  # the access line across the rows


def test_overlapping(fake):
    (_, [a]), (_, [b]), _ = _bars(interval_diagram(intervals_from_counterexample(fake.OVERLAP)))
    assert a[0] < b[0] < a[1] < b[1]


def test_wrapping(fake):
    rows = intervals_from_counterexample(fake.WRAPPING)
    assert rows[0].wraps and rows[0].pieces() == [(0xFFFF_FFFF_FFFF_FFF8, TOP), (0, 8)]
    svg = interval_diagram(rows)
    (label, pieces), (_, [small]), _ = _bars(svg)
    assert len(pieces) == 2  # drawn in two pieces
    head, tail = pieces
    assert tail[0] < small[0] < small[1] < tail[1] < head[0]  # [0x4,0x6) inside the wrapped tail [0, 8)
    assert "2^64" in svg and "[0xfffffffffffffff8, 2^64) + [0x0, 0x8)" in label


def test_negative_int_len_is_read_as_u64():
    r = Interval("r", 0x10, -1)
    assert r.size == 2**64 - 1 and r.wraps
    assert "len -1 = u64 0xffffffffffffffff" in hex_range(0x10, -1)


def test_zero_length_and_identical_rows():
    rows = [Interval("e", 0x1000, 1)] * 200 + [Interval("z", 0x1000, 0), Interval("write", 0x1001, 1, access=True)]
    svg = interval_diagram(rows)
    labels = [t for t, _ in _bars(svg)]
    assert labels[0].startswith("e ×200") and len(labels) == 3
    assert "len 0" in svg


def test_scenario_ranges_follow_unregister(fake):
    scen = dict(fake.SCENARIO, ops=fake.SCENARIO["ops"][:2] + [{"op": "probe", "action": "unregister", "id": "inner"}] + fake.SCENARIO["ops"][2:])
    rows = intervals_from_scenario(scen)
    assert [(r.label, r.access) for r in rows] == [("outer", False), ("write (mmio)", True)]


def test_cost_plot_marks_the_experiment():
    svg = cost_plot({"linear": [(1, 1), (256, 256)], "fixed": [(1, 1), (256, 1)]}, {"linear": (200, 200), "fixed": (200, 1)}, "cost")
    root = ET.fromstring(svg)
    assert len(list(root.iter(f"{NS}path"))) == 2
    marks = [g.find(f"{NS}title").text for g in root.iter(f"{NS}g")]
    assert marks == ["linear: 200 calls for one access with 200 devices", "fixed: 1 calls for one access with 200 devices"]
