"""CrossHair as a third witness: contracts on the model's pure functions, checked with a budget.

Each contract below is a thin entry point over ONE model definition (no
re-implementation): the comparators (:mod:`iobus_verify.model.comparators`,
on the same ranges the Hypothesis piece properties use,
:data:`iobus_verify.properties.pieces.ORDERS`), the sort generations
(:data:`iobus_verify.model.ksort.SORTS`) and the bsearch generations
(:data:`iobus_verify.model.kbsearch.BSEARCHES`). The laws themselves are
:func:`iobus_verify.properties.pieces.law_holds`, the text Hypothesis checks.

:func:`check` runs ``crosshair check`` in a subprocess (a hard wall-clock
limit on top of ``--per_condition_timeout``) and returns one
:class:`CrossHairOutcome` per contract:

* ``refuted``: CrossHair printed a counterexample (re-evaluated here: the
  contract really fails on it);
* ``confirmed``: CrossHair explored every path of the contract ("Confirmed over
  all paths"; bounded by the contract's preconditions, e.g. ``len(items) <= 5``);
* ``not-refuted``: the budget ran out without a counterexample. That is
  "unknown / not refuted within N paths", never a proof.

Budgets are counted in explored paths (:class:`Budget`), not in seconds:
CrossHair seeds its path choices with a fixed number, so the same paths give
the same verdict on a fast laptop and a loaded CI runner (measured: upstream's
transitivity violation appears between path 120 and 140, every run). A CPU cap
stays as a safety net, and a run that hits it says so (``cap_hit``) instead of
passing as "not refuted". The paths CrossHair takes also depend on its own
version and z3's, which is why pyproject.toml pins both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Optional

from iobus_verify.model.cints import INT
from iobus_verify.model.comparators import cmp_2011, cmp_upstream
from iobus_verify.model.kbsearch import BSEARCHES
from iobus_verify.model.ksort import SORTS
from iobus_verify.properties.pieces import LAWS, ORDERS, law_holds

U64 = 2**64
INT_LO, INT_HI = -(2**31), 2**31  # C int: [INT_MIN, INT_MAX]
#: Longest list the sort/bsearch contracts take (CrossHair's paths grow fast with it).
MAX_ITEMS = 5


def cmp_2011_range(a1: int, l1: int, a2: int, l2: int) -> int:
    """
    pre: 0 <= a1 < 2**64 and 0 <= a2 < 2**64
    pre: -2**31 <= l1 < 2**31 and -2**31 <= l2 < 2**31
    post: __return__ in (-1, 0, 1)
    """
    return cmp_2011(INT, a1, l1, a2, l2)


def cmp_2011_antisymmetric(a1: int, l1: int, a2: int, l2: int) -> int:
    """Antisymmetry of the 2011 comparator: CrossHair should refute it (as z3 does).

    pre: 0 <= a1 < 2**64 and 0 <= a2 < 2**64
    pre: -2**31 <= l1 < 2**31 and -2**31 <= l2 < 2**31
    post: __return__ == -cmp_2011(INT, a2, l2, a1, l1)
    """
    return cmp_2011(INT, a1, l1, a2, l2)


def cmp_upstream_range(a1: int, l1: int, a2: int, l2: int) -> int:
    """
    pre: 0 <= a1 < 2**64 and 0 <= a2 < 2**64
    pre: -2**31 <= l1 < 2**31 and -2**31 <= l2 < 2**31
    post: __return__ in (-1, 0, 1)
    """
    return cmp_upstream(INT, a1, l1, a2, l2)


# -- comparator laws, per variant (the same law text and comparator as the Hypothesis pieces) --
# CrossHair reads contracts from the source text, so each (variant, law) is spelled out.


def _valid(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """Three ranges of C types: ``gpa_t`` addresses, ``int`` lengths."""
    return all(0 <= a < U64 for a in (a1, a2, a3)) and all(INT_LO <= n < INT_HI for n in (l1, l2, l3))


def _law(variant: str, law: str, a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    return law_holds(law, ORDERS[variant].cmp, (a1, l1), (a2, l2), (a3, l3))


def law_contract_name(variant: str, law: str) -> str:
    """The name of the contract for ``law`` on ``variant``'s comparator."""
    return f"law_{variant.replace('-', '_')}_{law}"


