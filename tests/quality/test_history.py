"""The quality set of the history: every I/O-bus regression found again, and gone after its fix.

For each historical regression (``model/history.py``), under the ci profile's
budget and seed (300 runs of at most 20 operations, seed 0, at the ci profile's
small capacity, one of the two searches ``check`` runs per rung):

* on the version before the fix the differential machine (with that class
  raising, as check's shrinking search runs it) finds the regression's
  lifetime class, and the finding minimises to a replayable
  scenario of at most 8 operations that still shows that class;
* on the version after the fix the same search does not find that class,
  although lifetime ends were exercised (the class's precondition, so "not
  found" means something).

Plus, on the kernel-history sequences themselves, the ledger details that a
class alone does not tell apart (5d3c4c79384a's walk; 2ee3757424be's order).
"""

from __future__ import annotations

import pytest

from iobus_verify.model.spec import resolve
from iobus_verify.model.vm import replay
from iobus_verify.properties.profiles import budget
from iobus_verify.properties.replaying import first_divergence_class
from iobus_verify.properties.machine import SearchStats
from iobus_verify.properties.run import Found, SearchPlan, _hypothesis_search, minimise_found, survey

from iobus_verify.model.history import REGRESSIONS

#: (before the fix, after it, the class, the fix)
PAIRS = tuple((r.before, r.after, r.cls, f"{r.fix}: {r.why}") for r in REGRESSIONS)

_SURVEYS: dict[str, object] = {}
#: Hypothesis's shrinks before the project's minimiser takes over (see below).
SHRINKS = 20


def _plan(name: str) -> SearchPlan:
    b = budget("ci")
    return SearchPlan(resolve(name), "quality-history", 0, b.machine_examples, b.steps, b.small_capacity)


def _survey(name: str):
    if name not in _SURVEYS:
        _SURVEYS[name] = survey(_plan(name))
    return _SURVEYS[name]


@pytest.mark.parametrize("before,after,cls,fix", PAIRS, ids=[p[0] for p in PAIRS])
def test_found_before_the_fix_in_a_minimal_scenario(before, after, cls, fix):
    # The ci search with the class raising (what check's shrinking search runs):
    # Hypothesis stops at its first failure; its shrinking is capped here (it is
    # most of the cost) and the project's own minimiser, which check runs on
    # every finding after Hypothesis, makes the scenario minimal. The cap counts
    # shrinks, not seconds: a wall-clock cap cuts at another point on a loaded
    # machine, and the same seed must give the same result anywhere.
    plan = _plan(before)
    got, error = _hypothesis_search(plan.config(frozenset({cls})), SearchStats(), plan.seed, plan.examples, plan.steps, None, plan.key, None, SHRINKS)
    assert error is None and cls in got, f"{before}: the ci search did not find {cls} ({fix}); found {sorted(got)} {error or ''}"
    best = minimise_found(plan.spec, {cls: [Found.of(got[cls])]})[cls]
    ops = best.scenario["ops"]
    assert len(ops) <= 8, f"{before}: the minimal {cls} scenario has {len(ops)} operations: {ops}"
    assert first_divergence_class(plan.spec, best.scenario) == cls  # it replays
    # the finding names the device and its history (created at, destroyed by / never)
    assert ("created at op" in best.explanation or "created before" in best.explanation) and ("destroyed" in best.explanation)


@pytest.mark.parametrize("before,after,cls,fix", PAIRS, ids=[p[1] + "-after-" + p[0] for p in PAIRS])
def test_not_found_after_the_fix(before, after, cls, fix):
    so = _survey(after)
    assert so.stats.coverage["lifetime_ends"] > 0, f"{after}: no lifetime end exercised: 'not found' would mean nothing"
    assert cls not in so.stats.silent, f"{after} still shows {cls}: {so.stats.silent.get(cls, ('',))[0]}"


# -- the kernel-history sequences, read on the ledger -------------------------------------


def _ops(*ops):
    return {"schema": "iobus-scenario/2", "ops": list(ops)}


def _zone(zid, addr, size):
    return {"op": "coalesced_mmio", "action": "register", "id": zid, "addr": addr, "size": size}


FAIL = {"op": "fail_alloc", "bus": "mmio"}
ZONE_WALK = _ops(_zone("z1", 0x1000, 0x100), _zone("z2", 0x1000, 0x100), FAIL, {"op": "coalesced_mmio", "action": "unregister", "addr": 0x1000, "size": 4})


def _faults(name, scenario):
    (b,) = replay(scenario, [name]).buses
    return [f for step in b.trace.steps for f in step.faults]


def test_the_zone_walk_onto_freed_zones_is_gone_with_5d3c4c79384a():
    """Two zones inside the unregister range, the first shrink fails: before
    5d3c4c79384a the walk steps onto z2, which the bus has just destroyed;
    after it the walk stops (z2's early destroy, 2ee3757424be's bug, stays)."""
    before = _faults("hist-f658", ZONE_WALK)
    after = _faults("hist-5d3c", ZONE_WALK)
    assert [(f.cls, f.dev) for f in before if f.site == "zone-walk"] == [("USE_AFTER_FREE", "z2")]
    assert not [f for f in after if f.site == "zone-walk"]
    assert [(f.cls, f.dev, f.site) for f in after] == [("USE_AFTER_FREE", "z2", "destroy-while-published")]


def test_2ee3757424be_destroys_after_publish_and_sync():
    """The order of the ledger events on a failed shrink: destroy before
    publish(NULL) before 2ee3757424be, publish and sync before destroy after it."""
    scenario = _ops(
        {"op": "ioeventfd", "action": "assign", "id": "e1", "bus": "mmio", "addr": 0x1000, "len": 4, "datamatch": None},
        {"op": "ioeventfd", "action": "assign", "id": "e2", "bus": "mmio", "addr": 0x2000, "len": 4, "datamatch": None},
        FAIL,
        {"op": "ioeventfd", "action": "deassign", "id": "e1"},
    )

    def order(name):
        (b,) = replay(scenario, [name]).buses
        return [(e.what, e.dev) for e in b.trace.steps[3].ledger if e.what in ("publish", "sync", "destroyed")]

    assert order("hist-5d3c") == [("destroyed", "e2"), ("publish", "mmio"), ("sync", "mmio"), ("destroyed", "e1")]
    assert order("hist-2ee3") == [("publish", "mmio"), ("sync", "mmio"), ("destroyed", "e2"), ("destroyed", "e1")]
