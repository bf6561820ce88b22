"""QEMU's memory API (vmm/qemu.py), against expectations derived by hand from the C.

The expected flat views and access pieces were worked out from
``system/memory.c`` (``memory_region_update_container_subregions``,
``render_memory_region``, ``flatview_simplify``) and ``system/physmem.c``
(``memory_access_size``, the read/write loop) at the commits the module cites,
not by running the model.
"""

import pytest

from iobus_verify.model.cints import U64_MAX, U64_MOD
from iobus_verify.vmm.qemu import (
    AddressSpace,
    ModelPanic,
    QemuBus,
    generate_memory_topology,
    memory_access_size,
    memory_region_add_subregion,
    memory_region_add_subregion_overlap,
    memory_region_del_subregion,
    memory_region_find,
    memory_region_init,
    memory_region_init_alias,
    memory_region_init_io,
    memory_region_set_address,
)

M = U64_MAX
T = U64_MOD


def flat(root):
    return [(fr.addr.start, fr.addr.end, fr.mr.dev) for fr in generate_memory_topology(root).ranges]


# -- priorities and ties ----------------------------------------------------------------


def test_equal_priority_the_later_added_region_wins():
    bus = QemuBus()
    bus.register("mmio", 0x1000, 0x100, "A")
    bus.register("mmio", 0x1080, 0x100, "B")
    assert bus.ranges("mmio") == [(0x1000, 0x1080, "A"), (0x1080, 0x1180, "B")]
    assert bus.lookup("mmio", 0x10C0, 4) == "B"


def test_higher_priority_wins_whatever_the_order_and_negative_shows_only_in_holes():
    bus = QemuBus()
    bus.register("mmio", 0x1040, 0x10, "C", priority=1)
    bus.register("mmio", 0x1000, 0x100, "A")
    bus.register("mmio", 0x0F00, 0x300, "N", priority=-1)
    assert bus.ranges("mmio") == [
        (0x0F00, 0x1000, "N"), (0x1000, 0x1040, "A"), (0x1040, 0x1050, "C"),
        (0x1050, 0x1100, "A"), (0x1100, 0x1200, "N"),
    ]


def test_set_address_moves_the_region_to_the_front_of_its_priority_group():
    bus = QemuBus()
    bus.register("mmio", 0x1000, 0x100, "A")
    bus.register("mmio", 0x1000, 0x100, "B")
    assert bus.lookup("mmio", 0x1000, 4) == "B"
    assert bus.relocate("mmio", 0x1000, 0x2000, 0x100, "A") is None
    assert bus.relocate("mmio", 0x2000, 0x1000, 0x100, "A") is None  # readd: A is now first
    assert bus.lookup("mmio", 0x1000, 4) == "A"
    assert bus.ranges("mmio") == [(0x1000, 0x1100, "A")]


def test_set_address_to_the_same_address_changes_nothing():
    root = memory_region_init("root", M)
    a, b = memory_region_init_io("a", "A", 0x100), memory_region_init_io("b", "B", 0x100)
    memory_region_add_subregion(root, 0x1000, a)
    memory_region_add_subregion(root, 0x1000, b)
    memory_region_set_address(a, 0x1000)  # addr == mr->addr: no readd
    assert flat(root) == [(0x1000, 0x1100, "B")]


# -- containers ---------------------------------------------------------------------------


def test_pure_container_leaves_holes_a_terminating_one_fills_them():
    root = memory_region_init("root", M)
    x = memory_region_init("x", 0x1000)  # pure container, priority 1
    memory_region_add_subregion(x, 0x100, memory_region_init_io("y", "Y", 0x100))
    memory_region_add_subregion_overlap(root, 0, x, 1)
    memory_region_add_subregion(root, 0, memory_region_init_io("z", "Z", 0x1000))
    assert flat(root) == [(0, 0x100, "Z"), (0x100, 0x200, "Y"), (0x200, 0x1000, "Z")]
    root2 = memory_region_init("root", M)
    x2 = memory_region_init_io("x", "X", 0x1000)  # has ops: fills its children's holes
    memory_region_add_subregion(x2, 0x100, memory_region_init_io("y", "Y", 0x100))
    memory_region_add_subregion_overlap(root2, 0, x2, 1)
    memory_region_add_subregion(root2, 0, memory_region_init_io("z", "Z", 0x1000))
    assert flat(root2) == [(0, 0x100, "X"), (0x100, 0x200, "Y"), (0x200, 0x1000, "X")]


def test_children_are_clipped_to_the_parent_window():
    root = memory_region_init("root", M)
    c = memory_region_init("c", 0x100)
    memory_region_add_subregion(c, 0x80, memory_region_init_io("w", "W", 0x100))
    memory_region_add_subregion(root, 0x1000, c)
    assert flat(root) == [(0x1080, 0x1100, "W")]


