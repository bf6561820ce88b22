"""kvmtool's trap bus (vmm/kvmtool.py), against expectations derived by hand from the C.

Every expected tree shape, colour and answer below was worked out on paper from
``lib/rbtree.c`` (``__rb_insert``, ``__rb_erase_augmented``,
``____rb_erase_color``) and kvmtool's ``util/rbtree-interval.c`` / ``mmio.c`` /
``ioport.c`` at the commits the module cites, not by running the model. Each
historical defect is reproduced on the version before its fix and shown absent
on the fixed one.
"""

import random

import pytest

from iobus_verify.model.cints import U64_MAX
from iobus_verify.vmm.kvmtool import (
    VERSIONS,
    DEVICE_BUS_PCI,
    DeviceHeader,
    Devices,
    IntervalTree,
    KvmtoolBus,
    ModelPanic,
)
from iobus_verify.vmm.kvmtool import Mapping

M = U64_MAX


def tree(version, *ranges):
    """An interval tree with ``(low, high)`` nodes inserted in order; returns (tree, nodes, codes)."""
    t = IntervalTree(VERSIONS[version])
    nodes, codes = [], []
    for lo, hi in ranges:
        n = Mapping(lo, hi, f"{lo:#x}", VERSIONS[version])
        codes.append(t.rb_int_insert(n))
        nodes.append(n)
    return t, nodes, codes


def keys(shape):
    """A shape with (low, colour) only: ``(low, colour, left, right)``."""
    if shape is None:
        return None
    lo, _hi, c, left, right = shape
    return (lo, c, keys(left), keys(right))


# -- the Linux red-black tree: insert and erase cases --------------------------------


def test_ascending_inserts_rotate_as_lib_rbtree_does():
    # 1,2,3: left rotation at the root (case 3 mirrored) -> 2B(1R, 3R)
    t, _, codes = tree("b48735e5", *[(10 * i, 10 * i + 5) for i in (1, 2, 3)])
    assert codes == [0, 0, 0]
    assert keys(t.shape()) == (20, "B", (10, "R", None, None), (30, "R", None, None))
    # 4: uncle 1 red -> colour flip, root stays black: 2B(1B, 3B(-, 4R))
    # 5: uncle None, right-right -> rotate at 3: 2B(1B, 4B(3R, 5R))
    # 6: uncle 3 red -> flip, 4 red under black 2: 2B(1B, 4R(3B, 5B(-, 6R)))
    # 7: rotate at 5: 2B(1B, 4R(3B, 6B(5R, 7R)))
    t, _, _ = tree("b48735e5", *[(10 * i, 10 * i + 5) for i in range(1, 8)])
    assert keys(t.shape()) == (
        20, "B", (10, "B", None, None),
        (40, "R", (30, "B", None, None), (60, "B", (50, "R", None, None), (70, "R", None, None))),
    )
    t.check_rb()


def test_left_right_insert_double_rotation():
    # 100 then 0 (left) then 20 (right of 0): case 2 (rotate at 0) then case 3 (rotate at 100)
    t, _, _ = tree("b48735e5", (100, 110), (0, 10), (20, 30))
    assert keys(t.shape()) == (20, "B", (0, "R", None, None), (100, "R", None, None))


def test_erase_cases_of_rb_erase_color_and_successor():
    t, n, _ = tree("b48735e5", *[(10 * i, 10 * i + 5) for i in range(1, 8)])
    # erase 1 (black leaf): sibling 4 red -> case 1 rotation at 2, then case 2 with red parent 2
    t.rb_int_erase(n[0])
    assert keys(t.shape()) == (
        40, "B", (20, "B", None, (30, "R", None, None)), (60, "B", (50, "R", None, None), (70, "R", None, None)),
    )
    # erase the root 4: successor 5 is leftmost under 6 (case 3), red, so no rebalance
    t.rb_int_erase(n[3])
    assert keys(t.shape()) == (
        50, "B", (20, "B", None, (30, "R", None, None)), (60, "B", None, (70, "R", None, None)),
    )
    t.check_rb()


