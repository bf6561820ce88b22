"""CrossHair's diff-behaviour as an independent finder of lookup divergences.

A *tiny world* is a fixed number of registered ranges (``gpa_t`` address, C
``int`` length, as ints) and one access (``1 <= len <= 8``, not past 2**64).
Each function below runs the MODEL's own code on it: it registers one probe per
range (:class:`iobus_verify.proofs.replay.Probe`, which accepts exactly the
accesses inside its range by :func:`~iobus_verify.proofs.encode.probe_accepts`)
on a fresh bus, in order, writes the access once, and returns the registration
index of the probe that handled the write (-1: none). The linear function uses
:class:`~iobus_verify.model.linear_bus.LinearBus`, the others the named
variant's bus from the registry (:class:`~iobus_verify.model.sorted_bus.RangeBus`
or :class:`~iobus_verify.model.fixed_bus.FixedBus`). Inputs outside the world
raise the same ``ValueError`` in every function, so they are never a
difference.

``crosshair diffbehavior`` (through :func:`find_divergences`) then searches
for an input on which the linear function and a variant's return different
indices. A difference is re-run on the concrete buses and written as an
``iobus-scenario/1`` (:func:`iobus_verify.proofs.replay.build_scenario`); no
difference within the budget is "not refuted within N s", never a proof.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from iobus_verify.model.cints import INT
from iobus_verify.model.linear_bus import LinearBus
from iobus_verify.model.sorted_bus import REGISTRY
from iobus_verify.proofs import replay
from iobus_verify.proofs.encode import is_access

U64 = 2**64
INT_LO, INT_HI = -(2**31), 2**31

#: The variants diffed against the linear bus, and the world sizes that have functions below.
VARIANTS = ("seed-2011", "upstream", "fixed")
SIZES = (2, 3)


def handler(bus: Any, ranges: list[tuple[int, int]], access: tuple[int, int]) -> int:
    """Register one probe per range on ``bus`` (in order), write ``access`` once: the index of the probe that took it."""
    for a, n in ranges:
        if not (0 <= a < U64 and INT_LO <= n < INT_HI):
            raise ValueError("outside the world: a range is not (gpa_t, int)")
    ka, kl = access
    if not (0 <= ka < U64 and INT_LO <= kl < INT_HI and is_access(INT, ka, kl)):
        raise ValueError("outside the world: not an access a guest can issue")
    log: list[str] = []
    for i, (a, n) in enumerate(ranges):
        rc = bus.register(a, n, replay.Probe(str(i), a, n, log))
        if rc != 0:
            raise ValueError(f"registration {i} failed with {rc}")
    bus.write(ka, kl, bytes(8)[:kl])
    return int(log[0]) if log else -1


def _bus(name: str):
    return LinearBus() if name == "linear" else REGISTRY[name].factory()


# Two ranges and one access. CrossHair reads the signatures, so each is spelled out.


def linear_2(a0: int, l0: int, a1: int, l1: int, ka: int, kl: int) -> int:
    return handler(_bus("linear"), [(a0, l0), (a1, l1)], (ka, kl))


def seed_2011_2(a0: int, l0: int, a1: int, l1: int, ka: int, kl: int) -> int:
    return handler(_bus("seed-2011"), [(a0, l0), (a1, l1)], (ka, kl))


def upstream_2(a0: int, l0: int, a1: int, l1: int, ka: int, kl: int) -> int:
    return handler(_bus("upstream"), [(a0, l0), (a1, l1)], (ka, kl))


def fixed_2(a0: int, l0: int, a1: int, l1: int, ka: int, kl: int) -> int:
    return handler(_bus("fixed"), [(a0, l0), (a1, l1)], (ka, kl))


# Three ranges and one access.


def linear_3(a0: int, l0: int, a1: int, l1: int, a2: int, l2: int, ka: int, kl: int) -> int:
    return handler(_bus("linear"), [(a0, l0), (a1, l1), (a2, l2)], (ka, kl))


def seed_2011_3(a0: int, l0: int, a1: int, l1: int, a2: int, l2: int, ka: int, kl: int) -> int:
    return handler(_bus("seed-2011"), [(a0, l0), (a1, l1), (a2, l2)], (ka, kl))


def upstream_3(a0: int, l0: int, a1: int, l1: int, a2: int, l2: int, ka: int, kl: int) -> int:
    return handler(_bus("upstream"), [(a0, l0), (a1, l1), (a2, l2)], (ka, kl))


def fixed_3(a0: int, l0: int, a1: int, l1: int, a2: int, l2: int, ka: int, kl: int) -> int:
    return handler(_bus("fixed"), [(a0, l0), (a1, l1), (a2, l2)], (ka, kl))


def function_name(variant: str, size: int) -> str:
    return f"{variant.replace('-', '_')}_{size}"


@dataclass(frozen=True)
class Divergence:
    """One input on which the linear bus and the variant handle the write with different probes (replayed)."""

    ranges: tuple[dict[str, int], ...]
    access: dict[str, int]
    linear: int
    variant: int
    scenario: dict[str, Any]

    def explain(self, variant: str) -> str:
        from iobus_verify.proofs.encode import hexrange

        who = lambda i: f"p{i + 1}" if i >= 0 else "none"  # noqa: E731
        return (
            f"registered {', '.join(hexrange(**r) for r in self.ranges)}; write {hexrange(**self.access)} "
            f"-> linear: {who(self.linear)}, {variant}: {who(self.variant)}"
        )


@dataclass(frozen=True)
class DiffOutcome:
    """CrossHair's diff of ``linear_<size>`` against ``<variant>_<size>`` with a CPU budget."""

    variant: str
    size: int
    budget: Any  # crosshair_checks.Budget
    divergences: tuple[Divergence, ...]
    #: the CPU cap ended the search before its paths (see crosshair_checks.Budget)
    cap_hit: bool = False

    @property
    def status(self) -> str:
        return "refuted" if self.divergences else "not-refuted"

    def describe(self) -> str:
        if not self.divergences:
            cap = f" (CPU cap of {self.budget.cpu_s:g} s hit first: machine-dependent)" if self.cap_hit else ""
            return f"{self.variant} ({self.size} ranges): no divergence found, not refuted within {self.budget.describe()}{cap} (CrossHair)"
        return f"{self.variant} ({self.size} ranges): diverges: {self.divergences[0].explain(self.variant)}"


