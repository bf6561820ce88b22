"""Baselines: the reviewed findings a bus is expected to show, and the gate's comparison.

A baseline (``iobus-baseline/2``, committed as ``reports/baseline/<bus>.json``
for the named variants; ``iobus-baseline/1`` files are still read) lists
*outcome keys*: a result id with its finding class (``unknown`` for a result
that could be neither proved nor refuted) and, for a differential finding, the
condition rung on which it reproduces, stored with the finding's minimal
scenario. A run **matches** its baseline when it shows exactly the expected keys:

* **new**: a key the run shows and the baseline does not expect (including one
  the baseline marks ``"fixed": true``: it came back);
* **lost**: a key the baseline expects, that the run does not show, and whose
  stored scenario (if any) no longer reproduces it (the suite lost its power
  to find it, or the bus changed: review, then update the baseline);
* **changed**: an expected key whose status or explanation differs, or whose
  stored scenario now shows another class or condition (informational);
* **outside contract**: a finding that needs inputs outside the bus's
  contract (``--assume``): listed, never new or lost;
* **not judged**: an expected key whose phase did not run (the pytest entry
  runs no proofs; an interrupted phase): neither lost nor matched.

An expected key without a condition (an ``iobus-baseline/1`` entry) matches
the same id and class on any rung. A bus with no baseline is judged strictly:
every key is new. This is the one comparison used by ``check``, ``diff`` and
the pytest gates, so they agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from iobus_verify.errors import UsageError
from iobus_verify.reports.records import Result
from iobus_verify.reports.report import Key, Report
from iobus_verify.reports.schema import load_json, validate

SCHEMA = "iobus-baseline/2"
#: the baseline schemas read, newest first
SCHEMAS = ("iobus-baseline/2", "iobus-baseline/1")
#: where the committed baselines of the named variants live
BASELINE_DIR = Path(__file__).with_name("baseline")


def replayable(result_id: str, cls: str) -> bool:
    """Whether a finding's scenario replays as a differential divergence (the
    stateful findings; proofs' scenarios illustrate a refutation instead, and
    an ERROR scenario may hang again on every replay)."""
    return cls != "ERROR" and (result_id.startswith("differential.") or result_id.startswith("property.invariant."))


def search_class(result_id: str, cls: str) -> str:
    """The class a replay reports for this finding: ``invariant.<name>`` for
    ``property.invariant.<name>``, else the finding class."""
    if result_id.startswith("property.invariant."):
        return "invariant." + result_id[len("property.invariant.") :]
    return cls


def result_id_of(shown_class: str) -> str:
    """The result id a replay's class is reported under."""
    if shown_class.startswith("invariant."):
        return "property." + shown_class
    return f"differential.{shown_class}"


@dataclass(frozen=True)
class Entry:
    id: str
    cls: str
    status: str  # fail, error or unknown
    kind: str = ""
    explanation: str = ""
    fixed: bool = False
    condition: str | None = None
    scenario: dict[str, Any] | None = None
    outside_contract: bool = False

    @property
    def key(self) -> Key:
        return Key(self.id, self.cls, condition=self.condition)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "class": self.cls}
        if self.condition is not None:
            out["condition"] = self.condition
        out["status"] = self.status
        if self.kind:
            out["kind"] = self.kind
        if self.explanation:
            out["explanation"] = self.explanation
        if self.outside_contract:
            out["outside_contract"] = True
        if self.fixed:
            out["fixed"] = True
        if self.scenario is not None:
            out["scenario"] = self.scenario
        return out

    @classmethod
    def from_json(cls, f: dict[str, Any]) -> "Entry":
        return cls(
            f["id"],
            f["class"],
            f["status"],
            f.get("kind", ""),
            f.get("explanation", ""),
            f.get("fixed", False),
            f.get("condition"),
            f.get("scenario"),
            f.get("outside_contract", False),
        )


@dataclass(frozen=True)
class Baseline:
    bus: str
    entries: tuple[Entry, ...]
    profile: str | None = None
    seed: int | None = None
    note: str = ""
    contract: str | None = None
    #: the schema the file was read from (a /1 file is written back as /2)
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA, "bus": self.bus}
        if self.profile is not None:
            out["profile"] = self.profile
        if self.seed is not None:
            out["seed"] = self.seed
        out["contract"] = self.contract
        if self.note:
            out["note"] = self.note
        out["findings"] = [e.to_json() for e in self.entries]
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Baseline":
        return cls(
            bus=obj["bus"],
            entries=tuple(Entry.from_json(f) for f in obj["findings"]),
            profile=obj.get("profile"),
            seed=obj.get("seed"),
            note=obj.get("note", ""),
            contract=obj.get("contract"),
            schema=obj.get("schema", SCHEMA),
        )

    def scenarios(self) -> tuple[dict[str, Any], ...]:
        """The stored scenarios, in entry order (fixed entries' too: a fixed
        finding's own witness is the best test that it stays fixed)."""
        return tuple(e.scenario for e in self.entries if e.scenario is not None)


