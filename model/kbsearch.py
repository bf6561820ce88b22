"""The kernel's ``bsearch()`` (``lib/bsearch.c``), both generations.

Both call ``cmp(key, element)`` (key first) and return *some* element that
compares equal, not the first one: the I/O bus walks back afterwards.

Sources:

* ``bsearch_2011``: ``torvalds/linux`` lib/bsearch.c @ 107d3e53 (Tim Abbott's
  start/end/mid loop, what the patch called).
* ``bsearch_today``: ``torvalds/linux`` lib/bsearch.c @ 02106f88 (steps a pivot
  by ``num >> 1``; since 2020 the same body is the inline ``__inline_bsearch``).

On a consistent comparator both probe the same indices; on an inconsistent one
they are kept apart so that the model never relies on that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

KeyCmp = Callable[[Any, Any], int]


@dataclass(frozen=True)
class SearchOutcome:
    """The index bsearch returned (``None`` for NULL) and the comparator calls made."""

    index: int | None
    comparisons: int


def bsearch_2011(key: Any, items: Sequence, cmp: KeyCmp) -> SearchOutcome:
    """2011 ``bsearch``: ``start``/``end`` as ``size_t``, ``mid = start + (end - start) / 2``."""
    start, end = 0, len(items)
    calls = 0
    while start < end:
        mid = start + (end - start) // 2
        calls += 1
        r = cmp(key, items[mid])
        if r < 0:
            end = mid
        elif r > 0:
            start = mid + 1
        else:
            return SearchOutcome(mid, calls)
    return SearchOutcome(None, calls)


def bsearch_today(key: Any, items: Sequence, cmp: KeyCmp) -> SearchOutcome:
    """Today's ``bsearch``: pivot = base + (num >> 1); on ``> 0`` base moves past it and num--."""
    base, num = 0, len(items)
    calls = 0
    while num > 0:
        pivot = base + (num >> 1)
        calls += 1
        r = cmp(key, items[pivot])
        if r == 0:
            return SearchOutcome(pivot, calls)
        if r > 0:
            base = pivot + 1
            num -= 1
        num >>= 1
    return SearchOutcome(None, calls)


#: Generations by name, as variants refer to them.
BSEARCHES: dict[str, Callable[[Any, Sequence, KeyCmp], SearchOutcome]] = {
    "2011": bsearch_2011,
    "today": bsearch_today,
}
