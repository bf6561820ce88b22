"""The proof vocabulary: symbolic ranges, the variants as the proofs see them, the probe predicate.

Nothing here re-writes a comparator: every formula is obtained by calling the
definitions of :mod:`iobus_verify.model.comparators` with a
:class:`~iobus_verify.model.cints.Z3Domain`, on ``BitVec(64)`` addresses and
``BitVec(32)`` (C ``int``) lengths. The generic predicates below (the probe's
acceptance, the access's shape) are also written once against a domain and run
on Python ints in the concrete replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import z3

from iobus_verify.model.cints import U64_MOD, Z3Domain
from iobus_verify.model.comparators import (
    Comparator,
    byte_extent,
    cmp_2011,
    cmp_upstream,
    fixed_point_cmp,
    fixed_segment_cmp,
)
from iobus_verify.model.sorted_bus import SEED_2011, UPSTREAM, Variant

Z3 = Z3Domain()

#: Longest access a guest issues (x86: up to 8 bytes). Lookup obligations range
#: over accesses ``(addr, len)`` with ``1 <= len <= ACCESS_MAX_LEN``.
ACCESS_MAX_LEN = 8


@dataclass(frozen=True)
class SymRange:
    """A range (or an access) as z3 terms: ``addr`` is ``gpa_t``, ``len`` a C ``int``."""

    name: str
    addr: Any
    len: Any

    def value(self, model: z3.ModelRef) -> dict[str, int]:
        """The concrete ``{"addr", "len"}`` of this range in ``model`` (len as a signed C int)."""
        a = model.eval(self.addr, model_completion=True).as_long()
        n = model.eval(self.len, model_completion=True).as_signed_long()
        return {"addr": a, "len": n}


def fresh_range(name: str) -> SymRange:
    return SymRange(name, z3.BitVec(f"{name}.addr", 64), z3.BitVec(f"{name}.len", 32))


def fresh_point(name: str):
    return z3.BitVec(f"{name}.addr", 64)


# -- generic predicates (one text, ints and z3) -------------------------------


def probe_accepts(d, key_addr, key_len, addr, length):
    """A ``probe`` device registered at ``(addr, length)`` accepts the access ``(key_addr, key_len)``.

    "Accepts exactly the accesses inside its range": every byte of
    ``[key_addr, key_addr + key_len)`` lies in the range's byte extent,
    :func:`~iobus_verify.model.comparators.byte_extent` (``len`` read as u32,
    clipped at 2**64; a zero-length probe holds no byte). Computed without
    wrap-around.
    """
    lo, hi = byte_extent(d, addr, length)
    k_lo = d.wide_gpa(key_addr)
    k_hi = d.wadd(k_lo, d.wide_len_u32(key_len))
    return d.and_(d.wle(lo, k_lo), d.wle(k_hi, hi))


def is_access(d, key_addr, key_len):
    """An access a guest can issue: ``1 <= len <= 8`` and its bytes do not run past 2**64."""
    n = d.wide_len_u32(key_len)
    return d.and_(
        d.and_(d.wle(d.wide_const(1), n), d.wle(n, d.wide_const(ACCESS_MAX_LEN))),
        d.wle(d.wadd(d.wide_gpa(key_addr), n), d.wide_const(U64_MOD)),
    )


def sign(x):
    """The sign of a comparator result (a signed 32-bit term) as a signed 2-bit vector (-1, 0, 1).

    A bit-vector rather than a z3 ``Int`` keeps every obligation in pure
    bit-vector logic, so :func:`solve` can bit-blast it.
    """
    one, zero, minus = z3.BitVecVal(1, 2), z3.BitVecVal(0, 2), z3.BitVecVal(-1, 2)
    return z3.If(x < 0, minus, z3.If(x > 0, one, zero))


def _bitblast_solver():
    return z3.Then("simplify", "propagate-values", "solve-eqs", "bit-blast", "sat").solver()


def solve(formula, timeout_s: float) -> tuple[Any, z3.Solver]:
    """``(check result, solver)`` for ``formula`` within ``timeout_s`` seconds in all.

    Tries a bit-blasting solver first (about ten times faster than z3's default
    on these bit-vector formulas); when that tactic gives up (``unknown``, e.g.
    on a formula that is not pure bit-vectors) z3's default solver gets the rest
    of the budget. Both are complete decision procedures, so ``sat``/``unsat``
    mean the same whichever answered; ``unknown`` only comes from the budget.
    """
    import time

    t0 = time.perf_counter()
    s = _bitblast_solver()
    s.set(timeout=max(1, int(timeout_s * 1000)))
    s.add(formula)
    r = s.check()
    if r != z3.unknown:
        return r, s
    left = timeout_s - (time.perf_counter() - t0)
    s = z3.Solver()
    s.set(timeout=max(1, int(left * 1000)))
    s.add(formula)
    return s.check(), s


# -- the variants as the proofs see them --------------------------------------


@dataclass(frozen=True)
class ProofVariant:
    """A variant's comparators and algorithms as the obligations use them.

    ``kind`` is ``"range"`` (a :class:`RangeBus` variant: the array elements are
    registered ranges, one comparator for sort and match) or ``"fixed"`` (the
    array elements are disjoint segments ``[lo, hi)``; the sort comparator is
    :func:`fixed_segment_cmp`, the match comparator :func:`fixed_point_cmp` on
    the access's first byte).
    """

    name: str
    kind: str
    variant: Variant | None
    bsearch: str
    sort_cmp: Comparator
    match_cmp: Comparator

    @property
    def has_two_comparators(self) -> bool:
        return self.kind == "fixed"


PROOF_VARIANTS: dict[str, ProofVariant] = {
    "seed-2011": ProofVariant("seed-2011", "range", SEED_2011, SEED_2011.bsearch, cmp_2011, cmp_2011),
    "upstream": ProofVariant("upstream", "range", UPSTREAM, UPSTREAM.bsearch, cmp_upstream, cmp_upstream),
    "fixed": ProofVariant("fixed", "fixed", None, "today", fixed_segment_cmp, fixed_point_cmp),
}


def proof_variant(name: str) -> ProofVariant:
    """The proof view of a named variant; a one-line error names the known ones."""
    from iobus_verify.errors import UsageError

    try:
        return PROOF_VARIANTS[name]
    except KeyError:
        raise UsageError(
            f"no proofs for bus {name!r}: proofs exist for {', '.join(sorted(PROOF_VARIANTS))} "
            "(a plugged-in bus has no comparator to prove; check it with the properties)"
        ) from None


def range_cmp(pv: ProofVariant) -> Callable[[SymRange, SymRange], Any]:
    """``cmp(r1, r2)`` on symbolic ranges, through the variant's own definition."""
    return lambda r1, r2: pv.sort_cmp(Z3, r1.addr, r1.len, r2.addr, r2.len)


def hexrange(addr: int, len: int) -> str:  # noqa: A002 - the counterexample dicts' key
    """``[start, end)`` in hex with the C int length; the end is ``addr + u32(len)`` (no wrap)."""
    length = len
    end = addr + (length & 0xFFFFFFFF)
    return f"[{addr:#x}, {end:#x})" + ("" if 0 < length else f" (len {length})")
