"""``iobus-verify replay SCENARIO.json [--bus SPEC]... [--json] [--era 2011|today]``.

Runs an ``iobus-scenario/1`` file on the linear reference and on each bus
(default: every named variant), with :func:`iobus_verify.model.vm.replay`, and
prints a side-by-side trace op by op: the reference (once per era in use) and
each bus, as ``rc`` (errno name), the device that handled the op and the data a
read returned, with the divergence class marked. A bus whose trace equals the
reference's is also checked against the ``ranges()`` invariants the machine
checks (the registered set, the capacity, the array order), so a scenario the
suite reported for ``property.invariant.*`` replays here too. Under each
step the lifetime ledger's events of that op are shown (a device destroyed,
and by whom: ``vm:<caller path>`` or ``bus:<bus path>``; freed; reached after
it was destroyed; a fault), and the summary gives, for every bus with a
lifetime class, each device's life: created at, destroyed by, reached after
destroy. ``--json`` prints the same as one JSON object. Exit status: 0 when no bus diverges, 1
when one does, 2 on bad input (the CLI turns :class:`UsageError` into 2).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from iobus_verify.errors import UsageError
from iobus_verify.model.protocol import errno_name


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", metavar="SCENARIO.json", help="an iobus-scenario file (version 1 or 2)")
    p.add_argument(
        "--bus",
        action="append",
        metavar="SPEC",
        help="a bus to compare with the linear reference (repeatable; default: every named variant)",
    )
    p.add_argument("--json", action="store_true", help="print JSON: for each op and each bus {rc, device, data[, class]}")
    p.add_argument("--era", choices=("2011", "today"), help="device rules and ioctl checks for every bus (default: the scenario's, else each bus's own)")
    p.add_argument("--op-timeout", type=float, default=5.0, metavar="S", help="per-op time limit for a bus, in seconds (default 5)")
    p.add_argument(
        "--assume",
        metavar="COND",
        help="the buses' contract, atoms joined by '+' (e.g. positive-len+no-wrap; default: each bus's own `assumes`); "
        "the replay says which atom a scenario outside it breaks",
    )


def notes(scenario: Any, specs: list[Any], assume: str | None, era: str | None = None) -> dict[str, list[str]]:
    """The scenario's condition rung, and per bus what the reader must know
    before trusting a divergence: the contract atom the scenario breaks, and
    operations run as no-ops because the bus lacks a capability."""
    from iobus_verify.model import conditions as C

    out: dict[str, list[str]] = {}
    fails = [i for i, op in enumerate(scenario.ops) if op.op == "fail_alloc"]
    for spec in specs:
        lines = []
        the_era = era or scenario.era or spec.era
        lines.append(f"condition: the scenario lies on rung {C.rung_of(scenario, the_era).name} (era {the_era})")
        text = assume if assume is not None else getattr(spec, "assumes", None)
        contract = C.parse(text)
        if contract.atoms:
            broken = C.first_violation(scenario, contract, the_era)
            lines.append(
                f"contract {contract.name}: " + (f"outside it: {broken}" if broken else "the scenario lies inside it")
            )
        if fails and not getattr(spec, "accepts_alloc", True):
            lines.append(
                f"fail_alloc at op {', '.join(map(str, fails))} ran as a no-op on both sides: the factory takes no alloc hook"
            )
        out[spec.name] = lines
    return out


#: the ledger events a trace line shows (the rest: created, registered, publish, sync... are in --json)
_SHOWN = ("destroyed", "freed", "reached")


def _step_json(step: Any, cls: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"rc": step.rc, "device": step.device, "data": step.data}
    if step.error:
        out["error"] = step.error
    if getattr(step, "ledger", ()):
        out["ledger"] = [{"what": e.what, "device": e.dev, "by": e.by, "detail": e.detail} for e in step.ledger]
    if getattr(step, "faults", ()):
        out["faults"] = [{"class": f.cls, "device": f.dev, "site": f.site, "detail": f.detail} for f in step.faults]
    if cls is not None:
        out["class"] = cls.value
    return out


def _cell(step: Any) -> str:
    if step.error:
        return f"ERROR  {step.error}"
    parts = [errno_name(step.rc), step.device or "-"]
    if step.data is not None:
        parts.append(f"data={step.data or '(none)'}")
    return "  ".join(parts)


def structural(result: Any, specs: list[Any], scenario: Any) -> dict[str, tuple[str, str]]:
    """For each bus whose trace does not diverge: the first broken ``ranges()``
    invariant as ``(class, explanation)``, when there is one."""
    from iobus_verify.model.scenario import dump_scenario
    from iobus_verify.properties.replaying import first_divergence

    doc = dump_scenario(scenario)
    out = {}
    for b, spec in zip(result.buses, specs):
        if not b.diverged:
            found = first_divergence(spec, doc, era=b.era)  # the era the trace ran under
            if found is not None:
                out[b.bus] = found
    return out


def to_json(result: Any, source: str, broken: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The ``--json`` document of a :class:`~iobus_verify.model.vm.ReplayResult`."""
    broken = broken or {}
    refs = {b.era: b.reference for b in result.buses}
    ops = []
    for i, op in enumerate(result.scenario.ops):
        ops.append(
            {
                "index": i,
                "op": op.to_dict(),
                "reference": {era: _step_json(t.steps[i]) for era, t in refs.items()},
                "buses": {b.bus: _step_json(b.trace.steps[i], b.classes[i]) for b in result.buses},
            }
        )
    return {
        "scenario": source,
        "reference": "linear",
        "buses": [
            {
                "name": b.bus,
                "era": b.era,
                "diverged": b.diverged or b.bus in broken,
                "divergences": [{"op": i, "class": c.value} for i, c in b.divergences()],
                "invariant": None if b.bus not in broken else {"class": broken[b.bus][0], "explanation": broken[b.bus][1]},
                "ledger": lives(b.trace),
            }
            for b in result.buses
        ],
        "diverged": result.diverged or bool(broken),
        "ops": ops,
    }


