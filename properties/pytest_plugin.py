"""pytest plugin: the differential machine per bus as test items.

Registered as the ``iobus_verify`` entry point (``pytest11``). Options:

``--bus SPEC``
    A bus to run (variant name, ``FILE.py:factory`` or ``module:factory``);
    repeatable. ``--bus all`` means every named variant. Without ``--bus`` the
    plugin adds **nothing** to a session, so it costs an ordinary test run
    nothing.
``--iobus-out DIR``
    Where each divergence is written as an ``iobus-scenario/1`` file
    (``DIR/<bus>/<result id>.<class>.json``; default ``iobus-out``).
``--iobus-seed N``
    The seed of the searches (default 0; printed in the header).
``--iobus-workers N``
    Run each bus as a campaign of N worker processes on a local Dask
    cluster, seeds ``--iobus-seed`` to ``--iobus-seed + N - 1``
    (:mod:`iobus_verify.properties.campaign`; needs the ``campaign`` extra).
``--iobus-assume COND``
    The buses' contract (condition atoms joined by ``+``, or ``none``;
    default: each bus's own ``assumes``): findings outside it are listed,
    never failing.

The profile (``dev``, ``ci``, ``thorough``) is taken from Hypothesis's own
``--hypothesis-profile`` option, else ``$IOBUS_VERIFY_PROFILE``, else ``ci``.

Each bus is one item, judged as ``iobus-verify check`` judges it
(:mod:`iobus_verify.reports.gate`): the baseline's stored scenarios are
replayed first, then searched; the item fails on a new finding or a lost one
(a bus without a baseline is judged strictly: any finding fails). The plugin
runs no proofs, so the baseline's proof entries are *not judged* (listed in
the item's report), never lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_CACHE: dict[tuple, list] = {}
#: one line per bus judged, printed at the end of the session
_SUMMARY: list[str] = []


def pytest_addoption(parser) -> None:
    g = parser.getgroup("iobus-verify", "differential machines of iobus-verify")
    g.addoption("--bus", action="append", default=None, metavar="SPEC", help="run the differential machine on this bus (repeatable; 'all' = every named variant)")
    g.addoption("--iobus-out", default="iobus-out", metavar="DIR", help="where divergence scenarios are written (default iobus-out)")
    g.addoption("--iobus-seed", type=int, default=0, metavar="N", help="seed of the searches (default 0)")
    g.addoption("--iobus-workers", type=int, default=1, metavar="N", help="worker processes per bus (default 1)")
    g.addoption("--iobus-assume", default=None, metavar="COND", help="the buses' contract, e.g. positive-len+no-wrap, or none (default: each bus's own)")


def _specs(config) -> list[str]:
    buses = config.getoption("--bus") or []
    if "all" in buses:
        from iobus_verify.model.sorted_bus import VARIANTS

        buses = [b for b in buses if b != "all"] + [n for n in VARIANTS if n not in buses]
    return buses


def _profile(config) -> str:
    from iobus_verify.properties.profiles import PROFILE_NAMES, selected_profile

    hp = None
    try:
        hp = config.getoption("hypothesis_profile")
    except ValueError:
        pass
    if hp and hp.startswith("iobus-"):
        hp = hp[len("iobus-") :]
    return selected_profile(hp if hp in PROFILE_NAMES else None)


def pytest_report_header(config):
    if not _specs(config):
        return None
    return f"iobus-verify: buses {', '.join(_specs(config))}; profile {_profile(config)}; seed {config.getoption('--iobus-seed')}"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _SUMMARY:
        terminalreporter.section("iobus-verify")
        for line in _SUMMARY:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(session, config, items) -> None:
    specs = _specs(config)
    if not specs:
        return
    from iobus_verify.errors import UsageError
    from iobus_verify.model.spec import resolve

    from iobus_verify.reports.contract import resolve_contract

    for s in specs:
        try:
            resolve_contract(config.getoption("--iobus-assume"), resolve(s), "--iobus-assume")
        except UsageError as exc:
            raise pytest.UsageError(f"--bus {s}: {exc}") from None
    parent = session
    for s in specs:
        items.append(BusItem.from_parent(parent, name=f"iobus[{s}]", spec=s))


def _baseline(spec):
    from iobus_verify.reports import baseline as bl

    path = bl.find(spec.name, spec.kind, None)
    return path, (bl.load(path) if path is not None else None)


def _run(config, spec_str: str) -> list:
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.run import run_properties
    from iobus_verify.reports.contract import resolve_contract
    from iobus_verify.reports.gate import stored_scenarios

    assume = config.getoption("--iobus-assume")
    key = (spec_str, _profile(config), config.getoption("--iobus-seed"), config.getoption("--iobus-workers"), assume)
    if key not in _CACHE:
        spec = resolve(spec_str)
        out = Path(config.getoption("--iobus-out")) / "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.name)
        workers = config.getoption("--iobus-workers")
        contract = resolve_contract(assume, spec)
        if workers > 1:
            _CACHE[key] = _campaign(spec, key[1], key[2], workers, contract, _baseline(spec)[1], out)
        else:
            _CACHE[key] = run_properties(
                spec, profile=key[1], seed=key[2], out_dir=out, explicit=stored_scenarios(_baseline(spec)[1]), assume=contract or "none"
            )
    return _CACHE[key]


def _campaign(spec, profile: str, seed: int, workers: int, contract, base, out: Path) -> list:
    """The bus's results from a campaign of ``workers`` seeds on a local Dask
    cluster (the properties only, as without workers)."""
    from iobus_verify.errors import UsageError
    from iobus_verify.properties.campaign import CampaignPlan, run_campaign
    from iobus_verify.properties.database import parse_database
    from iobus_verify.properties.run import write_findings
    from iobus_verify.reports.campaign import campaign_results
    from iobus_verify.reports.gate import stored_scenarios

    plan = CampaignPlan(spec.spec, profile, seed, seed + workers, assume=contract, database=parse_database(None), proofs=False)
    try:
        outcome = run_campaign(plan, workers=workers, explicit=stored_scenarios(base))
    except UsageError as exc:
        raise pytest.UsageError(f"--iobus-workers {workers}: {exc}") from None
    results = campaign_results(spec, outcome, contract)[0]
    write_findings(results, out)
    return results


class BusItem(pytest.Item):
    """All results of one bus, judged as ``check`` judges them."""

    def __init__(self, *, spec: str, **kw) -> None:
        super().__init__(**kw)
        self.spec = spec

    def runtest(self) -> None:
        from iobus_verify.model.spec import resolve
        from iobus_verify.reports.contract import resolve_contract
        from iobus_verify.reports.gate import compare_run

        results = _run(self.config, self.spec)
        spec = resolve(self.spec)
        path, base = _baseline(spec)
        contract = resolve_contract(self.config.getoption("--iobus-assume"), spec)
        # Only the properties ran: proof entries of the baseline are not judged.
        cmp = compare_run(results, base, spec=spec, judged_kinds=("property",), contract=contract)
        lines = []
        for r in results:
            if r.status != "pass":
                f = r.finding
                cond = f" @ {f.condition}" if f is not None and f.condition else ""
                outside = " (outside contract)" if f is not None and f.outside_contract else ""
                lines.append(f"  {r.id}: {r.status} {f.cls if f else ''}{cond}{outside}: {f.explanation if f else r.detail}")
        self.user_properties.append(("findings", "\n".join(lines)))
        if cmp.not_run:
            self.user_properties.append(("not judged", ", ".join(str(k) for k in cmp.not_run)))
        _SUMMARY.append(
            f"{spec.name}: {'REGRESSED' if cmp.regressed else 'matches its baseline'}"
            + (f"; {len(cmp.not_run)} baseline finding(s) not judged (their phase, the proofs, does not run under pytest)" if cmp.not_run else "")
            + (f"; {len(cmp.outside)} outside the contract" if cmp.outside else "")
        )
        if cmp.regressed:
            raise BusRegressed(spec.name, cmp, lines, path)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, BusRegressed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"iobus differential machine: {self.spec}"


class BusRegressed(Exception):
    def __init__(self, bus, cmp, lines, path) -> None:
        msg = [f"bus {bus}: findings differ from its baseline ({path or 'none: judged strictly'})"]
        msg += [f"  new:  {k} {k.note}" for k in cmp.new]
        msg += [f"  lost: {k} {k.note}" for k in cmp.lost]
        msg += [f"  changed: {k} {k.note}" for k in cmp.changed]
        msg += [f"  outside contract: {k}" for k in cmp.outside]
        if cmp.not_run:
            msg.append(f"  not judged (no proofs in the pytest entry): {', '.join(str(k) for k in cmp.not_run)}")
        msg += ["what this run found:"] + lines
        super().__init__("\n".join(msg))