def outcome_key(r: Result) -> Key | None:
    """The key of a result that is not a pass; None for a pass."""
    if r.status == "pass":
        return None
    if r.status == "unknown":
        return Key(r.id, "unknown")
    assert r.finding is not None  # Result enforces it for fail and error
    return Key(r.id, r.finding.cls, condition=r.finding.condition)


def outcomes(results: Iterable[Result]) -> dict[Key, Result]:
    out: dict[Key, Result] = {}
    for r in results:
        k = outcome_key(r)
        if k is not None:
            out.setdefault(k, r)
    return out


def _explanation(r: Result) -> str:
    return r.finding.explanation if r.finding is not None else r.detail


def matches(expected: Key, shown: Key) -> bool:
    """Whether a run's key ``shown`` is the expected one: same id and class,
    and the same condition unless the expectation names none (a /1 entry)."""
    return expected.id == shown.id and expected.cls == shown.cls and (expected.condition is None or expected.condition == shown.condition)


@dataclass(frozen=True)
class Replayed:
    """What a baseline entry's stored scenario shows when replayed on the bus
    again: the class and condition of its first divergence (``cls`` None: no
    divergence), or the ``error`` the replay raised."""

    cls: str | None
    condition: str | None = None
    error: str = ""

    def reproduces(self, e: Entry) -> bool:
        if self.error or self.cls is None or self.cls != search_class(e.id, e.cls):
            return False
        return self.condition is None or e.condition is None or self.condition == e.condition

    def describe(self) -> str:
        if self.error:
            return f"an error ({self.error})"
        if self.cls is None:
            return "no divergence"
        return self.cls if self.condition is None else f"{self.cls} @ {self.condition}"


@dataclass(frozen=True)
class Comparison:
    new: tuple[Key, ...]
    lost: tuple[Key, ...]
    changed: tuple[Key, ...]
    outside: tuple[Key, ...] = ()
    not_run: tuple[Key, ...] = ()

    @property
    def regressed(self) -> bool:
        return bool(self.new or self.lost)


def _sorted(keys: list[Key]) -> tuple[Key, ...]:
    return tuple(sorted(keys, key=str))


def compare(
    results: Iterable[Result],
    expected: Mapping[Key, Entry] | None,
    fixed: Iterable[Key] = (),
    *,
    judged: Callable[[Entry], bool] | None = None,
    replays: Mapping[Key, Replayed] | None = None,
) -> Comparison:
    """Compare a run's results with expected entries (None: judged strictly).

    ``judged(entry)``: False when the entry's phase did not run (it is then
    *not judged*); ``replays``: what each entry's stored scenario shows now
    (see :func:`iobus_verify.reports.gate.replay_entries`); ``fixed``: the
    keys of entries marked fixed, plus those whose stored scenario reproduces
    them again (new)."""
    results = list(results)
    current = outcomes(results)
    expected = dict(expected or {})
    fixed = list(fixed)
    replays = dict(replays or {})
    ran = {r.id for r in results}
    new: list[Key] = []
    lost: list[Key] = []
    changed: list[Key] = []
    outside: list[Key] = []
    not_run: list[Key] = []
    claimed: set[Key] = set()
    for k, r in current.items():
        if r.finding is not None and r.finding.outside_contract:
            outside.append(Key(k.id, k.cls, "outside the contract: listed, not judged", k.condition))
            claimed.add(k)
    for k, e in expected.items():
        shown = next((c for c in current if matches(k, c)), None)
        rep = replays.get(k)
        if shown is not None:
            claimed.add(shown)
            r = current[shown]
            notes = []
            if r.status != e.status:
                notes.append(f"status {e.status} -> {r.status}")
            elif e.explanation and _explanation(r) != e.explanation:
                notes.append("explanation changed")
            if rep is not None and not rep.reproduces(e):
                notes.append(f"its stored scenario now shows {rep.describe()}")
            if notes:
                changed.append(Key(k.id, k.cls, "; ".join(notes), k.condition))
            continue
        if judged is not None and not judged(e):
            not_run.append(Key(k.id, k.cls, "its phase did not run", k.condition))
            continue
        if e.outside_contract:
            outside.append(Key(k.id, k.cls, "baseline entry outside the contract, not shown by this run: not judged", k.condition))
            continue
        if rep is not None and not rep.error and rep.cls is not None:
            if rep.reproduces(e):
                changed.append(Key(k.id, k.cls, "kept by its stored scenario, which still reproduces it; the search did not find it", k.condition))
            else:
                # The same finding, moved: the run's key for what the scenario
                # shows now is this entry's, not a new one.
                sid = result_id_of(rep.cls)
                claimed |= {c for c in current if c.id == sid and (rep.condition is None or c.condition == rep.condition)}
                changed.append(Key(k.id, k.cls, f"its stored scenario now shows {rep.describe()}", k.condition))
            continue
        note = "no longer reproduced" if k.id in ran else "not run"
        if rep is not None:
            note += f"; replaying its stored scenario raised {rep.error}" if rep.error else "; nor does its stored scenario reproduce it"
        lost.append(Key(k.id, k.cls, note, k.condition))
    came_back = {f for f in fixed for c in current if matches(f, c)}
    for k in current:
        if k in claimed or any(matches(e, k) for e in expected):
            continue
        back = any(matches(f, k) for f in fixed)
        new.append(Key(k.id, k.cls, "marked fixed in the baseline, found again" if back else "", k.condition))
    for f in fixed:
        rep = replays.get(f)
        if f not in came_back and rep is not None and rep.cls is not None and rep.cls == search_class(f.id, f.cls) and (f.condition is None or rep.condition in (None, f.condition)):
            new.append(Key(f.id, f.cls, "marked fixed in the baseline; its stored scenario reproduces it again", f.condition))
    return Comparison(_sorted(new), _sorted(lost), _sorted(changed), _sorted(outside), _sorted(not_run))


