"""The encodings the proofs rely on, tested against the concrete model on random inputs."""

import random

import z3
from hypothesis import given, settings, strategies as st

from iobus_verify.model.cints import INT, U64_MAX, INT_MIN, INT_MAX
from iobus_verify.model.comparators import cmp_2011, cmp_upstream, fixed_extent
from iobus_verify.model.fixed_bus import build_segments
from iobus_verify.model.kbsearch import bsearch_2011, bsearch_today
from iobus_verify.model.ksort import heapsort_2005
from iobus_verify.model.sorted_bus import REGISTRY
from iobus_verify.model import conditions as C
from iobus_verify.proofs.encode import Z3, is_access, probe_accepts
from iobus_verify.proofs.lookup import step_2011, step_today

SEED = 20240611


def _ranges(rng, n, cond):
    """n random small ranges satisfying ``cond`` (rejection sampling on ints)."""
    while True:
        rs = [(rng.randrange(0, 64), rng.randrange(1, 9)) for _ in range(n)]
        if all(cond.holds(INT, rs)):
            return rs


def _pairwise_sorted(cmp, arr):
    return all(
        cmp(INT, *arr[i], *arr[j]) <= 0 and cmp(INT, *arr[j], *arr[i]) >= 0
        for i in range(len(arr))
        for j in range(i + 1, len(arr))
    )


def test_sorted_encoding_holds_for_the_real_sorts_under_the_conditions():
    """Every array the 2005 heapsort / the ordered insert produces is pairwise sorted (the lemma route's encoding)."""
    rng = random.Random(SEED)
    for cond in (C.POSITIVE & C.NO_WRAP & C.DISJOINT, C.POSITIVE & C.NO_WRAP & C.NO_NEST):
        for _ in range(150):
            rs = _ranges(rng, rng.randrange(1, 9), cond)
            out = heapsort_2005(rs, lambda a, b: cmp_2011(INT, *a, *b)).items
            assert _pairwise_sorted(cmp_2011, out), (cond.name, rs, out)
            for name, cmp in (("seed-2011", cmp_2011), ("upstream", cmp_upstream)):
                bus = REGISTRY[name].factory()
                for a, n in rs:
                    assert bus.register(a, n, object()) == 0
                arr = [(a, n) for a, n, _ in bus.ranges()]
                assert _pairwise_sorted(cmp, arr), (name, cond.name, rs, arr)


def test_sorted_encoding_fails_without_conditions():
    """Without conditions the heapsort output is not pairwise sorted: the encoding is not used there."""
    out = heapsort_2005([(0, 1), (0, 2)], lambda a, b: cmp_2011(INT, *a, *b)).items
    assert not _pairwise_sorted(cmp_2011, list(out))


def test_fixed_tables_are_sorted_disjoint_and_slot_exact():
    rng = random.Random(SEED + 1)
    for _ in range(200):
        rs = [(rng.randrange(0, 40), rng.choice([0, 1, 2, 5, 9, -1])) for _ in range(rng.randrange(1, 7))]
        ext = [fixed_extent(INT, a, n) for a, n in rs]
        table = build_segments(ext)
        for i in range(len(table)):
            assert table[i].lo < table[i].hi
            for j in range(i + 1, len(table)):
                assert table[i].hi <= table[j].lo  # the encoding of "sorted" for fixed
            for slot, (lo, hi) in enumerate(ext):  # the segment invariant of the lemma
                inside = lo <= table[i].lo and table[i].hi <= hi
                outside = table[i].hi <= lo or hi <= table[i].lo
                assert inside or outside
                assert (slot in table[i].slots) == inside


def _recorded(bs, signs):
    probes = []

    def cmp(key, x):
        probes.append(x)
        return signs[x]

    bs(0, list(range(len(signs))), cmp)
    return probes


def _stepped(step, signs, today):
    probes = []
    a, b = 0, len(signs)
    while (b > 0) if today else (a < b):
        mid, _ = step(a, b, 0)
        probes.append(mid)
        r = signs[mid]
        if r == 0:
            break
        _, (a, b) = step(a, b, r)
    return probes


def test_induction_step_functions_match_the_model_bsearch():
    for n in range(0, 20):
        for p in range(n + 1):
            for q in range(p, n + 1):
                signs = [1] * p + [0] * (q - p) + [-1] * (n - q)
                assert _stepped(step_2011, signs, False) == _recorded(bsearch_2011, signs)
                assert _stepped(step_today, signs, True) == _recorded(bsearch_today, signs)


def _val(t):
    return z3.is_true(z3.simplify(t))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, U64_MAX), st.integers(INT_MIN, INT_MAX), st.integers(0, U64_MAX), st.integers(INT_MIN, INT_MAX))
def test_generic_predicates_agree_on_ints_and_z3(a1, l1, a2, l2):
    bv = (z3.BitVecVal(a1, 64), z3.BitVecVal(l1, 32), z3.BitVecVal(a2, 64), z3.BitVecVal(l2, 32))
    assert _val(probe_accepts(Z3, *bv)) == bool(probe_accepts(INT, a1, l1, a2, l2))
    assert _val(is_access(Z3, bv[0], bv[1])) == bool(is_access(INT, a1, l1))
    for pred in (C.disjoint, C.no_nest, C.distinct_starts):
        assert _val(pred(Z3, *bv)) == bool(pred(INT, a1, l1, a2, l2))
    for pred in (C.positive_len, C.no_wrap):
        assert _val(pred(Z3, bv[0], bv[1])) == bool(pred(INT, a1, l1))
