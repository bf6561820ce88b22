"""The VMM search: it finds what the reference says is there, keeps each witness
inside its rung, and tells a contract difference from a defect."""

from __future__ import annotations

from iobus_verify.vmm import compare, registry, search
from iobus_verify.vmm.reference import STRICT
from iobus_verify.vmm.scenario import VmmScenario, ops

M = (1 << 64) - 1


def test_condition_atoms_on_a_scenario():
    ch = registry.get("cloud-hypervisor")
    s = VmmScenario(ops(("register", "mmio", "t", M - 15, 16), ("register", "mmio", "x", M - 7, 4), ("read", "mmio", 0x10, 0)))
    v = search.violations(ch, s)
    assert v == {"apart": 1, "nonzero": 2, "inside": 2}
    assert search.rung_of(ch, VmmScenario(s.ops[:2])).name == "nonzero+below-top"
    # a removal the contract refuses (zero length) removes nothing: the next overlap still counts
    s2 = VmmScenario(ops(("register", "mmio", "a", 0, 0x100), ("remove", "mmio", 0, 0), ("register", "mmio", "b", 0x10, 4)))
    assert search.violations(ch, s2) == {"apart": 2}


def test_minimise_keeps_class_and_rung():
    ch = registry.get("cloud-hypervisor")
    noisy = VmmScenario(ops(
        ("register", "mmio", "a", 0x100, 0x10), ("read", "mmio", 0x100, 1), ("register", "pio", "p", 0x60, 4),
        ("register", "mmio", "t", M - 15, 16), ("write", "mmio", 0x104, 2), ("register", "mmio", "x", M - 7, 4), ("read", "mmio", 0, 1),
    ))
    rung = search.rung_of(ch, noisy)
    small = search.minimise(ch, noisy, ("REGISTRATION", "register"), ch.contract, rung)
    # the two registrations stay (devices renamed a, b; integers made simpler), the rest goes
    assert [(o.op, o.dev) for o in small.ops] == [("register", "a"), ("register", "b")]
    t, x = small.ops
    assert t.base + t.len == 1 << 64 and t.base < x.base and x.base + x.len <= 1 << 64  # x inside t, t ending at the top
    assert compare.run(ch, small).divergence.cls.value == "REGISTRATION"
    assert search.rung_of(ch, small).name == rung.name == "nonzero+below-top"


def test_search_finds_the_reference_defects_and_differences():
    got = search.search(registry.get("cloud-hypervisor"), profile="dev", seed=0)
    keys = {(f.kind, f.cls, f.op) for f in got.findings}
    assert ("defect", "ERROR_CHANGED_STATE", "register") in keys  # same-base insert (3.4)
    assert ("defect", "REGISTRATION", "register") in keys  # wrapping overlaps (3.3)
    assert ("contract-difference", "SPURIOUS", "access") in keys  # no access-length check (3.5)
    for f in got.findings:
        r_own = compare.run(registry.get("cloud-hypervisor"), f.scenario).divergence
        if f.kind == "defect":
            assert r_own is not None and r_own.cls.value == f.cls
        else:
            assert r_own is None and compare.run(registry.get("cloud-hypervisor"), f.scenario, STRICT).divergence.cls.value == f.cls
        assert f.condition == search.rung_of(registry.get("cloud-hypervisor"), f.scenario).name


def test_rust_vmm_defects_are_only_in_its_multi_resource_registration():
    """Reference 1.4-1.6: the bus itself refuses every bad range (checked
    arithmetic, inclusive overlap scan); only IoManager's resource-by-resource
    registration is not atomic and unwraps the range constructor."""
    got = search.search(registry.get("rust-vmm"), profile="dev", seed=0)
    assert got.runs > 0 and all(v["runs"] > 0 for v in got.per_rung.values())
    defects = {(f.cls, f.op) for f in got.findings if f.kind == "defect"}
    assert defects <= {("ERROR_CHANGED_STATE", "register_resources"), ("PANIC", "register_resources")}
    assert ("PANIC", "register_resources") in defects
