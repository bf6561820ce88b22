"""The lifetime ledger, the teardown ops and the history family, on the
operation sequences of ``kernel-history.md`` (section 3)."""

from __future__ import annotations

import json

import pytest

from iobus_verify.errors import UsageError
from iobus_verify.model.history import MEMBERS
from iobus_verify.model.lifetime import CALLERS, ZoneWalk
from iobus_verify.model.protocol import ENOENT, ENOMEM
from iobus_verify.model.scenario import SCHEMA_V1, SCHEMA_V2, dump_scenario, load_scenario
from iobus_verify.model.sorted_bus import REGISTRY, RangeBus, UPSTREAM, family_variants, families
from iobus_verify.model.vm import VM, replay
from iobus_verify.model.spec import resolve


def sc(*ops, **kw):
    return {"schema": SCHEMA_V2, "ops": list(ops), **kw}


def efd(i, addr):
    return {"op": "ioeventfd", "action": "assign", "id": i, "bus": "mmio", "addr": addr, "len": 4, "datamatch": None}


def deassign(i):
    return {"op": "ioeventfd", "action": "deassign", "id": i}


def zone(i, addr, size=0x100):
    return {"op": "coalesced_mmio", "action": "register", "id": i, "addr": addr, "size": size}


def unzone(addr, size=4):
    return {"op": "coalesced_mmio", "action": "unregister", "addr": addr, "size": size}


FAIL = {"op": "fail_alloc", "bus": "mmio"}
DESTROY = {"op": "destroy_vm"}
HOLD = {"op": "hold_bus", "bus": "mmio"}
RELEASE = {"op": "release_bus", "bus": "mmio"}


def write(addr):
    return {"op": "write", "bus": "mmio", "addr": addr, "len": 4, "data": "00000000"}


def run(name, *ops):
    (b,) = replay(sc(*ops), [name]).buses
    return b


def faults(b):
    return [(i, f.cls, f.dev, f.site) for i, s in enumerate(b.trace.steps) for f in s.faults]


def destroys(b, dev):
    return [(i, e.by) for i, s in enumerate(b.trace.steps) for e in s.ledger if e.dev == dev and e.what == "destroyed"]


# -- the kernel-history sequences ----------------------------------------------------------


def test_90db_drops_the_bus_and_leaks_the_others_at_teardown():
    b = run("hist-90db", efd("e1", 0x1000), efd("e2", 0x2000), FAIL, deassign("e1"), write(0x2000), DESTROY)
    assert faults(b) == [(5, "LEAK", "e2", "destroy_vm")]
    assert b.classes[5].value == "LEAK"
    assert b.trace.steps[4].rc == -ENOMEM  # the NULL bus answers every access with -ENOMEM
    assert destroys(b, "e1") == [(3, "vm:eventfd.c kvm_deassign_ioeventfd")] and destroys(b, "e2") == []
    # the reference keeps the bus: e2 destroyed by the bus's teardown, no fault
    assert not [f for s in b.reference.steps for f in s.faults]
    assert destroys(replay(sc(efd("e1", 0x1000), efd("e2", 0x2000), FAIL, deassign("e1"), DESTROY), ["linear"]).buses[0], "e2")


def test_f658_destroys_the_others_before_publishing_null():
    b = run("hist-f658", efd("e1", 0x1000), efd("e2", 0x2000), FAIL, deassign("e1"))
    assert faults(b) == [(3, "USE_AFTER_FREE", "e2", "destroy-while-published")]
    order = [(e.what, e.dev) for e in b.trace.steps[3].ledger if e.what in ("publish", "sync", "destroyed")]
    assert order == [("destroyed", "e2"), ("publish", "mmio"), ("sync", "mmio"), ("destroyed", "e1")]


def test_pre_90db_callers_free_a_device_the_failed_unregister_kept():
    b = run("hist-3.18", efd("e1", 0x1000), FAIL, deassign("e1"), write(0x1000))
    assert faults(b) == [(2, "USE_AFTER_FREE", "e1", "destroy-while-published"), (3, "USE_AFTER_FREE", "e1", "callback")]


def test_23fa_leaks_the_target_zone_b1cb_does_not():
    ops = (zone("z1", 0x1000), FAIL, unzone(0x1000), DESTROY)
    assert faults(run("hist-23fa", *ops)) == [(3, "LEAK", "z1", "destroy_vm")]
    assert faults(run("hist-b1cb", *ops)) == []


def test_the_mis_merge_destroys_a_zone_twice_on_every_unregister():
    b = run("hist-xaga", zone("z1", 0x1000), unzone(0x1000))
    assert faults(b) == [(1, "DOUBLE_FREE", "z1", "destroy")]
    assert len(destroys(b, "z1")) == 2


@pytest.mark.parametrize("name", ["hist-5ea5", "hist-today", "upstream"])
def test_since_5ea5_every_device_is_destroyed_once_on_both_paths(name):
    ok = run(name, zone("z1", 0x1000), efd("e1", 0x2000), unzone(0x1000), deassign("e1"))
    assert [len(destroys(ok, d)) for d in ("z1", "e1")] == [1, 1] and faults(ok) == []
    assert all(by.startswith("bus:") for _, by in destroys(ok, "z1"))
    failed = run(name, zone("z1", 0x1000), efd("e1", 0x2000), FAIL, unzone(0x1000), DESTROY)
    assert [len(destroys(failed, d)) for d in ("z1", "e1")] == [1, 1] and faults(failed) == []


def test_the_half_backport_of_5ea5_destroys_twice():
    assert faults(run("hist-5ea5-half", zone("z1", 0x1000), unzone(0x1000))) == [(1, "DOUBLE_FREE", "z1", "destroy")]


