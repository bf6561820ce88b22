"""The range bus variants against the linear reference and the kernel's rules."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from iobus_verify.model.cints import INT
from iobus_verify.model.comparators import cmp_2011
from iobus_verify.model.ksort import heapsort_2005
from iobus_verify.model.linear_bus import LinearBus
from iobus_verify.model.protocol import ENOENT, ENOMEM, ENOSPC, EOPNOTSUPP, FailNth
from iobus_verify.model.sorted_bus import REGISTRY, SEED_2011, UPSTREAM, VARIANTS, RangeBus


class Dev:
    """Accepts accesses lying inside [lo, lo+n); counts its callbacks."""

    ioeventfd = False

    def __init__(self, name, lo, n):
        self.name, self.lo, self.n = name, lo, n
        self.calls = 0
        self.destroyed = False

    def write(self, addr, length, data):
        self.calls += 1
        return 0 if self.lo <= addr and addr + max(length, 1) <= self.lo + self.n else -EOPNOTSUPP

    def read(self, addr, length):
        rc = self.write(addr, length, b"")
        return rc, (self.name.encode() if rc == 0 else b"")

    def destructor(self):
        self.destroyed = True


class Eventfd(Dev):
    ioeventfd = True


def test_registry_names():
    assert sorted(VARIANTS) == ["fixed", "seed-2011", "upstream"]
    assert REGISTRY["linear"].reference


@st.composite
def disjoint_ranges(draw):
    """Pairwise-disjoint, non-wrapping ranges with lengths in [1, 64], in random order."""
    starts = draw(st.lists(st.integers(0, 2**20), min_size=1, max_size=12, unique=True))
    starts.sort()
    out, prev_end = [], 0
    for s in starts:
        lo = max(s, prev_end)
        n = draw(st.integers(1, 64))
        out.append((lo, n))
        prev_end = lo + n
    return draw(st.permutations(out))


@pytest.mark.parametrize("name", sorted(VARIANTS))
@settings(max_examples=60, deadline=None)
@given(ranges=disjoint_ranges(), data=st.data())
def test_every_variant_equals_the_linear_bus_on_disjoint_ranges(name, ranges, data):
    ref, bus = LinearBus(300, era=REGISTRY[name].era), REGISTRY[name].factory(300)
    devs = [Dev(f"d{i}", a, n) for i, (a, n) in enumerate(ranges)]
    for (a, n), d in zip(ranges, devs):
        assert ref.register(a, n, d) == bus.register(a, n, d) == 0
    gone = data.draw(st.lists(st.sampled_from(devs), unique=True, max_size=len(devs) // 2))
    for d in gone:
        assert ref.unregister(d) == bus.unregister(d) == 0
    for _ in range(20):
        a, n = data.draw(st.sampled_from(ranges))
        addr = data.draw(st.integers(max(0, a - 2), a + n + 2))
        length = data.draw(st.sampled_from([1, 2, 4, 8]))
        assert bus.read(addr, length) == ref.read(addr, length)


def test_seed_experiment_200_devices_on_one_byte():
    """The patch's experiment: 200 ioeventfds on one byte, an access to another byte."""
    ref, seed = LinearBus(300, era="2011"), RangeBus(SEED_2011)
    for i in range(200):
        d = Dev(f"e{i}", 0x1000, 1)
        ref.register(0x1000, 1, d)
        seed.register(0x1000, 1, d)
    ref.stats(), seed.stats()
    assert ref.write(0x1001, 1, b"\0") == -EOPNOTSUPP
    assert seed.write(0x1001, 1, b"\0") == -EOPNOTSUPP
    assert ref.stats().callbacks == 200
    s = seed.stats()
    assert s.callbacks == 0
    assert s.comparisons <= math.ceil(math.log2(201))


def test_seed_2011_register_sorts_with_the_2005_heapsort():
    bus = RangeBus(SEED_2011)
    regs = [(0, 1), (0, 2), (4, 4), (1, 1), (0, 8)]
    expected = []
    for i, (a, n) in enumerate(regs):
        bus.register(a, n, Dev(str(i), a, n))
        expected = list(heapsort_2005(expected + [(a, n)], lambda x, y: cmp_2011(INT, x[0], x[1], y[0], y[1])).items)
        assert [(a2, n2) for a2, n2, _ in bus.ranges()] == expected


