"""Simple preconditions on the registered ranges, written once against a domain.

Each condition is a predicate on one range (unary) or on a pair (binary,
applied to every pair of a table). They run on z3 terms in the proofs and on
ints in the tests that check the "sorted" encoding. ``fixed_extent`` gives the
byte extent (u32 length, wildcard 0, clipped), so "disjoint" and "nest" speak
of bytes, not of the wrapped C sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from iobus_verify.model.cints import U64_MOD
from iobus_verify.model.comparators import fixed_extent


def positive_len(d, addr, length):
    """``0 < len < 2**31`` as a C int (no zero-length wildcard, no u32 size above INT_MAX)."""
    return d.and_(d.len_nonzero(length), d.wlt(d.wide_len_u32(length), d.wide_const(1 << 31)))


def no_wrap(d, addr, length):
    """``addr + u32(len) < 2**64``: the C sum ``addr + len`` does not wrap (nor end exactly at 2**64)."""
    return d.wlt(d.wadd(d.wide_gpa(addr), d.wide_len_u32(length)), d.wide_const(U64_MOD))


def disjoint(d, a1, l1, a2, l2):
    """The byte extents share no byte."""
    lo1, hi1 = fixed_extent(d, a1, l1)
    lo2, hi2 = fixed_extent(d, a2, l2)
    return d.or_(d.wle(hi1, lo2), d.wle(hi2, lo1))


def no_nest(d, a1, l1, a2, l2):
    """Neither extent contains the other (identical ranges nest)."""
    lo1, hi1 = fixed_extent(d, a1, l1)
    lo2, hi2 = fixed_extent(d, a2, l2)
    return d.and_(
        d.not_(d.and_(d.wle(lo1, lo2), d.wle(hi2, hi1))),
        d.not_(d.and_(d.wle(lo2, lo1), d.wle(hi1, hi2))),
    )


def distinct_starts(d, a1, l1, a2, l2):
    return d.not_(d.eq(a1, a2))


@dataclass(frozen=True)
class Condition:
    name: str
    text: str
    unary: tuple[Callable, ...] = ()
    binary: tuple[Callable, ...] = ()

    def holds(self, d, ranges) -> list:
        """The constraints on a list of ``(addr, len)`` pairs (z3 terms or ints)."""
        out = [u(d, a, n) for u in self.unary for a, n in ranges]
        out += [b(d, *ranges[i], *ranges[j]) for b in self.binary for i in range(len(ranges)) for j in range(i + 1, len(ranges))]
        return out

    def __and__(self, other: "Condition") -> "Condition":
        return Condition(f"{self.name}+{other.name}", f"{self.text}, {other.text}", self.unary + other.unary, self.binary + other.binary)


NONE = Condition("none", "no precondition")
POSITIVE = Condition("positive-len", "lengths in (0, 2^31)", unary=(positive_len,))
NO_WRAP = Condition("no-wrap", "no range wraps past 2^64", unary=(no_wrap,))
DISTINCT = Condition("distinct-starts", "distinct start addresses", binary=(distinct_starts,))
NO_NEST = Condition("no-nest", "no two ranges nest", binary=(no_nest,))
DISJOINT = Condition("disjoint", "ranges pairwise disjoint", binary=(disjoint,))

#: The candidate building blocks, weakest first within each kind.
ATOMS = (POSITIVE, NO_WRAP, DISTINCT, NO_NEST, DISJOINT)


def conjunction(names) -> Condition:
    """The conjunction of the atoms named in ``names`` (a set of atom names), in :data:`ATOMS` order."""
    names = set(names)
    unknown = names - {a.name for a in ATOMS}
    if unknown or not names:
        raise ValueError(f"condition atoms must be a non-empty subset of {[a.name for a in ATOMS]}, not {sorted(names)}")
    picked = [a for a in ATOMS if a.name in names]
    c = picked[0]
    for a in picked[1:]:
        c = c & a
    return c


def combinations() -> list[Condition]:
    """Candidate conjunctions, fewest atoms first (subsumed ones are pruned by the search)."""
    from itertools import combinations as comb

    out = []
    for k in range(1, len(ATOMS) + 1):
        for atoms in comb(ATOMS, k):
            c = atoms[0]
            for a in atoms[1:]:
                c = c & a
            out.append(c)
    return out
