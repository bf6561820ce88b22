"""Progress: live counters read during a step, plain lines off a terminal, a rich bar on one."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

from iobus_verify.reports import progress as P


@dataclass
class Stats:
    runs: int = 0
    ops: int = 0
    silent: dict = field(default_factory=dict)


def test_plain_lines_carry_runs_ops_and_classes():
    out = io.StringIO()
    p = P.PhaseProgress("properties", stream=out, bar=False)
    p.begin()
    p.plan(10)
    s1 = Stats()
    P.step(p, "properties: bus: rung a", watch=s1)
    s1.runs, s1.ops, s1.silent = 4, 80, {"MISSED": None}
    assert p.counters() == (4, 80, ["MISSED"])  # read live, during the step
    s2 = Stats()  # a fresh survey: the line announcing it says what the steps before it did
    P.step(p, "properties: bus: rung b", watch=s2)
    s2.runs, s2.ops, s2.silent = 6, 20, {"REORDERED": None}
    p.end("done", 3)
    text = out.getvalue()
    assert "[properties] properties: bus: rung b" in text and "4/10 runs, 80 ops, found: MISSED" in text
    assert "done: 3 result(s)" in text and "10/10 runs, 100 ops, found: MISSED, REORDERED" in text


def test_a_plain_callback_gets_the_message_only():
    got = []
    P.step(got.append, "hello", watch=Stats())
    P.plan(got.append, 5)
    assert got == ["hello"]


def test_plain_mode_writes_a_line_during_a_long_step(monkeypatch):
    monkeypatch.setattr(P, "HEARTBEAT_S", 0.3)
    out = io.StringIO()
    p = P.PhaseProgress("proofs", stream=out, bar=False)
    p.begin()
    p("proving")
    time.sleep(1.0)
    p.end("done", 1)
    assert "still at: proving" in out.getvalue()


def test_ci_true_means_plain(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("CI", "true")
    assert not P.use_bar(Tty())
    monkeypatch.setenv("CI", "")
    assert P.use_bar(Tty())


def test_the_bar_moves_during_a_step():
    out = io.StringIO()
    p = P.PhaseProgress("properties", stream=out, bar=True)
    p.begin()
    p.plan(4)
    s = Stats()
    P.step(p, "properties: bus: rung a", watch=s)
    s.runs, s.ops = 2, 40
    time.sleep(0.6)  # the refresh thread reads the counters without a call
    task = p._rich.tasks[0]
    assert task.completed == 2 and task.total == 4 and "40 ops" in task.fields["status"]
    p.end("done", 1)
    assert "done: 1 result(s)" in out.getvalue()


def test_junit_times_are_each_case_own_and_the_phase_for_a_suite():
    import xml.etree.ElementTree as ET

    from iobus_verify.reports.records import Result
    from iobus_verify.reports.render_junit import render
    from iobus_verify.reports.report import BusInfo, PhaseRun, Report

    shared = [Result(f"differential.{c}", "property", "pass", 30.0, detail="one search") for c in ("A", "B", "C")]
    alone = Result("property.sort", "property", "pass", 2.0, detail="pieces")
    rep = Report(BusInfo("b", "b", "variant", ""), "ci", 0, tuple(shared + [alone]), (PhaseRun("properties", "done", 32.5),))
    root = ET.fromstring(render(rep).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert float(suite.get("time")) == 32.5
    times = {c.get("name"): float(c.get("time")) for c in suite.iter("testcase")}
    assert times["differential.A"] == 10.0 and times["property.sort"] == 2.0
