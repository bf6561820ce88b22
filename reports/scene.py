"""What a finding's picture shows: the ranges at the divergent operation.

:func:`scene_of` replays a finding's scenario on the linear reference and on
the bus under test, op by op (the VM layer, as ``replay`` does), and stops at
the first operation where they part. The :class:`Scene` holds, at that
operation, every registered range on the access's bus that overlaps the
access or that one side chose, each with its device id, its place in the
linear (registration) order and, when the bus exposes ``ranges()``, its place
in the bus's array; the access itself; and the device each side chose.
A comparator counterexample (a proof's, without scenario) becomes a scene
too, its ranges named as the finding's text names them.

One reading of a range everywhere (the README's): the bytes
``[addr, addr + u32(len))``, clipped at 2^64; a zero length names the
address alone. When the kernel's own sum ``gpa_t + int`` (the int converted
to u64) wraps, :func:`c_sum_note` says so in words.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Sequence

U64 = (1 << 64) - 1
#: up to this many ranges on the operation's bus, all are drawn; past it, only
#: those that overlap the operation or that one side chose
FEW = 6
TOP = 1 << 64


def extent(addr: int, length: int) -> tuple[int, int]:
    """The bytes ``[lo, hi)`` a range names: ``addr + u32(len)``, clipped at 2^64."""
    return addr, min(addr + (length & 0xFFFFFFFF), TOP)


def c_sum(addr: int, length: int) -> int:
    """The kernel's ``r->addr + r->len`` (``gpa_t + int``): wraps modulo 2^64."""
    return (addr + (length & U64)) & U64


def c_sum_note(addr: int, length: int) -> str:
    """Words for the reader when the C sum differs from the drawn end (it
    wraps, or the length is negative), else ""."""
    lo, hi = extent(addr, length)
    s = c_sum(addr, length)
    notes = []
    if length < 0:
        notes.append(f"len {length} is the u32 size {length & 0xFFFFFFFF:#x}")
    if addr + (length & 0xFFFFFFFF) > TOP:
        notes.append("clipped at 2^64")
    if s != hi and length != 0:
        wraps = addr + (length & U64) > U64
        notes.append(f"the kernel's addr + len {'wraps to' if wraps else 'is'} {s:#x}")
    return "; ".join(notes)


def range_text(addr: int, length: int) -> str:
    """``[0x10, 0x18)``, ``[0x1, 0x100000000) (len -1)``, ``[0x10, 0x10) (len 0)``:
    the bytes, with the C length when it is not the plain positive size."""
    from iobus_verify.model.divergence import show_range

    return show_range(addr, length)


@dataclass(frozen=True)
class SceneRange:
    label: str
    addr: int
    length: int
    linear: int | None = None  # place in the linear (registration) order, 0-based
    array: int | None = None  # place in the bus's array (ranges()), 0-based
    access: bool = False

    @property
    def lo(self) -> int:
        return extent(self.addr, self.length)[0]

    @property
    def hi(self) -> int:
        return extent(self.addr, self.length)[1]

    def text(self) -> str:
        return range_text(self.addr, self.length)

    def overlaps(self, other: "SceneRange") -> bool:
        a0, a1 = self.lo, max(self.hi, self.lo + 1)
        b0, b1 = other.lo, max(other.hi, other.lo + 1)
        return a0 < b1 and b0 < a1


@dataclass(frozen=True)
class Scene:
    """The picture of one finding (see the module docstring)."""

    ranges: tuple[SceneRange, ...]
    access: SceneRange | None = None
    op_index: int | None = None
    op_text: str = ""
    bus: str = ""  # the VM bus (pio/mmio) of the operation
    reference: str | None = None  # the device the linear reference chose
    chosen: str | None = None  # the device the bus under test chose
    bus_name: str = "bus"
    has_array: bool = False
    order_matters: bool = False
    hidden: int = 0  # registered ranges on that bus not drawn (no overlap, not chosen)
    notes: tuple[str, ...] = field(default_factory=tuple)
    replayed: bool = True  # False: drawn from the scenario text alone


def _dev_id(dev: Any) -> str:
    from iobus_verify.properties.machine import device_id  # one definition of a device's name

    return device_id(dev)


def _op_text(op: Mapping[str, Any]) -> str:
    from iobus_verify.properties.replaying import _describe

    return _describe(dict(op))


def _kind_of(op: Mapping[str, Any]) -> str:
    return str(op.get("op", ""))


