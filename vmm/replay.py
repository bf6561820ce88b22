"""``iobus-verify vmm-replay FILE --bus NAME``: re-run an ``iobus-vmm-scenario/1`` file op by op.

Prints each op with the reference's answer (under the bus's own contract, or
REF-strict with ``--strict``) and the bus's, and the first divergence; exit 0
when they agree, 1 when they diverge. A bad file or an unknown or missing bus
is one line and exit 2 (``UsageError``).
"""

from __future__ import annotations

import argparse

from iobus_verify.errors import UsageError
from iobus_verify.vmm import registry
from iobus_verify.vmm.compare import run as run_scenario
from iobus_verify.vmm.reference import STRICT
from iobus_verify.vmm.scenario import load_scenario


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="an iobus-vmm-scenario/1 JSON file (a finding's scenario from `report --family vmm`)")
    p.add_argument("--bus", required=True, metavar="NAME", help="a VMM bus (`iobus-verify variants --family vmm`)")
    p.add_argument("--strict", action="store_true", help="compare with REF-strict instead of the bus's own contract")


def run(args: argparse.Namespace) -> int:
    bus = registry.get(args.bus)
    s = load_scenario(args.scenario)
    r = run_scenario(bus, s, STRICT if args.strict else None)
    against = "REF-strict" if args.strict else f"{bus.name}'s own contract"
    for i, op in enumerate(s.ops[: r.ops_run]):
        print(f"{i:3d} {op.text()}")
    if r.divergence is None:
        print(f"no divergence from the reference under {against} ({r.ops_run} ops, {r.skipped} skipped: not in {bus.name}'s API)")
        return 0
    print(f"{r.divergence.cls.value} (against {against}): {r.divergence.explanation}")
    return 1


def replay_dispatch(args: argparse.Namespace) -> int:
    """``iobus-verify replay FILE``: an ``iobus-vmm-scenario/1`` file replays on
    the VMM buses named by ``--bus`` (default: every one whose model loads),
    anything else goes to the KVM replay (:func:`iobus_verify.model.replay.run`),
    which reports a bad file itself."""
    import json
    from pathlib import Path

    from iobus_verify.vmm.scenario import SCHEMA

    try:
        head = json.loads(Path(args.scenario).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        head = None
    if not (isinstance(head, dict) and head.get("schema") == SCHEMA):
        from iobus_verify.model.replay import run as kvm_run

        return kvm_run(args)
    if args.json or args.era or args.assume:
        raise UsageError("--json, --era and --assume apply to iobus-scenario/1 files; a VMM scenario takes --bus NAME (see `vmm-replay`)")
    names = args.bus or list(registry.available()[0])
    code = 0
    for name in names:
        print(f"== {name}")
        code = max(code, run(argparse.Namespace(scenario=args.scenario, bus=name, strict=False)))
    return code
