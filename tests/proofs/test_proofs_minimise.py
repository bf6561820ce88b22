"""proofs.minimise: tightening finds the least power-of-two bound, then the lexicographically least model in it."""

import z3

from iobus_verify.proofs.encode import fresh_range
from iobus_verify.proofs.minimise import minimise, tighten


def test_tighten_returns_the_least_bound_that_admits_a_model():
    r = fresh_range("r")
    bits, m = tighten([z3.UGT(r.addr, 5), r.len == 3], [r])
    assert bits == 3  # addr in (5, 8): 2**2 = 4 is too small
    assert 5 < m.eval(r.addr).as_long() < 8


def test_tighten_reaches_the_top_of_the_address_space():
    r = fresh_range("r")
    bits, m = tighten([z3.UGT(r.addr, 2**63)], [r])
    assert bits == 64 and m.eval(r.addr).as_long() > 2**63


def test_tighten_on_unsat_is_none():
    r = fresh_range("r")
    assert tighten([r.len == 1, r.len == 2], [r]) is None


def test_minimise_gives_least_addresses_then_least_u32_lengths():
    a, b = fresh_range("a"), fresh_range("b")
    cs = [z3.UGT(b.addr, a.addr), z3.UGT(a.len, 0), z3.ULT(b.len, 0xFFFF0000), b.len != 0]
    m = minimise(cs, [a, b])
    assert [m.eval(x).as_long() for x in (a.addr, b.addr, a.len, b.len)] == [0, 1, 1, 1]


def test_minimise_keeps_a_negative_len_only_when_needed():
    r = fresh_range("r")
    m = minimise([z3.UGT(r.addr + z3.SignExt(32, r.len), r.addr) == False, r.len != 0], [r])  # noqa: E712
    # addr + len must not rise above addr: at addr 0 only len 0 does (excluded),
    # so the least address is 1 and the only length there is -1 (u32 2**32 - 1)
    assert m.eval(r.addr).as_long() == 1 and m.eval(r.len).as_signed_long() == -1


def test_minimise_breaks_ties_between_equal_sums_the_same_way_every_time():
    # cmp-like symmetry: (x, y) and (y, x) have the same sums; the per-variable
    # objectives (x.addr, x.len, y.addr, y.len) pick one, whatever z3 returns first
    x, y = fresh_range("x"), fresh_range("y")
    cs = [z3.Or(z3.And(x.len == 0, y.len == 1), z3.And(x.len == 1, y.len == 0))]
    for _ in range(3):
        m = minimise(cs, [x, y])
        assert [m.eval(t).as_long() for t in (x.addr, x.len, y.addr, y.len)] == [0, 0, 0, 1]


def test_minimise_does_not_depend_on_the_z3_context_history():
    def ask():
        a, b = fresh_range("a"), fresh_range("b")
        cs = [z3.UGT(a.addr + 5, b.addr), a.len != b.len, z3.ULT(b.len, 9), b.len != 0, a.len != 0]
        m = minimise(cs, [a, b])
        return [m.eval(t).as_long() for t in (a.addr, a.len, b.addr, b.len)]

    before = ask()
    # other formulas and models in the same (global) context in between
    junk = [z3.BitVec(f"junk{i}", 64) for i in range(50)]
    s = z3.Solver()
    s.add(*(j * 3 + i == junk[(i + 1) % 50] for i, j in enumerate(junk)))
    s.check()
    assert ask() == before == [0, 1, 0, 2]


def test_minimise_budget_is_in_solver_steps_not_seconds(monkeypatch):
    # out of rlimit budget from the start: no model, and no clock involved
    from iobus_verify.proofs import minimise as M

    monkeypatch.setattr(M, "RLIMIT_TOTAL", 0)
    r = fresh_range("r")
    assert minimise([z3.UGT(r.addr, 5)], [r]) is None
