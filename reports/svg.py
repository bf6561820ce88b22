"""SVG pictures: the interval diagram of a finding and the lookup-cost plot.

Both are plain SVG strings with every text escaped, meant to be inlined in the
HTML reports (no script, no external reference) and also written as ``.svg``
files for the Markdown ones. Every text is measured (monospace, 11 px) and the
picture sized to hold it: nothing is cut at the edge.

The interval diagram draws a :class:`~iobus_verify.reports.scene.Scene`: at
the divergent operation, every registered range that overlaps the access or
that one side chose, one row per range labelled with its device, in linear
(registration) order, with its place in the bus's array beside it when the bus
exposes one; the access in its own row, hatched, with a shaded band over its
bytes across every row; the device the reference chose and the one the bus
chose outlined and named at the row's end. The horizontal axis is *ordinal*:
every start and end gets its own evenly spaced tick, labelled in hex, because
real counterexamples mix 0x0 with 0xffff_ffff_ffff_fff0. A range is read as
the README states, ``[addr, addr + u32(len))`` clipped at 2^64; when the
kernel's own sum ``gpa_t + int`` wraps, a note under the axis says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any, Iterable, Mapping, Sequence

from iobus_verify.reports.scene import TOP, Scene, SceneRange, c_sum_note, extent, range_text

RANGE_FILL = "#4f7cac"
ACCESS_FILL = "#d1495b"
REF_MARK = "#1b7f3b"
BUS_MARK = "#c26a00"
FONT = "font-family:ui-monospace,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:11px"
CHAR_W = 7.0  # px per character of FONT, a little generous
LINE_H = 15


def text_width(s: str, bold: bool = False) -> float:
    return len(s) * CHAR_W * (1.08 if bold else 1.0)


@dataclass(frozen=True)
class Interval:
    """A row of a diagram built without a replay. ``length`` is the C int (or size) given."""

    label: str
    addr: int
    length: int
    access: bool = False
    count: int = 1  # identical ranges drawn as one row "×count"

    @property
    def size(self) -> int:
        lo, hi = extent(self.addr, self.length)
        return hi - lo

    @property
    def end(self) -> int:
        """One past the last byte: ``addr + u32(len)``, clipped at 2^64."""
        return extent(self.addr, self.length)[1]

    def text(self) -> str:
        return hex_range(self.addr, self.length)


def hex_range(addr: int, length: int) -> str:
    """``[0x10, 0x18)``; the bytes ``[addr, addr + u32(len))`` clipped at 2^64,
    the C length when it is not a plain positive size, and a note when the
    kernel's ``addr + len`` wraps."""
    note = c_sum_note(addr, length)
    return range_text(addr, length) + (f" ({note})" if note else "")


def intervals_from_counterexample(ce: Sequence[Mapping[str, Any]], explanation: str = "") -> list[Interval]:
    """Entries ``{"addr", "len", "role"?, "label"?}``; role ``access``/``key`` is
    the access. Names as the finding's text gives them (``x=[...``), else a, b, c..."""
    from iobus_verify.reports.scene import counterexample_labels

    labels = counterexample_labels(ce, explanation)
    return [Interval(label, int(e["addr"]), int(e["len"]), e.get("role") in ("access", "key")) for e, label in zip(ce, labels)]


def intervals_from_scenario(scenario: Mapping[str, Any]) -> list[Interval]:
    """The ranges live on the bus of the scenario's last access, plus that
    access, read from the scenario's text (fixed devices are not drawn)."""
    from iobus_verify.reports.scene import static_scene

    s = static_scene(scenario)
    if s is None:
        return []
    rows = [Interval(r.label, r.addr, r.length) for r in s.ranges]
    if s.access is not None:
        rows.append(Interval(f"{s.access.label} ({s.bus})", s.access.addr, s.access.length, access=True))
    return rows


