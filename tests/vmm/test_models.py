"""Fidelity of each VMM model to ``vmm-buses.md``: every expectation below was
derived by hand from the reference's text (the section is cited on each test),
not by running the model."""

from __future__ import annotations

import pytest

from iobus_verify.vmm.cloud_hypervisor import CloudHypervisorBus
from iobus_verify.vmm.crosvm import CrosvmBus
from iobus_verify.vmm.firecracker import FirecrackerBus, FirecrackerMidBus, FirecrackerOldBus
from iobus_verify.vmm.protocol import ModelPanic
from iobus_verify.vmm.rust_vmm import RustVmmBus

M = (1 << 64) - 1


# -- rust-vmm (section 1) ------------------------------------------------------------


def test_rust_vmm_range_construction_1_3():
    b = RustVmmBus()
    assert b.register("z", 0x10, 0) == "InvalidRange"  # size 0
    assert b.register("top", M, 1) == "ok"  # (M, 1) valid
    assert b.register("w", M - 1, 3) == "InvalidRange"  # base + size - 1 >= 2^64
    assert b.register("all", 0, M) == "ok"  # (0, M) covers 0..M-1
    assert b.mappings() == [(0, M, "all"), (M, 1, "top")]


def test_rust_vmm_overlap_is_inclusive_1_4():
    b = RustVmmBus()
    assert b.register("a", 0x100, 0x100) == "ok"
    assert b.register("b", 0x1FF, 1) == "DeviceOverlap"  # last byte shared
    assert b.register("c", 0x200, 1) == "ok"  # adjacent
    assert b.register("d", 0xF0, 0x11) == "DeviceOverlap"  # reaches base
    assert b.register("e", 0x100, 1) == "DeviceOverlap"  # same base: refused before the insert
    assert [d for _, _, d in b.mappings()] == ["a", "c"]


def test_rust_vmm_access_needs_containment_1_5():
    b = RustVmmBus()
    b.register("a", 0x100, 0x10)
    b.register("b", 0x110, 0x10)
    assert b.access("read", 0x10C, 4).dev == "a" and b.access("read", 0x10C, 4).offset == 0xC
    assert b.access("read", 0x10E, 4).rc == "DeviceNotFound"  # straddles a and b: no splitting
    assert b.access("read", 0x100, 0).rc == "InvalidRange"  # zero length
    b.register("t", M - 3, 4)
    assert b.access("read", M, 2).rc == "InvalidRange"  # addr + len - 1 >= 2^64
    assert b.access("read", M, 1).dev == "t"


def test_rust_vmm_pio_is_16_bit_1_2():
    b = RustVmmBus("pio", 16)
    assert b.register("p", 0xFFFF, 1) == "ok"
    assert b.register("q", 0xFFF0, 0x11) == "InvalidRange"  # 0xfff0 + 0x10 > 0xffff
    assert b.access("read", 0, 0x10000).rc == "InvalidAccessLength"


def test_rust_vmm_deregister_by_interior_address_1_6():
    b = RustVmmBus()
    b.register("a", 0x100, 0x10)
    assert b.remove(0x108, 99) == "ok"  # any interior address; len unused
    assert b.mappings() == []
    assert b.remove(0x108, 1) == "None"


# -- Firecracker now (2.2-2.5) ---------------------------------------------------------


def test_fc_now_range_and_overlap_2_2_2_3():
    b = FirecrackerBus()
    assert b.register("z", 0, 0) == "ZeroSizedRange"
    assert b.register("w", M, 2) == "InvalidRange"
    assert b.register("t", M - 4095, 4096) == "ok"
    assert b.register("u", M, 1) == "Overlap"  # inclusive end, no arithmetic
    assert b.register("v", 1, M - 4096) == "ok"  # ends at M-4096 inclusive, just below t
    assert [d for _, _, d in b.mappings()] == ["v", "t"]


def test_fc_now_access_first_byte_only_2_4():
    b = FirecrackerBus()
    b.register("a", 0x100, 0x10)
    b.register("b", 0x110, 0x10)
    a = b.access("write", 0x10F, 8)  # straddles: goes entirely to a
    assert (a.dev, a.base, a.offset) == ("a", 0x100, 0xF)
    assert b.access("read", 0x100, 0).dev == "a"  # zero length delivered
    assert b.access("read", 0x120, 1).rc == "MissingAddressRange"


