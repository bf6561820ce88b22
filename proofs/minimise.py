"""Small counterexamples: the smallest addresses and lengths z3 can find in a time budget.

The number of ranges is minimised by the callers (they try 1, 2, 3... ranges
in turn); here the values are: z3's ``Optimize`` minimises first the sum of the
addresses, then the sum of the lengths read as u32 (so a negative ``int`` length,
which is 2**32 - |len| as u32, is only chosen when it is needed).

``Optimize`` sometimes spends its whole budget on one formula (an unbounded
64-bit search space). It is therefore run on a *tightened* formula: first the
fast bit-blasting solver finds the smallest bound ``2**b`` on every address
and u32 length (b = 1, 2, 3, 4, 6, 8, ... 64) that still admits a
counterexample, then ``Optimize`` minimises inside that bound. When
``Optimize`` runs out of time the tightened model is kept: still a
counterexample with values below ``2**b``, only perhaps not the least one.
"""

from __future__ import annotations

import time
from typing import Iterable, Sequence

import z3

from iobus_verify.proofs.encode import SymRange


def _wide(x, bits: int = 72):
    return z3.ZeroExt(bits - x.size(), x)


#: The bounds tried, as bit widths: every address and u32 length below 2**b.
TIGHTENING_BITS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


def _bounded(ranges: Sequence[SymRange], points: Sequence, bits: int) -> list:
    if bits >= 64:
        return []
    bound = z3.BitVecVal(1 << bits, 72)
    out = [z3.ULT(_wide(r.addr), bound) for r in ranges] + [z3.ULT(_wide(p), bound) for p in points]
    if bits < 32:  # a u32 length is below 2**32 anyway
        out += [z3.ULT(_wide(r.len), bound) for r in ranges]
    return out


def tighten(constraints: Sequence, ranges: Sequence[SymRange], points: Sequence = (), timeout_s: float = 2.0):
    """``(bits, model)``: the least bound of :data:`TIGHTENING_BITS` that admits a model, or ``None``."""
    from iobus_verify.proofs.encode import solve

    t0 = time.perf_counter()
    for bits in TIGHTENING_BITS:
        left = timeout_s - (time.perf_counter() - t0)
        if left <= 0:
            return None
        r, s = solve(z3.And(*constraints, *_bounded(ranges, points, bits)), left)
        if r == z3.sat:
            return bits, s.model()
        if r == z3.unknown:
            return None
    return None


def minimise(constraints: Iterable, ranges: Sequence[SymRange], points: Sequence = (), timeout_s: float = 2.0):
    """A model of ``constraints`` with small values, or ``None`` when unsatisfiable/unknown."""
    t0 = time.perf_counter()
    cs = list(constraints)
    tight = tighten(cs, ranges, points, timeout_s / 2)
    bound = _bounded(ranges, points, tight[0]) if tight else []
    opt = z3.Optimize()
    opt.set(timeout=max(1, int((timeout_s - (time.perf_counter() - t0)) * 1000)))
    opt.add(*cs, *bound)
    addrs = [_wide(r.addr) for r in ranges] + [_wide(p) for p in points]
    lens = [_wide(r.len) for r in ranges]
    if addrs:
        opt.minimize(sum(addrs[1:], addrs[0]))
    if lens:
        opt.minimize(sum(lens[1:], lens[0]))
    opt.set(priority="lex")
    if opt.check() == z3.sat:
        return opt.model()
    if tight:
        return tight[1]
    s = z3.Solver()
    s.set(timeout=max(1, int(timeout_s * 1000)))
    s.add(*cs)
    return s.model() if s.check() == z3.sat else None
