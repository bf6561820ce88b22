"""Strengthening a witness: does its divergence also show under a stronger condition?

A finding's condition is the strongest ladder rung its witness satisfies. The
search finds a class on whichever rung its survey happened to reach first, so
a REORDERED found with nested ranges on one seed may, on another, be found
with ranges that only overlap: the same bug, a stronger finding. Left to the
seed, the condition (part of a finding's identity) would be too.

:func:`strengthen` closes that gap deterministically. For each rung stronger
than the witness's, strongest first, it *refits* the witness into the rung
with the same repairs the strategies use (:func:`~iobus_verify.properties.
strategies.fit_range` for every registration against what is live on its bus,
positive lengths and no wrap for every access, an access moved inside a live
range where the rung asks for it), trying the last access at the original
place and then at each live range's first and last byte (where an order or
containment difference shows). The first refit that still diverges with the
same class, and satisfies the rung, is the stronger witness. Every candidate
is checked by replay, so a refit can only ever report what the bus does.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from iobus_verify.model import conditions as C
from iobus_verify.model.cints import INT as _INT  # the concrete domain of the atoms
from iobus_verify.model.cints import U32_MAX, c_int
from iobus_verify.properties import strategies as S


def _bus_of(op: dict[str, Any]) -> str | None:
    if op["op"] == "coalesced_mmio":
        return "pio" if op.get("pio") == 1 else "mmio"
    return op.get("bus")


def refit(scenario: dict[str, Any], rung: C.Condition, era: str | None, last_at: int | None = None) -> dict[str, Any] | None:
    """``scenario`` with every registration and access repaired into ``rung``
    (see the module docstring); ``last_at`` moves the last access's first byte
    there. None when a registration cannot be placed."""
    from iobus_verify.model.spec import resolve
    from iobus_verify.model.vm import VM

    out = copy.deepcopy(scenario)
    vm = VM(resolve("linear"), era=out.get("era") or era or "today", capacity=out.get("capacity"), op_timeout=None)
    ops = out["ops"]
    last_access = max((i for i, o in enumerate(ops) if o["op"] in ("read", "write")), default=None)
    kept = []
    for i, op in enumerate(ops):
        bus = _bus_of(op)
        live = [(a, n) for a, n, _ in vm.buses[bus].ranges()] if bus in ("pio", "mmio") else []
        act = op.get("action")
        if op["op"] in ("probe", "ioeventfd") and act in ("register", "assign"):
            r = S.fit_range(rung, (op["addr"], op["len"]), live)
            if r is None:
                return None
            op["addr"], op["len"] = r
        elif op["op"] == "coalesced_mmio" and act == "register":
            r = S.fit_range(rung, (op["addr"], c_int(op["size"])), live)
            if r is None:
                return None
            op["addr"], op["size"] = r[0], r[1] & U32_MAX
        elif op["op"] == "coalesced_mmio" and act == "unregister" and op.get("id"):
            op.pop("addr", None)  # the zone may have moved: unregister it by id
            op.pop("size", None)
        elif op["op"] in ("read", "write"):
            addr, length = S._fix_unary(rung, (op["addr"], op["len"])) if rung.unary else (op["addr"], op["len"])
            if i == last_access and last_at is not None:
                addr = last_at
            if rung.access and not C.access_inside(_INT, addr, length, live):
                holding = [(a, n) for a, n in live if C.holds_byte(a, n, addr)] or live
                if not holding:
                    return None
                a, n = holding[0]
                size = min(max(length, 1), n & U32_MAX)
                addr, length = (addr if C.access_inside(_INT, addr, size, [(a, n)]) else a), size
            op["addr"], op["len"] = addr, length
            if op["op"] == "write":
                n = 2 * max(length, 0)
                op["data"] = str(op.get("data") or "")[:n].ljust(n, "0")
        try:
            vm.apply(op)
        except Exception:  # noqa: BLE001 - a refit the VM rejects is no witness
            return None
        kept.append(op)
    out["ops"] = kept
    return out


def _places(scenario: dict[str, Any], rung: C.Condition, era: str | None) -> list[int | None]:
    """Where to try the last access: where it was, then each range's first and
    last byte (ranges as registered in the scenario, refitted)."""
    base = refit(scenario, rung, era)
    if base is None:
        return []
    out: list[int | None] = [None]
    for o in base["ops"]:
        if o.get("action") in ("register", "assign") and isinstance(o.get("addr"), int):
            n = o.get("len") if "len" in o else c_int(o.get("size", 0))
            size = (n & U32_MAX) or 1
            for at in (o["addr"], o["addr"] + size - 1):
                if at not in out and at < 1 << 64:
                    out.append(at)
    return out[:24]


def strengthen(
    scenario: dict[str, Any], rank: int, era: str | None, reproduces: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], int] | None:
    """A witness on a rung stronger than ``rank`` (an index into
    ``conditions.LADDER``) that ``reproduces`` accepts, with its rank; None
    when no refit keeps the divergence."""
    for k, rung in enumerate(C.LADDER[:rank]):
        for at in _places(scenario, rung, era):
            cand = refit(scenario, rung, era, at)
            if cand is None or not cand["ops"]:
                continue
            got = C.rung_of(cand, era)
            got_rank = [r.name for r in C.LADDER].index(got.name)
            if got_rank <= k and reproduces(cand):
                return cand, got_rank
    return None