def test_seed_2011_misses_the_nested_pair():
    bus = RangeBus(SEED_2011)
    small, big = Dev("small", 0, 1), Dev("big", 0, 2)
    bus.register(0, 1, small)
    bus.register(0, 2, big)
    assert [d.name for _, _, d in bus.ranges()] == ["big", "small"]
    assert bus.write(0, 2, b"\0\0") == -EOPNOTSUPP  # the linear bus: handled by big
    assert big.calls == 0


def test_seed_2011_unregister_swaps_last_and_resorts():
    bus = RangeBus(SEED_2011, 8)
    devs = [Dev(str(i), a, 1) for i, a in enumerate([30, 10, 20, 40])]
    for d in devs:
        bus.register(d.lo, 1, d)
    assert [a for a, _, _ in bus.ranges()] == [10, 20, 30, 40]
    assert bus.unregister(devs[1]) == 0
    assert [a for a, _, _ in bus.ranges()] == [20, 30, 40]
    assert bus.unregister(devs[1]) == -ENOENT
    assert not devs[1].destroyed  # 2011: callers destroy devices


def test_seed_2011_capacity_counts_every_device():
    bus = RangeBus(SEED_2011, 3)
    for i in range(3):
        assert bus.register(i, 1, Eventfd(str(i), i, 1)) == 0
    assert bus.register(9, 1, Dev("x", 9, 1)) == -ENOSPC


def test_upstream_ordered_insert_puts_a_new_range_after_all_it_does_not_exceed():
    bus = RangeBus(UPSTREAM)
    bus.register(0, 3, Dev("a", 0, 3))
    bus.register(1, 1, Dev("b", 1, 1))
    bus.register(0, 1, Dev("c", 0, 1))
    # cmp(a=(0,3), c=(0,1)) = 1 -> c goes before a
    assert [d.name for _, _, d in bus.ranges()] == ["c", "a", "b"]


def test_upstream_misses_the_documented_case():
    bus = RangeBus(UPSTREAM)
    bus.register(0, 3, Dev("a", 0, 3))
    bus.register(1, 1, Dev("b", 1, 1))
    assert bus.write(1, 2, b"\0\0") == -EOPNOTSUPP  # (0,3) contains (1,2)


def test_upstream_zero_length_wildcard_matches_any_length():
    bus = RangeBus(UPSTREAM)

    class Wild(Dev):
        def write(self, addr, length, data):
            self.calls += 1
            return 0 if addr == self.lo else -EOPNOTSUPP

    w = Wild("w", 0x100, 0)
    bus.register(0x100, 0, w)
    for n in (0, 1, 2, 4, 8):
        assert bus.write(0x100, n, b"\0" * n) == 0
    assert w.calls == 5


def test_upstream_capacity_excludes_ioeventfds():
    bus = RangeBus(UPSTREAM, 2)
    assert bus.register(0, 1, Dev("a", 0, 1)) == 0
    for i in range(5):
        assert bus.register(10 + i, 1, Eventfd(f"e{i}", 10 + i, 1)) == 0
    assert bus.register(1, 1, Dev("b", 1, 1)) == 0
    assert bus.register(2, 1, Dev("c", 2, 1)) == -ENOSPC
    assert bus.register(30, 1, Eventfd("e9", 30, 1)) == -ENOSPC  # the check applies to any device


def test_upstream_unregister_is_silent_for_an_absent_device_and_destroys_the_target():
    bus = RangeBus(UPSTREAM)
    a = Dev("a", 0, 1)
    bus.register(0, 1, a)
    assert bus.unregister(Dev("absent", 0, 1)) == 0
    assert bus.unregister(a) == 0 and a.destroyed
    assert bus.ranges() == []


