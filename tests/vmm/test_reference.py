"""The VMM reference and the comparison, with hand-derived expectations (``vmm-buses.md`` 0.2)."""

from __future__ import annotations

import json

import pytest

from iobus_verify.errors import UsageError
from iobus_verify.vmm import compare, registry
from iobus_verify.vmm.reference import STRICT, Contract, RefBus
from iobus_verify.vmm.scenario import VmmScenario, load_scenario, ops, parse_scenario

M = (1 << 64) - 1


def test_strict_reference_registration():
    r = RefBus(STRICT)
    assert r.register("z", 0, 0) == "zero length"
    assert r.register("w", M, 2) == "past the top"
    assert r.register("t", M, 1) == "ok"  # ends exactly at 2^64
    assert r.register("a", 0x100, 0x10) == "ok"
    assert r.register("b", 0x10F, 1) == "overlap"
    assert r.register("c", 0x110, 1) == "ok"
    assert r.mappings() == [(0x100, 0x10, "a"), (0x110, 1, "c"), (M, 1, "t")]


def test_reference_matching_modes():
    c = RefBus(STRICT)
    p = RefBus(Contract(match="point", zero_access="deliver"))
    for r in (c, p):
        r.register("a", 0x100, 0x10)
    assert c.access("read", 0x10E, 4).dev is None and p.access("read", 0x10E, 4).dev == "a"
    assert c.access("read", 0x100, 0).dev is None and p.access("read", 0x100, 0).dev == "a"
    assert c.access("read", 0x10C, 4).offset == 0xC


def test_reference_priority_newest_wins():
    r = RefBus(Contract(overlap="priority", match="point"))
    r.register("low", 0, 0x100)
    r.register("high", 0x80, 0x10)
    assert r.access("read", 0x88, 1).dev == "high" and r.access("read", 0x90, 1).dev == "low"


def test_reference_priority_removes_the_newest_of_equal_ranges():
    r = RefBus(Contract(overlap="priority", match="point"))
    r.register("a", 0, 1)
    r.register("b", 0, 1)
    assert r.remove(0, 1) == "ok" and r.mappings() == [(0, 1, "a")]


def test_reference_remove_keys_and_atomic_relocate():
    exact, base, interior = (RefBus(Contract(remove_by=k)) for k in ("exact", "base", "interior"))
    for r in (exact, base, interior):
        r.register("a", 0x100, 0x10)
    assert exact.remove(0x100, 8) == "absent" and base.remove(0x100, 8) == "ok" and interior.remove(0x104, 0) == "ok"
    r = RefBus(Contract(remove_by="base"))
    r.register("a", 0x100, 0x10)
    r.register("b", 0x200, 0x10)
    assert r.relocate("a", 0x100, 0x10, 0x1F8) == "overlap"
    assert r.mappings() == [(0x100, 0x10, "a"), (0x200, 0x10, "b")]
    assert r.relocate("a", 0x100, 0x8, 0x300) == "length differs"
    assert r.relocate("a", 0x100, 0x10, 0x108) == "ok"  # onto itself: allowed


def test_scenario_round_trip_and_bad_input(tmp_path):
    s = VmmScenario(ops(("register", "mmio", "a", 0, 1), ("relocate", "pio", "a", 0, 1, 2), ("read", "mmio", M, 0)), vmm="crosvm")
    obj = s.to_json()
    assert parse_scenario(json.loads(json.dumps(obj))) == s
    bad = dict(obj, ops=[{"op": "register", "space": "mmio", "dev": "a", "base": 1 << 64, "len": 1}])
    with pytest.raises(UsageError, match="ops/0"):
        parse_scenario(bad)
    f = tmp_path / "x.json"
    f.write_text("{")
    with pytest.raises(UsageError, match="not JSON"):
        load_scenario(f)


def _cls(name, *items, contract=None):
    d = compare.run(registry.get(name), VmmScenario(ops(*items)), contract).divergence
    return None if d is None else d.cls.value


def test_classes_hand_derived():
    # crosvm: same base at 2^64-1 replaces then errors (4.4)
    assert _cls("crosvm", ("register", "mmio", "a", M, 1), ("register", "mmio", "b", M, 1)) == "ERROR_CHANGED_STATE"
    # cloud-hypervisor: the overlap at the top is accepted (3.3)
    assert _cls("cloud-hypervisor", ("register", "mmio", "t", M - 15, 16), ("register", "mmio", "x", M - 7, 4)) == "REGISTRATION"
    # ... and its debug build panics on the same input
    assert _cls("cloud-hypervisor@debug", ("register", "mmio", "t", M - 15, 16), ("register", "mmio", "x", M - 7, 4)) == "PANIC"
    # update_range without restore (3.6)
    two = (("register", "mmio", "a", 0x100, 0x10), ("register", "mmio", "b", 0x200, 0x10), ("relocate", "mmio", "a", 0x100, 0x10, 0x208))
    assert _cls("cloud-hypervisor", *two) == "ERROR_CHANGED_STATE"
    assert _cls("firecracker", *two) is None  # move_range restores (2.5)
    assert _cls("crosvm", *two) == "REGISTRATION"  # PciRoot reports no error, the BAR is gone
    # Firecracker's move_range panics on a length mismatch (2.5)
    assert _cls("firecracker", ("register", "mmio", "a", 0x100, 0x10), ("relocate", "mmio", "a", 0x100, 0x8, 0x300)) == "PANIC"
    # a straddling access: a contract difference (point matching), not a defect
    straddle = (("register", "mmio", "a", 0x100, 0x10), ("read", "mmio", 0x10E, 4))
    assert _cls("firecracker", *straddle) is None
    assert _cls("firecracker", *straddle, contract=STRICT) == "SPURIOUS"
    assert _cls("rust-vmm", *straddle, contract=STRICT) is None


def test_pio_inputs_rust_vmm_cannot_express_are_skipped():
    r = compare.run(registry.get("rust-vmm"), VmmScenario(ops(("register", "pio", "a", 0x10000, 1), ("read", "pio", 0x10000, 1))))
    assert r.divergence is None and r.skipped == 2


def test_missing_model_is_skipped_with_a_message():
    ok, skipped = registry.available()
    assert "crosvm" in ok
    for name in ("kvmtool", "qemu"):
        if name not in ok:
            assert any(m.startswith(f"{name}: model iobus_verify.vmm.{name} is not installed") and m.endswith("skipped") for m in skipped)
