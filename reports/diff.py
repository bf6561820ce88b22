"""``iobus-verify diff OLD.json NEW.json``: what changed between two reports.

Uses the gate's comparison (:mod:`iobus_verify.reports.baseline`) with the old
report's findings as the expectation, so ``diff`` and ``check`` agree: a new
or a lost finding is a regression (exit 1), a changed one is listed only.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from iobus_verify.reports.baseline import Comparison, compare, entry_of, outcomes
from iobus_verify.reports.report import Report, load_report


@dataclass(frozen=True)
class ReportDiff:
    old: Report
    new: Report
    comparison: Comparison

    @property
    def regressed(self) -> bool:
        return self.comparison.regressed


def diff_reports(old: Report, new: Report) -> ReportDiff:
    expected = {k: entry_of(k, r) for k, r in outcomes(old.results).items()}
    return ReportDiff(old, new, compare(new.results, expected))


def format_diff(d: ReportDiff) -> list[str]:
    c = d.comparison
    lines = []
    if d.old.bus.name != d.new.bus.name:
        lines.append(f"note: comparing reports of different buses ({d.old.bus.name} -> {d.new.bus.name})")
    if (d.old.profile, d.old.seed) != (d.new.profile, d.new.seed):
        lines.append(f"note: profile/seed differ ({d.old.profile}/{d.old.seed} -> {d.new.profile}/{d.new.seed})")
    if d.new.incomplete:
        lines.append(f"note: the new report is incomplete ({d.new.incomplete_reason})")
    if d.old.contract != d.new.contract:
        lines.append(f"note: contracts differ ({d.old.contract or 'none'} -> {d.new.contract or 'none'})")
    for title, keys in (("new", c.new), ("lost", c.lost), ("changed", c.changed), ("outside", c.outside)):
        for k in keys:
            lines.append(f"{title:<8} {k}" + (f"  ({k.note})" if k.note else ""))
    if not (c.new or c.lost or c.changed):
        lines.append("no difference in findings")
    return lines


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", type=Path, metavar="OLD.json", help="the earlier report.json")
    p.add_argument("new", type=Path, metavar="NEW.json", help="the later report.json")


def run(args: argparse.Namespace) -> int:
    d = diff_reports(load_report(args.old), load_report(args.new))
    for line in format_diff(d):
        print(line)
    return 1 if d.regressed else 0
