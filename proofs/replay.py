"""Lookup counterexamples as ``iobus-scenario/1`` objects, replayed on the concrete model.

A counterexample (ranges in registration order + one access) becomes a scenario
of ``probe`` registrations followed by one ``write``. :func:`replay_scenario`
runs it on the linear reference and on the variant with probe devices that
accept exactly the accesses inside their range
(:func:`~iobus_verify.proofs.encode.probe_accepts` on ints, the same definition
the z3 encoding uses) and reports which device handled the write on each.
:func:`replay_obligation` re-checks the obligation itself on the concrete
:class:`RangeBus` (array, bsearch position, walk-back, offered devices).
Neither trusts the encoding: they run the model's code on Python ints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from iobus_verify.model.cints import INT
from iobus_verify.model.kbsearch import BSEARCHES
from iobus_verify.model.linear_bus import LinearBus
from iobus_verify.model.protocol import EOPNOTSUPP
from iobus_verify.model.sorted_bus import REGISTRY, RangeBus
from iobus_verify.proofs.encode import ProofVariant, probe_accepts

SCHEMA = "iobus-scenario/1"


def build_scenario(ranges: Sequence[dict[str, int]], access: dict[str, int]) -> dict[str, Any]:
    """Probes ``p1..pn`` registered in order on the MMIO bus, then one write of the access."""
    ops: list[dict[str, Any]] = [
        {"op": "probe", "action": "register", "id": f"p{i + 1}", "bus": "mmio", "addr": r["addr"], "len": r["len"], "accepts": "range"}
        for i, r in enumerate(ranges)
    ]
    ops.append({"op": "write", "bus": "mmio", "addr": access["addr"], "len": access["len"], "data": "00" * access["len"]})
    return {"schema": SCHEMA, "ops": ops}


class Probe:
    """A device that accepts exactly the accesses inside its registered range; logs what it handled."""

    def __init__(self, pid: str, addr: int, length: int, log: list[str] | None = None) -> None:
        self.id, self.addr, self.len = pid, addr, length
        self.log = [] if log is None else log

    def _mine(self, addr: int, length: int) -> bool:
        return bool(probe_accepts(INT, addr, length, self.addr, self.len))

    def write(self, addr: int, length: int, data: bytes) -> int:
        if self._mine(addr, length):
            self.log.append(self.id)
            return 0
        return -EOPNOTSUPP

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        if self._mine(addr, length):
            self.log.append(self.id)
            return 0, bytes(length)
        return -EOPNOTSUPP, b""


@dataclass(frozen=True)
class WriteOutcome:
    rc: int
    device: str | None


def _run(bus: Any, scenario: dict[str, Any]) -> list[WriteOutcome]:
    log: list[str] = []
    outs = []
    for op in scenario["ops"]:
        if op["op"] == "probe" and op["action"] == "register":
            rc = bus.register(op["addr"], op["len"], Probe(op["id"], op["addr"], op["len"], log))
            if rc:
                raise ValueError(f"probe {op['id']} could not register on {type(bus).__name__}: rc {rc}")
        elif op["op"] == "write":
            log.clear()
            rc = bus.write(op["addr"], op["len"], bytes.fromhex(op["data"]))
            outs.append(WriteOutcome(rc, log[0] if log else None))
        else:
            raise ValueError(f"op {op['op']!r} is not produced by the proofs' scenarios")
    return outs


def replay_scenario(scenario: dict[str, Any], variant: str) -> tuple[list[WriteOutcome], list[WriteOutcome]]:
    """(linear outcomes, variant outcomes) of every write of ``scenario``."""
    return _run(LinearBus(), scenario), _run(REGISTRY[variant].factory(), scenario)


def diverges(scenario: dict[str, Any], variant: str) -> bool:
    lin, bus = replay_scenario(scenario, variant)
    return lin != bus


def replay_obligation(pv: ProofVariant, obligation: str, ranges: Sequence[dict[str, int]], access: dict[str, int]) -> bool:
    """True when the concrete bus really violates ``obligation`` on these ranges and this access."""
    v = pv.variant
    bus = RangeBus(v, capacity=max(len(ranges), 1))
    devs = [Probe(f"p{i + 1}", r["addr"], r["len"]) for i, r in enumerate(ranges)]
    for r, d in zip(ranges, devs):
        if bus.register(r["addr"], r["len"], d) != 0:
            return False
    arr = bus.ranges()
    key = (access["addr"], access["len"])
    eq = [v.match_cmp(INT, key[0], key[1], a, n) == 0 for a, n, _ in arr]
    if obligation == "lookup.bsearch_complete":
        return BSEARCHES[v.bsearch](key, arr, bus._match_cmp).index is None and any(eq)
    if obligation == "lookup.matches_contiguous":
        idx = [i for i, e in enumerate(eq) if e]
        return bool(idx) and idx != list(range(idx[0], idx[-1] + 1))
    if obligation == "lookup.walkback_first":
        first = bus._first(key)
        return first is not None and any(eq[:first])
    if obligation == "lookup.equivalent_to_linear":
        offered = list(bus._candidates(*key))
        acc = [d for d in devs if d._mine(*key)]
        return [d for d in offered if d in acc] != acc
    raise ValueError(f"unknown lookup obligation {obligation!r}")