def _header(scenario: Any, source: str, buses: list[tuple[str, str]]) -> str:
    return f"replay {source}: {len(scenario.ops)} ops; reference linear; buses " + ", ".join(f"{b} (era {e})" for b, e in buses)


def _ledger_lines(step: Any, width: int) -> list[str]:
    """The step's ledger events worth a line: destroys (by whom), frees, reaches, faults."""
    pad = " " * (width + 6)
    out = [f"{pad}ledger: {e.dev} {e.what}" + (f" by {e.by}" if e.what != "reached" else f" ({e.detail})") for e in getattr(step, "ledger", ()) if e.what in _SHOWN]
    out += [f"{pad}fault: {f.cls} {f.dev} ({f.site}): {f.detail}" for f in getattr(step, "faults", ())]
    return out


def _op_lines(i: int, op: Any, rows: list[tuple[str, str, Any, Any, Any]], width: int) -> list[str]:
    """One op's block: the reference once per era, then each bus with its class,
    each followed by its ledger events of the op."""
    lines = [f"op {i}: {op.describe()}"]
    seen = []
    for _, era, ref_step, _, _ in rows:
        if era not in seen:
            seen.append(era)
            lines.append(f"    {('linear (' + era + ')'):<{width}}  {_cell(ref_step)}")
            lines += _ledger_lines(ref_step, width)
    for bus, _, _, bus_step, cls in rows:
        mark = f"   <-- {cls.value}" if cls is not None else ""
        lines.append(f"    {bus:<{width}}  {_cell(bus_step)}{mark}")
        lines += _ledger_lines(bus_step, width)
    return lines


def lives(trace: Any) -> dict[str, dict[str, Any]]:
    """Each tracked device's life in a trace, from its steps' ledger events:
    the op that created it, every destroy (op, by whom), the ops at which a
    callback or walk reached it after it was destroyed, and its faults."""
    out: dict[str, dict[str, Any]] = {}
    for i, step in enumerate(trace.steps):
        for e in getattr(step, "ledger", ()):
            if e.what == "created":
                out[e.dev] = {"created": i, "destroyed": [], "reached_after_destroy": [], "faults": []}
            life = out.get(e.dev)
            if life is None:
                continue
            if e.what in ("destroyed", "freed"):
                life["destroyed"].append({"op": i, "by": e.by, "how": e.what})
            elif e.what == "reached":
                life["reached_after_destroy"].append({"op": i, "how": e.detail})
        for f in getattr(step, "faults", ()):
            if f.dev in out:
                out[f.dev]["faults"].append({"op": i, "class": f.cls, "site": f.site})
    return out


