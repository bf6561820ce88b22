"""Baselines: the reviewed findings a bus is expected to show, and the gate's comparison.

A baseline (``iobus-baseline/1``, committed as ``reports/baseline/<bus>.json``
for the named variants) lists *outcome keys*: a result id with its finding
class, or with ``unknown`` for a result that could be neither proved nor
refuted. A run **matches** its baseline when it shows exactly the expected keys:

* **new**: a key the run shows and the baseline does not expect (including one
  the baseline marks ``"fixed": true``: it came back);
* **lost**: a key the baseline expects and the run no longer shows (the suite
  lost its power to find it, or the bus changed: review, then update the
  baseline);
* **changed**: an expected key whose status or explanation differs
  (informational: it does not fail the gate).

A bus with no baseline is judged strictly: every key is new. This is the one
comparison used by ``check``, ``diff`` and the pytest gates, so they agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from iobus_verify.errors import UsageError
from iobus_verify.reports.records import Result
from iobus_verify.reports.report import Key, Report
from iobus_verify.reports.schema import load_json, validate

SCHEMA = "iobus-baseline/1"
#: where the committed baselines of the named variants live
BASELINE_DIR = Path(__file__).with_name("baseline")


@dataclass(frozen=True)
class Entry:
    id: str
    cls: str
    status: str  # fail, error or unknown
    kind: str = ""
    explanation: str = ""
    fixed: bool = False

    @property
    def key(self) -> Key:
        return Key(self.id, self.cls)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "class": self.cls, "status": self.status}
        if self.kind:
            out["kind"] = self.kind
        if self.explanation:
            out["explanation"] = self.explanation
        if self.fixed:
            out["fixed"] = True
        return out


@dataclass(frozen=True)
class Baseline:
    bus: str
    entries: tuple[Entry, ...]
    profile: str | None = None
    seed: int | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA, "bus": self.bus}
        if self.profile is not None:
            out["profile"] = self.profile
        if self.seed is not None:
            out["seed"] = self.seed
        if self.note:
            out["note"] = self.note
        out["findings"] = [e.to_json() for e in self.entries]
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Baseline":
        return cls(
            bus=obj["bus"],
            entries=tuple(
                Entry(f["id"], f["class"], f["status"], f.get("kind", ""), f.get("explanation", ""), f.get("fixed", False))
                for f in obj["findings"]
            ),
            profile=obj.get("profile"),
            seed=obj.get("seed"),
            note=obj.get("note", ""),
        )


def outcome_key(r: Result) -> Key | None:
    """The key of a result that is not a pass; None for a pass."""
    if r.status == "pass":
        return None
    if r.status == "unknown":
        return Key(r.id, "unknown")
    assert r.finding is not None  # Result enforces it for fail and error
    return Key(r.id, r.finding.cls)


def outcomes(results: Iterable[Result]) -> dict[Key, Result]:
    out: dict[Key, Result] = {}
    for r in results:
        k = outcome_key(r)
        if k is not None:
            out.setdefault(k, r)
    return out


def _explanation(r: Result) -> str:
    return r.finding.explanation if r.finding is not None else r.detail


@dataclass(frozen=True)
class Comparison:
    new: tuple[Key, ...]
    lost: tuple[Key, ...]
    changed: tuple[Key, ...]

    @property
    def regressed(self) -> bool:
        return bool(self.new or self.lost)


def compare(results: Iterable[Result], expected: Mapping[Key, Entry] | None, fixed: Iterable[Key] = ()) -> Comparison:
    """Compare a run's results with expected entries (None: judged strictly)."""
    results = list(results)
    current = outcomes(results)
    expected = dict(expected or {})
    fixed = set(fixed)
    ran = {r.id for r in results}
    new = tuple(
        Key(k.id, k.cls, "marked fixed in the baseline, found again" if k in fixed else "") for k in current if k not in expected
    )
    lost = tuple(
        Key(k.id, k.cls, "no longer reproduced" if k.id in ran else "not run") for k in expected if k not in current
    )
    changed = []
    for k, e in expected.items():
        r = current.get(k)
        if r is None:
            continue
        if r.status != e.status:
            changed.append(Key(k.id, k.cls, f"status {e.status} -> {r.status}"))
        elif e.explanation and _explanation(r) != e.explanation:
            changed.append(Key(k.id, k.cls, "explanation changed"))
    return Comparison(tuple(sorted(new, key=str)), tuple(sorted(lost, key=str)), tuple(sorted(changed, key=str)))