def test_upstream_failed_shrink_installs_a_null_bus():
    alloc = FailNth()
    bus = RangeBus(UPSTREAM, alloc=alloc)
    devs = [Dev(n, i, 1) for i, n in enumerate("abc")]
    for d in devs:
        bus.register(d.lo, 1, d)
    alloc.fail_next()
    assert bus.unregister(devs[1]) == -ENOMEM
    assert all(d.destroyed for d in devs)  # every device, the target included
    assert bus.write(0, 1, b"\0") == -ENOMEM
    assert bus.read(0, 1) == (-ENOMEM, b"")
    assert bus.register(0, 1, Dev("d", 0, 1)) == -ENOMEM
    assert bus.unregister(devs[0]) == 0


def test_upstream_register_failure_leaves_the_bus_unchanged():
    alloc = FailNth(2)
    bus = RangeBus(UPSTREAM, alloc=alloc)
    bus.register(0, 1, Dev("a", 0, 1))
    assert bus.register(1, 1, Dev("b", 1, 1)) == -ENOMEM
    assert [d.name for _, _, d in bus.ranges()] == ["a"]


def test_seed_2011_heapsort_tie_breaking_hand_derived():
    """Oracle derived by hand from the 2005 lib/sort.c (kernel-facts §1.1), not
    from the model's heapsort_2005: register A (0x10,1), B (0x20,1), C (0x20,1)
    (B and C compare 0 under kvm_io_bus_sort_cmp). Third sort of [A, B, C]:
    heapify sift(0): siblings B, C tie -> cmp < 0 is false -> left child B;
    cmp(A, B) = -1 -> swap: [B, A, C]. Extract: swap(a0, a2) -> [C, A, B];
    sift: cmp(C, A) = 1 -> stop. Extract: swap(a0, a1) -> [A, C, B].
    (A `<= 0` child pick would give [A, B, C].)"""
    bus = RangeBus(SEED_2011)
    for name, a in (("A", 0x10), ("B", 0x20), ("C", 0x20)):
        assert bus.register(a, 1, Dev(name, a, 1)) == 0
    assert [d.name for _, _, d in bus.ranges()] == ["A", "C", "B"]


def test_upstream_ordered_insert_tie_breaking_hand_derived():
    """Oracle derived by hand from today's kvm_io_bus_register_dev: the new
    range goes before the first i with kvm_io_bus_cmp(&range[i], &new) > 0;
    equal ranges compare 0, so B then C at (0x20, 1) stay [B, C] (a `>= 0`
    test would put C first), and A (0x10, 1) goes before both (cmp(B, A) = 1)."""
    bus = RangeBus(UPSTREAM)
    for name, a in (("B", 0x20), ("C", 0x20), ("A", 0x10)):
        assert bus.register(a, 1, Dev(name, a, 1)) == 0
    assert [d.name for _, _, d in bus.ranges()] == ["A", "B", "C"]


def test_the_main_job_family_is_kvm_and_the_reference_belongs_to_none_of_the_checks():
    from iobus_verify.model.sorted_bus import DEFAULT_FAMILY, families, family_variants

    assert families()[0] == DEFAULT_FAMILY == "kvm"
    assert family_variants() == VARIANTS
    assert "linear" not in family_variants("kvm")
    assert all(b.family in families() for b in REGISTRY.values())


def test_v3_18_a_failed_unregister_leaves_the_ioeventfd_on_the_bus_uncounted():
    """eventfd.c (v3.11-v4.10) decrements ioeventfd_count after the unregister
    whatever it returned; when the shrink fails the ioeventfd stays on the kept
    bus and counts against the capacity from then on (as a real 3.18 tree does
    through the C bridge)."""
    from iobus_verify.model.history import HIST_3_18

    fails = FailNth()
    bus = RangeBus(HIST_3_18, 2, alloc=fails)
    e1 = Dev("e1", 0x1000, 4)
    e1.ioeventfd = True
    assert bus.register(0x1000, 4, e1) == 0
    fails.fail_next()
    assert bus.unregister(e1) == -ENOMEM
    assert [d.name for _, _, d in bus.ranges()] == ["e1"]
    assert bus.register(0x2000, 4, Dev("p1", 0x2000, 4)) == 0
    assert bus.register(0x3000, 4, Dev("p2", 0x3000, 4)) == -ENOSPC  # e1 + p1 counted: 2 of 2