def test_adjacent_pieces_of_one_region_merge_again():
    bus = QemuBus()
    bus.register("mmio", 0x1000, 0x100, "A")
    bus.register("mmio", 0x1040, 0x10, "C", priority=1)
    assert len(bus.ranges("mmio")) == 3
    assert bus.remove("mmio", 0x1040) is None
    assert bus.ranges("mmio") == [(0x1000, 0x1100, "A")]  # can_merge: same mr, contiguous offsets


def test_alias_renders_its_target_at_an_offset():
    root = memory_region_init("root", M)
    t = memory_region_init_io("t", "T", 0x100)
    memory_region_add_subregion(root, 0x5000, memory_region_init_alias("al", t, 0x10, 0x20))
    (fr,) = generate_memory_topology(root).ranges
    assert (fr.addr.start, fr.addr.end, fr.mr.dev, fr.offset_in_region) == (0x5000, 0x5020, "T", 0x10)


# -- Int128 clipping at 2^64 ----------------------------------------------------------------


def test_a_region_past_2_64_is_clipped_not_wrapped():
    bus = QemuBus()
    bus.register("mmio", M - 1, 16, "E")
    assert bus.ranges("mmio") == [(M - 1, T, "E")]
    assert bus.lookup("mmio", M, 1) == "E"
    assert bus.lookup("mmio", 0, 1) is None


def test_nested_addresses_beyond_2_64_render_nothing():
    root = memory_region_init("root", M)
    c = memory_region_init("c", 0x2000)
    memory_region_add_subregion(c, 0x800, memory_region_init_io("a", "A", 0x1000))
    memory_region_add_subregion(c, 0x1000, memory_region_init_io("b", "B", 0x10))
    memory_region_add_subregion(root, T - 0x1000, c)
    # a starts at 2^64 - 0x800 (clipped to 0x800 bytes); b starts at exactly 2^64
    assert flat(root) == [(T - 0x800, T, "A")]


def test_uint64_max_size_means_2_64_and_zero_size_renders_nothing():
    bus = QemuBus()
    bus.register("mmio", 0, M, "ALL")  # memory_region_init size UINT64_MAX -> 2^64
    bus.register("mmio", 0x1000, 0, "Z")
    assert bus.ranges("mmio") == [(0, T, "ALL")]
    assert bus.lookup("mmio", M, 1) == "ALL"


def test_io_space_is_65536_ports_with_unassigned_ops_in_the_holes():
    bus = QemuBus()
    bus.register("pio", 0xFFF0, 0x20, "P")
    assert bus.ranges("pio") == [(0, 0xFFF0, None), (0xFFF0, 0x10000, "P")]
    assert bus.lookup("pio", 0xFFFF, 1) == "P"
    assert bus.lookup("pio", 0x10000, 1) is None
    assert bus.lookup("pio", 0x60, 1) is None  # the root io region: no device


# -- lookup and access splitting --------------------------------------------------------------


def test_mmio_accesses_are_not_clamped_to_the_region_end():
    bus = QemuBus()
    bus.register("mmio", 0x1000, 1, "R")
    bus.register("mmio", 0x1001, 0x10, "S")
    (p,) = bus.access("mmio", 0x1000, 4)
    assert (p.dev, p.mr_addr, p.size) == ("R", 0, 4)


def test_pieces_follow_max_access_size_and_the_offset_alignment():
    bus = QemuBus()
    bus.register("mmio", 0x1002, 0x10, "A")
    assert [(p.mr_addr, p.size) for p in bus.access("mmio", 0x1002, 4)] == [(0, 4)]  # offset 0, not 0x1002
    assert [(p.mr_addr, p.size) for p in bus.access("mmio", 0x1003, 4)] == [(1, 1), (2, 2), (4, 1)]
    assert [(p.mr_addr, p.size) for p in bus.access("mmio", 0x1002, 8)] == [(0, 4), (4, 4)]
    assert bus.access("mmio", 0x1002, 0) == []  # zero length: nothing dispatched
    assert bus.lookup("mmio", 0x1002, 0) is None


def test_memory_access_size_rules():
    wide = memory_region_init_io("w", "W", 0x100, max_access_size=8)
    assert memory_access_size(wide, 8, 0) == 8
    assert memory_access_size(wide, 8, 4) == 4
    assert memory_access_size(wide, 7, 0) == 4  # pow2floor
    narrow = memory_region_init_io("n", "N", 0x100)
    assert memory_access_size(narrow, 8, 1 << 32) == 4  # addr & -addr truncated to unsigned: 0, no bound
    assert memory_access_size(memory_region_init_io("u", "U", 8, unaligned=True), 4, 1) == 4