def compare_baseline(results: Iterable[Result], baseline: Baseline | None) -> Comparison:
    if baseline is None:
        return compare(results, None)
    expected = {e.key: e for e in baseline.entries if not e.fixed}
    return compare(results, expected, [e.key for e in baseline.entries if e.fixed])


def default_path(bus_name: str) -> Path:
    return BASELINE_DIR / f"{bus_name}.json"


def load(path: Path) -> Baseline:
    """Read and validate a baseline file (a malformed one is a one-line UsageError)."""
    return Baseline.from_json(load_json(path, SCHEMA))


def find(bus_name: str, kind: str, explicit: Path | None) -> Path | None:
    """The baseline file to compare with: ``explicit`` (must exist), else the
    committed one of a named bus, else None (a plugin without a baseline is
    judged strictly)."""
    if explicit is not None:
        if not Path(explicit).is_file():
            raise UsageError(f"no baseline file {explicit}; create it with `iobus-verify baseline update --baseline {explicit}`")
        return Path(explicit)
    if kind == "plugin":
        return None
    p = default_path(bus_name)
    return p if p.is_file() else None


def from_report(report: Report, previous: Baseline | None = None, note: str = "") -> Baseline:
    """A baseline expecting exactly what ``report`` shows. Entries the previous
    baseline marked fixed and that stay absent are kept, so the mark survives."""
    entries = [
        Entry(k.id, k.cls, r.status, r.kind, _explanation(r))
        for k, r in sorted(outcomes(report.results).items(), key=lambda kv: str(kv[0]))
    ]
    shown = {e.key for e in entries}
    if previous is not None:
        entries += [e for e in previous.entries if e.fixed and e.key not in shown]
    return Baseline(report.bus.name, tuple(entries), report.profile, report.seed, note or (previous.note if previous else ""))


def write(baseline: Baseline, path: Path) -> None:
    obj = baseline.to_json()
    validate(obj, SCHEMA, source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


# -- `iobus-verify baseline update` ------------------------------------------------


def setup(p) -> None:
    import argparse

    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    u = sub.add_parser(
        "update",
        help="write a bus's baseline from a run (review the run's report first)",
        description="Write the baseline of a bus from a fresh run, or from a report.json a person has reviewed.",
    )
    u.add_argument("--bus", required=True, metavar="SPEC", help="a variant name or a plugin spec")
    u.add_argument("--from-report", type=Path, metavar="REPORT", help="take the findings from this report.json instead of running")
    u.add_argument("--baseline", type=Path, metavar="FILE", help="file to write (default: reports/baseline/<bus>.json for a named bus; required for a plugin)")
    u.add_argument("--profile", choices=("dev", "ci", "thorough"), default="ci")
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="where the run's reports go (default out)")
    u.add_argument("--note", default="", help="a note kept in the baseline (why these findings are expected)")
    del argparse


def run(args) -> int:
    from iobus_verify.model.spec import resolve
    from iobus_verify.reports.check import check, summary_lines
    from iobus_verify.reports.report import load_report

    spec = resolve(args.bus)
    if args.baseline is not None:
        path = args.baseline
    elif spec.kind == "plugin":
        raise UsageError(f"bus {spec.spec!r} is a plugin: say where its baseline goes with --baseline FILE")
    else:
        path = default_path(spec.name)
    if args.from_report is not None:
        report = load_report(args.from_report)
        if report.bus.name != spec.name:
            raise UsageError(f"{args.from_report} is a report of bus {report.bus.name!r}, not {spec.name!r}")
    else:
        # Compare with nothing: the point is to see everything this run finds.
        outcome = check(spec, profile=args.profile, seed=args.seed, out_root=args.out, baseline_path=None)
        for line in summary_lines(outcome.report):
            print(line)
        report = outcome.report
        if outcome.exit_code == 130:
            return 130
    if report.incomplete or any(p.status == "error" for p in report.phases):
        raise UsageError("the run is incomplete or a phase failed; a baseline is only written from a complete run: fix that and rerun")
    previous = load(path) if path.is_file() else None
    new = from_report(report, previous, args.note)
    write(new, path)
    print(f"wrote {path}: {len(new.entries)} expected finding(s) for {spec.name}; review it with `git diff {path}` before committing")
    return 0
