"""The deterministic post-shrink minimiser."""

from iobus_verify.model.spec import resolve
from iobus_verify.properties.minimise import _smaller, minimise
from iobus_verify.properties.replaying import first_divergence_class

SEED = resolve("seed-2011")

# A REORDERED divergence of seed-2011 padded with noise: two probes on one byte,
# registered in an order the 2005 heapsort reverses, plus operations that play no part.
NOISY = {
    "schema": "iobus-scenario/1",
    "capacity": 8,
    "ops": [
        {"op": "write", "bus": "pio", "addr": 0x300, "len": 4, "data": "deadbeef"},
        {"op": "probe", "action": "register", "id": "a", "bus": "pio", "addr": 0x1000, "len": 4, "accepts": "range"},
        {"op": "probe", "action": "register", "id": "n", "bus": "mmio", "addr": 0x50, "len": 8, "accepts": "none"},
        {"op": "probe", "action": "register", "id": "b", "bus": "pio", "addr": 0x1000, "len": 4, "accepts": "range"},
        {"op": "read", "bus": "mmio", "addr": 0x50, "len": 2},
        {"op": "write", "bus": "pio", "addr": 0x1000, "len": 2, "data": "ffff"},
    ],
}


def keeps(cls):
    return lambda s: first_divergence_class(SEED, s) == cls


def test_noise_is_removed_and_numbers_lowered():
    assert first_divergence_class(SEED, NOISY) == "REORDERED"
    small, replays = minimise(NOISY, keeps("REORDERED"))
    assert replays > 0
    assert [o["op"] for o in small["ops"]] == ["probe", "probe", "write"]
    assert "capacity" not in small
    assert all(o.get("addr") == 0 for o in small["ops"])
    # the write's length goes to 1, and its data with it (exactly len bytes)
    assert (small["ops"][-1]["len"], small["ops"][-1]["data"]) == (1, "00")
    assert first_divergence_class(SEED, small) == "REORDERED"


def _assert_no_one_or_two_drops_keep(small, cls):
    from itertools import combinations

    n = len(small["ops"])
    for k in (1, 2):
        for gone in combinations(range(n), k):
            fewer = dict(small, ops=[o for i, o in enumerate(small["ops"]) if i not in gone])
            try:
                assert first_divergence_class(SEED, fewer) != cls, gone
            except Exception as exc:  # a scenario the VM rejects has no divergence either
                if isinstance(exc, AssertionError):
                    raise
                assert "UsageError" in type(exc).__name__


def test_result_is_minimal_and_deterministic():
    small, _ = minimise(NOISY, keeps("REORDERED"))
    _assert_no_one_or_two_drops_keep(small, "REORDERED")
    assert minimise(NOISY, keeps("REORDERED"))[0] == small


def test_ops_that_only_go_together_are_dropped_together():
    # The heapsort reversal of two identical probes, with a detour no single
    # drop removes: an armed allocation failure makes the unregister of "a"
    # fail (2011: -ENOMEM, "a" stays). Drop only the failure and "a" is gone;
    # drop only the unregister and the failure hits the register of "b".
    sc = {
        "schema": "iobus-scenario/1",
        "ops": [
            {"op": "probe", "action": "register", "id": "a", "bus": "mmio", "addr": 0, "len": 1, "accepts": "range"},
            {"op": "fail_alloc", "bus": "mmio"},
            {"op": "probe", "action": "unregister", "id": "a", "bus": "mmio"},
            {"op": "probe", "action": "register", "id": "b", "bus": "mmio", "addr": 0, "len": 1, "accepts": "range"},
            {"op": "read", "bus": "mmio", "addr": 0, "len": 1},
        ],
    }
    assert first_divergence_class(SEED, sc) == "REORDERED"
    for i in range(len(sc["ops"])):  # no single drop keeps it: the old 1-minimal stop
        fewer = dict(sc, ops=sc["ops"][:i] + sc["ops"][i + 1 :])
        assert first_divergence_class(SEED, fewer) != "REORDERED"
    small, _ = minimise(sc, keeps("REORDERED"))
    assert [o["op"] for o in small["ops"]] == ["probe", "probe", "read"]
    _assert_no_one_or_two_drops_keep(small, "REORDERED")


def test_smaller_candidates_order():
    assert _smaller(0) == []
    assert _smaller(5) == [0, 1, 2, 4]
    assert _smaller(-4) == [0, 1, 2, 4, 8, -1, -2]  # any non-negative number is simpler than a negative one


def test_access_length_candidates_prefer_what_a_guest_issues():
    from iobus_verify.properties.minimise import _access_len_simplicity

    assert _smaller(1, _access_len_simplicity) == []
    assert _smaller(0, _access_len_simplicity) == [1, 2, 4, 8]
    assert _smaller(5, _access_len_simplicity) == [1, 2, 4]
    assert _smaller(-3, _access_len_simplicity) == [1, 2, 4, 8, 0, -1, -2]


def test_a_read_keeps_a_positive_length_when_any_length_diverges():
    # identical probes reversed by the 2005 heapsort: every access at 0x1000 is
    # REORDERED, a zero-length one too; the minimiser must report a 1-byte read.
    sc = {
        "schema": "iobus-scenario/1",
        "ops": [
            {"op": "probe", "action": "register", "id": "a", "bus": "pio", "addr": 0x1000, "len": 1, "accepts": "range"},
            {"op": "probe", "action": "register", "id": "b", "bus": "pio", "addr": 0x1000, "len": 1, "accepts": "range"},
            {"op": "read", "bus": "pio", "addr": 0x1000, "len": 0},
        ],
    }
    assert first_divergence_class(SEED, sc) == "REORDERED"
    small, _ = minimise(sc, keeps("REORDERED"))
    assert small["ops"][-1] == {"op": "read", "bus": "pio", "addr": 0, "len": 1}