def _merge_identical(rows: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for r in rows:
        prev = out[-1] if out else None
        if prev is not None and (prev.label, prev.addr, prev.length, prev.access) == (r.label, r.addr, r.length, r.access):
            out[-1] = Interval(prev.label, prev.addr, prev.length, prev.access, prev.count + 1)
        else:
            out.append(r)
    return out


def interval_diagram(rows: Sequence[Interval], title: str = "", max_rows: int = 40) -> str:
    """The diagram of plain rows (no replay: no choices, no array order).
    Only rows with the same label and range are merged (``×n``)."""
    merged = _merge_identical(rows)
    ranges = [SceneRange(r.label + (f" ×{r.count}" if r.count > 1 else ""), r.addr, r.length, linear=i) for i, r in enumerate(merged) if not r.access]
    access = next((SceneRange(r.label, r.addr, r.length, access=True) for r in merged if r.access), None)
    hidden = max(0, len(ranges) - max_rows)
    return scene_diagram(Scene(tuple(ranges[:max_rows]), access, hidden=hidden), title)


def _wrap(text: str, width_chars: int) -> list[str]:
    words, lines, cur = text.split(" "), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width_chars:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return lines + ([cur] if cur else [])


def _tick_label(t: int) -> str:
    return "2^64" if t == TOP else f"{t:#x}"


def choice_line(scene: Scene) -> str:
    """``linear chose pic_master; seed-2011 chose no device``, or ""."""
    if scene.access is None or scene.op_index is None or not scene.replayed:
        return ""
    ref = scene.reference or "no device"
    bus = scene.chosen or "no device"
    return f"linear (reference) chose {ref}; {scene.bus_name} chose {bus}"


def scene_diagram(scene: Scene, title: str = "") -> str:
    """The SVG interval diagram of ``scene`` (see the module docstring)."""
    rows: list[SceneRange] = list(scene.ranges)
    access = scene.access
    drawn = rows + ([access] if access is not None else [])
    points: set[int] = set()
    for r in drawn:
        lo, hi = r.lo, r.hi
        points.update((lo, hi if hi > lo else lo + 1) if r.access and hi == lo else (lo, hi))
    ticks = sorted(points) or [0, 1]
    if len(ticks) == 1:
        ticks.append(ticks[0] + 1)
    # -- measures --------------------------------------------------------------------------
    pad = 10
    labels = [r.label for r in drawn]
    label_w = max(text_width(x) for x in labels + ["device"]) + 12
    order_cols = [("linear", "linear"), ("array", "array")] if scene.has_array else []
    col_w = 54
    marks = {}
    # the device is the row's label: the mark names only who chose it
    ref_txt = "◀ reference's choice" if scene.reference else ""
    bus_txt = f"◀ {scene.bus_name}'s choice" if scene.chosen else ""
    if scene.reference and scene.reference == scene.chosen:
        marks[scene.reference] = ("◀ both sides' choice", REF_MARK)
    else:
        if scene.reference:
            marks[scene.reference] = (ref_txt, REF_MARK)
        if scene.chosen:
            marks[scene.chosen] = (bus_txt, BUS_MARK)
    # a side that chose no device says so on the operation's row (a MISSED is the bus choosing none)
    none_marks: list[tuple[str, str]] = []
    if access is not None and scene.op_index is not None and scene.replayed:
        if not scene.reference and not scene.chosen:
            none_marks.append(("◀ no device on either side", REF_MARK))
        else:
            if not scene.reference:
                none_marks.append(("◀ reference: no device", REF_MARK))
            if not scene.chosen:
                none_marks.append((f"◀ {scene.bus_name}: no device", BUS_MARK))
    every_mark = [t for t, _ in marks.values()] + [t for t, _ in none_marks]
    mark_w = max([text_width(t, bold=True) for t in every_mark] + [0]) + (16 if every_mark else 0)
    tick_texts = [_tick_label(t) for t in ticks]
    longest_tick = max(text_width(t) for t in tick_texts)
    rot = math.radians(35)
    step = max(56, min(130, 620 // max(1, len(ticks) - 1)))
    x0 = pad + label_w + col_w * len(order_cols) + 8
    bars_w = step * (len(ticks) - 1)
    # the last tick's rotated label and the choice marks must fit on the right
    right = max(mark_w, longest_tick * math.cos(rot) + 12, 24)
    # -- text lines above and below ---------------------------------------------------------
    head: list[tuple[str, bool]] = []
    body_w = x0 + bars_w + right + pad
    if title:
        head += [(line, True) for line in _wrap(title, max(40, int((body_w - 2 * pad) / (CHAR_W * 1.08))))]
    if scene.op_index is not None:
        head.append((f"op {scene.op_index}: {scene.op_text}", False))
    cl = choice_line(scene)
    if cl:
        head.append((cl, False))
    foot: list[str] = []
    if scene.hidden:
        foot.append(f"{scene.hidden} other range(s) on the {scene.bus or 'same'} bus neither overlap the access nor were chosen: not drawn")
    if scene.has_array and scene.order_matters:
        foot.append(f"linear: the order the linear bus tries devices in; array: the order of {scene.bus_name}'s sorted array")
    foot += list(scene.notes)
    if not scene.replayed and scene.access is not None:
        foot.append("drawn from the scenario's text (the bus could not be replayed here): fixed devices not shown")
    legend = ["registered range", "the operation"] + (["reference's choice"] if scene.reference else []) + (
        [f"{scene.bus_name}'s choice"] if scene.chosen and scene.chosen != scene.reference else []
    )
    legend_w = sum(28 + text_width(t) + 16 for t in legend)
    widest = max([text_width(t, b) for t, b in head] + [text_width(t) for t in foot] + [legend_w]) + 2 * pad
    width = int(max(body_w, widest, 320))
    top = pad + LINE_H * len(head) + (24 if order_cols else 10)
    row_h = 26
    axis_y = top + row_h * len(drawn) + 6 + LINE_H * max(0, len(none_marks) - 1)
    axis_h = longest_tick * math.sin(rot) + 26
    legend_y = axis_y + axis_h
    height = int(legend_y + 22 + LINE_H * len(foot) + pad)
    x_of = {t: x0 + i * step for i, t in enumerate(ticks)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f"<title>{escape(title or 'interval diagram')}</title>",
        "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
        f'<rect width="6" height="6" fill="{ACCESS_FILL}" fill-opacity="0.35"/><line x1="0" y1="0" x2="0" y2="6" stroke="{ACCESS_FILL}" stroke-width="3"/></pattern></defs>',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    y = pad + 11
    for text, bold in head:
        out.append(f'<text x="{pad}" y="{y}" style="{FONT}{";font-weight:bold" if bold else ""}">{escape(text)}</text>')
        y += LINE_H
    if order_cols:
        hy = top - 8
        out.append(f'<text x="{pad}" y="{hy}" style="{FONT};fill:#4a5560">device</text>')
        for k, (name, _) in enumerate(order_cols):
            cx = pad + label_w + col_w * k + col_w / 2
            out.append(f'<text x="{cx}" y="{hy}" text-anchor="middle" style="{FONT};fill:#4a5560">{name}</text>')
    for t, x in x_of.items():
        out.append(f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{axis_y}" stroke="#e3e6e9"/>')
    if access is not None:  # the access's bytes, shaded across every row
        a1 = x_of[access.lo]
        a2 = x_of[access.hi] if access.hi > access.lo else a1
        out.append(f'<rect x="{a1}" y="{top - 4}" width="{max(a2 - a1, 2)}" height="{axis_y - top + 4}" fill="{ACCESS_FILL}" fill-opacity="0.08"/>')
        out.append(f'<line x1="{a1}" y1="{top - 4}" x2="{a1}" y2="{axis_y}" stroke="{ACCESS_FILL}" stroke-dasharray="4 3"/>')
        if a2 != a1:
            out.append(f'<line x1="{a2}" y1="{top - 4}" x2="{a2}" y2="{axis_y}" stroke="{ACCESS_FILL}" stroke-dasharray="4 3"/>')
    for i, r in enumerate(drawn):
        ry = top + i * row_h
        mark = marks.get(r.label) if not r.access else None
        tip = f"{r.label}: {r.text()}"
        note = c_sum_note(r.addr, r.length)
        if note:
            tip += f" ({note})"
        if not r.access and scene.has_array:
            tip += f"; linear position {'-' if r.linear is None else r.linear + 1}, array position {'-' if r.array is None else r.array + 1}"
        if mark:
            tip += "; " + mark[0].lstrip("◀ ")
        weight = ";font-weight:bold" if mark or r.access else ""
        out.append(f"<g><title>{escape(tip)}</title>")
        out.append(f'<text x="{pad}" y="{ry + 16}" style="{FONT}{weight}">{escape(r.label)}</text>')
        if order_cols and not r.access:
            for k, v in enumerate((r.linear, r.array)):
                cx = pad + label_w + col_w * k + col_w / 2
                out.append(f'<text x="{cx}" y="{ry + 16}" text-anchor="middle" style="{FONT}">{"-" if v is None else v + 1}</text>')
        x1 = x_of[r.lo]
        if r.hi == r.lo:  # a zero-length range or access: a diamond at its address
            fill = "url(#hatch)" if r.access else RANGE_FILL
            stroke = f' stroke="{mark[1]}" stroke-width="3"' if mark else (f' stroke="{ACCESS_FILL}"' if r.access else "")
            out.append(f'<path d="M{x1} {ry + 4} l8 9 l-8 9 l-8 -9 z" fill="{fill}"{stroke}/>')
            out.append(f'<text x="{x1 + 11}" y="{ry + 16}" style="{FONT}">len {r.length}</text>')
            end_x = x1 + 11 + text_width(f"len {r.length}")
        else:
            x2 = x_of[r.hi]
            if r.access:
                out.append(
                    f'<rect x="{x1}" y="{ry + 4}" width="{max(x2 - x1, 2)}" height="{row_h - 8}" fill="url(#hatch)" stroke="{ACCESS_FILL}" stroke-width="1.5" stroke-dasharray="5 2"/>'
                )
            else:
                stroke = f' stroke="{mark[1]}" stroke-width="3"' if mark else ""
                out.append(f'<rect x="{x1}" y="{ry + 4}" width="{max(x2 - x1, 2)}" height="{row_h - 8}" rx="3" fill="{RANGE_FILL}" fill-opacity="0.85"{stroke}/>')
            end_x = x2
        if mark:
            mx = x0 + bars_w + 8 if end_x <= x0 + bars_w else end_x + 8
            out.append(f'<text x="{mx}" y="{ry + 16}" style="{FONT};font-weight:bold" fill="{mark[1]}">{escape(mark[0])}</text>')
        if r.access and none_marks:
            mx = x0 + bars_w + 8 if end_x <= x0 + bars_w else end_x + 8
            for k, (text, colour) in enumerate(none_marks):
                out.append(f'<text x="{mx}" y="{ry + 16 + k * LINE_H}" style="{FONT};font-weight:bold" fill="{colour}">{escape(text)}</text>')
        out.append("</g>")
    out.append(f'<line x1="{x0}" y1="{axis_y}" x2="{x0 + bars_w}" y2="{axis_y}" stroke="#333"/>')
    for (t, x), label in zip(x_of.items(), tick_texts):
        out.append(f'<line x1="{x}" y1="{axis_y}" x2="{x}" y2="{axis_y + 4}" stroke="#333"/>')
        out.append(f'<text x="{x}" y="{axis_y + 14}" transform="rotate(35 {x} {axis_y + 14})" style="{FONT}">{escape(label)}</text>')
    # legend
    lx, ly = pad, legend_y
    out.append(f'<rect x="{lx}" y="{ly}" width="22" height="12" rx="2" fill="{RANGE_FILL}" fill-opacity="0.85"/>')
    out.append(f'<text x="{lx + 28}" y="{ly + 10}" style="{FONT}">registered range</text>')
    lx += 28 + text_width("registered range") + 16
    out.append(f'<rect x="{lx}" y="{ly}" width="22" height="12" fill="url(#hatch)" stroke="{ACCESS_FILL}" stroke-dasharray="5 2"/>')
    out.append(f'<text x="{lx + 28}" y="{ly + 10}" style="{FONT}">the operation</text>')
    lx += 28 + text_width("the operation") + 16
    if scene.reference:
        out.append(f'<rect x="{lx}" y="{ly}" width="22" height="12" fill="none" stroke="{REF_MARK}" stroke-width="3"/>')
        out.append(f'<text x="{lx + 28}" y="{ly + 10}" style="{FONT}">reference\'s choice</text>')
        lx += 28 + text_width("reference's choice") + 16
    if scene.chosen and scene.chosen != scene.reference:
        out.append(f'<rect x="{lx}" y="{ly}" width="22" height="12" fill="none" stroke="{BUS_MARK}" stroke-width="3"/>')
        out.append(f'<text x="{lx + 28}" y="{ly + 10}" style="{FONT}">{escape(scene.bus_name)}\'s choice</text>')
    fy = legend_y + 22 + 11
    for line in foot:
        out.append(f'<text x="{pad}" y="{fy}" style="{FONT};fill:#4a5560">{escape(line)}</text>')
        fy += LINE_H
    out.append("</svg>")
    return "\n".join(out)


PALETTE = ("#333333", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6cab", "#2e4057")


def cost_plot(
    series: Mapping[str, Sequence[tuple[int, float]]],
    marked: Mapping[str, tuple[int, float]],
    title: str,
    notes: Mapping[str, str] | None = None,
) -> str:
    """Lines of cost per access against device count, both axes log2; ``marked``
    gives one point per bus (the patch's experiment), drawn as a ringed dot.
    ``notes``: a second legend line per bus (e.g. a plugin bus that does not report
    its comparator calls: its line counts device callbacks only, drawn dotted)."""
    notes = dict(notes or {})
    left, top, bottom, w, h = 64, 34, 48, 520, 300
    legend_texts = [*series, *notes.values(), "the patch's experiment", "(200 ioeventfds, 1 byte)"]
    legend_texts += [f"{b} (= {b})" for b in series]
    right = max(250, int(42 + 12 + max(text_width(t) for t in legend_texts)))
    xs = [n for pts in series.values() for n, _ in pts] + [n for n, _ in marked.values()]
    ys = [c for pts in series.values() for _, c in pts] + [c for _, c in marked.values()]
    xmax = max(xs + [2])
    ymax = max(ys + [2])
    # a cost of 0 (a bus that offers no device and reports no comparison) has no place on a log
    # axis: it gets a row of its own below 1, rather than being drawn as 1
    zero = 28 if any(c <= 0 for c in ys) else 0
    lx = lambda n: left + w * math.log2(max(n, 1)) / math.log2(xmax)  # noqa: E731
    ly = lambda c: top + h - 7 if c <= 0 else top + (h - zero) - (h - zero) * math.log2(max(c, 1)) / math.log2(ymax)  # noqa: E731
    rows = len(series) + len(notes)
    W, H = left + w + right, max(top + h + bottom, top + 12 + rows * 18 + 48)
    title_w = 8 + text_width(title, bold=True) + 8
    W = max(W, int(title_w))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{W}" height="{H}" fill="#fff"/>',
        f'<text x="8" y="18" style="{FONT};font-weight:bold">{escape(title)}</text>',
    ]
    n = 1
    while n <= xmax:
        x = lx(n)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + h}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + h + 16}" text-anchor="middle" style="{FONT}">{n}</text>')
        n *= 2
    c = 1
    while c <= ymax:
        y = ly(c)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" style="{FONT}">{c}</text>')
        c *= 2
    if zero:
        out.append(f'<line x1="{left}" y1="{ly(0)}" x2="{left + w}" y2="{ly(0)}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{ly(0) + 4}" text-anchor="end" style="{FONT}">0</text>')
        y_break = top + h - zero + 9
        out.append(f'<path d="M{left - 5} {y_break + 3} L{left + 5} {y_break - 3}" stroke="#333"/>')  # the axis break
    out.append(f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{left + w / 2}" y="{top + h + 36}" text-anchor="middle" style="{FONT}">devices registered (log scale)</text>')
    out.append(
        f'<text x="14" y="{top + h / 2}" transform="rotate(-90 14 {top + h / 2})" text-anchor="middle" style="{FONT}">'
        "comparator + callback calls per access (log)</text>"
    )
    same: dict[str, str] = {}  # a series identical to an earlier one hides under it: say so
    for i, (bus, pts) in enumerate(series.items()):
        for other, opts in list(series.items())[:i]:
            if list(opts) == list(pts) and other not in same:
                same[bus] = other
                break
    ly_leg = top + 12
    labelled: dict[tuple[int, int], float] = {}
    labelled_at: list[tuple[int, int]] = []
    for i, (bus, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{'M' if j == 0 else 'L'}{lx(n):.1f} {ly(c):.1f}" for j, (n, c) in enumerate(pts))
        dash = ' stroke-dasharray="2 3"' if bus in notes else ' stroke-dasharray="6 3"' if i % 2 else ""
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<line x1="{left + w + 12}" y1="{ly_leg}" x2="{left + w + 36}" y2="{ly_leg}" stroke="{color}" stroke-width="2"{dash}/>')
        legend = bus + (f" (= {same[bus]})" if bus in same else "")
        out.append(f'<text x="{left + w + 42}" y="{ly_leg + 4}" style="{FONT}">{escape(legend)}</text>')
        if bus in notes:
            ly_leg += 16
            out.append(f'<text x="{left + w + 42}" y="{ly_leg + 4}" style="{FONT}" fill="#4a5560">{escape(notes[bus])}</text>')
        ly_leg += 18
        if bus in marked:
            n, c = marked[bus]
            out.append(
                f'<g><title>{escape(f"{bus}: {c:g} calls for one access with {n} devices")}</title>'
                f'<circle cx="{lx(n):.1f}" cy="{ly(c):.1f}" r="6" fill="#fff" stroke="{color}" stroke-width="2"/>'
                f'<circle cx="{lx(n):.1f}" cy="{ly(c):.1f}" r="2" fill="{color}"/></g>'
            )
            spot = (round(lx(n)), round(ly(c)))
            if labelled.get(spot) != c:  # one label per spot: equal figures say it once, others stack to the right
                dx = 9 + 14 * sum(1 for k in labelled_at if k == spot)
                labelled_at.append(spot)
                labelled.setdefault(spot, c)
                out.append(f'<text x="{lx(n) + dx:.1f}" y="{ly(c) - 6:.1f}" style="{FONT}" fill="{color}">{c:g}</text>')
    ly_leg += 8
    out.append(f'<circle cx="{left + w + 24}" cy="{ly_leg}" r="6" fill="#fff" stroke="#333" stroke-width="2"/>')
    out.append(f'<text x="{left + w + 42}" y="{ly_leg + 4}" style="{FONT}">the patch\'s experiment</text>')
    out.append(f'<text x="{left + w + 42}" y="{ly_leg + 18}" style="{FONT}">(200 ioeventfds, 1 byte)</text>')
    out.append("</svg>")
    return "\n".join(out)
