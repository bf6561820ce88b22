"""The kernel's ``sort()`` (``lib/sort.c``), generation by generation.

With an inconsistent comparator such as the 2011 ``kvm_io_bus_sort_cmp`` the
output is determined only by the exact sequence of comparisons and swaps, so
each generation is transcribed step for step, in element indices instead of the
C byte offsets (index ``j`` is byte offset ``j * size``). The swap function
never changes the result, so it is not modelled.

Each function is pure: it takes a sequence and a two-argument comparator
returning a C ``int`` and returns a :class:`SortOutcome`.

Sources (read at these commits with the public-code look-up tools):

* ``heapsort_2005``: ``CyanogenMod/android_kernel_htc_msm8960`` lib/sort.c @
  9beb735b (the 2005 heapsort with the 2006 child-index fix; what v3.1 ran).
* ``heapsort_bottom_up_2019``: ``torvalds/linux`` lib/sort.c @ 22a241cc
  ("lib/sort: use more efficient bottom-up heapsort variant", v5.1).
* ``heapsort_today``: ``ColinIanKing/linux-next`` lib/sort.c @ aeb03332
  (double-pop, ties to the right child, last two elements out of the loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
Cmp = Callable[[T, T], int]


@dataclass(frozen=True)
class SortOutcome:
    """The permutation a sort produced and the comparator calls it made."""

    items: tuple
    comparisons: int


class _Counting:
    __slots__ = ("cmp", "calls")

    def __init__(self, cmp: Cmp) -> None:
        self.cmp = cmp
        self.calls = 0

    def __call__(self, a, b) -> int:
        self.calls += 1
        return self.cmp(a, b)


def heapsort_2005(items: Sequence[T], cmp: Cmp) -> SortOutcome:
    """``sort()`` as of 2005-2019 (Matt Mackall's heapsort): what the 2011 patch called."""
    a = list(items)
    c_ = _Counting(cmp)
    num = len(a)

    def sift(r: int, limit: int) -> None:
        # C: for (r = i; r * 2 + size < n; r = c)  -> child 2r+1 exists
        while 2 * r + 1 < limit:
            c = 2 * r + 1
            # C: if (c < n - size && cmp(base + c, base + c + size) < 0) c += size;
            if c + 1 < limit and c_(a[c], a[c + 1]) < 0:
                c += 1
            # C: if (cmp(base + r, base + c) >= 0) break;  a tie stops the descent
            if c_(a[r], a[c]) >= 0:
                break
            a[r], a[c] = a[c], a[r]
            r = c

    # C: int i = (num/2 - 1) * size; for num < 2 the size_t wraps and the int is
    # -size, so neither loop runs; range() below is empty in exactly those cases.
    for i in range(num // 2 - 1, -1, -1):  # heapify
        sift(i, num)
    for i in range(num - 1, 0, -1):  # sort-down: unconditional swap first
        a[0], a[i] = a[i], a[0]
        sift(0, i)
    return SortOutcome(tuple(a), c_.calls)


def _parent(j: int) -> int:
    # C: parent(i, lsbit, size) on byte offsets; in indices it is (j - 1) / 2.
    return (j - 1) // 2


def _bottom_up_sift(a: list, c_: _Counting, top: int, n: int, tie_left: bool) -> None:
    """One bottom-up sift of ``a[top]`` inside the heap ``a[0:n]``."""
    b = top
    # C: for (b = a; c = 2*b + size, (d = c + size) < n;)
    while True:
        c = 2 * b + 1
        d = c + 1
        if d >= n:
            break
        r = c_(a[c], a[d])
        # 2019: `>= 0 ? c : d` (tie -> left); today: `> 0 ? c : d` (tie -> right)
        b = c if (r >= 0 if tie_left else r > 0) else d
    if d == n:  # C: special case last leaf with no sibling
        b = c
    # C: while (b != a && cmp(base + a, base + b) >= 0) b = parent(b);
    while b != top and c_(a[top], a[b]) >= 0:
        b = _parent(b)
    c = b
    while b != top:  # rotate a[top] into position c along the path
        b = _parent(b)
        a[b], a[c] = a[c], a[b]


def heapsort_bottom_up_2019(items: Sequence[T], cmp: Cmp) -> SortOutcome:
    """``sort()`` from v5.1 (George Spelvin's bottom-up heapsort)."""
    a = list(items)
    c_ = _Counting(cmp)
    n = len(a)
    top = n // 2  # C: a = (num/2) * size
    if top == 0:  # C: if (!a) return;  num < 2
        return SortOutcome(tuple(a), 0)
    while True:
        if top:
            top -= 1  # building heap: sift down --a
        else:
            n -= 1  # C: else if (n -= size) swap(base, base + n) else break
            if n == 0:
                break
            a[0], a[n] = a[n], a[0]
        _bottom_up_sift(a, c_, top, n, tie_left=True)
    return SortOutcome(tuple(a), c_.calls)


def heapsort_today(items: Sequence[T], cmp: Cmp) -> SortOutcome:
    """Today's ``__sort_r`` (double-pop, descent ties to the right child)."""
    a = list(items)
    c_ = _Counting(cmp)
    n = len(a)
    top = n // 2
    shift = 0
    if top == 0:
        return SortOutcome(tuple(a), 0)
    while True:
        if top:
            top -= 1 << shift  # C: a -= size << shift
        elif n > 3:  # C: else if (n > 3 * size): extract the two largest
            n -= 1
            a[0], a[n] = a[n], a[0]
            shift = 1 if c_(a[1], a[2]) <= 0 else 0
            top = 1 << shift
            n -= 1
            a[top], a[n] = a[n], a[top]  # may be a self-swap (top == n)
        else:
            break
        _bottom_up_sift(a, c_, top, n, tie_left=False)
    n -= 1
    a[0], a[n] = a[n], a[0]
    # C: if (n == size * 2 && cmp(base, base + size) > 0) swap(base, base + size);
    if n == 2 and c_(a[0], a[1]) > 0:
        a[0], a[1] = a[1], a[0]
    return SortOutcome(tuple(a), c_.calls)


#: Generations by name, as variants refer to them.
SORTS: dict[str, Callable[[Sequence, Cmp], SortOutcome]] = {
    "2005": heapsort_2005,
    "2019": heapsort_bottom_up_2019,
    "today": heapsort_today,
}
