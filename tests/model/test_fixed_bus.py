"""The project's fixed design: linear order, completeness, cost bound."""

import math

from hypothesis import given, settings, strategies as st

from iobus_verify.model.cints import INT
from iobus_verify.model.comparators import fixed_extent
from iobus_verify.model.fixed_bus import FixedBus, build_segments
from iobus_verify.model.linear_bus import LinearBus
from iobus_verify.model.protocol import ENOENT, ENOMEM, EOPNOTSUPP, FailNth

TOP = 2**64


class FirstByteDev:
    """Accepts some of the accesses whose first byte lies in its extent (the premise)."""

    def __init__(self, name, addr, length, picky):
        self.name = name
        self.lo, self.hi = fixed_extent(INT, addr, length)
        self.picky = picky  # refuse odd addresses: devices may refuse what they are offered

    def write(self, addr, length, data):
        ok = self.lo <= addr < self.hi and not (self.picky and addr % 2)
        return 0 if ok else -EOPNOTSUPP

    def read(self, addr, length):
        return self.write(addr, length, b""), self.name.encode()


addrs = st.one_of(st.integers(0, 64), st.integers(TOP - 64, TOP - 1))
lens = st.one_of(st.integers(0, 40), st.sampled_from([-1, -(2**31), 2**31 - 1]))


@settings(max_examples=150, deadline=None)
@given(
    regs=st.lists(st.tuples(addrs, lens, st.booleans()), max_size=12),
    removals=st.lists(st.integers(0, 11), max_size=6),
    probes=st.lists(addrs, min_size=1, max_size=20),
)
def test_fixed_equals_linear_when_devices_accept_only_their_first_byte_extent(regs, removals, probes):
    ref, bus = LinearBus(300), FixedBus(300)
    devs = [FirstByteDev(f"d{i}", a, n, p) for i, (a, n, p) in enumerate(regs)]
    for (a, n, _), d in zip(regs, devs):
        assert ref.register(a, n, d) == bus.register(a, n, d)
    for i in removals:
        if i < len(devs):
            assert ref.unregister(devs[i]) == bus.unregister(devs[i])
    assert [d for _, _, d in bus.ranges()] == [d for _, _, d in ref.ranges()]
    for x in probes:
        assert bus.read(x, 4) == ref.read(x, 4)
        assert bus.write(x, 1, b"\0") == ref.write(x, 1, b"\0")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 30)), max_size=15), st.integers(0, 90))
def test_segment_slots_are_exactly_the_extents_containing_the_point(extents, x):
    ext = [(a, a + n) for a, n in extents]
    table = build_segments(ext)
    assert all(s.lo < s.hi for s in table)
    assert all(a.hi <= b.lo for a, b in zip(table, table[1:]))  # disjoint and sorted
    assert len(table) <= max(0, 2 * len(ext) - 1)
    holding = [s for s in table if s.lo <= x < s.hi]
    want = tuple(i for i, (lo, hi) in enumerate(ext) if lo <= x < hi)
    assert (holding[0].slots if holding else ()) == want


def test_fixed_registration_errors_follow_the_linear_bus():
    """fixed keeps today's contract, as the linear reference does in today's
    era (hand-derived from today's kvm_io_bus_unregister_dev: absent -> 0
    before any allocation; a failed allocation -> -ENOMEM)."""
    alloc = FailNth(2)
    bus = FixedBus(8, alloc=alloc)
    ref = LinearBus(8, era="today", alloc=FailNth(2))
    d = FirstByteDev("a", 0, 1, False)
    for b in (bus, ref):
        assert b.register(0, 1, d) == 0
        assert b.unregister(FirstByteDev("b", 0, 1, False)) == 0  # absent: 0, no allocation
        assert b.unregister(d) == -ENOMEM
        assert b.unregister(d) == 0
    assert FixedBus().capacity == 1000


def test_fixed_cost_bound_with_200_devices_on_one_byte():
    bus = FixedBus(300)
    for i in range(200):
        bus.register(0x1000, 1, FirstByteDev(f"e{i}", 0x1000, 1, False))
    bus.stats()
    assert bus.write(0x1001, 1, b"\0") == -EOPNOTSUPP
    s = bus.stats()
    assert s.callbacks == 0 and s.comparisons <= math.ceil(math.log2(201)) + 2
    assert bus.write(0x1000, 1, b"\0") == 0
    assert bus.stats().callbacks == 1


def _trace(scenario_ops):
    from iobus_verify.model.vm import replay
    from iobus_verify.model.scenario import parse_scenario
    from iobus_verify.model.spec import resolve

    return replay(parse_scenario({"schema": "iobus-scenario/1", "ops": scenario_ops}), [resolve("fixed")])


def test_a_zero_length_write_at_a_zones_end_reaches_the_zone():
    # Found by the thorough profile: the zone's containment check takes an empty
    # access at its end address (addr + 0 <= zone end); fixed looked up only the
    # segment holding addr and missed it.
    ops = [
        {"op": "coalesced_mmio", "action": "register", "id": "z", "addr": 0, "size": 1},
        {"op": "write", "bus": "mmio", "addr": 1, "len": 0, "data": ""},
    ]
    r = _trace(ops)
    assert not r.diverged and r.buses[0].trace.steps[1].device == "z"


def test_a_zero_length_write_at_a_zones_end_keeps_linear_order():
    # zone [0,4) before probe [3,5): the linear scan gives the empty write at 4 to the zone
    ops = [
        {"op": "coalesced_mmio", "action": "register", "id": "z", "addr": 0, "size": 4},
        {"op": "probe", "action": "register", "id": "p", "bus": "mmio", "addr": 3, "len": 2, "accepts": "range"},
        {"op": "write", "bus": "mmio", "addr": 4, "len": 0, "data": ""},
    ]
    r = _trace(ops)
    assert not r.diverged and r.buses[0].trace.steps[2].device == "z"


def test_zero_length_candidates_add_only_extents_ending_at_the_address():
    bus = FixedBus(8)
    a, b, c = object(), object(), object()
    bus.register(0, 4, a)  # ends at 4
    bus.register(2, 4, b)  # [2, 6): holds 4
    bus.register(4, 2, c)  # starts at 4
    assert bus.candidates(4, 1) == [b, c]
    assert bus.candidates(4, 0) == [a, b, c]
    assert bus.candidates(0, 0) == [a]
