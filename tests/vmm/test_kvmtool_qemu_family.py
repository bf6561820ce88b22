"""kvmtool and QEMU as members of the vmm family: their conformance cells, their
contracts' BAR-move and set_address knobs, the adapters' limits, and kvmtool's
history (each fix of reference section 5.7 removes the defect it names).

Every expected cell below is derived by hand from the reference
(``vmm-buses.md`` sections 5, 6, 8) and the code cited in ``vmm/registry.py``,
not copied from a report: the comment on each says why.
"""

from __future__ import annotations

import json

import pytest

from iobus_verify.vmm import conformance, registry
from iobus_verify.vmm.compare import run as run_scenario
from iobus_verify.vmm.corners import CORNERS
from iobus_verify.vmm.reference import STRICT, RefBus
from iobus_verify.vmm.registry import KVMTOOL
from iobus_verify.vmm.scenario import VmmScenario, ops

M = (1 << 64) - 1
BY_NAME = {c.name: c for c in CORNERS}


def cells(name: str) -> dict[str, tuple[str, str | None]]:
    bus = registry.get(name)
    return {c.name: (x.status, x.cls) for c in CORNERS for x in [conformance.cell(bus, c)]}


def scen(*items) -> VmmScenario:
    return VmmScenario(ops(*items))


# -- kvmtool at b48735e5 ----------------------------------------------------------------------

#: Hand-derived (reference 5.3-5.6): high = base + len in u64; insert descends left if
#: new.high <= cur.low, right if cur.high <= new.low; lookup needs addr + len > addr and
#: node.high >= addr + len; deregister by any interior address; BAR moves park what they land on.
KVMTOOL_CELLS = {
    "zero-length-range": ("contract", "REGISTRATION"),  # accepted unchecked (5.3): REF-strict refuses length 0
    "range-to-top": ("defect", "MISSED"),  # [M-0xfff, 2^64): high wraps to 0, and M + 1 wraps: the guard misses (5.5)
    "range-past-top": ("contract", "REGISTRATION"),  # accepted unchecked; the low range at 0 is still found
    "overlap-inside": ("same", None),  # -EEXIST, as REF-strict
    "overlap-below": ("same", None),
    "same-base": ("same", None),
    "overlap-at-top": ("defect", "REGISTRATION"),  # t's high is 0: cur.high <= new.low sends x right, no -EEXIST
    "same-base-at-top": ("defect", "REGISTRATION"),  # [M, 2^64) has high 0: the second one passes the same way
    "wrapping-new-range": ("contract", "REGISTRATION"),  # accepted (past the top): REF-strict refuses
    "straddling-access": ("same", None),  # contained whole: a 4-byte access over two ranges misses
    "zero-length-access": ("same", None),  # the 52d4ee7 guard: len 0 misses
    "access-past-top": ("same", None),  # M-1 + 4 wraps: the guard misses, as containment does
    "remove-wrong-length": ("contract", "REGISTRATION"),  # deregister(0x1000) ignores the length (interior)
    "remove-interior": ("contract", "REGISTRATION"),  # deregister(0x1080) finds the mapping holding it
    "remove-by-device": ("n/a", None),  # no such API
    "relocate-onto-overlap": ("contract", "REGISTRATION"),  # b is parked (pci.c), REF-strict refuses the move
    "relocate-wrong-length": ("contract", "REGISTRATION"),  # a BAR write carries no size: the BAR keeps 0x100
    "relocate-onto-itself": ("same", None),  # the move over its own old place is allowed by both
    "resources-partial": ("n/a", None),
    "resources-zero-size": ("n/a", None),
    "pio-16-bit-top": ("same", None),  # q overlaps p: -EEXIST; REF-strict refuses q too (past 0xffff)
}


def test_kvmtool_cells_are_the_hand_derived_ones():
    assert cells("kvmtool") == KVMTOOL_CELLS


# -- QEMU -------------------------------------------------------------------------------------

#: Hand-derived (reference 6.2-6.6): every overlap accepted, the newest visible among equal
#: priorities; an access goes to the region holding its first byte; size 0 renders nothing.
QEMU_CELLS = {
    "zero-length-range": ("contract", "REGISTRATION"),
    "range-to-top": ("same", None),  # Int128 ends: [M-0xfff, 2^64) holds M
    "range-past-top": ("contract", "REGISTRATION"),  # clipped at 2^64, never wrapped: 4 still reaches `low`
    "overlap-inside": ("contract", "REGISTRATION"),
    "overlap-below": ("contract", "REGISTRATION"),
    "same-base": ("contract", "REGISTRATION"),
    "overlap-at-top": ("contract", "REGISTRATION"),
    "same-base-at-top": ("contract", "REGISTRATION"),
    "wrapping-new-range": ("contract", "REGISTRATION"),
    "straddling-access": ("contract", "SPURIOUS"),  # the first piece goes to a (not clamped, 6.5)
    "zero-length-access": ("same", None),  # a zero-length address_space_rw does nothing
    "access-past-top": ("contract", "SPURIOUS"),  # first byte M-1 is t's
    "remove-wrong-length": ("same", None),  # the region (base, 0x10) does not exist: nothing removed
    "remove-interior": ("same", None),
    "remove-by-device": ("n/a", None),
    "relocate-onto-overlap": ("contract", "REGISTRATION"),  # set_address cannot fail
    "relocate-wrong-length": ("contract", "REGISTRATION"),  # the region object is named; set_size gives 0x80
    "relocate-onto-itself": ("same", None),
    "resources-partial": ("n/a", None),
    "resources-zero-size": ("n/a", None),
    "pio-16-bit-top": ("contract", "REGISTRATION"),  # q past 0xffff accepted (clipped at 65536)
}


