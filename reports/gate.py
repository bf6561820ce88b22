"""The gate: a run's results against its bus's baseline, stored scenarios replayed first.

A baseline (``iobus-baseline/2``) stores each stateful finding's minimal
scenario. Those scenarios are handed to the properties phase as explicit
examples (replayed before the search, so the search starts from every known
witness), and the gate replays each of them again on its own
(:func:`replay_entries`): a finding is **lost** only when its stored scenario
no longer reproduces its (class, condition) *and* the run's results lack its
key; a stored scenario that now shows another class or condition is
**changed**. Entries whose phase did not run are **not judged**; findings
outside the bus's contract are listed as **outside**, never new or lost. The
comparison itself is :func:`iobus_verify.reports.baseline.compare`, shared
with ``diff`` and the pytest plugin.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from iobus_verify.reports import baseline as baselines
from iobus_verify.reports.baseline import Baseline, Comparison, Entry, Replayed
from iobus_verify.reports.contract import violation
from iobus_verify.reports.records import Result
from iobus_verify.reports.report import Gate, Key, PhaseRun

#: classify(spec, scenario) -> (class, condition) | None
Classify = Callable[[Any, dict[str, Any]], "tuple[str, str | None] | None"]


def classify_scenario(spec: Any, scenario: dict[str, Any]) -> tuple[str, str | None] | None:
    """The (class, condition) of the first divergence of ``spec`` on a stored
    scenario (``properties.replaying.classify_scenario``)."""
    from iobus_verify.properties.replaying import classify_scenario as classify

    return classify(spec, scenario)


def stored_scenarios(baseline: Baseline | None) -> tuple[dict[str, Any], ...]:
    """What the properties phase replays first: every stored scenario."""
    return () if baseline is None else baseline.scenarios()


def replay_entries(
    spec: Any,
    baseline: Baseline | None,
    *,
    judged: Callable[[Entry], bool] | None = None,
    classify: Classify | None = None,
) -> dict[Key, Replayed]:
    """What each judged entry's stored scenario shows now, by entry key. A
    replay that raises is recorded with its error (it cannot confirm the
    finding), never raised: one stale scenario must not hide the others."""
    if baseline is None or spec is None:
        return {}
    classify = classify or classify_scenario
    out: dict[Key, Replayed] = {}
    for e in baseline.entries:
        if e.scenario is None or (judged is not None and not judged(e)):
            continue
        try:
            got = classify(spec, e.scenario)
        except Exception as exc:  # noqa: BLE001 - reported on the entry
            out[e.key] = Replayed(None, None, f"{type(exc).__name__}: {exc}")
            continue
        out[e.key] = Replayed(None) if got is None else Replayed(got[0], got[1] if len(got) > 1 else None)
    return out


def with_contract(baseline: Baseline | None, contract: str | None, era: str | None = None) -> Baseline | None:
    """``baseline`` with every entry whose stored scenario breaks ``contract``
    (under the bus's ``era``) marked outside it (a finding recorded before the
    contract was declared)."""
    if baseline is None or contract is None:
        return baseline
    entries = tuple(
        replace(e, outside_contract=True)
        if not e.outside_contract and e.scenario is not None and violation(e.scenario, contract, era)
        else e
        for e in baseline.entries
    )
    return replace(baseline, entries=entries)


def judged_by(kinds: Iterable[str] | None) -> Callable[[Entry], bool] | None:
    """The predicate "this entry's phase ran": its kind is one of ``kinds``
    (an entry without a kind, from an old baseline, is always judged)."""
    if kinds is None:
        return None
    kinds = frozenset(kinds)
    return lambda e: not e.kind or e.kind in kinds


def compare_run(
    results: Sequence[Result],
    baseline: Baseline | None,
    *,
    spec: Any = None,
    judged_kinds: Iterable[str] | None = None,
    contract: str | None = None,
    classify: Classify | None = None,
) -> Comparison:
    """The gate's comparison of one run (see the module docstring)."""
    base = with_contract(baseline, contract, getattr(spec, "era", None))
    judged = judged_by(judged_kinds)
    replays = replay_entries(spec, base, judged=judged, classify=classify)
    return baselines.compare_baseline(results, base, judged=judged, replays=replays)


def judge(
    results: Sequence[Result],
    runs: Sequence[PhaseRun],
    reason: str | None,
    baseline_path: Path | None,
    *,
    baseline: Baseline | None = None,
    spec: Any = None,
    judged_kinds: Iterable[str] | None = None,
    contract: str | None = None,
    classify: Classify | None = None,
) -> Gate:
    """The gate of one run: ``error`` when a phase crashed, ``incomplete``
    when the run was cut short, else ``regressed`` on a new or lost finding,
    else ``match``."""
    if baseline is None and baseline_path is not None:
        baseline = baselines.load(baseline_path)
    cmp = compare_run(results, baseline, spec=spec, judged_kinds=judged_kinds, contract=contract, classify=classify)
    if any(r.status == "error" for r in runs):
        verdict = "error"
    elif reason is not None:
        verdict = "incomplete"
    else:
        verdict = "regressed" if cmp.regressed else "match"
    return Gate(
        verdict, None if baseline_path is None else str(baseline_path), cmp.new, cmp.lost, cmp.changed, cmp.outside, cmp.not_run
    )
