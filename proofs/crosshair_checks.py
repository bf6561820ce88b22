"""CrossHair as a third witness: contracts on the model's pure functions, checked with a budget.

Each function below is a thin contracted entry point over ONE model definition
(no re-implementation). ``check(budget_s)`` runs ``crosshair check`` on this
module with ``--per_condition_timeout`` and returns CrossHair's report lines
(empty = no counterexample found within the budget: that is "no divergence
found", never a proof).
"""

from __future__ import annotations

import subprocess
import sys

from iobus_verify.model.cints import INT
from iobus_verify.model.comparators import cmp_2011, cmp_upstream


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


def check(budget_s: float = 5.0) -> list[str]:
    """``crosshair check`` on this module; the lines it printed (one per counterexample found)."""
    cmd = [sys.executable, "-m", "crosshair", "check", f"--per_condition_timeout={budget_s:g}", __name__]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=budget_s * 20 + 60)
    return [ln for ln in out.stdout.splitlines() if ln.strip()]


if __name__ == "__main__":
    print("\n".join(check()) or "no counterexample within the budget")
