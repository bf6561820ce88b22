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
    Run each bus as a campaign of N worker processes
    (:mod:`iobus_verify.properties.campaign`).

The profile (``dev``, ``ci``, ``thorough``) is taken from Hypothesis's own
``--hypothesis-profile`` option, else ``$IOBUS_VERIFY_PROFILE``, else ``ci``.

Each bus gives one item per result id (``differential.MISSED``, ...,
``property.comparator.antisymmetric``, ...). An item passes when its outcome
is what the bus's committed baseline expects (the reports' baseline
comparison; a bus without a baseline is judged strictly: any finding fails),
fails on a new finding or a lost one, and reports the scenario file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_CACHE: dict[tuple, list] = {}


def pytest_addoption(parser) -> None:
    g = parser.getgroup("iobus-verify", "differential machines of iobus-verify")
    g.addoption("--bus", action="append", default=None, metavar="SPEC", help="run the differential machine on this bus (repeatable; 'all' = every named variant)")
    g.addoption("--iobus-out", default="iobus-out", metavar="DIR", help="where divergence scenarios are written (default iobus-out)")
    g.addoption("--iobus-seed", type=int, default=0, metavar="N", help="seed of the searches (default 0)")
    g.addoption("--iobus-workers", type=int, default=1, metavar="N", help="worker processes per bus (default 1)")


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


def pytest_collection_modifyitems(session, config, items) -> None:
    specs = _specs(config)
    if not specs:
        return
    from iobus_verify.errors import UsageError
    from iobus_verify.model.spec import resolve

    for s in specs:
        try:
            resolve(s)
        except UsageError as exc:
            raise pytest.UsageError(f"--bus {s}: {exc}") from None
    parent = session
    for s in specs:
        items.append(BusItem.from_parent(parent, name=f"iobus[{s}]", spec=s))


def _run(config, spec_str: str) -> list:
    from iobus_verify.model.spec import resolve
    from iobus_verify.properties.campaign import run_campaign
    from iobus_verify.properties.run import run_properties

    key = (spec_str, _profile(config), config.getoption("--iobus-seed"), config.getoption("--iobus-workers"))
    if key not in _CACHE:
        spec = resolve(spec_str)
        out = Path(config.getoption("--iobus-out")) / "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.name)
        workers = config.getoption("--iobus-workers")
        if workers > 1:
            _CACHE[key] = run_campaign(spec, profile=key[1], seeds=range(key[2], key[2] + workers), workers=workers, out_dir=out).results
        else:
            _CACHE[key] = run_properties(spec, profile=key[1], seed=key[2], out_dir=out)
    return _CACHE[key]


class BusItem(pytest.Item):
    """All results of one bus, compared with its baseline."""

    def __init__(self, *, spec: str, **kw) -> None:
        super().__init__(**kw)
        self.spec = spec

    def runtest(self) -> None:
        from iobus_verify.model.spec import resolve
        from iobus_verify.reports import baseline as bl

        results = _run(self.config, self.spec)
        spec = resolve(self.spec)
        path = bl.find(spec.name, spec.kind, None)
        base = bl.load(path) if path is not None else None
        cmp = bl.compare_baseline(results, base)
        lines = []
        for r in results:
            if r.status != "pass":
                lines.append(f"  {r.id}: {r.status} {r.finding.cls if r.finding else ''}: {r.finding.explanation if r.finding else r.detail}")
        self.user_properties.append(("findings", "\n".join(lines)))
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
        msg += [f"  new:  {k.id} {k.cls} {k.note}" for k in cmp.new]
        msg += [f"  lost: {k.id} {k.cls} {k.note}" for k in cmp.lost]
        msg += ["what this run found:"] + lines
        super().__init__("\n".join(msg))
