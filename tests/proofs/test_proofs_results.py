"""proofs.results: a lookup refutation's finding carries the access for the diagram."""

from iobus_verify.proofs.results import ProofResult
from iobus_verify.reports.svg import intervals_from_counterexample


def test_a_lookup_refutation_shows_its_ranges_then_the_access():
    r = ProofResult(
        id="lookup.walkback_first", variant="seed-2011", outcome="refuted", seconds=0.1, n=3, scope="bounded",
        method="m", explanation="e", counterexample=({"addr": 0, "len": 3}, {"addr": 1, "len": 0}, {"addr": 2, "len": 1}),
        access={"addr": 2, "len": 1},
    ).to_result()
    ce = r.finding.counterexample
    assert [dict(c) for c in ce[:3]] == [{"addr": 0, "len": 3}, {"addr": 1, "len": 0}, {"addr": 2, "len": 1}]
    assert ce[3]["role"] == "access" and (ce[3]["addr"], ce[3]["len"]) == (2, 1)
    rows = intervals_from_counterexample(ce)
    assert len(rows) == 4
