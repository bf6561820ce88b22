"""Conditions on what a scenario registers and accesses, each atom written once against a domain.

One definition serves both layers: the proofs evaluate an atom on z3 terms
(``Z3Domain``), the differential search and replay on ints (``INT``). An atom
is a predicate on one range (*unary*: applied to every registered range and,
in a scenario, to every access), on a pair of ranges live at the same time on
one bus (*binary*), or on an access against the ranges live when it happens
(*access*). ``fixed_extent`` gives the byte extent (u32 length, wildcard 0,
clipped), so "disjoint" and "nest" speak of bytes, not of the wrapped C sums.

The **ladder** (:data:`LADDER`) is the chain of conjunctions the differential
search is stratified over, strongest first, down to ``none``: a finding carries
the strongest rung its witness satisfies, so "MISSED even on disjoint ranges"
(a broken lookup) and "MISSED only with a length of 2^31 or more" (every bus
that reads ``int len`` as the kernel does) are different findings. A bus's
*contract* (``--assume``) is a conjunction too; :func:`implies` decides which
rungs lie inside it. :func:`violated_atoms` evaluates every atom on a concrete
scenario (by replaying it on the linear reference, which knows what was really
registered), and :func:`rung_of` / :func:`first_violation` read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from iobus_verify.errors import UsageError
from iobus_verify.model.cints import INT, U64_MOD
from iobus_verify.model.comparators import byte_extent, fixed_extent


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
    """The two ranges start at different addresses."""
    return d.not_(d.eq(a1, a2))


def holds_byte(addr: int, length: int, byte: int) -> bool:
    """Concrete: the registration ``(addr, length)`` holds ``byte`` (its
    :func:`byte_extent`: u32 length, clipped at 2**64; a zero length holds none).
    Which live ranges are candidates for an access is which hold its first byte."""
    lo, hi = byte_extent(INT, addr, length)
    return lo <= byte < hi


def access_inside(d, addr, length, ranges):
    """The access's bytes ``[addr, addr + u32(len))`` lie inside one live range's
    extent (so a range bus that offers the ranges holding the access is
    complete whatever each device does with bytes past its end)."""
    alo, ahi = byte_extent(d, addr, length)
    out = d.eq(d.wide_const(0), d.wide_const(1))  # false, in the domain
    for a, n in ranges:
        lo, hi = fixed_extent(d, a, n)
        out = d.or_(out, d.and_(d.and_(d.wle(lo, alo), d.wle(ahi, hi)), d.wlt(alo, hi)))
    return out


@dataclass(frozen=True)
class Condition:
    """A conjunction of atoms. ``name`` joins the atom names with ``+`` in
    :data:`ORDER` (``none`` for the empty conjunction); ``text`` says it in words."""

    name: str
    text: str
    unary: tuple[Callable, ...] = ()
    binary: tuple[Callable, ...] = ()
    access: tuple[Callable, ...] = ()

    def holds(self, d, ranges) -> list:
        """The constraints on a list of ``(addr, len)`` pairs (z3 terms or ints)."""
        out = [u(d, a, n) for u in self.unary for a, n in ranges]
        out += [b(d, *ranges[i], *ranges[j]) for b in self.binary for i in range(len(ranges)) for j in range(i + 1, len(ranges))]
        return out

    @property
    def atoms(self) -> frozenset[str]:
        return frozenset() if self.name == "none" else frozenset(self.name.split("+"))

    def __and__(self, other: "Condition") -> "Condition":
        if self.name == "none":
            return other
        if other.name == "none":
            return self
        return Condition(
            f"{self.name}+{other.name}",
            f"{self.text}, {other.text}",
            self.unary + other.unary,
            self.binary + other.binary,
            self.access + other.access,
        )


NONE = Condition("none", "no precondition")
POSITIVE = Condition("positive-len", "lengths in (0, 2^31)", unary=(positive_len,))
NO_WRAP = Condition("no-wrap", "no range wraps past 2^64", unary=(no_wrap,))
DISTINCT = Condition("distinct-starts", "distinct start addresses", binary=(distinct_starts,))
NO_NEST = Condition("no-nest", "no two ranges nest", binary=(no_nest,))
DISJOINT = Condition("disjoint", "ranges pairwise disjoint", binary=(disjoint,))

ACCESS_INSIDE = Condition("access-inside", "every access lies inside one live range", access=(access_inside,))

#: The candidate building blocks of the proofs' weakest-condition search
#: (conditions on the registered table), weakest first within each kind.
ATOMS = (POSITIVE, NO_WRAP, DISTINCT, NO_NEST, DISJOINT)
#: Every atom, in the order names are written.
ALL_ATOMS = ATOMS + (ACCESS_INSIDE,)
ORDER = tuple(a.name for a in ALL_ATOMS)
_BY_NAME = {a.name: a for a in ALL_ATOMS}


def conjunction(names) -> Condition:
    """The conjunction of the atoms named in ``names`` (a set of atom names), in :data:`ORDER`."""
    names = set(names)
    unknown = names - set(ORDER)
    if unknown or not names:
        raise ValueError(f"condition atoms must be a non-empty subset of {list(ORDER)}, not {sorted(names)}")
    c = NONE
    for a in ALL_ATOMS:
        if a.name in names:
            c = c & a
    return c


def parse(text: str | None) -> Condition:
    """A condition from its written form (atoms joined by ``+`` in any order,
    or ``none``); a :class:`UsageError` naming the atoms otherwise."""
    if text is None or not str(text).strip() or str(text).strip() == "none":
        return NONE
    names = [t.strip() for t in str(text).split("+")]
    unknown = [n for n in names if n not in _BY_NAME]
    if unknown or not all(names):
        raise UsageError(
            f"unknown condition atom {unknown[0] if unknown else '(empty)'!r} in {text!r}: "
            f"join atoms from {', '.join(ORDER)} with '+', or say 'none'"
        )
    return conjunction(names)


#: Atoms that follow from others: with positive lengths, disjoint ranges do
#: not nest, and ranges that do not nest start apart (equal starts nest).
_ENTAILS = (
    ({"positive-len", "disjoint"}, "no-nest"),
    ({"positive-len", "no-nest"}, "distinct-starts"),
)


def closure(atoms) -> frozenset[str]:
    out = set(atoms)
    changed = True
    while changed:
        changed = False
        for need, then in _ENTAILS:
            if need <= out and then not in out:
                out.add(then)
                changed = True
    return frozenset(out)


def implies(a: Condition, b: Condition) -> bool:
    """Every scenario satisfying ``a`` satisfies ``b``."""
    return b.atoms <= closure(a.atoms)


#: The differential search's rungs, strongest first (each implies the next).
LADDER: tuple[Condition, ...] = (
    POSITIVE & NO_WRAP & DISJOINT & ACCESS_INSIDE,
    POSITIVE & NO_WRAP & DISJOINT,
    POSITIVE & NO_WRAP & NO_NEST,
    POSITIVE & NO_WRAP,
    NONE,
)


# -- evaluation on concrete scenarios ----------------------------------------------


@dataclass(frozen=True)
class Violation:
    atom: str
    op_index: int
    text: str


def violations(scenario: Any, era: str | None = None) -> dict[str, Violation]:
    """The first violation of each atom in ``scenario`` (an ``iobus-scenario/1``
    object, a :class:`~iobus_verify.model.scenario.Scenario` or a path).

    Runs the scenario on the linear reference, which holds exactly what was
    registered (fixed devices included), and checks after each op the ranges it
    added (unary atoms; binary atoms against every range live on that bus) and,
    before each read or write, the access (unary atoms and access atoms against
    the ranges live on its bus). The reference runs under the scenario's era,
    else ``era`` (the era of the bus the scenario is about: what registers
    differs between eras, e.g. a zero-length ioeventfd)."""
    from iobus_verify.model.scenario import load_scenario
    from iobus_verify.model.spec import resolve
    from iobus_verify.model.vm import VM

    s = load_scenario(scenario)
    vm = VM(resolve("linear"), era=s.era or era or "today", capacity=s.capacity, op_timeout=None)
    found: dict[str, Violation] = {}

    def note(atom: str, i: int, what: str) -> None:
        if atom not in found:
            found[atom] = Violation(atom, i, f"op {i} ({what}) breaks {atom} ({_BY_NAME[atom].text})")

    unary = [a for a in ALL_ATOMS if a.unary]
    binary = [a for a in ALL_ATOMS if a.binary]
    for i, op in enumerate(s.ops):
        before = {b: vm.buses[b].ranges() for b in vm.buses}
        if op.op in ("read", "write") and op.bus in before and op.addr is not None and op.len is not None:
            live = [(a, n) for a, n, _ in before[op.bus]]
            what = f"{op.op} {op.bus} ({op.addr:#x}, {op.len})"
            for atom in unary:
                if not all(u(INT, op.addr, op.len) for u in atom.unary):
                    note(atom.name, i, what)
            if not access_inside(INT, op.addr, op.len, live):
                note(ACCESS_INSIDE.name, i, what)
        vm.apply(op)
        for b, bus in vm.buses.items():
            now = bus.ranges()
            old = {id(dev) for _, _, dev in before[b]}
            for a, n, dev in now:
                if id(dev) in old:
                    continue
                what = f"{op.op}{' ' + op.action if op.action else ''} registers ({a:#x}, {n}) on {b}"
                for atom in unary:
                    if not all(u(INT, a, n) for u in atom.unary):
                        note(atom.name, i, what)
                for a2, n2, dev2 in now:
                    if dev2 is dev:
                        continue
                    for atom in binary:
                        if not all(f(INT, a, n, a2, n2) for f in atom.binary):
                            note(atom.name, i, f"{what}, beside ({a2:#x}, {n2})")
    return found


def first_violation(scenario: Any, condition: Condition, era: str | None = None) -> str | None:
    """One line naming the first op of ``scenario`` that breaks an atom of
    ``condition`` (and the atom), or None when the scenario satisfies it."""
    if not condition.atoms:
        return None
    got = [v for a, v in violations(scenario, era).items() if a in condition.atoms]
    return min(got, key=lambda v: (v.op_index, ORDER.index(v.atom))).text if got else None


def rung_of(scenario: Any, era: str | None = None, ladder: tuple[Condition, ...] = LADDER) -> Condition:
    """The strongest rung of ``ladder`` that ``scenario`` satisfies (``none`` at worst)."""
    broken = set(violations(scenario, era))
    for rung in ladder:
        if not (rung.atoms & broken):
            return rung
    return NONE


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


# -- other VMMs' buses (u64 lengths, exact extents) ----------------------------------
# The VMM buses (``iobus_verify.vmm``) take a u64 length, not a C int: their
# atoms read the length whole (``wide_gpa``), so they are separate atoms with
# their own names rather than re-readings of the KVM ones.


def nonzero64(d, addr, length):
    """``len != 0`` (a range or an access of at least one byte)."""
    return d.not_(d.eq(length, d.const(0)))


def below_top64(d, addr, length):
    """``addr + len <= 2**64``: the range ends at or below the top (``(2^64-1, 1)`` does)."""
    return d.wle(d.wadd(d.wide_gpa(addr), d.wide_gpa(length)), d.wide_const(U64_MOD))


def apart64(d, a1, l1, a2, l2):
    """The exact extents ``[a, a + len)`` share no byte (a zero length holds none)."""
    e1, e2 = d.wadd(d.wide_gpa(a1), d.wide_gpa(l1)), d.wadd(d.wide_gpa(a2), d.wide_gpa(l2))
    empty = d.or_(d.eq(l1, d.const(0)), d.eq(l2, d.const(0)))
    return d.or_(empty, d.or_(d.wle(e1, d.wide_gpa(a2)), d.wle(e2, d.wide_gpa(a1))))


def inside64(d, addr, length, ranges):
    """The access's exact bytes lie inside one live range (and it has at least one)."""
    lo, hi = d.wide_gpa(addr), d.wadd(d.wide_gpa(addr), d.wide_gpa(length))
    out = d.eq(d.wide_const(0), d.wide_const(1))
    for a, n in ranges:
        rlo, rhi = d.wide_gpa(a), d.wadd(d.wide_gpa(a), d.wide_gpa(n))
        out = d.or_(out, d.and_(d.and_(d.wle(rlo, lo), d.wle(hi, rhi)), d.wlt(lo, hi)))
    return out


VMM_NONZERO = Condition("nonzero", "lengths of ranges and accesses not 0", unary=(nonzero64,))
VMM_BELOW_TOP = Condition("below-top", "ranges and accesses end at or below 2^64", unary=(below_top64,))
VMM_APART = Condition("apart", "no range registered or moved onto a live one", binary=(apart64,))
VMM_INSIDE = Condition("inside", "every access lies inside one live range", access=(inside64,))
#: The VMM atoms, in the order names are written.
VMM_ATOMS = (VMM_NONZERO, VMM_BELOW_TOP, VMM_APART, VMM_INSIDE)
#: The rungs of the VMM differential search, strongest first.
VMM_LADDER: tuple[Condition, ...] = (
    VMM_NONZERO & VMM_BELOW_TOP & VMM_APART & VMM_INSIDE,
    VMM_NONZERO & VMM_BELOW_TOP & VMM_APART,
    VMM_NONZERO & VMM_BELOW_TOP,
    VMM_NONZERO,
    NONE,
)
