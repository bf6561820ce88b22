"""SVG pictures: the interval diagram of a counterexample and the lookup-cost plot.

Both are plain SVG strings with every text escaped, meant to be inlined in the
HTML reports (no script, no external reference) and also written as ``.svg``
files for the Markdown ones.

The interval diagram draws each registered range as a bar and the access as a
bar of another colour, with a dashed line at the access's first byte across
all rows, so that a nest (one bar inside another), an overlap or a range
wrapping past the top of the 64-bit space is visible at once. The horizontal
axis is *ordinal*: every start and end gets its own evenly spaced tick,
labelled in hex, because real counterexamples mix 0x0 with 0xffff_ffff_ffff_fff0.
A range ``[addr, addr + len)`` is read as the kernel does (``gpa_t + int``: the
int converted to u64, the sum wrapping); a wrapping range is drawn as two
pieces joined by arrows at the ends of the axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any, Iterable, Mapping, Sequence

from iobus_verify.model.cints import U64_MAX

TOP = U64_MAX + 1
RANGE_FILL = "#4f7cac"
ACCESS_FILL = "#d1495b"
FONT = "font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px"


@dataclass(frozen=True)
class Interval:
    """A range as the bus sees it. ``length`` is the C int (or size) given."""

    label: str
    addr: int
    length: int
    access: bool = False
    count: int = 1  # identical ranges drawn as one row "×count"

    @property
    def size(self) -> int:
        return self.length & U64_MAX  # C: int converted to u64 when added to gpa_t

    @property
    def end(self) -> int:
        """One past the last byte, without wrapping (may exceed 2**64)."""
        return self.addr + self.size

    @property
    def wraps(self) -> bool:
        return self.end > TOP

    def pieces(self) -> list[tuple[int, int]]:
        if not self.wraps:
            return [(self.addr, self.end)]
        return [(self.addr, TOP), (0, self.end - TOP)]

    def text(self) -> str:
        return hex_range(self.addr, self.length)


def hex_range(addr: int, length: int) -> str:
    """``[0x10, 0x18)``; a wrapping range shows where it lands; len is printed as given."""
    size = length & U64_MAX
    end = addr + size
    tail = f"{end:#x})" if end <= TOP else f"2^64) + [0x0, {end - TOP:#x})"
    lenpart = f"len {length}" if length >= 0 else f"len {length} = u64 {size:#x}"
    return f"[{addr:#x}, {tail}  ({lenpart})"


def intervals_from_counterexample(ce: Sequence[Mapping[str, Any]]) -> list[Interval]:
    """Entries ``{"addr", "len", "role"?, "label"?}``; role ``access``/``key`` is the access."""
    out = []
    n = 0
    for e in ce:
        is_access = e.get("role") in ("access", "key")
        if not is_access:
            n += 1
        label = str(e.get("label") or ("access" if is_access else f"r{n}"))
        out.append(Interval(label, int(e["addr"]), int(e["len"]), is_access))
    return out


def intervals_from_scenario(scenario: Mapping[str, Any]) -> list[Interval]:
    """The ranges live on the bus of the scenario's last access, when it runs,
    plus that access. Fixed devices (irqchip, PIT) are not drawn."""
    live: dict[str, tuple[str, int, int]] = {}  # id -> (bus, addr, len), in registration order
    last = None
    for op in scenario.get("ops", []):
        kind, action = op.get("op"), op.get("action")
        ident = str(op.get("id", ""))
        if kind in ("probe", "ioeventfd") and action in ("register", "assign"):
            live[ident] = (op.get("bus", "mmio"), int(op.get("addr", 0)), int(op.get("len", 0)))
        elif kind == "coalesced_mmio" and action == "register":
            live[ident] = ("mmio", int(op.get("addr", 0)), int(op.get("size", 0)))
        elif action in ("unregister", "deassign"):
            live.pop(ident, None)
        elif kind in ("read", "write"):
            last = (op.get("bus", "mmio"), int(op.get("addr", 0)), int(op.get("len", 0)), kind, dict(live))
    if last is None:
        return [Interval(i, a, n) for i, (_, a, n) in live.items()]
    bus, addr, length, kind, snapshot = last
    rows = [Interval(i, a, n) for i, (b, a, n) in snapshot.items() if b == bus]
    return rows + [Interval(f"{kind} ({bus})", addr, length, access=True)]


def _merge_identical(rows: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for r in rows:
        prev = out[-1] if out else None
        if prev is not None and (prev.addr, prev.length, prev.access) == (r.addr, r.length, r.access):
            out[-1] = Interval(prev.label, prev.addr, prev.length, prev.access, prev.count + 1)
        else:
            out.append(r)
    return out


def interval_diagram(rows: Sequence[Interval], title: str = "", max_rows: int = 40) -> str:
    """The SVG interval diagram of ``rows`` (see the module docstring)."""
    rows = _merge_identical(rows)
    hidden = 0
    if len(rows) > max_rows:
        accesses = [r for r in rows if r.access]
        keep = [r for r in rows if not r.access][: max_rows - len(accesses)]
        hidden = len(rows) - len(keep) - len(accesses)
        rows = keep + accesses
    points = {0, TOP} if any(r.wraps for r in rows) else set()
    for r in rows:
        for a, b in r.pieces():
            points.update((a, b))
    ticks = sorted(points) or [0, 1]
    if len(ticks) == 1:
        ticks.append(ticks[0] + 1)
    left, right, row_h, top = 170, 90, 26, 30 if title else 12
    step = max(46, min(120, 560 // max(1, len(ticks) - 1)))
    width = left + step * (len(ticks) - 1) + right
    axis_y = top + row_h * len(rows) + 8
    height = axis_y + 80 + (16 if hidden else 0)
    x_of = {t: left + i * step for i, t in enumerate(ticks)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f"<title>{escape(title or 'interval diagram')}</title>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    if title:
        out.append(f'<text x="8" y="18" style="{FONT};font-weight:bold">{escape(title)}</text>')
    for t, x in x_of.items():
        out.append(f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{axis_y}" stroke="#ddd"/>')
    access = next((r for r in rows if r.access), None)
    for i, r in enumerate(rows):
        y = top + i * row_h
        fill = ACCESS_FILL if r.access else RANGE_FILL
        name = r.label + (f" ×{r.count}" if r.count > 1 else "")
        out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" style="{FONT}">{escape(name[:24])}</text>')
        out.append(f"<g><title>{escape(name + ': ' + r.text())}</title>")
        if r.size == 0:  # an empty (or wildcard) range: a diamond at its address
            x = x_of[r.addr]
            out.append(f'<path d="M{x} {y + 4} l7 8 l-7 8 l-7 -8 z" fill="{fill}"/>')
            out.append(f'<text x="{x + 10}" y="{y + 16}" style="{FONT}">len 0</text>')
        for a, b in r.pieces():
            x1, x2 = x_of[a], x_of[b]
            out.append(f'<rect x="{x1}" y="{y + 4}" width="{max(x2 - x1, 2)}" height="{row_h - 8}" rx="3" fill="{fill}" fill-opacity="0.85"/>')
        if r.wraps:
            out.append(f'<text x="{x_of[TOP] + 3}" y="{y + 16}" style="{FONT}" fill="{fill}">→</text>')
            out.append(f'<text x="{x_of[0] - 14}" y="{y + 16}" style="{FONT}" fill="{fill}">→</text>')
        out.append("</g>")
    if access is not None:
        x = x_of[access.addr]
        out.append(f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{axis_y}" stroke="{ACCESS_FILL}" stroke-dasharray="4 3"/>')
    out.append(f'<line x1="{left}" y1="{axis_y}" x2="{x_of[ticks[-1]]}" y2="{axis_y}" stroke="#333"/>')
    for t, x in x_of.items():
        label = "2^64" if t == TOP else f"{t:#x}"
        out.append(f'<line x1="{x}" y1="{axis_y}" x2="{x}" y2="{axis_y + 4}" stroke="#333"/>')
        out.append(
            f'<text x="{x}" y="{axis_y + 14}" transform="rotate(35 {x} {axis_y + 14})" style="{FONT}">{escape(label)}</text>'
        )
    if hidden:
        out.append(f'<text x="8" y="{height - 6}" style="{FONT}">… {hidden} more ranges not drawn</text>')
    out.append("</svg>")
    return "\n".join(out)


PALETTE = ("#333333", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6cab", "#2e4057")


def cost_plot(series: Mapping[str, Sequence[tuple[int, float]]], marked: Mapping[str, tuple[int, float]], title: str) -> str:
    """Lines of cost per access against device count, both axes log2; ``marked``
    gives one point per bus (the patch's experiment), drawn as a ringed dot."""
    left, right, top, bottom, w, h = 64, 250, 34, 48, 520, 300
    xs = [n for pts in series.values() for n, _ in pts] + [n for n, _ in marked.values()]
    ys = [c for pts in series.values() for _, c in pts] + [c for _, c in marked.values()]
    xmax = max(xs + [2])
    ymax = max(ys + [2])
    lx = lambda n: left + w * math.log2(max(n, 1)) / math.log2(xmax)  # noqa: E731
    ly = lambda c: top + h - h * math.log2(max(c, 1)) / math.log2(ymax)  # noqa: E731
    W, H = left + w + right, top + h + bottom
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
    for i, (bus, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{'M' if j == 0 else 'L'}{lx(n):.1f} {ly(c):.1f}" for j, (n, c) in enumerate(pts))
        dash = ' stroke-dasharray="6 3"' if i % 2 else ""
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        ly_leg = top + 12 + i * 18
        out.append(f'<line x1="{left + w + 12}" y1="{ly_leg}" x2="{left + w + 36}" y2="{ly_leg}" stroke="{color}" stroke-width="2"{dash}/>')
        legend = bus + (f" (= {same[bus]})" if bus in same else "")
        out.append(f'<text x="{left + w + 42}" y="{ly_leg + 4}" style="{FONT}">{escape(legend)}</text>')
        if bus in marked:
            n, c = marked[bus]
            out.append(
                f'<g><title>{escape(f"{bus}: {c:g} calls for one access with {n} devices")}</title>'
                f'<circle cx="{lx(n):.1f}" cy="{ly(c):.1f}" r="6" fill="#fff" stroke="{color}" stroke-width="2"/>'
                f'<circle cx="{lx(n):.1f}" cy="{ly(c):.1f}" r="2" fill="{color}"/></g>'
            )
            out.append(f'<text x="{lx(n) + 9:.1f}" y="{ly(c) - 6:.1f}" style="{FONT}" fill="{color}">{c:g}</text>')
    ly_leg = top + 12 + len(series) * 18 + 8
    out.append(f'<circle cx="{left + w + 24}" cy="{ly_leg}" r="6" fill="#fff" stroke="#333" stroke-width="2"/>')
    out.append(f'<text x="{left + w + 42}" y="{ly_leg + 4}" style="{FONT}">the patch\'s experiment</text>')
    out.append(f'<text x="{left + w + 42}" y="{ly_leg + 18}" style="{FONT}">(200 ioeventfds, 1 byte)</text>')
    out.append("</svg>")
    return "\n".join(out)