def test_fc_now_remove_by_base_with_validation_2_5():
    b = FirecrackerBus()
    b.register("a", 0x100, 0x10)
    assert b.remove(0x100, 0) == "ZeroSizedRange"  # even though a mapping exists
    assert b.remove(0x100, 0x99) == "ok"  # registered length not compared
    assert b.remove(0x100, 0x10) == "MissingAddressRange"


def test_fc_now_move_range_2_5():
    b = FirecrackerBus()
    b.register("a", 0x100, 0x10)
    b.register("b", 0x200, 0x10)
    assert b.relocate("a", 0x100, 0x10, 0x1F8) == "Overlap"  # restored
    assert b.mappings() == [(0x100, 0x10, "a"), (0x200, 0x10, "b")]
    assert b.relocate("a", 0x100, 0x10, 0x108) == "ok"  # onto its own old place: accepted
    assert b.mappings() == [(0x108, 0x10, "a"), (0x200, 0x10, "b")]
    assert b.relocate("a", 0x300, 0x10, 0x400) == "MissingAddressRange"
    with pytest.raises(ModelPanic, match="registered with length"):
        b.relocate("a", 0x108, 0x8, 0x500)  # length mismatch: assert_eq! after the removal
    assert b.mappings() == [(0x200, 0x10, "b")]  # the entry was already gone


# -- cloud-hypervisor / Firecracker 1.13 (section 3, 2.6) ----------------------------


@pytest.mark.parametrize("cls", [CloudHypervisorBus, FirecrackerMidBus])
def test_ch_wrapping_overlaps_3_3(cls):
    b = cls()
    assert b.register("z", 0, 0) == "ZeroSizedRange"
    assert b.register("t", M - 15, 16) == "ok"  # self.base + self.len wraps to 0
    # overlaps(t; M-7, 4): M-15 < M-3 holds; M-7 < wrap(M-15+16) = 0 fails: accepted
    assert b.register("x", M - 7, 4) == "ok"
    assert b.resolve(M - 6)[2] == "x"  # pred picks the higher base
    assert b.resolve(M - 1) is None  # t's bytes beyond x's end are unreachable (0.3.2)
    assert b.resolve(M - 15)[2] == "t"
    assert b.register("y", 0x100, 0x10) == "ok"
    assert b.register("y2", 0x108, 0x10) == "Overlap"


def test_ch_over_long_range_covers_to_the_top_3_5():
    b = CloudHypervisorBus()
    assert b.register("w", M - 3, 0x10) == "ok"  # nothing validates base + len
    assert b.access("read", M, 4).dev == "w"  # offset 3 < 0x10
    assert b.access("read", 0, 1).rc == "MissingAddressRange"


def test_ch_same_base_insert_replaces_then_errors_3_4():
    b = CloudHypervisorBus()
    b.register("a", 0x10, 0x10)
    # a same base reaches the insert only if overlaps misses it: a new range wrapping past the top
    assert b.register("b", 0x10, M) == "Overlap"  # 0x10 < wrap(0x10 + M) = 0xf fails -> insert
    assert b.mappings() == [(0x10, 0x10, "b")]  # value replaced, old key and length kept


def test_ch_remove_update_and_by_device_3_6():
    b = CloudHypervisorBus()
    b.register("a", 0x100, 0x10)
    b.register("b", 0x200, 0x10)
    b.register("a", 0x300, 0x10)
    assert b.remove(0x100, 0) == "ZeroSizedRange"
    assert b.relocate("b", 0x208, 0x10, 0x400) == "MissingAddressRange"  # interior: resolve ok, remove by base fails
    assert b.mappings() == [(0x100, 0x10, "a"), (0x200, 0x10, "b"), (0x300, 0x10, "a")]
    assert b.relocate("b", 0x200, 0x10, 0x308) == "Overlap"  # removed, then insert refused: no restore
    assert b.mappings() == [(0x100, 0x10, "a"), (0x300, 0x10, "a")]
    assert b.remove_device("a") == "ok" and b.mappings() == []
    assert b.remove_device("nobody") == "ok"


def test_ch_debug_panics_when_the_first_sum_overflows_3_3():
    b = CloudHypervisorBus(overflow="panic")
    assert b.register("a", 0x10, 0x10) == "ok"  # empty map: no sum evaluated
    with pytest.raises(ModelPanic):
        b.register("t", M - 15, 16)  # scanning a: 0x10 < (M-15) + 16 overflows


