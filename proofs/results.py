"""The proofs' own result record, convertible to the project's :class:`Result`.

``proved`` maps to ``pass``, ``refuted`` to ``fail`` (a :class:`Finding` of
class ``refuted``), ``unknown`` (a solver timeout or resource limit) to
``unknown`` with the limit in ``detail``: never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iobus_verify.reports.records import Finding, Result

OUTCOMES = ("proved", "refuted", "unknown")


@dataclass(frozen=True)
class ProofResult:
    """One obligation for one variant.

    ``scope`` is ``"bounded"`` (arrays of at most ``n`` ranges) or
    ``"unbounded"`` (every array length); ``condition`` names the preconditions
    assumed on the registered ranges (``"none"`` for the unconditional
    obligation). ``counterexample`` lists the ranges (registration order for
    lookup obligations; the project ``Finding`` adds ``access`` last, marked
    ``role: access``, for the interval diagram); ``scenario`` is the
    ``iobus-scenario/1`` replay of a lookup counterexample.
    """

    id: str
    variant: str
    outcome: str
    seconds: float
    n: int | None = None
    scope: str = "bounded"
    condition: str = "none"
    method: str = ""
    explanation: str = ""
    counterexample: tuple[dict[str, int], ...] | None = None
    access: dict[str, int] | None = None
    scenario: dict[str, Any] | None = None
    limit: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"ProofResult.outcome must be one of {OUTCOMES}, not {self.outcome!r}")
        if self.outcome == "refuted" and self.counterexample is None:
            raise ValueError(f"a refuted obligation needs a counterexample ({self.id})")

    @property
    def result_id(self) -> str:
        """The id in reports: the obligation id, suffixed ``@condition`` when one is assumed."""
        return self.id if self.condition == "none" else f"{self.id}@{self.condition}"

    def describe(self) -> str:
        bound = "all N" if self.scope == "unbounded" else f"N<={self.n}" if self.n is not None else "N/A"
        return f"{self.scope}, {bound}, condition: {self.condition}, method: {self.method}"

    def to_result(self) -> Result:
        status = {"proved": "pass", "refuted": "fail", "unknown": "unknown"}[self.outcome]
        finding = None
        if self.outcome == "refuted":
            shown = self.counterexample
            if self.access:  # the access last, marked, so the interval diagram draws it
                shown = (*shown, {**self.access, "role": "access", "label": "write"})
            finding = Finding("refuted", self.explanation, self.scenario, shown)
        detail = self.describe()
        if self.outcome == "unknown":
            detail += f"; limit: {self.limit}"
        extra = {
            "variant": self.variant,
            "obligation": self.id,
            "n": self.n,
            "scope": self.scope,
            "condition": self.condition,
            "method": self.method,
            **({"access": self.access} if self.access else {}),
            **self.extra,
        }
        return Result(self.result_id, "proof", status, self.seconds, finding, detail, extra)