# -- readers holding a bus -----------------------------------------------------------------


class _EarlyDestroyBus(RangeBus):
    """Today's bus, except that a successful unregister destroys the target after
    publishing the new bus but BEFORE the grace period (a planted ordering bug)."""

    def _unregister_today(self, dev):
        for i, e in enumerate(self._range):
            if e[2] is dev:
                break
        else:
            return 0
        del self._range[i]
        self._srcu_event("publish")
        dev.destructor()
        self._srcu_event("sync")
        return 0


def early_destroy_bus(capacity=None, *, alloc=None):
    return _EarlyDestroyBus(UPSTREAM, capacity)


def test_a_destroy_between_publish_and_sync_is_seen_only_by_a_holding_reader():
    spec = resolve(f"{__file__}:early_destroy_bus")
    ops = (zone("z1", 0x1000), HOLD, unzone(0x1000), RELEASE)
    (held,) = replay(sc(*ops), [spec]).buses
    assert faults(held) == [(2, "USE_AFTER_FREE", "z1", "destroy-while-held")]
    assert held.classes[2].value == "USE_AFTER_FREE"
    (free,) = replay(sc(zone("z1", 0x1000), unzone(0x1000)), [spec]).buses
    assert faults(free) == []
    # today's bus waits for the reader before destroying: no fault with the hold
    assert faults(run("upstream", *ops)) == []


def test_release_without_a_hold_is_enoent_and_holds_end_at_teardown():
    vm = VM(resolve("upstream"))
    assert vm.apply(RELEASE).rc == -ENOENT
    assert vm.apply(HOLD).rc == 0 and vm.apply(DESTROY).rc == 0
    with pytest.raises(UsageError, match="destroyed at op 2"):
        vm.apply(write(0))


# -- the reference's ledger and the kvm family --------------------------------------------


def test_a_fault_the_reference_shares_is_not_a_finding():
    """2011's callers destroy after a failed unregister, on the reference too."""
    b = run("seed-2011", zone("z1", 0x1000), FAIL, unzone(0x1000), write(0x1000), DESTROY)
    assert faults(b) and [f for f in faults(b)] == [
        (i, f.cls, f.dev, f.site) for i, s in enumerate(b.reference.steps) for f in s.faults
    ]
    assert not any(c is not None and c.value in ("LEAK", "DOUBLE_FREE", "USE_AFTER_FREE") for c in b.classes)


@pytest.mark.parametrize("name", ["fixed", "upstream", "seed-2011"])
def test_the_kvm_family_has_no_lifetime_class_on_the_history_sequences(name):
    for ops in (
        (efd("e1", 0x1000), efd("e2", 0x2000), FAIL, deassign("e1"), DESTROY),
        (zone("z1", 0x1000), zone("z2", 0x1000), FAIL, unzone(0x1000), DESTROY),
        (zone("z1", 0x1000), HOLD, unzone(0x1000), RELEASE, DESTROY),
    ):
        b = run(name, *ops)
        assert not any(c is not None and c.value in ("LEAK", "DOUBLE_FREE", "USE_AFTER_FREE") for c in b.classes), (name, ops)


# -- the family, the schema ----------------------------------------------------------------


def test_the_history_family_is_registered_oldest_first_with_upstream_newest():
    assert "history" in families()
    names = list(family_variants("history"))
    assert names == [v.name for v, _ in MEMBERS] and names[-1] == "hist-today"
    assert all(REGISTRY[n].family == "history" for n in names)
    assert "hist-90db" not in family_variants("kvm")
    for v, callers in MEMBERS:
        assert callers in CALLERS and getattr(REGISTRY[v.name].factory, "callers") == callers
    assert CALLERS["23fa"].zone_walk is ZoneWalk.STOP_THEN_DESTROY


def test_scenario_versions():
    v1 = {"schema": SCHEMA_V1, "ops": [zone("z1", 0x1000)]}
    assert dump_scenario(load_scenario(v1))["schema"] == SCHEMA_V1  # written as it was
    v2 = sc(zone("z1", 0x1000), HOLD, RELEASE, DESTROY)
    assert dump_scenario(load_scenario(v2))["schema"] == SCHEMA_V2
    with pytest.raises(UsageError, match="op 0: field 'op'"):
        load_scenario({"schema": SCHEMA_V1, "ops": [DESTROY]})  # version 1 has no teardown ops
    with pytest.raises(UsageError, match="op 0: destroy_vm must be the last op"):
        load_scenario(sc(DESTROY, zone("z1", 0)))
    with pytest.raises(UsageError, match="op 0: missing field 'bus'"):
        load_scenario(sc({"op": "hold_bus"}))


def test_replay_cli_shows_the_ledger(tmp_path, capsys):
    from iobus_verify.cli import main

    path = tmp_path / "leak.json"
    path.write_text(json.dumps(sc(efd("e1", 0x1000), efd("e2", 0x2000), FAIL, deassign("e1"), DESTROY)))
    assert main(["replay", str(path), "--bus", "hist-90db"]) == 1
    out = capsys.readouterr().out
    assert "ledger: e1 destroyed by vm:eventfd.c kvm_deassign_ioeventfd" in out
    assert "fault: LEAK e2 (destroy_vm)" in out
    assert "e2: created at op 1; never destroyed; LEAK at op 4 (destroy_vm)" in out
    assert main(["replay", str(path), "--bus", "hist-90db", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["buses"][0]["ledger"]["e1"]["destroyed"] == [{"op": 3, "by": "vm:eventfd.c kvm_deassign_ioeventfd", "how": "destroyed"}]