def compare_baseline(
    results: Iterable[Result],
    baseline: Baseline | None,
    *,
    judged: Callable[[Entry], bool] | None = None,
    replays: Mapping[Key, Replayed] | None = None,
) -> Comparison:
    if baseline is None:
        return compare(results, None)
    expected = {e.key: e for e in baseline.entries if not e.fixed}
    return compare(results, expected, [e.key for e in baseline.entries if e.fixed], judged=judged, replays=replays)


def default_path(bus_name: str) -> Path:
    return BASELINE_DIR / f"{bus_name}.json"


def load(path: Path) -> Baseline:
    """Read and validate a baseline file, ``iobus-baseline/2`` or ``/1`` (a
    malformed one is a one-line UsageError)."""
    return Baseline.from_json(load_json(path, SCHEMAS))


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
    entries = [entry_of(k, r) for k, r in sorted(outcomes(report.results).items(), key=lambda kv: str(kv[0]))]
    shown = {e.key for e in entries}
    if previous is not None:
        entries += [e for e in previous.entries if e.fixed and not any(matches(e.key, k) for k in shown)]
    return Baseline(
        report.bus.name, tuple(entries), report.profile, report.seed, note or (previous.note if previous else ""), report.contract
    )


def entry_of(k: Key, r: Result) -> Entry:
    """The baseline entry expecting result ``r`` (key ``k``): with its
    condition, its contract status and, for a stateful finding, its scenario."""
    f = r.finding
    scenario = f.scenario if f is not None and f.scenario is not None and replayable(r.id, f.cls) else None
    return Entry(k.id, k.cls, r.status, r.kind, _explanation(r), False, k.condition, scenario, bool(f and f.outside_contract))


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
    u.add_argument("--assume", metavar="CONDITION", help="the bus's contract for the run (default: the bus's own `assumes`, else none)")
    del argparse


def run(args) -> int:
    from iobus_verify.model.spec import resolve
    from iobus_verify.reports.check import check, summary_lines
    from iobus_verify.reports.contract import resolve_contract
    from iobus_verify.reports.report import load_report

    spec = resolve(args.bus)
    resolve_contract(getattr(args, "assume", None), spec)  # a typo fails before the run
    if args.baseline is not None:
        path = args.baseline
    elif spec.kind == "plugin":
        raise UsageError(f"bus {spec.spec!r} is a plugin: say where its baseline goes with --baseline FILE")
    else:
        path = default_path(spec.name)
    previous = load(path) if path.is_file() else None
    if args.from_report is not None:
        report = load_report(args.from_report)
        if report.bus.name != spec.name:
            raise UsageError(f"{args.from_report} is a report of bus {report.bus.name!r}, not {spec.name!r}")
    else:
        # Compare with nothing: the point is to see everything this run finds;
        # the previous baseline's scenarios are still replayed first, so a
        # finding keeps its witness unless the search finds a smaller one.
        outcome = check(
            spec,
            profile=args.profile,
            seed=args.seed,
            out_root=args.out,
            baseline_path=None,
            assume=getattr(args, "assume", None),
            explicit=previous.scenarios() if previous is not None else (),
        )
        for line in summary_lines(outcome.report):
            print(line)
        report = outcome.report
        if outcome.exit_code == 130:
            return 130
    if report.incomplete or any(p.status == "error" for p in report.phases):
        raise UsageError("the run is incomplete or a phase failed; a baseline is only written from a complete run: fix that and rerun")
    new = from_report(report, previous, args.note)
    write(new, path)
    print(f"wrote {path}: {len(new.entries)} expected finding(s) for {spec.name}; review it with `git diff {path}` before committing")
    return 0