def _op_range(op: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """(bus, addr, len) an op names, when it names one."""
    kind = _kind_of(op)
    if kind in ("read", "write", "probe", "ioeventfd") and "addr" in op:
        return str(op.get("bus", "mmio")), int(op["addr"]), int(op.get("len", 0))
    if kind == "coalesced_mmio" and "addr" in op:
        return "mmio", int(op["addr"]), int(op.get("size", 0))
    return None


def _build(
    bus_name: str,
    op: Mapping[str, Any],
    index: int,
    ref_ranges: Sequence[tuple[int, int, Any]],
    bus_ranges: Sequence[tuple[int, int, Any]] | None,
    reference: str | None,
    chosen: str | None,
    cls: str,
    vm_bus: str | None = None,
) -> Scene:
    named = _op_range(op)
    vm_bus = vm_bus or (named[0] if named else "mmio")
    array_index: dict[tuple[int, int, str], int] = {}
    if bus_ranges is not None:
        for k, (a, n, d) in enumerate(bus_ranges):
            array_index.setdefault((a, n, _dev_id(d)), k)
    rows = [
        SceneRange(_dev_id(d), a, n, linear=i, array=array_index.get((a, n, _dev_id(d))))
        for i, (a, n, d) in enumerate(ref_ranges)
    ]
    if bus_ranges is not None:  # ranges only the bus holds (a registration gone wrong)
        held = {(r.addr, r.length, r.label) for r in rows}
        for k, (a, n, d) in enumerate(bus_ranges):
            if (a, n, _dev_id(d)) not in held:
                rows.append(SceneRange(_dev_id(d), a, n, linear=None, array=k))
    access = None
    if named is not None:
        kind = _kind_of(op)
        label = kind if kind in ("read", "write") else f"{kind} {op.get('action', '')}".strip()
        access = SceneRange(label, named[1], named[2], access=True)
    keep_ids = {reference, chosen} - {None}
    if access is not None and len(rows) > FEW:
        shown = [r for r in rows if r.overlaps(access) or r.label in keep_ids or (r.addr, r.length) == (access.addr, access.length)]
    else:
        shown = list(rows)
    if len(shown) > 40:
        shown = [r for r in shown if r.label in keep_ids] + [r for r in shown if r.label not in keep_ids][: 40 - len(keep_ids)]
    order_matters = cls in ("REORDERED", "invariant.order") or (
        bus_ranges is not None and [r.label for r in sorted(shown, key=lambda r: (r.array is None, r.array or 0))]
        != [r.label for r in shown]
    )
    notes = []
    for r in shown + ([access] if access is not None else []):
        n = c_sum_note(r.addr, r.length)
        if n:
            notes.append(f"{r.label} {r.text()}: {n}")
    return Scene(
        tuple(shown),
        access,
        index,
        _op_text(op),
        vm_bus,
        reference,
        chosen,
        bus_name,
        bus_ranges is not None,
        order_matters,
        len(rows) - len(shown),
        tuple(notes),
    )


def _ranges(vm: Any, bus: str) -> list | None:
    b = vm.buses.get(bus) if isinstance(getattr(vm, "buses", None), dict) else None
    r = getattr(b, "ranges", None)
    if not callable(r):
        return None
    try:
        return list(r())
    except Exception:  # noqa: BLE001 - a plugin's ranges() may be broken: draw without it
        return None


def replay_scene(spec: Any, scenario: Mapping[str, Any]) -> Scene | None:
    """Replay ``scenario`` on the reference and ``spec`` up to the first
    operation where they part and return its :class:`Scene` (None when
    nothing parts, or the VM rejects the scenario)."""
    from iobus_verify.model import divergence, vm
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.machine import ranges_snapshot, structural_failure

    era = scenario.get("era") or getattr(spec, "era", None)
    cap = scenario.get("capacity")
    alloc = bool(getattr(spec, "accepts_alloc", True))
    try:
        ref = vm.VM(resolve("linear"), era=era, capacity=cap, alloc_faults=alloc, op_timeout=None)
        bus = vm.VM(spec, era=era, capacity=cap, alloc_faults=alloc)
    except Exception:  # noqa: BLE001
        return None
    name = getattr(spec, "name", "bus")
    for i, op in enumerate(scenario.get("ops", ())):
        named = _op_range(op)
        where = named[0] if named else "mmio"
        ref_before, bus_before = _ranges(ref, where) or [], _ranges(bus, where)
        before = ranges_snapshot(bus)
        try:
            r = ref.apply(op)
            b = bus.apply(op)
        except Exception:  # noqa: BLE001 - the scenario is not valid here
            return None
        if getattr(b, "error", None):
            return _build(name, op, i, ref_before, bus_before, r.device, None, "ERROR")
        d = divergence.classify(op, r, b)
        if d is not None:
            if _kind_of(op) in ("read", "write"):
                return _build(name, op, i, ref_before, bus_before, r.device, b.device, d.value)
            return _build(name, op, i, _ranges(ref, where) or [], _ranges(bus, where), None, None, d.value)
        broken = structural_failure(spec, ref, bus, before)
        if broken is not None:
            return _build(name, op, i, _ranges(ref, where) or [], _ranges(bus, where), None, None, broken[0])
    return None


@lru_cache(maxsize=256)
def _cached_scene(spec_text: str, scenario_json: str) -> Scene | None:
    from iobus_verify.model.spec import resolve

    try:
        spec = resolve(spec_text)
    except Exception:  # noqa: BLE001 - a plugin no longer where it was: drawn from the text
        return None
    try:
        return replay_scene(spec, json.loads(scenario_json))
    except Exception:  # noqa: BLE001
        return None


def static_scene(scenario: Mapping[str, Any], bus_name: str = "bus") -> Scene | None:
    """The scene of the scenario's last access, read from its text alone
    (ranges live on that access's bus, fixed devices left out)."""
    live: dict[str, tuple[str, int, int]] = {}
    last = None
    for i, op in enumerate(scenario.get("ops", [])):
        kind, action = op.get("op"), op.get("action")
        ident = str(op.get("id", ""))
        if kind in ("probe", "ioeventfd") and action in ("register", "assign"):
            live[ident] = (op.get("bus", "mmio"), int(op.get("addr", 0)), int(op.get("len", 0)))
        elif kind == "coalesced_mmio" and action == "register":
            live[ident] = ("mmio", int(op.get("addr", 0)), int(op.get("size", 0)))
        elif action in ("unregister", "deassign"):
            live.pop(ident, None)
        elif kind in ("read", "write"):
            last = (i, op, dict(live))
    if last is None:
        return None
    i, op, snapshot = last
    bus = op.get("bus", "mmio")
    ranges = [(a, n, _Named(k)) for k, (b, a, n) in snapshot.items() if b == bus]
    s = _build(bus_name, op, i, ranges, None, None, None, "")
    return Scene(**{**s.__dict__, "replayed": False})


@dataclass(frozen=True)
class _Named:
    id: str


_NAME_AT = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)\s*=\s*\[(0x[0-9a-f]+),")


def counterexample_labels(ce: Sequence[Mapping[str, Any]], explanation: str) -> list[str]:
    """Names for a comparator counterexample's ranges, as its text names them
    (``x=[0x0, ...``, ``e1=[...``), else ``a``, ``b``, ``c``... in order (as
    ``cmp(a,b)`` does); an access is named ``access``."""
    named = [(m.group(1), int(m.group(2), 16)) for m in _NAME_AT.finditer(explanation or "")]
    out, k, used = [], 0, set()
    for e in ce:
        if e.get("role") in ("access", "key"):
            out.append(str(e.get("label") or "access"))
            continue
        got = None
        for j, (nm, a) in enumerate(named):
            if j not in used and a == int(e["addr"]):
                got = nm
                used.add(j)
                break
        if got is None:
            got = str(e.get("label") or "abcdefghijklmnopqrstuvwxyz"[k % 26])
        k += 1
        out.append(got)
    return out


def counterexample_scene(ce: Sequence[Mapping[str, Any]], explanation: str, bus_name: str = "bus") -> Scene:
    labels = counterexample_labels(ce, explanation)
    rows, access = [], None
    for e, label in zip(ce, labels):
        r = SceneRange(label, int(e["addr"]), int(e["len"]), access=e.get("role") in ("access", "key"))
        if r.access:
            access = r
        else:
            rows.append(r)
    notes = tuple(f"{r.label} {r.text()}: {n}" for r in rows + ([access] if access else []) if (n := c_sum_note(r.addr, r.length)))
    return Scene(tuple(rows), access, bus_name=bus_name, notes=notes)


def finding_scene(result: Any, spec_text: str | None = None, bus_name: str = "bus") -> Scene | None:
    """The scene of a result's finding: its scenario replayed (when the bus
    resolves), else its counterexample, else its scenario read as text."""
    f = result.finding
    if f is None:
        return None
    if f.scenario and spec_text:
        s = _cached_scene(spec_text, json.dumps(f.scenario))
        if s is not None:
            return s
    if f.counterexample:
        return counterexample_scene(f.counterexample, f.explanation, bus_name)
    if f.scenario:
        return static_scene(f.scenario, bus_name)
    return None
