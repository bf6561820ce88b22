"""The ``iobus-verify`` command: argument parsing and wiring only.

Each subcommand lives in its own module under ``iobus_verify.commands`` style
entries of :data:`COMMANDS` and is imported only when used, so that
``iobus-verify variants`` does not pay for z3 or Hypothesis.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from iobus_verify.errors import UsageError

#: name -> (help line, "module:function" taking (argparse subparser) -> None for
#: set-up, and "module:function" taking (args) -> int to run)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "variants": (
        "list the named buses (the linear reference and the variants under test)",
        "iobus_verify.cli:_variants_args",
        "iobus_verify.cli:_variants_run",
    ),
    "check": (
        "run every property and proof against one bus, gate it on its baseline, write the reports",
        "iobus_verify.reports.check:setup",
        "iobus_verify.reports.check:run",
    ),
    "report": (
        "check every named variant and write the index pages (the main job)",
        "iobus_verify.reports.index:setup",
        "iobus_verify.reports.index:run",
    ),
    "baseline": (
        "manage the committed baselines (`baseline update --bus SPEC`)",
        "iobus_verify.reports.baseline:setup",
        "iobus_verify.reports.baseline:run",
    ),
    "replay": (
        "replay an iobus-scenario/1 file on the linear reference and on buses, op by op (an iobus-vmm-scenario/1 file on VMM buses)",
        "iobus_verify.model.replay:setup",
        "iobus_verify.vmm.replay:replay_dispatch",
    ),
    "vmm-replay": (
        "replay an iobus-vmm-scenario/1 file on a VMM bus (`variants --family vmm`) and its reference",
        "iobus_verify.vmm.replay:setup",
        "iobus_verify.vmm.replay:run",
    ),
    "fidelity": (
        "run the same random scenarios on a bus (e.g. kernel:PATH) and a named model, side by side",
        "iobus_verify.model.fidelity:setup",
        "iobus_verify.model.fidelity:run",
    ),
    "campaign": (
        "search one bus for hours on a Dask cluster (local or --scheduler), written as check's report",
        "iobus_verify.reports.campaign:setup",
        "iobus_verify.reports.campaign:run",
    ),
    "diff": (
        "list new, lost and changed findings between two report.json files",
        "iobus_verify.reports.diff:setup",
        "iobus_verify.reports.diff:run",
    ),
}


def _variants_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    p.add_argument("--family", metavar="NAME", help="list only this family")


def _variants_run(args: argparse.Namespace) -> int:
    import json

    from iobus_verify.model.sorted_bus import REGISTRY, families
    from iobus_verify.vmm import registry as vmm

    family = getattr(args, "family", None)
    if family is not None and family not in families() + (vmm.FAMILY,):
        raise UsageError(f"unknown family {family!r}: use one of {', '.join(families() + (vmm.FAMILY,))}")
    buses = [b for b in REGISTRY.values() if family is None or b.family == family or (b.reference and family != vmm.FAMILY)]
    # the VMM buses have their own registry (another bus protocol); a model not installed is listed as skipped
    vmm_buses = list(vmm.VMM_REGISTRY.values()) if family in (None, vmm.FAMILY) else []
    missing = {b.name: why for b in vmm_buses for why in [vmm.load_model(b)[1]] if why}
    if args.json:
        rows = [
            {"name": b.name, "family": b.family, "reference": b.reference, "era": b.era, "capacity": b.capacity, "summary": b.summary}
            for b in buses
        ] + [
            {"name": b.name, "family": vmm.FAMILY, "reference": False, "era": None, "capacity": None, "summary": b.summary, "source": b.source, "skipped": missing.get(b.name)}
            for b in vmm_buses
        ]
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(b.name) for b in buses), default=0)
    for fam in families():
        group = [b for b in buses if b.family == fam]
        if not group:
            continue
        print(f"{fam}:" + ("  (the main job: `iobus-verify report`)" if fam == families()[0] else f"  (opt-in: `iobus-verify report --family {fam}`)"))
        for b in group:
            tag = " (reference)" if b.reference else ""
            print(f"  {b.name:<{width}}  {b.summary}{tag}")
    if vmm_buses:
        print(f"{vmm.FAMILY}:  (opt-in: `iobus-verify report --family {vmm.FAMILY}`; reference: a linear list per VMM contract)")
        w = max(len(b.name) for b in vmm_buses)
        for b in vmm_buses:
            print(f"  {b.name:<{w}}  {b.summary}" + (" (model not installed: skipped)" if b.name in missing else ""))
    return 0


def _resolve(ref: str) -> Callable:
    module, _, func = ref.partition(":")
    return getattr(importlib.import_module(module), func)


def build_parser() -> argparse.ArgumentParser:
    from iobus_verify import __version__

    parser = argparse.ArgumentParser(
        prog="iobus-verify",
        description="Verify a KVM I/O bus lookup against the linear reference.",
    )
    parser.add_argument("--version", action="version", version=f"iobus-verify {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_line, setup, _) in COMMANDS.items():
        p = sub.add_parser(name, help=help_line, description=help_line)
        _resolve(setup)(p)
    return parser


def hypothesis_home() -> Path:
    """Where Hypothesis keeps its files when the command runs it: a user cache
    folder (``$XDG_CACHE_HOME/iobus-verify/hypothesis``, else
    ``~/.cache/iobus-verify/hypothesis``), never the current directory, unless
    ``HYPOTHESIS_STORAGE_DIRECTORY`` says otherwise. The ``dev`` and ``ci``
    profiles use no example database; Hypothesis only caches the constants it
    collects from source files there."""
    where = os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
    if where:
        return Path(where)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "iobus-verify" / "hypothesis"


def _closed_pipe() -> int:
    """stdout's reader went away (``iobus-verify variants --json | head -1``):
    not an error. Point stdout at /dev/null so the exit flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    # Before Hypothesis is imported: its files go to a cache folder, not ./.hypothesis.
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(hypothesis_home()))
    run = _resolve(COMMANDS[args.command][2])
    try:
        code = int(run(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except UsageError as exc:
        print(f"iobus-verify {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"iobus-verify {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