def test_random_operations_keep_red_black_properties_and_find_every_range():
    """Disjoint proper ranges on today's tree: the BST search finds exactly the containing node."""
    v = VERSIONS["b48735e5"]
    for seed in range(25):
        rnd = random.Random(seed)
        t, live = IntervalTree(v), []
        for _ in range(40):
            if live and rnd.random() < 0.35:
                n = rnd.choice(live)
                t.rb_int_erase(n)
                live.remove(n)
            else:
                lo = rnd.randrange(0, 100) * 16
                n = Mapping(lo, lo + rnd.randrange(1, 40), lo, v)
                overlaps = any(o.low < n.high and n.low < o.high for o in live)
                assert t.rb_int_insert(n) == (-17 if overlaps else 0)
                if not overlaps:
                    live.append(n)
            t.check_rb()
        for p in range(0, 1700, 5):
            hit = [o for o in live if o.low <= p < o.high]
            assert t.rb_int_search_single(p) is (hit[0] if hit else None)


# -- which of two overlapping intervals a lookup reaches ------------------------------


def test_rotation_decides_which_overlapping_interval_a_lookup_reaches():
    # 8682490 (int-difference insert accepts overlaps; max_high starts at 0):
    # B=[0x180,0x280) root, A=[0x100,0x200) its left child with max_high 0.
    t, (b, a), codes = tree("8682490", (0x180, 0x280), (0x100, 0x200))
    assert codes == [0, 0]
    assert t.rb_int_search_single(0x190) is b  # A's max_high 0 is not > 0x190: stays at B
    # D=[0x50,0x60) left of A: left-left, right rotation at B; the rotate callback
    # recomputes A (0x280) and B, A becomes the root and the same lookup reaches A.
    t.rb_int_insert(Mapping(0x50, 0x60, "D", VERSIONS["8682490"]))
    assert keys(t.shape()) == (0x100, "B", (0x50, "R", None, None), (0x180, "R", None, None))
    assert t.rb_int_search_single(0x190) is a


def test_c59e43a_initialised_max_high_reaches_the_lower_interval():
    t, (b, a), _ = tree("c59e43a", (0x180, 0x280), (0x100, 0x200))
    assert t.rb_int_search_single(0x190) is a  # "find lowest match"


# -- c59e43a: removal that cannot find what it stored; NULL callback ------------------


def test_before_c59e43a_a_left_leaf_is_unreachable_and_cannot_be_removed():
    old = KvmtoolBus("8682490")
    assert old.register("pio", 0x200, 0x100, "B") is None
    assert old.register("pio", 0x100, 0x10, "A") is None
    assert old.lookup("pio", 0x105, 1) is None  # leaf A kept max_high = 0
    assert old.remove("pio", 0x105) == "-ENOENT"  # ioport__unregister: "serial8250__exit failed"
    new = KvmtoolBus("c59e43a")
    new.register("pio", 0x200, 0x100, "B")
    new.register("pio", 0x100, 0x10, "A")
    assert new.lookup("pio", 0x105, 1) == "A"
    assert new.remove("pio", 0x105) is None


def test_before_c59e43a_erasing_a_root_with_one_child_dereferences_null():
    t, (only,), _ = tree("8682490", (0x10, 0x20))
    with pytest.raises(ModelPanic):
        t.rb_int_erase(only)  # propagate_callback(NULL, NULL) with no guard
    t, (only,), _ = tree("c59e43a", (0x10, 0x20))
    t.rb_int_erase(only)
    assert t.shape() is None


# -- 3e64a4a: the int difference in rb_int_insert ------------------------------------


def test_before_3e64a4a_overlaps_are_accepted_after_they_are_refused():
    assert tree("c59e43a", (0x100, 0x200), (0x180, 0x280))[2] == [0, 0]
    assert tree("3e64a4a", (0x100, 0x200), (0x180, 0x280))[2] == [0, -17]


def test_before_3e64a4a_lows_equal_modulo_2_32_are_a_false_eexist():
    assert tree("c59e43a", (0, 0x10), (1 << 32, (1 << 32) + 0x10))[2] == [0, -17]
    assert tree("3e64a4a", (0, 0x10), (1 << 32, (1 << 32) + 0x10))[2] == [0, 0]