def test_the_address_wraps_at_2_64_between_pieces():
    bus = QemuBus()
    bus.register("mmio", M, 1, "Top")
    bus.register("mmio", 0, 0x10, "Low")
    # offset 0 in Top puts no alignment bound: pow2floor(3) = 2 bytes go to the 1-byte
    # region (not clamped), then addr = M + 2 wraps to 1 and Low gets the last byte.
    assert [(p.dev, p.mr_addr, p.size) for p in bus.access("mmio", M, 3)] == [("Top", 0, 2), ("Low", 1, 1)]


def test_memory_region_find_walks_back_to_the_first_intersecting_range():
    bus = QemuBus()
    bus.register("mmio", 0x1000, 0x10, "A")
    bus.register("mmio", 0x1010, 0x10, "B")
    bus.register("mmio", 0x1020, 0x10, "C")
    fr, rng = memory_region_find(bus.spaces["mmio"].view, 0x1008, 0x20)
    assert (fr.dev, rng.start, rng.size) == ("A", 0x1008, 0x8)
    assert memory_region_find(bus.spaces["mmio"].view, 0x2000, 4) is None


# -- aborts and the adapter's answers ---------------------------------------------------------


def test_adding_a_mapped_region_or_deleting_from_the_wrong_container_asserts():
    root, other = memory_region_init("root", M), memory_region_init("other", M)
    a = memory_region_init_io("a", "A", 0x10)
    memory_region_add_subregion(root, 0, a)
    with pytest.raises(ModelPanic):
        memory_region_add_subregion(other, 0, a)
    with pytest.raises(ModelPanic):
        memory_region_del_subregion(other, a)


def test_adapter_remove_and_relocate_of_an_unknown_region():
    bus = QemuBus()
    assert bus.remove("mmio", 0x1000) == "-ENOENT"
    assert bus.relocate("mmio", 0x1000, 0x2000, 0x10, "A") == "-ENOENT"
    bus.register("mmio", 0x1000, 0x10, "A")
    assert bus.remove("mmio", 0x1000, dev="B") == "-ENOENT"
    assert bus.remove("mmio", 0x1000, 0x10, "A") is None
    assert bus.ranges("mmio") == []


def test_address_space_renders_the_current_tree():
    root = memory_region_init("root", M)
    space = AddressSpace(root)
    a = memory_region_init_io("a", "A", 0x10)
    memory_region_add_subregion(root, 0x10, a)
    assert [p.dev for p in space.rw(0x10, 1)] == ["A"]
    memory_region_del_subregion(root, a)
    assert [p.dev for p in space.rw(0x10, 1)] == [None]


def test_flat_view_matches_the_first_covering_sibling_in_list_order():
    """Seeded random siblings under one container: every elementary segment of the
    flat view belongs to the first region, in priority-then-newest order, covering it."""
    import random

    for seed in range(30):
        rnd = random.Random(seed)
        bus, order = QemuBus(), []  # order: (priority, seq, base, end, dev)
        for seq in range(rnd.randrange(1, 9)):
            base, size, prio = rnd.randrange(0, 64) * 8, rnd.randrange(0, 48) * 4, rnd.choice([None, -1, 0, 1, 2])
            dev = f"d{seq}"
            bus.register("mmio", base, size, dev, priority=prio)
            order.append((prio or 0, seq, base, base + size, dev))
        # memory_region_update_container_subregions: higher priority first, newest first among equals
        order.sort(key=lambda r: (-r[0], -r[1]))
        cuts = sorted({b for r in order for b in (r[2], r[3])})
        expect = []
        for lo, hi in zip(cuts, cuts[1:]):
            winner = next((r[4] for r in order if r[2] <= lo and hi <= r[3]), None)
            if winner is not None:
                if expect and expect[-1][2] == winner and expect[-1][1] == lo:
                    expect[-1] = (expect[-1][0], hi, winner)  # flatview_simplify merges
                else:
                    expect.append((lo, hi, winner))
        assert bus.ranges("mmio") == expect, seed


def test_both_adapters_have_the_same_interface():
    import inspect

    from iobus_verify.vmm.kvmtool import KvmtoolBus

    for name in ("register", "remove", "relocate", "lookup"):
        k = list(inspect.signature(getattr(KvmtoolBus, name)).parameters)
        q = list(inspect.signature(getattr(QemuBus, name)).parameters)
        assert q[: len(k)] == k, name  # QEMU's register adds an optional priority
    assert KvmtoolBus.SPACES == QemuBus.SPACES == ("mmio", "pio")
