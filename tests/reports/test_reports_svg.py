"""Interval diagrams for a nested, an overlapping and a wrapping counterexample,
the picture of a replayed finding (ranges, access, both choices, array order),
no text cut at the edge, and the cost plot."""

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
    assert outer.startswith("a: [0x10, 0x20)") and inner.startswith("b: [0x14, 0x18)")
    assert o[0] < i[0] and i[1] < o[1]  # drawn inside
    assert o[0] < a[0] < o[1] and not (i[0] <= a[0] < i[1])  # the access is in r1 only
    assert "stroke-dasharray" in svg  # the access line across the rows


def test_overlapping(fake):
    (_, [a]), (_, [b]), _ = _bars(interval_diagram(intervals_from_counterexample(fake.OVERLAP)))
    assert a[0] < b[0] < a[1] < b[1]


def test_wrapping_is_clipped_at_2_64_and_said_in_words(fake):
    rows = intervals_from_counterexample(fake.WRAPPING)
    assert rows[0].end == TOP  # the README's reading: addr + u32(len), clipped at 2^64
    svg = interval_diagram(rows)
    (label, [head]), (_, [small]), _ = _bars(svg)
    assert small[1] < head[0]  # [0x4, 0x6) drawn left of the clipped range
    assert "2^64" in svg and label.startswith("a: [0xfffffffffffffff8, 2^64)")
    assert "clipped at 2^64; the kernel's addr + len wraps to 0x8" in label


def test_negative_int_len_is_read_as_u32_and_the_wrap_is_said():
    r = Interval("r", 0x10, -1)
    assert r.size == 0xFFFFFFFF and r.end == 0x10 + 0xFFFFFFFF
    text = hex_range(0x10, -1)
    assert text.startswith("[0x10, 0x10000000f) (len -1)")
    assert "len -1 is the u32 size 0xffffffff" in text and "the kernel's addr + len wraps to 0xf" in text


def test_names_come_from_the_finding_text():
    ce = ({"addr": 0, "len": 2}, {"addr": 1, "len": 0}, {"addr": 1, "len": 1, "role": "access"})
    rows = intervals_from_counterexample(ce, "e1=[0x0, 0x2) sorts before e2=[0x1, 0x1) (len 0) but the access [0x1, 0x2) ...")
    assert [r.label for r in rows] == ["e1", "e2", "access"]


def test_nothing_is_cut_at_the_edge():
    rows = [Interval("a_device_with_a_long_name", 0xFFFF_FFFF_FFFF_FFF0, 16), Interval("read", 0xFFFF_FFFF_FFFF_FFFF, 1, access=True)]
    title = "comparator.incomparability_transitive: refuted, with a title much longer than the diagram itself is wide"
    svg = interval_diagram(rows, title)
    root = ET.fromstring(svg)
    width = float(root.get("width"))
    for t in root.iter(f"{NS}text"):
        if t.get("transform"):
            continue  # rotated axis labels: checked below
        x = float(t.get("x"))
        anchor = t.get("text-anchor")
        w = len(t.text or "") * 7.0
        right = x + w / 2 if anchor == "middle" else x if anchor == "end" else x + w
        assert right <= width + 1, (t.text, right, width)
    # the last axis label, rotated 35 degrees, fits too
    last = [t for t in root.iter(f"{NS}text") if t.get("transform")][-1]
    assert float(last.get("x")) + len(last.text) * 7.0 * 0.82 <= width + 1


def test_a_replayed_finding_shows_ranges_access_and_both_choices():
    from iobus_verify.reports.records import Finding, Result
    from iobus_verify.reports.scene import finding_scene
    from iobus_verify.reports.svg import scene_diagram

    scen = {
        "schema": "iobus-scenario/1",
        "ops": [
            {"op": "probe", "action": "register", "id": "p1", "bus": "mmio", "addr": 0, "len": 3, "accepts": "range"},
            {"op": "probe", "action": "register", "id": "p2", "bus": "mmio", "addr": 1, "len": 0, "accepts": "range"},
            {"op": "probe", "action": "register", "id": "p3", "bus": "mmio", "addr": 2, "len": 1, "accepts": "range"},
            {"op": "write", "bus": "mmio", "addr": 2, "len": 1, "data": "00"},
        ],
    }
    r = Result("lookup.walkback_first", "proof", "fail", 0.1, Finding("refuted", "x", scen))
    scene = finding_scene(r, "seed-2011", "seed-2011")
    assert scene.replayed and scene.op_index == 3
    assert (scene.reference, scene.chosen) == ("p1", "p3")
    assert [x.label for x in scene.ranges] == ["p1", "p2", "p3"] and scene.has_array
    svg = scene_diagram(scene, "t")
    assert "linear (reference) chose p1" in svg and "seed-2011 chose p3" in svg and ">array<" in svg


def test_a_missed_access_draws_the_range_it_was_meant_for():
    from iobus_verify.reports.records import Finding, Result
    from iobus_verify.reports.scene import finding_scene

    scen = {"schema": "iobus-scenario/1", "ops": [{"op": "create_irqchip"}, {"op": "read", "bus": "pio", "addr": 0x21, "len": 2}]}
    scene = finding_scene(Result("differential.MISSED", "property", "fail", 0.1, Finding("MISSED", "x", scen)), "seed-2011", "seed-2011")
    assert scene.reference == "pic_master" and scene.chosen is None
    assert "pic_master" in [x.label for x in scene.ranges] and scene.access.label == "read"
    # the bus's choice, none, is said on the operation's row, in the bus's colour, inside the picture
    from iobus_verify.reports.render_html import scene_table
    from iobus_verify.reports.svg import BUS_MARK, scene_diagram

    root = ET.fromstring(scene_diagram(scene, "t"))
    said = [t for t in root.iter(f"{NS}text") if t.text == "◀ seed-2011: no device"]
    assert len(said) == 1 and said[0].get("fill") == BUS_MARK
    assert float(said[0].get("x")) + 7.0 * 1.08 * len(said[0].text) <= float(root.get("width"))
    assert "seed-2011: no device" in "".join(scene_table(scene))


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