def test_before_3e64a4a_a_difference_with_bit_31_breaks_the_order():
    # 0x8000_0000 - 0 is INT_MIN as an int: B goes LEFT of A. Its max_high
    # (0x8000_0010) then sends every lookup under it left, away from A.
    old = KvmtoolBus("c59e43a")
    old.register("mmio", 0, 0x10, "A")
    old.register("mmio", 0x8000_0000, 0x10, "B")
    assert old.lookup("mmio", 5, 1) is None
    assert old.lookup("mmio", 0x8000_0005, 1) == "B"
    new = KvmtoolBus("3e64a4a")
    new.register("mmio", 0, 0x10, "A")
    new.register("mmio", 0x8000_0000, 0x10, "B")
    assert new.lookup("mmio", 5, 1) == "A"


# -- the augmented era's callbacks (not in the reference; in the code) ----------------


def test_augmented_era_insert_never_updates_ancestors_max_high():
    # R=[1000,2000), L=[0,10), RR=[3000,4000), X=[20,30): X goes right of L and
    # case 1 only recolours, so L keeps max_high 10 and the search never descends.
    for version, found in (("3e64a4a", None), ("a83f8ed", "X")):
        bus = KvmtoolBus(version)
        for base, length, dev in ((1000, 1000, "R"), (0, 10, "L"), (3000, 1000, "RR"), (20, 10, "X")):
            assert bus.register("mmio", base, length, dev) is None
        assert bus.lookup("mmio", 25, 1) == found, version


def test_augmented_era_erase_copies_the_interval_into_the_successor():
    # B root, A left, C right; erasing B moves its successor C into its place and
    # copy_callback gives C B's low/high: B's range stays mapped (to C), C's is lost.
    old = KvmtoolBus("3e64a4a")
    for base, length, dev in ((0x200, 0x100, "B"), (0x100, 0x10, "A"), (0x400, 0x10, "C")):
        old.register("mmio", base, length, dev)
    assert old.remove("mmio", 0x250) is None
    assert old.lookup("mmio", 0x250, 1) == "C"
    assert old.lookup("mmio", 0x405, 1) is None
    new = KvmtoolBus("a83f8ed")
    for base, length, dev in ((0x200, 0x100, "B"), (0x100, 0x10, "A"), (0x400, 0x10, "C")):
        new.register("mmio", base, length, dev)
    assert new.remove("mmio", 0x250) is None
    assert new.lookup("mmio", 0x250, 1) is None
    assert new.lookup("mmio", 0x405, 1) == "C"


# -- bea6c33: re-registration evicted the port's node --------------------------------


def test_before_bea6c33_registering_inside_a_range_evicts_it():
    old = KvmtoolBus("a83f8ed")
    assert old.register("pio", 0x3F8, 8, "S") is None
    assert old.register("pio", 0x3FA, 2, "X") is None
    assert old.lookup("pio", 0x3F8, 1) is None  # S evicted
    assert old.lookup("pio", 0x3FA, 1) == "X"
    new = KvmtoolBus("bea6c33")
    new.register("pio", 0x3F8, 8, "S")
    assert new.register("pio", 0x3FA, 2, "X") == "-EEXIST"
    assert new.lookup("pio", 0x3F8, 1) == "S"


def test_before_bea6c33_a_failing_insert_after_eviction_loses_both():
    old = KvmtoolBus("a83f8ed")
    old.register("pio", 0x3F8, 8, "S")
    old.register("pio", 0x400, 8, "T")
    assert old.register("pio", 0x3FC, 8, "N") == "-EEXIST"  # the error, after S was erased
    assert old.lookup("pio", 0x3F8, 1) is None
    assert old.lookup("pio", 0x3FC, 1) is None
    assert old.lookup("pio", 0x400, 1) == "T"
    new = KvmtoolBus("bea6c33")
    new.register("pio", 0x3F8, 8, "S")
    new.register("pio", 0x400, 8, "T")
    assert new.register("pio", 0x3FC, 8, "N") == "-EEXIST"
    assert new.lookup("pio", 0x3F8, 1) == "S"


