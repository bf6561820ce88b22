"""The kernel's sort() generations: sortedness under a consistent comparator and
the exact comparator-call sequences, derived by hand from the C."""

import pytest
from hypothesis import given, settings, strategies as st

from iobus_verify.model.cints import INT
from iobus_verify.model.comparators import cmp_2011
from iobus_verify.model.ksort import SORTS, heapsort_2005, heapsort_bottom_up_2019, heapsort_today


def int_cmp(a, b):
    return (a > b) - (a < b)


def recording(cmp):
    calls = []

    def f(a, b):
        calls.append((a, b))
        return cmp(a, b)

    return f, calls


@pytest.mark.parametrize("name", sorted(SORTS))
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=40))
def test_sorts_sort_under_a_consistent_comparator(name, xs):
    out = SORTS[name](xs, int_cmp)
    assert list(out.items) == sorted(xs)


@pytest.mark.parametrize("name", sorted(SORTS))
@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1000)), max_size=30))
def test_sorts_return_a_permutation_and_count_every_call(name, xs):
    f, calls = recording(lambda a, b: int_cmp(a[0], b[0]))
    out = SORTS[name](xs, f)
    assert sorted(out.items) == sorted(xs)
    assert out.comparisons == len(calls)
    assert [a[0] for a in out.items] == sorted(a[0] for a in xs)


@pytest.mark.parametrize("name", sorted(SORTS))
def test_sorts_of_fewer_than_two_elements_call_nothing(name):
    for xs in ([], [7]):
        f, calls = recording(int_cmp)
        assert list(SORTS[name](xs, f).items) == xs
        assert calls == []


def test_2005_heapsort_call_sequence_on_three():
    # heapify r=0: cmp(a[1],a[2]) = (2,3) -> right child; cmp(a[0],a[2]) = (1,3) -> swap: [3,2,1]
    # i=2: swap a0,a2 -> [1,2,3]; sift limit 2: no sibling; cmp(a[0],a[1]) = (1,2) -> swap: [2,1,3]
    # i=1: swap a0,a1 -> [1,2,3]; nothing to sift
    f, calls = recording(int_cmp)
    out = heapsort_2005([1, 2, 3], f)
    assert calls == [(2, 3), (1, 3), (1, 2)]
    assert out.items == (1, 2, 3) and out.comparisons == 3


def test_2005_heapsort_reverses_the_patchs_two_equal_ranges():
    # kernel-facts: register (0,1) then (0,2): cmp((0,1),(0,2)) == 0 stops the sift,
    # then the unconditional swap of the sort-down phase reverses them.
    f, calls = recording(lambda a, b: cmp_2011(INT, a[0], a[1], b[0], b[1]))
    out = heapsort_2005([(0, 1), (0, 2)], f)
    assert calls == [((0, 1), (0, 2))]
    assert out.items == ((0, 2), (0, 1))


def test_2019_bottom_up_call_sequence_on_three():
    # build: a=0, descent cmp(a[1],a[2]) = (2,3) -> d=2; climb cmp(a[0],a[2]) = (1,3) < 0 stops;
    # rotate: [3,2,1]. n=2: swap -> [1,2,3]; last leaf b=1; climb cmp(1,2) < 0; rotate: [2,1,3].
    # n=1: swap -> [1,2,3]; n=0: done.
    f, calls = recording(int_cmp)
    out = heapsort_bottom_up_2019([1, 2, 3], f)
    assert calls == [(2, 3), (1, 3), (1, 2)]
    assert out.items == (1, 2, 3)


def test_2019_descent_sends_ties_left_and_today_right():
    # Four equal keys tagged by position: the descent from the root compares (a[1], a[2]).
    # 2019 takes the left child on a tie, today the right one; the climb then stops at once.
    xs = [(0, "a"), (0, "b"), (0, "c"), (0, "d")]
    key = lambda a, b: int_cmp(a[0], b[0])
    assert heapsort_bottom_up_2019(xs, key).items != heapsort_today(xs, key).items


def test_today_call_sequence_on_four():
    # build a=1: last leaf 3, climb cmp(a[1],a[3]) = (2,4) < 0; rotate: [1,4,3,2]
    # build a=0: descent cmp(a[1],a[2]) = (4,3) > 0 -> 1; last leaf 3; climb cmp(a[0],a[3]) = (1,2) < 0;
    #   rotate along 0-1-3: [4,2,3,1]
    # double-pop: swap a0,a3 -> [1,2,3,4]; shift = cmp(a[1],a[2]) = (2,3) <= 0 -> 1; a=2; n=2; self-swap
    #   sift a=2 in heap of 2: nothing
    # a -= 2 -> 0: last leaf 1; climb cmp(a[0],a[1]) = (1,2) < 0; rotate: [2,1,3,4]
    # loop ends (n == 2); swap a0,a1 -> [1,2,3,4]; n == 1: no final compare
    f, calls = recording(int_cmp)
    out = heapsort_today([1, 2, 3, 4], f)
    assert calls == [(2, 4), (4, 3), (1, 2), (2, 3), (1, 2)]
    assert out.items == (1, 2, 3, 4)


def test_today_final_compare_of_the_last_three():
    # [2,1,3]: build a=0: descent cmp(1,3) < 0 -> d=2; climb cmp(2,3) < 0; rotate: [3,1,2]
    # n=3 is not > 3: loop ends; n=2: swap a0,a2 -> [2,1,3]; n == 2 and cmp(a[0],a[1]) = (2,1) > 0: swap
    f, calls = recording(int_cmp)
    out = heapsort_today([2, 1, 3], f)
    assert calls == [(1, 3), (2, 3), (2, 1)]
    assert out.items == (1, 2, 3)
