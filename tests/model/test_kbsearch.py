"""The kernel's bsearch() generations."""

import bisect

import pytest
from hypothesis import given, settings, strategies as st

from iobus_verify.model.cints import INT
from iobus_verify.model.comparators import cmp_2011
from iobus_verify.model.kbsearch import BSEARCHES, bsearch_2011, bsearch_today


def int_cmp(a, b):
    return (a > b) - (a < b)


def recording(cmp):
    calls = []

    def f(a, b):
        calls.append((a, b))
        return cmp(a, b)

    return f, calls


@pytest.mark.parametrize("name", sorted(BSEARCHES))
@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=40, unique=True).map(sorted), st.integers(-1, 51))
def test_bsearch_agrees_with_linear_search_on_sorted_arrays(name, xs, key):
    out = BSEARCHES[name](key, xs, int_cmp)
    if key in xs:
        assert out.index == xs.index(key)
    else:
        assert out.index is None
    assert out.comparisons <= len(xs).bit_length()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=40).map(sorted), st.integers(-1, 21))
def test_both_generations_probe_the_same_indices_on_sorted_input(xs, key):
    f1, c1 = recording(int_cmp)
    f2, c2 = recording(int_cmp)
    r1, r2 = bsearch_2011(key, xs, f1), bsearch_today(key, xs, f2)
    assert r1 == r2 and c1 == c2
    if r1.index is not None:
        assert xs[r1.index] == key and bisect.bisect_left(xs, key) <= r1.index


def test_call_sequence_on_five():
    # 2011: mid 2 (40 vs 30: right), mid 3+(5-3)/2 = 4 (40 vs 50: left), mid 3 (equal)
    # today: pivot 0+(5>>1) = 2 (right: base 3, num (5-1)>>1 = 2), pivot 3+1 = 4 (left: num 1), pivot 3
    for search in (bsearch_2011, bsearch_today):
        f, calls = recording(int_cmp)
        out = search(40, [10, 20, 30, 40, 50], f)
        assert calls == [(40, 30), (40, 50), (40, 40)]
        assert out.index == 3 and out.comparisons == 3


def test_empty_array():
    for search in (bsearch_2011, bsearch_today):
        assert search(1, [], int_cmp).index is None
        assert search(1, [], int_cmp).comparisons == 0


def test_2011_miss_on_the_reversed_pair():
    # kernel-facts: [(0,2),(0,1)] and the access (0,2): probe index 1, +1, go right, NULL.
    f, calls = recording(lambda k, e: cmp_2011(INT, k[0], k[1], e[0], e[1]))
    out = bsearch_2011((0, 2), [(0, 2), (0, 1)], f)
    assert calls == [((0, 2), (0, 1))]
    assert out.index is None
