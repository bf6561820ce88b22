"""Small counterexamples: the lexicographically least model, the same in every run.

The number of ranges is minimised by the callers (they try 1, 2, 3... ranges
in turn); here the values are. The objectives, in priority order:

1. the sum of the addresses (ranges', then points');
2. the sum of the lengths read as u32 (so a negative ``int`` length, which is
   2**32 - |len| as u32, is only chosen when it is needed);
3. then every address and u32 length on its own, in the order given
   (``r0.addr``, ``r0.len``, ``r1.addr``, ... then the points).

The third level makes the optimum *unique*: two models with the same sums
(``x=(0, len 0), y=(0, len 1)`` against ``x=(0, len 1), y=(0, len 0)``) differ
in some variable, and the first such variable decides. The reported
counterexample is therefore a function of the constraints alone, not of which
model z3 happens to return (that depends on the z3 context's history, e.g. the
other buses checked before in the same process).

How, and why it is deterministic:

* The constraints are translated into a *fresh* z3 context, so term ids, and
  with them the solver's search, do not depend on what the process built
  before; the random seeds are fixed (:data:`SEED`).
* One incremental z3 solver in that context answers every question (each
  question's extra constraints are guarded by an assumption literal); every
  call is budgeted by z3's ``rlimit`` (a count of solver steps), never by
  wall-clock time: a slow or loaded machine gets the same answers.
* First the least bound ``2**b`` on every address and u32 length
  (b in :data:`TIGHTENING_BITS`) that still admits a model is found, then each
  objective in turn is minimised and fixed: one check "anything below the
  witness?" (often already least once the sums are fixed), then bit by bit from
  the top (a check only where the witness has a 1: "a model with this bit 0,
  the higher bits as chosen?"). The least value of each objective is decided
  by sat/unsat answers only, so whichever models z3 returns along the way the
  result is the same.

When a check exhausts its ``rlimit`` (or the minimisation its total,
:data:`RLIMIT_TOTAL`), the bit is kept as the witness has it: the model is
still a counterexample, perhaps no longer the least, and still the same in
every run (the budget is counted in solver steps). z3 is deterministic for a
given version, input, context history and seed; another z3 version may count
steps differently. (Measured with z3-solver 5.4.1: a minimisation of the
project's counterexamples takes 3 to 41 checks and at most 2.5 million units
in all, 0.03 to 1.1 s.)
"""

from __future__ import annotations

from typing import Iterable, Sequence

import z3

from iobus_verify.proofs.encode import SymRange

#: The bounds tried, as bit widths: every address and u32 length below 2**b.
TIGHTENING_BITS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)

#: The random seed of the minimiser's solver (z3's default, set explicitly).
SEED = 0

#: Budget of one solver call, in z3 resource units (``rlimit``; about 2 million a
#: second on the project's 2-core machine). The project's counterexamples need at most
#: ~0.6 million per call.
RLIMIT_CHECK = 10_000_000

#: Budget of one minimisation, all calls together (the project's need at most ~2.5 million).
RLIMIT_TOTAL = 50_000_000


def _wide(x, bits: int = 72):
    return z3.ZeroExt(bits - x.size(), x)


def _bounded(ranges: Sequence[SymRange], points: Sequence, bits: int) -> list:
    if bits >= 64 or not (ranges or points):
        return []
    ctx = (ranges[0].addr if ranges else points[0]).ctx
    bound = z3.BitVecVal(1 << bits, 72, ctx)
    out = [z3.ULT(_wide(r.addr), bound) for r in ranges] + [z3.ULT(_wide(p), bound) for p in points]
    if bits < 32:  # a u32 length is below 2**32 anyway
        out += [z3.ULT(_wide(r.len), bound) for r in ranges]
    return out


class _Session:
    """The constraints in a fresh z3 context and one incremental solver over them; budgeted checks."""

    def __init__(self, constraints: Sequence, ranges: Sequence[SymRange], points: Sequence) -> None:
        self.home = _home_ctx(constraints, ranges, points)
        self.ctx = z3.Context()
        tr = lambda e: e.translate(self.ctx)  # noqa: E731
        self.ranges = [SymRange(r.name, tr(r.addr), tr(r.len)) for r in ranges]
        self.points = [tr(p) for p in points]
        self.solver = z3.Solver(ctx=self.ctx)
        self.solver.set("random_seed", SEED)
        self.solver.add(*(tr(c) for c in constraints))
        self.left = RLIMIT_TOTAL
        self.checks = 0
        self.exhausted = False

    def add(self, *cs) -> None:
        self.solver.add(*cs)

    def check(self, extra: Sequence = ()) -> z3.ModelRef | None:
        """A model of the constraints and ``extra``; ``None`` when unsatisfiable or out of budget
        (then ``exhausted`` is set)."""
        if self.left <= 0:
            self.exhausted = True
            return None
        assumptions = []
        if extra:  # guarded by a fresh literal: the solver stays incremental
            lit = z3.Bool(f"minimise!{self.checks}", self.ctx)
            self.solver.add(z3.Implies(lit, z3.And(*extra)))
            assumptions.append(lit)
        self.checks += 1
        self.solver.set("rlimit", min(RLIMIT_CHECK, self.left))
        before = self._count()
        r = self.solver.check(*assumptions)
        self.left -= self._count() - before
        if r == z3.sat:
            return self.solver.model()
        if r == z3.unknown:
            self.exhausted = True
        return None

    def _count(self) -> int:
        st = self.solver.statistics()
        return int(st.get_key_value("rlimit count")) if "rlimit count" in st.keys() else 0

    def home_model(self, m: z3.ModelRef) -> z3.ModelRef:
        """``m`` in the caller's context (its terms evaluate on it)."""
        return m.translate(self.home)


