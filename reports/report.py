"""The Report record: everything one ``check`` run against one bus produced.

Its JSON form is ``iobus-report/1`` (``reports/schemas/iobus-report-1.schema.json``).
A report is deterministic for a given bus, profile and seed except for the
``seconds`` fields; :func:`comparable` drops those so two runs can be compared.
"""

from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import dataclass, field, replace
from typing import Any

from iobus_verify.reports.records import Result

SCHEMA = "iobus-report/1"
PROFILES = ("dev", "ci", "thorough")

#: distributions whose versions a report records (they decide what a run finds)
TOOLS = ("iobus-verify", "hypothesis", "z3-solver", "crosshair-tool", "hypothesis-crosshair")


def tool_versions() -> dict[str, str]:
    """Versions of Python and of the tools in :data:`TOOLS` ("absent" if not installed)."""
    out = {"python": platform.python_version()}
    for dist in TOOLS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


@dataclass(frozen=True)
class BusInfo:
    name: str
    spec: str
    kind: str  # "reference", "variant" or "plugin"
    summary: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "spec": self.spec, "kind": self.kind, "summary": self.summary}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "BusInfo":
        return cls(obj["name"], obj["spec"], obj["kind"], obj.get("summary", ""))

    @classmethod
    def of(cls, spec: Any) -> "BusInfo":
        """What a report says of a resolved bus spec (check's and a campaign's alike)."""
        return cls(spec.name, spec.spec, spec.kind, spec.summary)


@dataclass(frozen=True)
class PhaseRun:
    """How one phase ended: ``done``, ``error`` (the phase itself crashed or is
    not installed: an internal error), ``interrupted`` or ``not-run``."""

    name: str
    status: str
    seconds: float
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status, "seconds": round(self.seconds, 3)}
        if self.message:
            out["message"] = self.message
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "PhaseRun":
        return cls(obj["name"], obj["status"], float(obj["seconds"]), obj.get("message", ""))


@dataclass(frozen=True)
class Key:
    """A finding's identity across runs: result id, finding class and, for a
    differential finding, the condition rung on which it reproduces (a finding
    that moves to another rung is another finding: the bus got better or worse
    under some inputs). ``condition`` None: no rung (proofs name their
    condition in the id; baselines older than ``iobus-baseline/2``)."""

    id: str
    cls: str
    note: str = field(default="", compare=False)
    condition: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "class": self.cls}
        if self.condition is not None:
            out["condition"] = self.condition
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Key":
        return cls(obj["id"], obj["class"], obj.get("note", ""), obj.get("condition"))

    def __str__(self) -> str:
        if self.condition is None:
            return f"{self.id} [{self.cls}]"
        return f"{self.id} [{self.cls} @ {self.condition}]"


@dataclass(frozen=True)
class Gate:
    """The verdict of comparing a run with its bus's baseline.

    ``match``: same findings as the baseline; ``regressed``: a new or a lost
    finding; ``incomplete``: the run was cut short; ``error``: a phase crashed.
    ``baseline`` is the file compared with, or None (judged strictly).
    ``outside``: findings outside the bus's contract (listed, never new or
    lost); ``not_run``: baseline entries whose phase did not run (neither lost
    nor matched: what did not run is not judged).
    """

    verdict: str
    baseline: str | None
    new: tuple[Key, ...] = ()
    lost: tuple[Key, ...] = ()
    changed: tuple[Key, ...] = ()
    outside: tuple[Key, ...] = ()
    not_run: tuple[Key, ...] = ()

    #: the lists a gate shows, in the order they are rendered, with their titles
    LISTS = (("new", "new"), ("lost", "lost"), ("changed", "changed"), ("outside", "outside contract"), ("not_run", "not judged"))

    def listed(self) -> list[tuple[str, Key]]:
        """(title, key) for every listed key, in :data:`LISTS` order."""
        return [(title, k) for name, title in self.LISTS for k in getattr(self, name)]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "baseline": self.baseline,
            "new": [k.to_json() for k in self.new],
            "lost": [k.to_json() for k in self.lost],
            "changed": [k.to_json() for k in self.changed],
            "outside": [k.to_json() for k in self.outside],
            "not_run": [k.to_json() for k in self.not_run],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Gate":
        keys = lambda name: tuple(Key.from_json(k) for k in obj.get(name, []))  # noqa: E731
        return cls(obj["verdict"], obj.get("baseline"), keys("new"), keys("lost"), keys("changed"), keys("outside"), keys("not_run"))


@dataclass(frozen=True)
class Report:
    bus: BusInfo
    profile: str
    seed: int
    results: tuple[Result, ...]
    phases: tuple[PhaseRun, ...] = ()
    gate: Gate = Gate("match", None)
    tools: dict[str, str] = field(default_factory=tool_versions, compare=False)
    incomplete: bool = False
    incomplete_reason: str | None = None
    #: the bus's contract (``--assume``, a condition ladder name) the run
    #: searched under; None: no contract, every input counts
    contract: str | None = None

    def with_gate(self, gate: Gate) -> "Report":
        return replace(self, gate=gate)

    @property
    def findings(self) -> tuple[Result, ...]:
        """Results with a finding (fail or error), in report order."""
        return tuple(r for r in self.results if r.finding is not None)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("pass", "fail", "unknown", "error")}
        for r in self.results:
            out[r.status] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "bus": self.bus.to_json(),
            "profile": self.profile,
            "seed": self.seed,
            "contract": self.contract,
            "tools": dict(self.tools),
            "incomplete": self.incomplete,
            "incomplete_reason": self.incomplete_reason,
            "phases": [p.to_json() for p in self.phases],
            "results": [r.to_json() for r in self.results],
            "gate": self.gate.to_json(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Report":
        return cls(
            bus=BusInfo.from_json(obj["bus"]),
            profile=obj["profile"],
            seed=obj["seed"],
            results=tuple(Result.from_json(r) for r in obj["results"]),
            phases=tuple(PhaseRun.from_json(p) for p in obj.get("phases", [])),
            gate=Gate.from_json(obj["gate"]),
            tools=dict(obj.get("tools", {})),
            incomplete=bool(obj.get("incomplete", False)),
            incomplete_reason=obj.get("incomplete_reason"),
            contract=obj.get("contract"),
        )


def comparable(report_json: dict[str, Any]) -> dict[str, Any]:
    """``report_json`` without its timings (every ``seconds`` field), for
    "same seed, same report" comparisons."""

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "seconds"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(report_json)


def load_report(path) -> Report:
    """Read and validate a report.json (a SchemaError names what is wrong)."""
    from iobus_verify.reports.schema import load_json

    return Report.from_json(load_json(path, SCHEMA))