# -- 96f0c86: PIO through mmio_search ------------------------------------------------


def test_before_96f0c86_a_pio_access_past_the_range_end_is_delivered():
    for version, found in (("bea6c33", "S"), ("96f0c86", None)):
        bus = KvmtoolBus(version)
        bus.register("pio", 0x3F8, 8, "S")
        assert bus.lookup("pio", 0x3FF, 2) == found, version
        assert bus.lookup("pio", 0x3FF, 1) == "S"


def test_pio_ports_are_16_bit_and_do_not_wrap_at_2_16():
    bus = KvmtoolBus()
    assert bus.register("pio", 0xFFFC, 8, "P") is None  # node [0xfffc, 0x10004): u16 widened to u64
    assert bus.lookup("pio", 0xFFFF, 1) == "P"
    assert bus.lookup("pio", 0x0, 1) is None  # the port does not wrap into 0
    assert bus.lookup("pio", 0x1_0000 + 0xFFFE, 1) == "P"  # the u16 port parameter truncates


# -- 52d4ee7: the addr + len <= addr guard -------------------------------------------


def test_before_52d4ee7_zero_length_and_wrapping_accesses_are_delivered():
    old, new = KvmtoolBus("96f0c86"), KvmtoolBus("52d4ee7")
    for bus in (old, new):
        bus.register("mmio", 0x1000, 0x10, "A")
        bus.register("mmio", M - 31, 16, "W")  # node [M-31, M-15)
    assert old.lookup("mmio", 0x1000, 0) == "A"
    assert new.lookup("mmio", 0x1000, 0) is None
    # access (M-19, 24): addr + len wraps to 4 and the node's high >= 4
    assert old.lookup("mmio", M - 19, 24) == "W"
    assert new.lookup("mmio", M - 19, 24) is None


def test_today_ranges_reaching_2_64_are_unreachable():
    bus = KvmtoolBus()
    assert bus.register("mmio", M - 15, 16, "E") is None  # high = 2^64 wraps to 0
    assert bus.lookup("mmio", M - 15, 1) is None  # cur.high (0) <= addr: goes right, finds nothing
    assert bus.lookup("mmio", M, 1) is None  # and the guard rejects M + 1 = 0


def test_today_a_wrapping_registration_is_stored_and_never_reached():
    bus = KvmtoolBus()
    assert bus.register("mmio", 0x1000, 0x1000, "A") is None
    assert bus.register("mmio", M - 15, 32, "W") is None  # node [M-15, 16): new.high 16 <= 0x1000, goes left
    assert bus.ranges("mmio")[0] == (M - 15, 16, "W")  # in-order first: the BST order is broken
    assert bus.lookup("mmio", M - 10, 1) is None
    assert bus.lookup("mmio", 5, 1) is None
    assert bus.register("mmio", 0, 8, "Z") is None  # 8 <= 0x1000 then 8 <= M-15: accepted under it


def test_today_a_zero_length_node_blocks_spanning_ranges():
    bus = KvmtoolBus()
    assert bus.register("mmio", 0x1000, 0, "Z") is None
    assert bus.register("mmio", 0xF00, 0x200, "S") == "-EEXIST"
    assert bus.lookup("mmio", 0x1000, 1) is None


def test_remove_selects_by_any_interior_address():
    bus = KvmtoolBus()
    bus.register("mmio", 0x1000, 0x100, "A")
    assert bus.remove("mmio", 0x10FF) is None
    assert bus.lookup("mmio", 0x1000, 4) is None
    assert bus.remove("mmio", 0x1000) == "false"  # kvm__deregister_mmio returns false


def test_full_containment_of_mmio_accesses():
    bus = KvmtoolBus()
    bus.register("mmio", 0x1000, 0x10, "A")
    bus.register("mmio", 0x1010, 0x10, "B")
    assert bus.lookup("mmio", 0x100C, 4) == "A"
    assert bus.lookup("mmio", 0x100E, 4) is None  # straddles A and B: neither
    assert bus.lookup("mmio", 0x1010, 4) == "B"


