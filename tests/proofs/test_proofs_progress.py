"""run_proofs tells a progress display the obligations it plans and each one it finishes."""

from __future__ import annotations

import io

from iobus_verify.proofs.run import run_proofs
from iobus_verify.reports.progress import PhaseProgress


def test_the_bar_counts_obligations_planned_and_done():
    out = io.StringIO()
    p = PhaseProgress("proofs", stream=out, bar=False)
    p.begin()
    results = run_proofs("seed-2011", n=3, timeout_s=5.0, conditions=False, progress=p)
    runs, _, found = p.counters()
    p.end("done", len(results))
    text = out.getvalue()
    # 5 comparator laws + 4 lookup obligations, no condition search asked for
    assert p.total_runs == 9 and p.unit == "obligations" and runs == 9
    assert "9 obligations planned" in text
    for ob in ("lookup.bsearch_complete", "lookup.matches_contiguous", "lookup.walkback_first", "lookup.equivalent_to_linear"):
        assert f"proofs: seed-2011: {ob}: refuted" in text
    assert "the comparator laws: 3 proved, 2 refuted" in text
    assert set(found) == {r.id for r in results if r.status == "fail"}
    assert "9/9 obligations" in text.splitlines()[-1]


def test_a_plain_callback_gets_messages_and_no_progress_changes_nothing():
    got: list[str] = []
    with_cb = run_proofs("fixed", n=2, timeout_s=5.0, progress=got.append)
    assert got[0].startswith("proofs: fixed: 13 obligations planned (9 comparator laws") and len(got) == 1 + 1 + 4
    assert [r.id for r in run_proofs("fixed", n=2, timeout_s=5.0)] == [r.id for r in with_cb]