def _home_ctx(constraints: Sequence, ranges: Sequence[SymRange], points: Sequence):
    for e in (*constraints, *(r.addr for r in ranges), *points):
        if isinstance(e, z3.AstRef):
            return e.ctx
    return z3.main_ctx()


def _tighten(sess: _Session) -> tuple[int, z3.ModelRef] | None:
    for bits in TIGHTENING_BITS:
        m = sess.check(_bounded(sess.ranges, sess.points, bits))
        if m is not None:
            return bits, m
        if sess.exhausted:
            return None
    return None


def tighten(constraints: Sequence, ranges: Sequence[SymRange], points: Sequence = (), timeout_s: float | None = None):
    """``(bits, model)``: the least bound of :data:`TIGHTENING_BITS` that admits a model, or ``None``.

    ``timeout_s`` is accepted for compatibility and ignored: the budget is
    counted in z3 resource units (:data:`RLIMIT_TOTAL`), the same on every machine.
    """
    sess = _Session(list(constraints), ranges, points)
    t = _tighten(sess)
    return None if t is None else (t[0], sess.home_model(t[1]))


def objectives(ranges: Sequence[SymRange], points: Sequence = ()) -> list:
    """The minimised terms in priority order (see the module docstring), as 72-bit unsigned values."""
    addrs = [_wide(r.addr) for r in ranges] + [_wide(p) for p in points]
    lens = [_wide(r.len) for r in ranges]
    out = []
    if addrs:
        out.append(sum(addrs[1:], addrs[0]))
    if lens:
        out.append(sum(lens[1:], lens[0]))
    for r in ranges:
        out += [_wide(r.addr), _wide(r.len)]
    out += [_wide(p) for p in points]
    return out


def _least(sess: _Session, e, m: z3.ModelRef) -> tuple[int, z3.ModelRef]:
    """The least unsigned value of ``e`` under the session's constraints, starting from witness ``m``.

    One check first ("anything below the witness?"): after the sums are fixed the
    witness is often already least. Then bit by bit from the top, checking only
    where the witness has a 1 ("a model with this bit 0, the higher bits as
    chosen?"); the witness keeps the invariant that its higher bits are the chosen ones.
    """
    width = e.size()
    value = m.eval(e, model_completion=True).as_long()
    if value == 0:
        return value, m
    got = sess.check([z3.ULT(e, z3.BitVecVal(value, width, sess.ctx))])
    if got is None:
        return value, m
    m, value = got, got.eval(e, model_completion=True).as_long()
    chosen = 0  # the bits above i, as decided
    for i in reversed(range(width)):
        if not (value >> i) & 1:
            continue  # the witness already has a 0 here, with the higher bits as chosen
        got = sess.check([z3.ULE(e, z3.BitVecVal(chosen | ((1 << i) - 1), width, sess.ctx))])
        if got is not None:
            m, value = got, got.eval(e, model_completion=True).as_long()
        else:  # unsat (or out of budget): bit i stays 1
            chosen |= 1 << i
    return value, m


def minimise(
    constraints: Iterable, ranges: Sequence[SymRange], points: Sequence = (), timeout_s: float | None = None
):
    """The lexicographically least model of ``constraints`` (see the module docstring), or ``None``
    when they are unsatisfiable or the budget ran out before any model was found.

    The model is in the constraints' own z3 context. ``timeout_s`` is accepted for
    compatibility and ignored (budgets are in z3 resource units, :data:`RLIMIT_CHECK`).
    """
    sess = _Session(list(constraints), ranges, points)
    tight = _tighten(sess)
    if tight is None:
        if sess.exhausted:
            sess.exhausted, sess.left = False, RLIMIT_TOTAL  # one more budget, unbounded values
        m = sess.check()
        if m is None:
            return None
    else:
        bits, m = tight
        sess.add(*_bounded(sess.ranges, sess.points, bits))
    for e in objectives(sess.ranges, sess.points):
        value, m = _least(sess, e, m)
        sess.add(e == z3.BitVecVal(value, e.size(), sess.ctx))
    return sess.home_model(m)
