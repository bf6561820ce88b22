"""The quality set's buses: every planted bug is observable, the correct bus is not.

For each planted bus of ``tests/quality/buses.py`` a hand-written scenario on
which it diverges from the linear reference while ``correct`` does not; and a
Hypothesis test that ``correct`` (and the buses that must NOT be told apart
under ``positive-len+no-wrap``) agree with the reference on random scenarios
inside that contract.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iobus_verify.model.divergence import DivergenceClass
from iobus_verify.model.spec import resolve
from iobus_verify.model.vm import replay

BUSES = Path(__file__).resolve().parent / "buses.py"


def _load_buses_module():
    spec = importlib.util.spec_from_file_location("quality_buses_under_test", BUSES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


buses = _load_buses_module()


@functools.cache
def bus(name: str):
    return resolve(f"{BUSES}:{name}")


# -- scenario building ---------------------------------------------------------------


def scenario(*ops, capacity=None):
    s = {"schema": "iobus-scenario/1", "ops": list(ops)}
    if capacity is not None:
        s["capacity"] = capacity
    return s


def probe(pid, addr, length, accepts="range", bus="mmio"):
    return {"op": "probe", "action": "register", "id": pid, "bus": bus, "addr": addr, "len": length, "accepts": accepts}


def unprobe(pid):
    return {"op": "probe", "action": "unregister", "id": pid}


def read(addr, length, bus="mmio"):
    return {"op": "read", "bus": bus, "addr": addr, "len": length}


def write(addr, length, data, bus="mmio"):
    return {"op": "write", "bus": bus, "addr": addr, "len": length, "data": data}


M, R, X, D = DivergenceClass.MISSED, DivergenceClass.REORDERED, DivergenceClass.REGISTRATION, DivergenceClass.DATA

#: planted bus -> (scenario, the divergences expected on it: [(op index, class)])
EXPOSING = {
    # bisect lands on the inner range starting at 0x1010; only the outer one holds 0x1020
    "no_walk_back": (scenario(probe("outer", 0x1000, 0x100), probe("inner", 0x1010, 4), read(0x1020, 1)), [(2, M)]),
    # one range, an access at its start: the only candidate is the one skipped
    "walk_back_off_by_one": (scenario(probe("p", 0x1000, 4), read(0x1000, 1)), [(1, M)]),
    # both hold 0x101c; the inner one (found first) refuses an access running past its end
    "first_candidate_only": (
        scenario(probe("outer", 0x1000, 0x100), probe("inner", 0x1010, 0x10), read(0x101C, 8)),
        [(2, M)],
    ),
    # a range straddling 2**63: as int64 the access (negative) sorts before the range's start
    "signed_compare": (scenario(probe("p", (1 << 63) - 4, 8), read(1 << 63, 4)), [(1, M)]),
    "length_ignored": (scenario(probe("p", 0x1000, 4), read(0x1002, 2)), [(1, M)]),
    "capacity_off_by_one": (
        scenario(probe("a", 0x1000, 4), probe("b", 0x2000, 4), probe("c", 0x3000, 4), read(0x3000, 1), capacity=2),
        [(2, X), (3, DivergenceClass.SPURIOUS)],
    ),
    # array [0x1000, 0x3000, 0x2000]: bisect for 0x2000 stops before index 2
    "unsorted_register": (
        scenario(probe("a", 0x1000, 4), probe("b", 0x3000, 4), probe("c", 0x2000, 4), read(0x2000, 1)),
        [(3, M)],
    ),
    "unregister_wrong_entry": (
        scenario(probe("a", 0x1000, 4), probe("b", 0x1000, 4), unprobe("b"), read(0x1000, 1)),
        [(3, R)],
    ),
    # 'late' starts lower but was registered later: the linear bus offers 'early' first
    "address_order": (scenario(probe("early", 0x1000, 0x10), probe("late", 0x800, 0x1000), read(0x1000, 1)), [(2, R)]),
    "last_byte_dropped": (scenario(probe("p", 0x1000, 4), read(0x1003, 1)), [(1, M)]),
    # IOREGSEL = 1, then IOWIN: the version register 0x00170011, four distinct bytes
    "read_reversed": (
        scenario({"op": "create_irqchip"}, write(0xFEC00000, 4, "01000000"), read(0xFEC00010, 4)),
        [(2, D)],
    ),
    # linear: [a, b, c] -> unregister a -> [c, b]; c answers first
    "unregister_keeps_order": (
        scenario(probe("a", 0x1000, 4), probe("b", 0x1000, 4), probe("c", 0x1000, 4), unprobe("a"), read(0x1000, 1)),
        [(4, R)],
    ),
    # outside positive-len: a length of 2**31 bytes arrives as the int -2**31
    "signed_len": (scenario(probe("p", 0x1000, -(1 << 31)), read(0x1100, 1)), [(1, M)]),
}


def test_every_planted_bus_has_an_exposing_scenario_and_a_docstring():
    assert set(EXPOSING) == set(buses.PLANTED)
    assert len(buses.PLANTED) >= 11
    assert set(buses.OUTSIDE_CONTRACT) <= set(buses.PLANTED)
    assert not set(buses.EQUIVALENT) & set(buses.PLANTED)
    for name in [*buses.PLANTED, *buses.EQUIVALENT, "correct"]:
        doc = getattr(buses, name).__doc__
        assert doc and "\n" not in doc.strip(), name
        spec = bus(name)
        assert spec.era == "today" and not spec.accepts_alloc
    for name in buses.OUTSIDE_CONTRACT:
        assert "outside positive-len" in getattr(buses, name).__doc__


@pytest.mark.parametrize("name", sorted(EXPOSING))
def test_planted_bus_diverges_where_correct_does_not(name):
    s, expected = EXPOSING[name]
    planted = replay(s, [bus(name)])
    assert planted, f"{name} agrees with the reference"
    assert planted.buses[0].divergences() == expected
    good = replay(s, [bus("correct")])
    assert not good, f"correct diverges: {good.buses[0].divergences()}"


@pytest.mark.parametrize("name", sorted(buses.PLANTED))
def test_planted_bus_differs_from_correct_in_one_method(name):
    cls = type(bus(name).make(4))
    assert cls.__mro__[1].__name__ == "CorrectBus"  # the plugin loader has its own copy of the module
    own = {k for k in vars(cls) if not k.startswith("__")}
    assert len(own) == 1, own


# -- random scenarios inside positive-len+no-wrap ------------------------------------

BASES = (0, 0x1000, (1 << 63) - 0x10, (1 << 64) - 0x100)
U64_END = 1 << 64


@st.composite
def registration(draw):
    base = draw(st.sampled_from(BASES))
    addr = base + draw(st.integers(0, 0x40))
    room = U64_END - 1 - addr  # addr + len < 2**64
    length = draw(st.one_of(st.integers(1, 0x40), st.integers(1, (1 << 31) - 1)))
    return addr, min(length, room)


@st.composite
def contract_scenario(draw):
    ops, live, n = [], {}, 0  # live: probe id -> (addr, len)
    if draw(st.booleans()):
        ops.append({"op": "create_irqchip"})
    for _ in range(draw(st.integers(1, 16))):
        kind = draw(st.sampled_from(["probe"] * 3 + ["unprobe"] + ["access"] * 4))
        if kind == "probe":
            addr, length = draw(registration())
            pid = f"p{n}"
            n += 1
            ops.append(probe(pid, addr, length, draw(st.sampled_from(["range", "range", "range", "none"]))))
            live[pid] = (addr, length)
        elif kind == "unprobe" and live:
            pid = draw(st.sampled_from(sorted(live)))
            del live[pid]
            ops.append(unprobe(pid))
        else:
            length = draw(st.sampled_from([1, 2, 4, 8]))
            if live and draw(st.integers(0, 3)):  # mostly at a live range's start or end
                lo, size = live[draw(st.sampled_from(sorted(live)))]
                if draw(st.booleans()):
                    addr = lo + draw(st.integers(-2, 8))
                else:
                    addr = lo + size + draw(st.integers(-8, 2))
            else:
                addr = draw(st.sampled_from(BASES)) + draw(st.integers(0, 0x90))
            addr = max(0, min(addr, U64_END - 1 - length))  # the access does not reach 2**64 either
            if draw(st.booleans()):
                ops.append(read(addr, length))
            else:
                ops.append(write(addr, length, draw(st.binary(min_size=length, max_size=length)).hex()))
    return scenario(*ops, capacity=draw(st.sampled_from([4, 300, 300])))


#: buses that must agree with the reference inside the contract
AGREEING = ["correct", *sorted(buses.OUTSIDE_CONTRACT), *sorted(buses.EQUIVALENT)]


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(contract_scenario())
def test_correct_agrees_with_the_reference_inside_the_contract(s):
    result = replay(s, [bus(name) for name in AGREEING])
    assert not result, [(b.bus, b.divergences()) for b in result.buses if b.diverged]


def test_correct_does_not_crash_outside_the_contract():
    """Zero and negative lengths, ranges wrapping past 2**64, zero-length and
    negative accesses: ``correct`` may diverge there, but must not raise."""
    top = (1 << 64) - 4
    s = scenario(
        probe("zero", 0x1000, 0),
        probe("neg", 0xE << 60, -1),
        probe("big", 0xD << 60, -(1 << 31)),
        probe("wrap", top, 0x10),
        {"op": "coalesced_mmio", "action": "register", "id": "z", "addr": 0x5000, "size": 0x10},
        {"op": "ioeventfd", "action": "assign", "id": "e", "bus": "mmio", "addr": 0x6000, "len": 0, "datamatch": None},
        *[read(a, n) for a in (0, 0x1000, 0xE << 60, (0xD << 60) + 0x100, 0x5010, 0x6000, top, (1 << 64) - 1) for n in (0, -1, 1, 8, -(1 << 31))],
        write(0x5010, 0, ""),
        write(0x6000, 4, "01020304"),
        unprobe("wrap"),
        unprobe("zero"),
        {"op": "coalesced_mmio", "action": "unregister", "addr": 0x5000, "size": 0x10},
        {"op": "ioeventfd", "action": "deassign", "id": "e"},
    )
    result = replay(s, [bus("correct")])
    assert DivergenceClass.ERROR not in result.buses[0].classes
