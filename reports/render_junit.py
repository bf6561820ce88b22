"""junit.xml: one test case per obligation or property, judged as the gate judges.

A result whose outcome the baseline expects passes (its finding is kept in
``system-out``, marked "expected finding"), so a CI dashboard agrees with the
gate's exit status; a new finding is a ``failure`` (an ``error`` for a bus that
raised or hung, or a phase that crashed); an unknown result the baseline does
not expect is a ``failure`` too (unknown is never a pass); a lost finding is a
``failure`` of the result that no longer shows it. A finding outside the bus's
contract passes, marked so in ``system-out``. Baseline findings that were not
judged (their phase did not run) are ``skipped`` cases of the ``gate`` suite,
so a dashboard shows they were not checked rather than hiding them. An
incomplete run adds a failing case ``check.complete``. Each case's
``system-out`` also carries the finding's condition, its contract status and
what the search exercised (``coverage``).

Times: a suite's ``time`` is its phase's wall time (``properties`` for the
property suite, ``proofs`` for proof and crosshair). Results that come out of
one search share its seconds; each of their cases gets its share (the
search's time divided among them), so that the cases add up to the search.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from iobus_verify.reports import coverage as cov
from iobus_verify.reports.baseline import outcome_key
from iobus_verify.reports.records import Result
from iobus_verify.reports.report import Report


def _label(cls: str, condition: str | None) -> str:
    return cls if condition is None else f"{cls} @ {condition}"


def _context(r: Result, contract: str | None) -> list[str]:
    """Condition, contract status and coverage lines of one result."""
    out = []
    for line in (cov.contract_status(r, contract), cov.condition_line(r), cov.counts_line(r.coverage)):
        if line:
            out.append(line)
    return out


PHASE_OF_KIND = {"property": "properties", "proof": "proofs", "crosshair": "proofs"}


def case_times(results) -> dict[str, float]:
    """Each result's own time: a figure shared by several results of one
    search (same seconds, same detail) is divided among them."""
    groups: dict[tuple, list] = {}
    for r in results:
        groups.setdefault((r.kind, round(r.seconds, 6), r.detail), []).append(r)
    out = {}
    for (_, secs, _), rs in groups.items():
        share = secs / len(rs) if len(rs) > 1 and secs > 0 else secs
        for r in rs:
            out[r.id] = share
    return out


def render(report: Report) -> str:
    g = report.gate
    own = case_times(report.results)
    phase_secs = {p.name: p.seconds for p in report.phases}
    new = set(g.new)
    outside = set(g.outside)
    lost_by_id: dict[str, list[str]] = {}
    for k in g.lost:
        lost_by_id.setdefault(k.id, []).append(f"{_label(k.cls, k.condition)} ({k.note})" if k.note else _label(k.cls, k.condition))
    suites = ET.Element("testsuites", name=f"iobus-verify {report.bus.name}")
    by_kind: dict[str, ET.Element] = {}
    totals: dict[str, dict[str, float]] = {}
    seen_ids = set()
    for r in report.results:
        suite = by_kind.get(r.kind)
        if suite is None:
            suite = by_kind[r.kind] = ET.SubElement(suites, "testsuite", name=f"{report.bus.name}.{r.kind}")
            totals[r.kind] = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
        t = totals[r.kind]
        seen_ids.add(r.id)
        case = ET.SubElement(suite, "testcase", name=r.id, classname=f"{report.bus.name}.{r.kind}", time=f"{own.get(r.id, r.seconds):.3f}")
        t["tests"] += 1
        t["time"] += own.get(r.id, r.seconds)
        key = outcome_key(r)
        text = r.finding.explanation if r.finding else r.detail
        context = "\n".join(_context(r, report.contract))
        label = _label(key.cls, key.condition) if key is not None else ""
        if key is not None and key in new:
            tag = "error" if r.status == "error" else "failure"
            el = ET.SubElement(case, tag, message=f"new {label}: {text}"[:500], type=key.cls)
            el.text = f"{r.status}: {text}\n{r.detail}\n{context}".strip()
            t["errors" if tag == "error" else "failures"] += 1
        elif r.id in lost_by_id:
            el = ET.SubElement(case, "failure", message=f"baseline finding lost: {', '.join(lost_by_id[r.id])}", type="LOST")
            el.text = f"the baseline expects {', '.join(lost_by_id[r.id])}; this run shows {r.status}\n{context}".strip()
            t["failures"] += 1
        elif key is not None and key in outside:
            ET.SubElement(case, "system-out").text = f"outside the contract (listed, not gating): {label}: {text}\n{context}".strip()
        elif key is not None:
            ET.SubElement(case, "system-out").text = f"expected finding (baseline): {label}: {text}\n{context}".strip()
        elif r.detail or context:
            ET.SubElement(case, "system-out").text = f"{r.detail}\n{context}".strip()
    # Lost findings whose result id did not run at all still get a failing case;
    # findings that were not judged get a skipped one.
    missing = [k for k in g.lost if k.id not in seen_ids]
    if missing or report.incomplete or g.not_run:
        suite = ET.SubElement(suites, "testsuite", name=f"{report.bus.name}.gate")
        totals["gate"] = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
        by_kind["gate"] = suite
        for k in missing:
            case = ET.SubElement(suite, "testcase", name=k.id, classname=f"{report.bus.name}.gate", time="0")
            ET.SubElement(case, "failure", message=f"baseline finding lost: {_label(k.cls, k.condition)} ({k.note})", type="LOST")
            totals["gate"]["tests"] += 1
            totals["gate"]["failures"] += 1
        for k in g.not_run:
            case = ET.SubElement(suite, "testcase", name=k.id, classname=f"{report.bus.name}.gate", time="0")
            ET.SubElement(case, "skipped", message=f"not judged: {_label(k.cls, k.condition)} ({k.note or 'its phase did not run'})")
            totals["gate"]["tests"] += 1
            totals["gate"]["skipped"] += 1
        if report.incomplete:
            case = ET.SubElement(suite, "testcase", name="check.complete", classname=f"{report.bus.name}.gate", time="0")
            ET.SubElement(case, "failure", message=f"incomplete: {report.incomplete_reason}", type="INCOMPLETE")
            totals["gate"]["tests"] += 1
            totals["gate"]["failures"] += 1
    # a suite's time is its phase's (several kinds may share one phase: each
    # suite then shows the phase's time, never more)
    for kind, suite in by_kind.items():
        t = totals[kind]
        phase = PHASE_OF_KIND.get(kind)
        if phase in phase_secs:
            t["time"] = phase_secs[phase]
        suite.set("tests", str(int(t["tests"])))
        suite.set("failures", str(int(t["failures"])))
        suite.set("errors", str(int(t["errors"])))
        suite.set("skipped", str(int(t["skipped"])))
        suite.set("time", f"{t['time']:.3f}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