# -- BAR relocation (pci_config_bar_wr) ------------------------------------------------


def test_bar_move_deactivates_overlapping_bars_and_restores_them():
    bus = KvmtoolBus()
    bus.register("mmio", 0x1000, 0x100, "A")
    bus.register("mmio", 0x2000, 0x100, "B")
    assert bus.relocate("mmio", 0x1000, 0x2000, 0x100, "A") is None
    assert bus.lookup("mmio", 0x2000, 4) == "A"  # B deactivated, A active at its new address
    assert bus.lookup("mmio", 0x1000, 4) is None
    assert bus.relocate("mmio", 0x2000, 0x1000, 0x100, "A") is None
    assert bus.lookup("mmio", 0x1000, 4) == "A"
    assert bus.lookup("mmio", 0x2000, 4) == "B"  # re-activated: it overlapped A's old address


def test_bar_move_onto_a_platform_device_leaves_the_bar_unmapped():
    bus = KvmtoolBus(non_pci=["P"])
    bus.register("mmio", 0x1000, 0x100, "A")
    bus.register("mmio", 0x3000, 0x100, "P")
    assert bus.relocate("mmio", 0x1000, 0x3000, 0x100, "A") == "-EEXIST"
    assert bus.lookup("mmio", 0x1000, 4) is None  # the old BAR is not re-activated
    assert bus.lookup("mmio", 0x3000, 4) == "P"


def test_bar_address_is_masked_to_32_bits():
    bus = KvmtoolBus()
    bus.register("mmio", 0x1000, 0x100, "A")
    assert bus.relocate("mmio", 0x1000, (1 << 32) + 0x2008, 0x100, "A") is None
    assert bus.lookup("mmio", 0x2000, 4) == "A"  # u32 value & ~0xf


# -- devices.c -------------------------------------------------------------------------


def test_devices_tree_without_parent_link_loses_every_device_on_unregister():
    for link_parent, found in ((True, True), (False, False)):
        d = Devices(link_parent=link_parent)
        hdrs = [DeviceHeader(DEVICE_BUS_PCI, i) for i in range(3)]
        for h in hdrs:
            assert d.device__register(h) == 0
        assert [h.dev_num for h in hdrs] == [0, 1, 2]
        d.device__unregister(hdrs[2])  # a leaf: with a NULL parent, rb_erase replaces the root
        assert (d.device__find_dev(DEVICE_BUS_PCI, 0) is hdrs[0]) is found


def test_every_named_version_runs_the_adapter_and_versions_are_ordered_by_fix():
    names = list(VERSIONS)
    assert names == ["8682490", "c59e43a", "3e64a4a", "a83f8ed", "bea6c33", "96f0c86", "52d4ee7", "b48735e5"]
    # each flag flips once, at the commit that changed it
    for flag, fixed_at in (("max_high_init", "c59e43a"), ("interval_insert", "3e64a4a"),
                           ("pio_via_mmio", "96f0c86"), ("access_guard", "52d4ee7")):
        assert [getattr(VERSIONS[n], flag) for n in names] == [names.index(n) >= names.index(fixed_at) for n in names]
    assert [VERSIONS[n].augmented for n in names] == [n in ("8682490", "c59e43a", "3e64a4a") for n in names]
    assert [VERSIONS[n].ioport_evict for n in names] == [names.index(n) < names.index("bea6c33") for n in names]
    for n in names:
        bus = KvmtoolBus(n)
        assert bus.register("mmio", 0x1000, 0x10, "A") is None
        assert bus.register("pio", 0x60, 4, "K") is None
        assert bus.lookup("mmio", 0x1004, 4) == "A"
        assert bus.lookup("pio", 0x60, 1) == "K"
        if n == "8682490":  # A is the MMIO tree's only node: erasing it calls propagate(NULL)
            with pytest.raises(ModelPanic):
                bus.relocate("mmio", 0x1000, 0x2000, 0x10, "A")
            continue
        assert bus.relocate("mmio", 0x1000, 0x2000, 0x10, "A") is None
        assert bus.lookup("mmio", 0x2000, 4) == "A"
