"""Small counterexamples: the smallest addresses and lengths z3 can find in a time budget.

The number of ranges is minimised by the callers (they try 1, 2, 3... ranges
in turn); here the values are: z3's ``Optimize`` minimises first the sum of the
addresses, then the sum of the lengths read as u32 (so a negative ``int`` length,
which is 2**32 - |len| as u32, is only chosen when it is needed). When the
optimiser runs out of time the solver's first model is kept: it is still a
counterexample, only a larger one.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import z3

from iobus_verify.proofs.encode import SymRange


def _wide(x, bits: int = 72):
    return z3.ZeroExt(bits - x.size(), x)


def minimise(constraints: Iterable, ranges: Sequence[SymRange], points: Sequence = (), timeout_s: float = 2.0):
    """A model of ``constraints`` with small values, or ``None`` when unsatisfiable/unknown."""
    cs = list(constraints)
    opt = z3.Optimize()
    opt.set(timeout=max(1, int(timeout_s * 1000)))
    opt.add(*cs)
    addrs = [_wide(r.addr) for r in ranges] + [_wide(p) for p in points]
    lens = [_wide(r.len) for r in ranges]
    if addrs:
        opt.minimize(sum(addrs[1:], addrs[0]))
    if lens:
        opt.minimize(sum(lens[1:], lens[0]))
    opt.set(priority="lex")
    if opt.check() == z3.sat:
        return opt.model()
    s = z3.Solver()
    s.set(timeout=max(1, int(timeout_s * 1000)))
    s.add(*cs)
    return s.model() if s.check() == z3.sat else None