def test_ch_debug_short_circuit_0_3_3():
    b = CloudHypervisorBus(overflow="panic")
    assert b.register("t", M - 15, 16) == "ok"
    # scanning t: t.base < 0x10 + 0x10 is false, so t.base + t.len (2^64) is never computed
    assert b.register("a", 0x10, 0x10) == "ok"


# -- Firecracker 1.12 (2.7) ---------------------------------------------------------------


def test_fc_old_two_probe_insert_2_7():
    b = FirecrackerOldBus()
    assert b.register("z", 0x10, 0) == "Overlap"  # zero length: Overlap, no separate error
    assert b.register("a", 0x100, 0x100) == "ok"
    assert b.register("in", 0x150, 0x10) == "Overlap"  # get_device(base) hits
    assert b.register("lo", 0x80, 0x200) == "Overlap"  # first_before(0x27f) = a, a.base >= 0x80
    assert b.register("top", M, 1) == "ok"  # wrap(M + 1 - 1) = M: exact when base + len <= 2^64
    assert b.register("wrap", M - 0x20, 0x30) == "ok"  # last wraps to 0xf: no entry <= 0xf: accepted over top
    assert b.access("read", M, 8).dev == "top"  # pred(M) = top
    assert b.access("read", 0x1FF, 4).dev == "a"  # no length check
    assert not {"remove", "relocate", "remove_device"} & b.OPS


def test_fc_old_debug_panics_when_base_plus_len_reaches_2_64_2_7():
    b = FirecrackerOldBus(overflow="panic")
    with pytest.raises(ModelPanic):
        b.register("top", M, 1)  # the + overflows before the - 1
    assert b.register("ok", M - 1, 1) == "ok"


# -- crosvm (section 4) -------------------------------------------------------------------


def test_crosvm_saturating_overlaps_4_3():
    b = CrosvmBus()
    assert b.register("z", 0x10, 0) == "Overlap"
    assert b.register("t", M, 1) == "ok"
    # overlaps(t; M-3, 8): M < sat(M+5) = M fails: the overlap at M is missed
    assert b.register("x", M - 3, 8) == "ok"
    assert b.access("read", M, 1).dev == "t"  # get_device covers [M, M]
    assert b.register("y", 0x100, 0x10) == "ok"
    assert b.register("y2", 0xF8, 0x10) == "Overlap"


def test_crosvm_same_base_at_the_top_replaces_then_errors_4_4():
    b = CrosvmBus()
    b.register("a", M, 1)
    assert b.register("b", M, 1) == "Overlap"  # M < sat(M+1) = M fails -> BTreeMap::insert replaces
    assert b.mappings() == [(M, 1, "b")]


def test_crosvm_remove_exact_and_bar_move_4_6():
    b = CrosvmBus()
    b.register("a", 0x100, 0x10)
    b.register("b", 0x200, 0x10)
    assert b.remove(0x100, 0x8) == "Empty"  # both base and len must match
    assert b.remove(0x100, 0) == "Overlap"
    assert b.relocate("a", 0x100, 0x10, 0x208) == "ok"  # remove ok, insert refused, results ignored
    assert b.mappings() == [(0x200, 0x10, "b")]  # the BAR is unmapped, silently
    assert b.relocate("a", 0x100, 0x10, 0x300) == "ok"  # remove fails (Empty), insert maps it
    assert b.mappings() == [(0x200, 0x10, "b"), (0x300, 0x10, "a")]


def test_rust_vmm_register_resources_is_not_atomic_and_unwraps_1_6():
    b = RustVmmBus()
    b.register("x", 0x2000, 0x10)
    # the first resource is registered, the second overlaps: the error comes after the change
    assert b.register_resources("a", [(0x1000, 0x10), (0x2000, 0x10), (0x3000, 0x10)]) == "Bus(DeviceOverlap)"
    assert b.mappings() == [(0x1000, 0x10, "a"), (0x2000, 0x10, "x")]
    with pytest.raises(ModelPanic, match="unwrap"):
        b.register_resources("c", [(0x4000, 0)])  # MmioRange::new(..).unwrap() on a zero size
    p = RustVmmBus("pio", 16)
    with pytest.raises(ModelPanic):
        p.register_resources("c", [(0xFFFF, 2)])  # PioRange::new: 0xffff + 1 overflows u16
