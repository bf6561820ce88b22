"""The result records every phase produces and every report renders.

A phase (the stateful properties, the z3 proofs, the CrossHair checks) turns a
bus into a list of :class:`Result`; reports, baselines and the gate only ever
read these records. Their JSON form is the ``results`` entries of
``iobus-report/1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("property", "proof", "crosshair")
STATUSES = ("pass", "fail", "unknown", "error")


@dataclass(frozen=True)
class Finding:
    """What a failing (or erroring) result found.

    ``cls`` is the divergence class (``MISSED``, ``SPURIOUS``, ``REORDERED``,
    ``DATA``, ``REGISTRATION``, ``ERROR``) for stateful findings, or the
    obligation's failure class (e.g. ``refuted``) for proofs. ``scenario`` is an
    ``iobus-scenario/1`` object that replays it; ``counterexample`` lists the
    ranges of a comparator counterexample as ``{"addr": int, "len": int}``
    objects (``None`` when the finding is a scenario).
    """

    cls: str
    explanation: str
    scenario: dict[str, Any] | None = None
    counterexample: tuple[dict[str, int], ...] | None = None
    #: differential findings: the strongest rung of the condition ladder on
    #: which the class reproduces (its atoms joined by ``+``, ``none`` for the
    #: unrestricted rung; ``iobus_verify.model.conditions``); None for proofs,
    #: whose ids already name their condition.
    condition: str | None = None
    #: the finding needs inputs outside the bus's declared contract
    #: (``--assume``): listed, never gating.
    outside_contract: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "class": self.cls,
            "explanation": self.explanation,
            "scenario": self.scenario,
            "counterexample": None if self.counterexample is None else [dict(r) for r in self.counterexample],
        }
        if self.condition is not None:
            out["condition"] = self.condition
        if self.outside_contract:
            out["outside_contract"] = True
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Finding":
        ce = obj.get("counterexample")
        return cls(
            cls=obj["class"],
            explanation=obj["explanation"],
            scenario=obj.get("scenario"),
            counterexample=None if ce is None else tuple(dict(r) for r in ce),
            condition=obj.get("condition"),
            outside_contract=bool(obj.get("outside_contract", False)),
        )


@dataclass(frozen=True)
class Result:
    """One obligation or property, checked once against one bus.

    ``status``: ``pass`` (proved, or no divergence found), ``fail`` (refuted, or
    a divergence found), ``unknown`` (a solver or time limit was hit: never a
    pass), ``error`` (the bus under test raised, hung or crashed). ``detail``
    says how it was checked: the bound, the condition, the limit used, the seed.
    """

    id: str
    kind: str
    status: str
    seconds: float
    finding: Finding | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    #: what a differential result exercised (``properties.coverage``): counts
    #: of accesses the reference handled, with several candidates, with
    #: nested/overlapping candidates, registrations, unregistrations, armed
    #: allocation failures, in all and per rung (``"by_condition"``). A pass
    #: whose precondition was never exercised is ``unknown``, not ``pass``.
    coverage: dict[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Result.kind must be one of {KINDS}, not {self.kind!r}")
        if self.status not in STATUSES:
            raise ValueError(f"Result.status must be one of {STATUSES}, not {self.status!r}")
        if self.status in ("fail", "error") and self.finding is None:
            raise ValueError(f"a {self.status!r} result needs a finding (result {self.id!r})")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "finding": None if self.finding is None else self.finding.to_json(),
        }
        if self.detail:
            out["detail"] = self.detail
        if self.extra:
            out["extra"] = self.extra
        if self.coverage is not None:
            out["coverage"] = self.coverage
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Result":
        f = obj.get("finding")
        return cls(
            id=obj["id"],
            kind=obj["kind"],
            status=obj["status"],
            seconds=float(obj.get("seconds", 0.0)),
            finding=None if f is None else Finding.from_json(f),
            detail=obj.get("detail", ""),
            extra=dict(obj.get("extra", {})),
            coverage=obj.get("coverage"),
        )
