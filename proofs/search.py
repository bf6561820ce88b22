"""The weakest-condition search: minimal conjunctions of atoms under which an obligation is proved.

Adding a condition only adds constraints to an unsatisfiable violation, so the
outcome is *monotone* in the set of atoms: if a set proves the obligation,
every superset does; if the solver finds a violation under a set (a definite
``refuted``), every subset has that violation too. :func:`minimal_sets` uses
both directions to skip every set whose outcome is implied, and evaluates
*hinted* sets first (the expected answer, e.g. the committed baseline): when the
hint is right, only the minimal proving sets and the maximal failing sets are
evaluated, and those two families together *certify* the answer for all
``2^k - 1`` sets. A wrong or stale hint costs time, never correctness: every set
not implied by an evaluated one is still evaluated. ``unknown`` (a solver
timeout) counts as "not proved" for that set only and implies nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Callable, Iterable, Sequence

Atoms = frozenset[str]


@dataclass(frozen=True)
class SearchOutcome:
    """What the search concluded and what it cost.

    ``minimal``: the minimal proving sets (fewest atoms first, then in atom
    order); ``maximal_failing``: the maximal sets found refuted (the certificate
    that no other set proves); ``evaluated``: how many sets were solved,
    ``implied``: how many were decided by monotonicity; ``unknown``: sets the
    solver could not decide.
    """

    minimal: tuple[Atoms, ...]
    maximal_failing: tuple[Atoms, ...]
    evaluated: int
    implied: int
    unknown: tuple[Atoms, ...]


def all_sets(atoms: Sequence[str]) -> list[Atoms]:
    """Every non-empty subset, fewest atoms first, then in the order of ``atoms``."""
    return [frozenset(c) for k in range(1, len(atoms) + 1) for c in combinations(atoms, k)]


def maximal_not_containing(atoms: Sequence[str], minimal: Iterable[Atoms]) -> list[Atoms]:
    """The maximal sets that contain none of ``minimal`` (what must fail if ``minimal`` is the answer)."""
    mins = list(minimal)
    free = [s for s in all_sets(atoms) if not any(m <= s for m in mins)]
    return [s for s in free if not any(s < t for t in free)]


def minimal_sets(
    atoms: Sequence[str], evaluate: Callable[[Atoms], str], hint: Iterable[Atoms] | None = None
) -> SearchOutcome:
    """The minimal sets of ``atoms`` whose ``evaluate`` is ``"proved"`` (see the module docstring).

    ``evaluate(s)`` returns ``"proved"``, ``"refuted"`` (definitely not proved
    under ``s``) or ``"unknown"``. ``hint``: the expected minimal sets (an
    empty one: "no set proves it"); they and the maximal sets containing none
    of them are evaluated first. ``None``: no hint, sets in order of size.
    """
    universe = all_sets(atoms)
    order = universe
    if hint is not None:
        hint = [frozenset(h) for h in hint if frozenset(h) <= frozenset(atoms)]
        order = hint + maximal_not_containing(atoms, hint) + universe
    proved: list[Atoms] = []
    failed: list[Atoms] = []
    unknown: list[Atoms] = []
    seen: set[Atoms] = set()
    evaluated = 0
    for s in order:
        if s in seen:
            continue
        if any(p <= s for p in proved) or any(s <= f for f in failed):
            continue
        seen.add(s)
        evaluated += 1
        r = evaluate(s)
        if r == "proved":
            proved.append(s)
        elif r == "refuted":
            failed.append(s)
        else:
            unknown.append(s)
    rank = {s: i for i, s in enumerate(universe)}
    minimal = sorted((p for p in proved if not any(q < p for q in proved)), key=rank.__getitem__)
    maximal = sorted((f for f in failed if not any(f < g for g in failed)), key=rank.__getitem__)
    return SearchOutcome(tuple(minimal), tuple(maximal), evaluated, len(universe) - evaluated, tuple(unknown))
