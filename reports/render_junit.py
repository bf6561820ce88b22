"""junit.xml: one test case per obligation or property, judged as the gate judges.

A result whose outcome the baseline expects passes (its finding is kept in
``system-out``, marked "expected finding"), so a CI dashboard agrees with the
gate's exit status; a new finding is a ``failure`` (an ``error`` for a bus that
raised or hung, or a phase that crashed); an unknown result the baseline does
not expect is a ``failure`` too (unknown is never a pass); a lost finding is a
``failure`` of the result that no longer shows it. An incomplete run adds a
failing case ``check.complete``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from iobus_verify.reports.baseline import outcome_key
from iobus_verify.reports.report import Report


def render(report: Report) -> str:
    g = report.gate
    new = {(k.id, k.cls) for k in g.new}
    lost_by_id: dict[str, list[str]] = {}
    for k in g.lost:
        lost_by_id.setdefault(k.id, []).append(f"{k.cls} ({k.note})" if k.note else k.cls)
    suites = ET.Element("testsuites", name=f"iobus-verify {report.bus.name}")
    by_kind: dict[str, ET.Element] = {}
    totals: dict[str, dict[str, float]] = {}
    seen_ids = set()
    for r in report.results:
        suite = by_kind.get(r.kind)
        if suite is None:
            suite = by_kind[r.kind] = ET.SubElement(suites, "testsuite", name=f"{report.bus.name}.{r.kind}")
            totals[r.kind] = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
        t = totals[r.kind]
        seen_ids.add(r.id)
        case = ET.SubElement(suite, "testcase", name=r.id, classname=f"{report.bus.name}.{r.kind}", time=f"{r.seconds:.3f}")
        t["tests"] += 1
        t["time"] += r.seconds
        key = outcome_key(r)
        text = r.finding.explanation if r.finding else r.detail
        if key is not None and (key.id, key.cls) in new:
            tag = "error" if r.status == "error" else "failure"
            el = ET.SubElement(case, tag, message=f"new {key.cls}: {text}"[:500], type=key.cls)
            el.text = f"{r.status}: {text}\n{r.detail}".strip()
            t["errors" if tag == "error" else "failures"] += 1
        elif r.id in lost_by_id:
            el = ET.SubElement(case, "failure", message=f"baseline finding lost: {', '.join(lost_by_id[r.id])}", type="LOST")
            el.text = f"the baseline expects {', '.join(lost_by_id[r.id])}; this run shows {r.status}"
            t["failures"] += 1
        elif key is not None:
            ET.SubElement(case, "system-out").text = f"expected finding (baseline): {key.cls}: {text}"
        elif r.detail:
            ET.SubElement(case, "system-out").text = r.detail
    # Lost findings whose result id did not run at all still get a failing case.
    missing = [k for k in g.lost if k.id not in seen_ids]
    if missing or report.incomplete:
        suite = ET.SubElement(suites, "testsuite", name=f"{report.bus.name}.gate")
        totals["gate"] = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
        by_kind["gate"] = suite
        for k in missing:
            case = ET.SubElement(suite, "testcase", name=k.id, classname=f"{report.bus.name}.gate", time="0")
            ET.SubElement(case, "failure", message=f"baseline finding lost: {k.cls} ({k.note})", type="LOST")
            totals["gate"]["tests"] += 1
            totals["gate"]["failures"] += 1
        if report.incomplete:
            case = ET.SubElement(suite, "testcase", name="check.complete", classname=f"{report.bus.name}.gate", time="0")
            ET.SubElement(case, "failure", message=f"incomplete: {report.incomplete_reason}", type="INCOMPLETE")
            totals["gate"]["tests"] += 1
            totals["gate"]["failures"] += 1
    for kind, suite in by_kind.items():
        t = totals[kind]
        suite.set("tests", str(int(t["tests"])))
        suite.set("failures", str(int(t["failures"])))
        suite.set("errors", str(int(t["errors"])))
        suite.set("time", f"{t['time']:.3f}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
