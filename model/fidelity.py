"""Fidelity: the same random scenarios on two buses, side by side.

``iobus-verify fidelity --bus kernel:PATH --model VARIANT`` answers "is this
model the kernel's code?" for the trees a user has: each scenario runs on a VM
over the bus and a VM over the model, both under the same era and capacity
(the bus's era, so device and ioctl rules are equal and only the buses
differ), and after every op the two are compared: the result (rc), the
device whose callback took the access, the data a read returned, an error
(crash, hang), the device logs (what each device saw, destructor calls
included), and the bus arrays (``ranges()``: order and content) where both
buses have one. A scenario agrees when every op does. The first
disagreements are written as ``iobus-scenario/1`` files that ``replay``
re-runs.

Scenarios are drawn from ``random.Random(seed)`` (not Hypothesis: thousands of
independent, reproducible draws, no shrinking needed to compare two buses):
registrations on a few bases with small offsets, so ranges nest, overlap,
share starts and pile up; lengths around 0, negatives, the sign and u32
boundaries; accesses of 0 to 16 bytes; allocation failures; and, one
scenario in three, a small capacity so that full buses are reached.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iobus_verify.errors import UsageError

_BASES = (0x0, 0x20, 0x40, 0x61, 0xA0, 0x4D0, 0x1000, 0x100000, 0xFEC00000, 2**32 - 4, 2**63 - 2, 2**64 - 8)
_RANGE_LENS = (0, 1, 2, 3, 4, 8, 16, 64, -1, -8, 2**31 - 1, -(2**31))
_ACCESS_LENS = (0, 1, 2, 4, 8, 3, 16, -1)
_ZONE_SIZES = (0, 1, 2, 4, 8, 16, 4096, 2**31, 2**32 - 1)
_SMALL_CAPACITIES = (2, 4, 8)


@dataclass(frozen=True)
class Disagreement:
    """The first op where the two runs of one scenario differ."""

    index: int  # scenario number
    op: int
    what: str  # e.g. "rc: bus 0, model -ENOENT"
    path: str | None  # where the scenario was written


@dataclass(frozen=True)
class FidelityResult:
    bus: str
    model: str
    era: str
    n: int
    seed: int
    agreed: int
    disagreements: tuple[Disagreement, ...]  # every one (paths only for the first few)
    seconds: float


def _addr(rng: random.Random) -> int:
    return (rng.choice(_BASES) + rng.randint(-2, 8)) % 2**64


def draw_scenario(rng: random.Random, era: str) -> dict[str, Any]:
    """One random scenario (a JSON object of ``iobus-scenario/1``)."""
    ops: list[dict[str, Any]] = []
    if rng.random() < 0.5:
        ops.append({"op": "create_irqchip"})
        if rng.random() < 0.5:
            ops.append({"op": "create_pit2", "speaker": rng.random() < 0.5})
    ids: dict[str, list[str]] = {"probe": [], "ioeventfd": [], "zone": []}
    count = 0

    def fresh(kind: str) -> str:
        nonlocal count
        count += 1
        name = f"{kind[0]}{count}"
        ids[kind].append(name)
        return name

    def access_addr() -> int:
        # mostly near a registered range's start, else near a base
        regs = [o for o in ops if o.get("addr") is not None and o.get("action") in ("register", "assign")]
        if regs and rng.random() < 0.7:
            o = rng.choice(regs)
            span = o.get("len", o.get("size", 1)) or 1
            span = span if 0 < span <= 64 else 8
            return (o["addr"] + rng.randint(-1, span)) % 2**64
        return _addr(rng)

    for _ in range(rng.randint(4, 28)):
        bus = "pio" if rng.random() < 0.3 else "mmio"
        k = rng.random()
        if k < 0.26:
            ops.append({"op": "probe", "action": "register", "id": fresh("probe"), "bus": bus, "addr": _addr(rng),
                        "len": rng.choice(_RANGE_LENS), "accepts": "range" if rng.random() < 0.8 else "none"})
        elif k < 0.33 and ids["probe"]:
            ops.append({"op": "probe", "action": "unregister", "id": rng.choice(ids["probe"])})
        elif k < 0.45:
            ops.append({"op": "ioeventfd", "action": "assign", "id": fresh("ioeventfd"), "bus": bus, "addr": _addr(rng),
                        "len": rng.choice((0, 1, 2, 4, 8)), "datamatch": None if rng.random() < 0.6 else rng.randint(0, 3)})
        elif k < 0.50 and ids["ioeventfd"]:
            ops.append({"op": "ioeventfd", "action": "deassign", "id": rng.choice(ids["ioeventfd"])})
        elif k < 0.57:
            z = {"op": "coalesced_mmio", "action": "register", "id": fresh("zone"), "addr": _addr(rng), "size": rng.choice(_ZONE_SIZES)}
            if era == "today" and rng.random() < 0.2:
                z["pio"] = 1
            ops.append(z)
        elif k < 0.60 and ids["zone"]:
            ops.append({"op": "coalesced_mmio", "action": "unregister", "id": rng.choice(ids["zone"])})
        elif k < 0.78:
            n = rng.choice(_ACCESS_LENS)
            ops.append({"op": "write", "bus": bus, "addr": access_addr(), "len": n,
                        "data": rng.randbytes(n).hex() if n > 0 else ""})
        elif k < 0.94:
            ops.append({"op": "read", "bus": bus, "addr": access_addr(), "len": rng.choice(_ACCESS_LENS)})
        else:
            ops.append({"op": "fail_alloc", "bus": bus})
    out: dict[str, Any] = {"schema": "iobus-scenario/1", "era": era, "ops": ops}
    if rng.random() < 1 / 3:
        out["capacity"] = rng.choice(_SMALL_CAPACITIES)
    return out


def _ranges(vm: Any) -> dict[str, Any]:
    out = {}
    for name, bus in vm.buses.items():
        if hasattr(bus, "ranges"):
            out[name] = [(a, n, getattr(d, "id", repr(d))) for a, n, d in bus.ranges()]
    return out


def compare(scenario: Any, bus_spec: Any, model_spec: Any, era: str, op_timeout: float | None) -> tuple[int, str] | None:
    """(op index, what differs) at the first op where the two VMs differ, or None."""
    from iobus_verify.model.vm import VM

    faults = bool(bus_spec.accepts_alloc and model_spec.accepts_alloc)
    a = VM(bus_spec, era=era, capacity=scenario.capacity, alloc_faults=faults, op_timeout=op_timeout)
    b = VM(model_spec, era=era, capacity=scenario.capacity, alloc_faults=faults, op_timeout=op_timeout)
    for i, op in enumerate(scenario.ops):
        sa, sb = a.apply(op), b.apply(op)
        for field in ("error", "rc", "device", "data"):
            va, vb = getattr(sa, field), getattr(sb, field)
            if va != vb:
                return i, f"{field}: bus {sa.summary()}, model {sb.summary()}"
        ra, rb = _ranges(a), _ranges(b)
        for name in ra.keys() & rb.keys():
            if ra[name] != rb[name]:
                return i, f"{name} array: bus {ra[name]}, model {rb[name]}"
        if sa.log != sb.log:
            return i, f"device logs: bus {list(sa.log)}, model {list(sb.log)}"
    return None


def run_fidelity(bus: str, model: str, n: int, seed: int, out: Path | None, keep: int = 5,
                 op_timeout: float | None = 5.0, progress: Any = None) -> FidelityResult:
    from iobus_verify.model.scenario import load_scenario, write_scenario
    from iobus_verify.model.spec import resolve

    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    bus_spec, model_spec = resolve(bus), resolve(model)
    era = bus_spec.era
    rng = random.Random(seed)
    agreed = 0
    found: list[Disagreement] = []
    t0 = time.perf_counter()
    for i in range(n):
        obj = draw_scenario(rng, era)
        obj["meta"] = {"fidelity": {"bus": bus, "model": model, "seed": seed, "index": i}}
        s = load_scenario(obj)
        diff = compare(s, bus_spec, model_spec, era, op_timeout)
        if diff is None:
            agreed += 1
        else:
            path = None
            if out is not None and len(found) < keep:
                out.mkdir(parents=True, exist_ok=True)
                path = str(write_scenario(s, out / f"fidelity-{seed}-{i}.json"))
            found.append(Disagreement(i, diff[0], diff[1], path))
        if progress is not None:
            progress(i + 1, agreed)
    return FidelityResult(bus_spec.name, model_spec.name, era, n, seed, agreed, tuple(found), time.perf_counter() - t0)


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bus", required=True, metavar="SPEC", help="the bus under test, e.g. kernel:~/src/linux")
    p.add_argument("--model", required=True, metavar="VARIANT", help="the model to hold it against, e.g. seed-2011 or upstream")
    p.add_argument("--n", type=int, default=10000, help="random scenarios to run (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="the random seed (default 0)")
    p.add_argument("--out", default="fidelity", metavar="DIR", help="where the first disagreements are written (default ./fidelity)")
    p.add_argument("--keep", type=int, default=5, help="how many disagreements to write (default 5)")
    p.add_argument("--op-timeout", type=float, default=5.0, metavar="S", help="per-op time limit, seconds (default 5)")


def run(args: argparse.Namespace) -> int:
    if args.keep < 0:
        raise UsageError(f"--keep must be >= 0, got {args.keep}")
    tty = sys.stderr.isatty()

    def progress(done: int, agreed: int) -> None:
        if tty and (done % 100 == 0 or done == args.n):
            print(f"\r{done}/{args.n} scenarios, {agreed} agree", end="", file=sys.stderr, flush=True)

    r = run_fidelity(args.bus, args.model, args.n, args.seed, Path(args.out), args.keep, args.op_timeout, progress)
    if tty:
        print(file=sys.stderr)
    print(f"fidelity {r.bus} vs {r.model} (era {r.era}, seed {r.seed}): {r.agreed}/{r.n} scenarios agree ({r.seconds:.1f} s)")
    for d in r.disagreements[: max(args.keep, 0)]:
        where = f" -> {d.path}" if d.path else ""
        print(f"  scenario {d.index}, op {d.op}: {d.what}{where}")
    if len(r.disagreements) > args.keep:
        print(f"  ... and {len(r.disagreements) - args.keep} more")
    if r.disagreements:
        print(f"replay one: iobus-verify replay SCENARIO.json --bus {args.bus} --bus {args.model}")
    return 0 if r.agreed == r.n else 1