_ARG = re.compile(r"^[a-z0-9_]+$")


def _replayed(args: dict[str, str], variant: str, size: int) -> Divergence:
    vals = {k: ast.literal_eval(v) for k, v in args.items() if _ARG.match(k)}
    ranges = tuple({"addr": vals[f"a{i}"], "len": vals[f"l{i}"]} for i in range(size))
    access = {"addr": vals["ka"], "len": vals["kl"]}
    lin = handler(_bus("linear"), [(r["addr"], r["len"]) for r in ranges], (access["addr"], access["len"]))
    var = handler(_bus(variant), [(r["addr"], r["len"]) for r in ranges], (access["addr"], access["len"]))
    if lin == var:
        raise AssertionError(f"CrossHair reported a difference that does not replay: {variant} {args}")
    scen = replay.build_scenario(list(ranges), access)
    if not replay.diverges(scen, variant):
        raise AssertionError(f"CrossHair's difference does not replay as a scenario: {variant} {scen}")
    return Divergence(ranges, access, lin, var, scen)


def find_divergences(variant: str, *, size: int = 2, budget_s: Any = 10.0) -> DiffOutcome:
    """Run CrossHair's diff-behaviour of ``linear_<size>`` vs ``<variant>_<size>`` (subprocess; ``budget_s``: a
    :class:`~iobus_verify.proofs.crosshair_checks.Budget` or CPU seconds). CrossHair splits the paths
    between the two orders of the functions and explores them all (it does not stop at the first difference).

    Every difference CrossHair reports is re-run on the concrete buses and as a
    scenario (:func:`_replayed`); one that does not replay raises.
    """
    from iobus_verify.errors import UsageError
    from iobus_verify.proofs.crosshair_checks import Budget, worker_rows

    if variant not in VARIANTS or size not in SIZES:
        raise UsageError(f"CrossHair diffs exist for variants {', '.join(VARIANTS)} and sizes {SIZES}, not {variant!r}/{size}")
    names = (function_name("linear", size), function_name(variant, size))
    budget = Budget.of(budget_s)
    (row,) = worker_rows(__name__, "diff", names, budget)
    if row.get("error"):
        raise RuntimeError(f"CrossHair diffbehavior {names}: {row['error']}")
    divs = tuple(_replayed(d["args"], variant, size) for d in row["diffs"])
    return DiffOutcome(variant, size, budget, divs, row.get("cap_hit", False))
