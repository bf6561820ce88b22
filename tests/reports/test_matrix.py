"""The index matrix: one row per obligation, whatever id each bus gives its results."""

from __future__ import annotations

import os
import re

from iobus_verify.reports.check import Phase
from iobus_verify.reports.index import report_all
from iobus_verify.reports.records import Finding, Result


def _proof(rid, status, *, ob, scope="unbounded", n=None, condition="none", finding=None):
    extra = {"obligation": ob, "scope": scope, "n": n, "condition": condition}
    return Result(rid, "proof", status, 0.01, finding, "", extra)


def _proofs_like_the_real_ones():
    """seed-2011: a refutation plus its proofs under a condition (``@cond#scope``);
    fixed: the lemma route's ``#bounded``/``#unbounded`` pair and a law per comparator."""

    def run(ctx):
        ce = ({"addr": 0x10, "len": 8}, {"addr": 0x14, "len": 8}, {"addr": 0x16, "len": 1, "role": "access"})
        if ctx.spec.name == "fixed":
            return [
                _proof("lookup.walkback_first#bounded", "pass", ob="lookup.walkback_first", scope="bounded", n=16),
                _proof("lookup.walkback_first#unbounded", "pass", ob="lookup.walkback_first"),
                _proof("comparator.transitive.sort", "pass", ob="comparator.transitive.sort"),
                _proof("comparator.transitive.match", "pass", ob="comparator.transitive.match"),
            ]
        return [
            _proof("lookup.walkback_first", "fail", ob="lookup.walkback_first", scope="bounded", n=3, finding=Finding("refuted", "walks past", None, ce)),
            _proof("lookup.walkback_first@positive-len#bounded", "pass", ob="lookup.walkback_first", scope="bounded", n=16, condition="positive-len"),
            _proof("lookup.walkback_first@positive-len#unbounded", "pass", ob="lookup.walkback_first", condition="positive-len"),
            _proof("comparator.transitive", "pass", ob="comparator.transitive"),
        ]

    return Phase("proofs", "proof", run)


def test_fixed_rows_line_up_with_the_other_variants(tmp_path, fake):
    report_all(tmp_path, buses=["seed-2011", "fixed"], phases=(fake.properties(), _proofs_like_the_real_ones()), stream=open(os.devnull, "w"), with_cost=False)
    html = (tmp_path / "index.html").read_text()
    table = html[html.index('<table class="matrix">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td><code>([^<]*)</code></td>(.*?)</tr>", table)
    assert [r[0] for r in rows] == ["comparator.transitive", "differential.MISSED", "differential.SPURIOUS", "lookup.walkback_first"]
    cells = {ob: re.findall(r"<td class=\"([\w-]+)\">(.*?)</td>", rest) for ob, rest in rows}
    seed, fixed = cells["lookup.walkback_first"]
    assert "fail: refuted" in seed[1] and "holds (N ≤ 16 and every N) under<ul><li><code>positive-len</code>" in seed[1]
    assert fixed == ("pass", "<div>pass (N ≤ 16 and every N)</div>")
    assert "segment comparator: pass" in cells["comparator.transitive"][1][1] and "point order: pass" in cells["comparator.transitive"][1][1]
    md = (tmp_path / "index.md").read_text()
    assert "| lookup.walkback\\_first | [fail: refuted" in md and "#bounded" not in md and "@positive" not in md