def test_qemu_cells_are_the_hand_derived_ones():
    assert cells("qemu") == QEMU_CELLS


def test_qemu_set_address_to_the_same_address_does_not_reorder():
    """memory_region_set_address returns early when the address is unchanged (memory.c
    @f96b157e): moving b onto its own base leaves a (moved later) in front. The contract
    says so (``newest-if-moved``); with plain ``newest`` the same scenario is REORDERED,
    so the knob is what decides."""
    s = scen(("register", "mmio", "a", 0, 2), ("register", "mmio", "b", 0, 0x1000),
             ("relocate", "mmio", "a", 0, 2, 1), ("relocate", "mmio", "b", 0, 0x1000, 0), ("read", "mmio", 1, 1))
    bus = registry.get("qemu")
    assert run_scenario(bus, s).divergence is None
    from dataclasses import replace

    d = run_scenario(bus, s, replace(bus.contract, relocate_order="newest")).divergence
    assert d is not None and d.cls.value == "REORDERED"


def test_qemu_size_uint64_max_is_not_driven():
    """A size of UINT64_MAX means 2^64 (6.3): a length of 2^64-1 cannot be asked for."""
    m = registry.make(registry.get("qemu"), "mmio")
    from iobus_verify.vmm.scenario import VmmOp

    assert not m.accepts(VmmOp("register", "mmio", dev="a", base=0, len=M))
    assert m.accepts(VmmOp("register", "mmio", dev="a", base=0, len=M - 1))


# -- kvmtool's BAR moves ----------------------------------------------------------------------


def test_bar_move_parks_and_restores_on_the_reference_and_on_kvmtool():
    """pci_config_bar_wr: a move onto b unmaps b; moving back re-maps it (the reference's
    ``park``, worked by hand), and kvmtool's model agrees op by op."""
    ref = RefBus(KVMTOOL)
    assert ref.register("a", 0x1000, 0x100) == "ok" and ref.register("b", 0x2000, 0x100) == "ok"
    ref.relocate("a", 0x1000, 0x100, 0x1F80)
    assert ref.mappings() == [(0x1F80, 0x100, "a")]
    ref.relocate("a", 0x1F80, 0x100, 0x1000)
    assert ref.mappings() == [(0x1000, 0x100, "a"), (0x2000, 0x100, "b")]
    s = scen(("register", "mmio", "a", 0x1000, 0x100), ("register", "mmio", "b", 0x2000, 0x100),
             ("relocate", "mmio", "a", 0x1000, 0x100, 0x1F80), ("read", "mmio", 0x2000, 1),
             ("relocate", "mmio", "a", 0x1F80, 0x100, 0x1000), ("read", "mmio", 0x2000, 1))
    assert run_scenario(registry.get("kvmtool"), s).divergence is None
    # against REF-strict the first move is refused: a contract difference, not agreement
    assert run_scenario(registry.get("kvmtool"), s, STRICT).divergence is not None


def test_bar_move_onto_a_non_bar_region_is_refused():
    """A region reaching past 2^32 is no 32-bit BAR (a non-PCI device's): it is not parked, the
    activation meets it (-EEXIST). The reference refuses; kvmtool leaves the moved BAR unmapped
    at both addresses (5.6), a defect the comparison must see."""
    s = scen(("register", "mmio", "big", 0x8000_0000, 0x1_0000_0000), ("register", "mmio", "a", 0x1000, 0x100),
             ("relocate", "mmio", "a", 0x1000, 0x100, 0x8000_0000), ("read", "mmio", 0x1000, 1))
    ref = RefBus(KVMTOOL)
    for o in s.ops[:3]:
        if o.op == "register":
            ref.register(o.dev, o.base, o.len)
        else:
            ref.relocate(o.dev, o.base, o.len, o.new_base)
    assert ref.mappings() == [(0x1000, 0x100, "a"), (0x8000_0000, 0x1_0000_0000, "big")]
    d = run_scenario(registry.get("kvmtool"), s).divergence
    assert d is not None and d.cls.value == "REGISTRATION" and d.op_index == 2