def _life_line(dev: str, life: dict[str, Any]) -> str:
    gone = "; ".join(f"{d['how']} at op {d['op']} by {d['by']}" for d in life["destroyed"]) or "never destroyed"
    text = f"    {dev}: created at op {life['created']}; {gone}"
    if life["reached_after_destroy"]:
        text += "; reached after destroy at op " + ", ".join(f"{r['op']} ({r['how']})" for r in life["reached_after_destroy"])
    if life["faults"]:
        text += "; " + ", ".join(f"{f['class']} at op {f['op']} ({f['site']})" for f in life["faults"])
    return text


def _width(buses: list[tuple[str, str]]) -> int:
    return max([len(f"linear ({e})") for _, e in buses] + [len(b) for b, _ in buses] + [8])


_LIFETIME = ("LEAK", "DOUBLE_FREE", "USE_AFTER_FREE")


def _summary(result: Any, broken: dict[str, tuple[str, str]]) -> list[str]:
    lines = [""]
    for b in result.buses:
        divs = b.divergences()
        if divs:
            shown = ", ".join(f"{c.value} at op {i}" for i, c in divs[:8]) + (" ..." if len(divs) > 8 else "")
            lines.append(f"{b.bus}: {len(divs)} diverging op(s): {shown}")
        if any(c is not None and c.value in _LIFETIME for _, c in divs):
            lines.append(f"{b.bus}: ledger (every tracked device's life on this bus's VM):")
            lines += [_life_line(dev, life) for dev, life in lives(b.trace).items()]
        if divs:
            pass
        elif b.bus in broken:
            cls, why = broken[b.bus]
            lines.append(f"{b.bus}: same trace, but {cls} broken at {why}")
        else:
            calls = sum(s.callbacks for s in b.trace.steps)
            ref_calls = sum(s.callbacks for s in b.reference.steps)
            lines.append(f"{b.bus}: no divergence ({calls} device callbacks; the reference made {ref_calls})")
    return lines


def to_text(result: Any, source: str, broken: dict[str, tuple[str, str]] | None = None) -> str:
    """The side-by-side trace (what ``replay`` prints op by op as it runs)."""
    broken = broken or {}
    buses = [(b.bus, b.era) for b in result.buses]
    width = _width(buses)
    lines = [_header(result.scenario, source, buses)]
    for i, op in enumerate(result.scenario.ops):
        rows = [(b.bus, b.era, b.reference.steps[i], b.trace.steps[i], b.classes[i]) for b in result.buses]
        lines += _op_lines(i, op, rows, width)
    return "\n".join(lines + _summary(result, broken))


def run(args: argparse.Namespace) -> int:
    from iobus_verify.model.scenario import load_scenario
    from iobus_verify.model.sorted_bus import VARIANTS
    from iobus_verify.model.spec import resolve
    from iobus_verify.model.vm import replay

    scenario = load_scenario(args.scenario)
    specs = [resolve(s) for s in (args.bus or list(VARIANTS))]
    if args.op_timeout is not None and args.op_timeout < 0:
        raise UsageError(f"--op-timeout must be >= 0 seconds, got {args.op_timeout}")
    per_bus = notes(scenario, specs, args.assume, args.era)
    on_op = None
    if not args.json:
        # Text: each operation is printed as soon as every bus has run it.
        buses = [(sp.name, args.era or scenario.era or sp.era) for sp in specs]
        width = _width(buses)
        print(_header(scenario, args.scenario, buses), flush=True)

        def on_op(i, op, rows):
            print("\n".join(_op_lines(i, op, rows, width)), flush=True)

    result = replay(scenario, specs, era=args.era, op_timeout=args.op_timeout, on_op=on_op)
    broken = structural(result, specs, scenario)
    if args.json:
        doc = to_json(result, args.scenario, broken)
        for b in doc["buses"]:
            b["notes"] = per_bus.get(b["name"], [])
        print(json.dumps(doc, indent=1))
    else:
        print("\n".join(_summary(result, broken)))
        for name, lines in per_bus.items():
            for line in lines:
                print(f"{name}: {line}")
    return 1 if result.diverged or broken else 0