def law_seed_2011_irreflexive(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """seed-2011: irreflexive.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("seed-2011", "irreflexive", a1, l1, a2, l2, a3, l3)


def law_seed_2011_antisymmetric(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """seed-2011: antisymmetric.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("seed-2011", "antisymmetric", a1, l1, a2, l2, a3, l3)


def law_seed_2011_transitive(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """seed-2011: transitive.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("seed-2011", "transitive", a1, l1, a2, l2, a3, l3)


def law_seed_2011_incomparability_transitive(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """seed-2011: incomparability transitive.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("seed-2011", "incomparability_transitive", a1, l1, a2, l2, a3, l3)


def law_upstream_irreflexive(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """upstream: irreflexive.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("upstream", "irreflexive", a1, l1, a2, l2, a3, l3)


def law_upstream_antisymmetric(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """upstream: antisymmetric.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("upstream", "antisymmetric", a1, l1, a2, l2, a3, l3)


def law_upstream_transitive(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """upstream: transitive.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("upstream", "transitive", a1, l1, a2, l2, a3, l3)


def law_upstream_incomparability_transitive(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """upstream: incomparability transitive.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("upstream", "incomparability_transitive", a1, l1, a2, l2, a3, l3)


def law_fixed_irreflexive(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """fixed: irreflexive.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("fixed", "irreflexive", a1, l1, a2, l2, a3, l3)


def law_fixed_antisymmetric(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """fixed: antisymmetric.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("fixed", "antisymmetric", a1, l1, a2, l2, a3, l3)


def law_fixed_transitive(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """fixed: transitive.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("fixed", "transitive", a1, l1, a2, l2, a3, l3)


def law_fixed_incomparability_transitive(a1: int, l1: int, a2: int, l2: int, a3: int, l3: int) -> bool:
    """fixed: incomparability transitive.

    pre: _valid(a1, l1, a2, l2, a3, l3)
    post: __return__
    """
    return _law("fixed", "incomparability_transitive", a1, l1, a2, l2, a3, l3)


# -- sort generations: a permutation; sorted under a strict weak order --------------


def _int_cmp(a: int, b: int) -> int:
    return (a > b) - (a < b)


def _range_cmp_2011(r1: tuple[int, int], r2: tuple[int, int]) -> int:
    return cmp_2011(INT, r1[0], r1[1], r2[0], r2[1])


def _valid_ranges(items: list[tuple[int, int]]) -> bool:
    return all(0 <= a < U64 and INT_LO <= n < INT_HI for a, n in items)


def _ordered(xs: list[int]) -> bool:
    return all(xs[i] <= xs[i + 1] for i in range(len(xs) - 1))


def sort_2005_sorted_permutation(items: list[int]) -> list[int]:
    """sort 2005 under integer comparison (a strict weak order): a sorted permutation.

    pre: len(items) <= MAX_ITEMS
    post: Counter(__return__) == Counter(items)
    post: _ordered(__return__)
    """
    return list(SORTS["2005"](items, _int_cmp).items)


def sort_2005_permutation_under_cmp_2011(items: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """sort 2005 under the 2011 comparator (not a strict weak order): still a permutation.

    pre: len(items) <= MAX_ITEMS and _valid_ranges(items)
    post: Counter(__return__) == Counter(items)
    """
    return list(SORTS["2005"](items, _range_cmp_2011).items)


def sort_2019_sorted_permutation(items: list[int]) -> list[int]:
    """sort 2019 under integer comparison (a strict weak order): a sorted permutation.

    pre: len(items) <= MAX_ITEMS
    post: Counter(__return__) == Counter(items)
    post: _ordered(__return__)
    """
    return list(SORTS["2019"](items, _int_cmp).items)


def sort_2019_permutation_under_cmp_2011(items: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """sort 2019 under the 2011 comparator (not a strict weak order): still a permutation.

    pre: len(items) <= MAX_ITEMS and _valid_ranges(items)
    post: Counter(__return__) == Counter(items)
    """
    return list(SORTS["2019"](items, _range_cmp_2011).items)


def sort_today_sorted_permutation(items: list[int]) -> list[int]:
    """sort today under integer comparison (a strict weak order): a sorted permutation.

    pre: len(items) <= MAX_ITEMS
    post: Counter(__return__) == Counter(items)
    post: _ordered(__return__)
    """
    return list(SORTS["today"](items, _int_cmp).items)


def sort_today_permutation_under_cmp_2011(items: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """sort today under the 2011 comparator (not a strict weak order): still a permutation.

    pre: len(items) <= MAX_ITEMS and _valid_ranges(items)
    post: Counter(__return__) == Counter(items)
    """
    return list(SORTS["today"](items, _range_cmp_2011).items)


# -- bsearch generations: the index returned compares equal; complete on sorted input --

def bsearch_2011_index_matches(key: int, items: list[int]) -> Optional[int]:
    """bsearch 2011 on any list: an index it returns holds an element equal to the key.

    pre: len(items) <= MAX_ITEMS
    post: __return__ is None or items[__return__] == key
    """
    return BSEARCHES["2011"](key, items, _int_cmp).index


def bsearch_2011_complete_on_sorted(key: int, items: list[int]) -> Optional[int]:
    """bsearch 2011 on a sorted list: None only when no element equals the key.

    pre: len(items) <= MAX_ITEMS and _ordered(items)
    post: (__return__ is None) == (key not in items)
    """
    return BSEARCHES["2011"](key, items, _int_cmp).index


def bsearch_today_index_matches(key: int, items: list[int]) -> Optional[int]:
    """bsearch today on any list: an index it returns holds an element equal to the key.

    pre: len(items) <= MAX_ITEMS
    post: __return__ is None or items[__return__] == key
    """
    return BSEARCHES["today"](key, items, _int_cmp).index


def bsearch_today_complete_on_sorted(key: int, items: list[int]) -> Optional[int]:
    """bsearch today on a sorted list: None only when no element equals the key.

    pre: len(items) <= MAX_ITEMS and _ordered(items)
    post: (__return__ is None) == (key not in items)
    """
    return BSEARCHES["today"](key, items, _int_cmp).index


def bsearch_2011_complete_unsorted(key: int, items: list[int]) -> Optional[int]:
    """A control CrossHair must refute: bsearch on an UNSORTED list is not complete.

    pre: len(items) <= MAX_ITEMS
    post: (__return__ is None) == (key not in items)
    """
    return BSEARCHES["2011"](key, items, _int_cmp).index


#: Contracts that must hold (not refuted; CrossHair may confirm them) and those it must refute.
PIECE_CONTRACTS_HOLD = (
    "cmp_2011_range",
    "cmp_upstream_range",
    *(f"sort_{g}_sorted_permutation" for g in SORTS),
    *(f"sort_{g}_permutation_under_cmp_2011" for g in SORTS),
    *(f"bsearch_{g}_{k}" for g in BSEARCHES for k in ("index_matches", "complete_on_sorted")),
)
PIECE_CONTRACTS_REFUTED = ("cmp_2011_antisymmetric", "bsearch_2011_complete_unsorted")


# -- running CrossHair ---------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How far CrossHair searches one contract or one diff.

    ``paths``: explored paths (CrossHair's ``max_iterations``), the
    machine-independent budget; ``None`` for a pure CPU-time budget (the old
    unit, kept for ad-hoc runs). ``cpu_s``: CPU seconds, the cap (with
    ``paths``) or the budget (without).
    """

    paths: Optional[int]
    cpu_s: float

    @classmethod
    def of(cls, budget: "Budget | float") -> "Budget":
        return budget if isinstance(budget, Budget) else cls(None, float(budget))

    def describe(self) -> str:
        return f"{self.cpu_s:g} s" if self.paths is None else f"{self.paths} paths"

    def argv(self) -> str:
        return f"{self.paths or 0}:{self.cpu_s:g}"

    @classmethod
    def parse(cls, text: str) -> "Budget":
        paths, _, cpu = text.partition(":")
        return cls(int(paths) or None, float(cpu))


@dataclass(frozen=True)
class CrossHairOutcome:
    """CrossHair's verdict on one contract: ``refuted`` (with its message), ``confirmed`` or ``not-refuted``."""

    name: str
    status: str
    budget: Budget
    detail: str = ""
    #: The CPU cap ended the search before its paths were explored: the verdict
    #: depends on this machine's speed (say so; never read it as a pass).
    cap_hit: bool = False

    def describe(self) -> str:
        if self.status == "not-refuted":
            cap = f" (CPU cap of {self.budget.cpu_s:g} s hit first: machine-dependent)" if self.cap_hit else ""
            return f"{self.name}: unknown, not refuted within {self.budget.describe()}{cap} (CrossHair)"
        if self.status == "confirmed":
            return f"{self.name}: confirmed over all paths (CrossHair, bounded by its preconditions)"
        return f"{self.name}: refuted: {self.detail}"


def _qualified(name: str) -> str:
    return f"{__name__}.{name}"


def check(budget_s: "Budget | float" = 5.0, names: tuple[str, ...] | None = None) -> list:
    """CrossHair on contracts of this module, each with ``budget_s`` (a
    :class:`Budget`, or CPU seconds).

    With ``names``: one :class:`CrossHairOutcome` per name, in order (run by
    :func:`run_worker` in a subprocess, through CrossHair's Python API, so that
    each verdict is attributed to its contract). Without ``names`` (the original
    API): ``crosshair check`` on the three comparator contracts, the error lines
    it printed.
    """
    budget = Budget.of(budget_s)
    if names is None:
        cmd = [sys.executable, "-m", "crosshair", "check", f"--per_condition_timeout={budget.cpu_s:g}"]
        cmd += [_qualified(n) for n in ("cmp_2011_range", "cmp_2011_antisymmetric", "cmp_upstream_range")]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=budget.cpu_s * 20 + 60)
        return [ln for ln in out.stdout.splitlines() if ln.strip()]
    rows = worker_rows(__name__, "check", names, budget)
    return [CrossHairOutcome(r["name"], r["status"], budget, r.get("detail", ""), r.get("cap_hit", False)) for r in rows]


def worker_rows(module: str, mode: str, names, budget_s: "Budget | float") -> list[dict]:
    """Run :func:`run_worker` in a subprocess (wall-clock limit: 4x the CPU budget per item + 60 s).

    A worker that crashes or overruns raises :class:`RuntimeError` naming what
    it was doing: never a silent pass.
    """
    budget = Budget.of(budget_s)
    cmd = [sys.executable, "-m", "iobus_verify.proofs.crosshair_checks", "--worker", module, mode, budget.argv(), *names]
    limit = budget.cpu_s * 4 * max(1, len(names)) + 60
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"CrossHair {mode} of {', '.join(names)} overran {limit:g} s wall-clock") from None
    rows = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or len(rows) != len(names if mode == "check" else [0]):
        raise RuntimeError(f"CrossHair {mode} of {', '.join(names)} failed (exit {out.returncode}): {out.stderr.strip()[-2000:]}")
    return rows


_FAIL = ("post_fail", "exec_err", "post_err")


def run_worker(module: str, mode: str, budget: Budget, names: list[str]) -> list[dict]:
    """In-process CrossHair (call it in a subprocess: CrossHair patches the interpreter while it runs).

    ``check``: one row per contract, ``status`` ``refuted`` / ``confirmed`` /
    ``not-refuted`` / ``error``. ``diff``: one row for two functions,
    ``diffs`` = the inputs on which they behave differently and both results.
    """
    import importlib

    from crosshair.core import run_checkables
    from crosshair.core_and_libs import analyze_function
    from crosshair.fnutil import FunctionInfo
    from crosshair.options import DEFAULT_OPTIONS, AnalysisOptionSet

    import time

    mod = importlib.import_module(module)
    opts = AnalysisOptionSet(per_condition_timeout=budget.cpu_s)
    if budget.paths is not None:
        opts = AnalysisOptionSet(per_condition_timeout=budget.cpu_s, max_iterations=budget.paths)

    def cap_hit(started: float, share: float = 1.0) -> bool:
        # process CPU time, CrossHair's own measure; only meaningful for a path budget
        return budget.paths is not None and time.process_time() - started >= 0.95 * budget.cpu_s * share

    if mode == "diff":
        from crosshair.diff_behavior import diff_behavior

        f1, f2 = (FunctionInfo.from_fn(getattr(mod, n)) for n in names)
        started = time.process_time()
        diffs = diff_behavior(f1, f2, DEFAULT_OPTIONS.overlay(opts))
        if isinstance(diffs, str):
            return [{"mode": "diff", "error": diffs, "diffs": []}]
        out = [{"args": d.args, "first": d.result1.describe(set()), "second": d.result2.describe(set())} for d in diffs]
        return [{"mode": "diff", "diffs": out, "cap_hit": cap_hit(started)}]
    rows = []
    for n in names:
        started = time.process_time()
        checkables = list(analyze_function(getattr(mod, n), opts))
        if not checkables:  # no contract parsed: never report that as "not refuted"
            rows.append({"name": n, "status": "error", "detail": f"CrossHair found no contract on {module}.{n}"})
            continue
        msgs = run_checkables(checkables)
        states = [(m.state.value, m.message) for m in msgs]
        fail = [msg for st, msg in states if st in _FAIL]
        if fail:
            row = {"name": n, "status": "refuted", "detail": fail[0]}
        elif any(st in ("syntax_err", "import_err", "pre_unsat") for st, _ in states):
            row = {"name": n, "status": "error", "detail": "; ".join(msg for _, msg in states)}
        elif states and all(st == "confirmed" for st, _ in states):
            row = {"name": n, "status": "confirmed"}
        else:
            row = {"name": n, "status": "not-refuted", "cap_hit": cap_hit(started)}
        rows.append(row)
    return rows


def _main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        module, mode, budget = argv[1], argv[2], Budget.parse(argv[3])
        for row in run_worker(module, mode, budget, argv[4:]):
            print(json.dumps(row), flush=True)
        return 0
    print("\n".join(check()) or "no counterexample within the budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