def test_kvmtool_adapter_drives_only_expressible_writes():
    from iobus_verify.vmm.scenario import VmmOp

    m = registry.make(registry.get("kvmtool"), "mmio")
    reloc = lambda nb, n=0x100: VmmOp("relocate", "mmio", dev="a", base=0x1000, len=n, new_base=nb)  # noqa: E731
    assert m.accepts(reloc(0x2000))
    assert not m.accepts(reloc(0x2001))  # flag bits: the C masks them (~0xf)
    assert not m.accepts(reloc(0x1_0000_0000))  # a 32-bit BAR
    assert not m.accepts(reloc(0xFFFF_FF00, 0x200))  # the new range would pass 2^32
    assert not m.accepts(VmmOp("read", "mmio", addr=0, len=1 << 31))  # kvm__emulate_mmio's u32 len
    p = registry.make(registry.get("kvmtool"), "pio")
    assert not p.accepts(VmmOp("relocate", "pio", dev="a", base=0x10, len=4, new_base=0x22))  # ~0x3


# -- kvmtool's history: found before the fix, absent after ------------------------------------

#: (version with the defect, version after the fix, corner, the defect class before): hand-derived from 5.7.
FIXES = [
    # c59e43a: erasing a root with at most one child called the propagate callback on NULL
    ("kvmtool@8682490", "kvmtool@c59e43a", "remove-interior", "PANIC"),
    # 3e64a4a: the int low difference accepted overlaps with another low
    ("kvmtool@c59e43a", "kvmtool@3e64a4a", "overlap-inside", "REGISTRATION"),
    ("kvmtool@c59e43a", "kvmtool@3e64a4a", "overlap-below", "REGISTRATION"),
    # bea6c33: ioport__register evicted the node holding the port, then inserted q
    ("kvmtool@a83f8ed", "kvmtool@bea6c33", "pio-16-bit-top", "REGISTRATION"),
    # 52d4ee7 (today's behaviour): a zero-length access was delivered
    ("kvmtool@96f0c86", "kvmtool", "zero-length-access", "SPURIOUS"),
]


@pytest.mark.parametrize("before,after,corner,cls", FIXES, ids=[f"{a}->{b}:{c}" for a, b, c, _ in FIXES])
def test_each_fix_removes_its_defect(before, after, corner, cls):
    b = conformance.cell(registry.get(before), BY_NAME[corner])
    a = conformance.cell(registry.get(after), BY_NAME[corner])
    assert (b.status, b.cls) == ("defect", cls)
    assert a.status != "defect"


def test_96f0c86_contains_a_pio_access_whole():
    """Before 96f0c86 kvm__emulate_io found the node holding the port only: a 2-byte access at
    the last port of a range was delivered (5.7); after, it misses as containment says."""
    s = scen(("register", "pio", "a", 0x10, 4), ("read", "pio", 0x13, 2))
    d = run_scenario(registry.get("kvmtool@bea6c33"), s).divergence
    assert d is not None and d.cls.value == "SPURIOUS"
    assert run_scenario(registry.get("kvmtool@96f0c86"), s).divergence is None


def test_history_fates_name_the_fixing_commit():
    assert registry.get("kvmtool@8682490").fates["PANIC"].status == "fixed"
    assert "c59e43aa2922" in registry.get("kvmtool@8682490").fates["PANIC"].text
    assert conformance.fate(registry.get("kvmtool"), "MISSED", "access").status == "stands"


def test_baseline_expects_the_hand_derived_corner_defects():
    """The recorded baseline holds, for kvmtool, exactly the corner defects derived above, and
    nothing for QEMU (no defect: its contract explains every divergence)."""
    base = json.loads(conformance.BASELINE.read_text())["buses"]
    corners = {e["id"].removeprefix("corner.") for e in base["kvmtool"] if e["id"].startswith("corner.")}
    assert corners == {k for k, (st, _) in KVMTOOL_CELLS.items() if st == "defect"}
    assert base["qemu"] == []
    assert all(f"kvmtool@{v}" in base for v in ("8682490", "c59e43a", "3e64a4a", "a83f8ed", "bea6c33", "96f0c86"))


def test_qemu_relocation_names_the_newest_region_of_the_device_at_that_base():
    """Two regions of one device at base 0 (sizes 0 and 1): the adapter's set_address takes the
    newest, as the visible one is under priority; the reference's ``device-base`` does the same
    (an earlier registration-order pick diverged here)."""
    s = scen(("register", "mmio", "a", 0, 0), ("register", "mmio", "a", 0, 1),
             ("relocate", "mmio", "a", 0, 0, 0), ("read", "mmio", 0, 1))
    assert run_scenario(registry.get("qemu"), s).divergence is None
    ref = RefBus(registry.get("qemu").contract)
    ref.register("a", 0, 0), ref.register("a", 0, 1)
    ref.relocate("a", 0, 0, 0)
    assert ref.mappings() == [(0, 0, "a"), (0, 0, "a")]  # the newest (size 1) got the new size 0
