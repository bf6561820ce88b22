"""What a differential result exercised, and under which conditions it diverged, as text.

A result's ``coverage`` (written by the properties phase) holds int counts
(accesses handled, candidates, registrations...) in all and per condition rung
(``by_condition``: the same counts plus ``diverged``). The renderers (Markdown,
HTML, JUnit) show the same sentences, built here once; every key that holds
an int is shown, so counts the search adds later appear without a change
here, and a report without coverage (older reports, proofs) renders nothing.
"""

from __future__ import annotations

from typing import Any

from iobus_verify.reports.records import Result


def counts(coverage: dict[str, Any] | None) -> list[tuple[str, int]]:
    """The int-valued entries of a coverage dict, in its order (bools are not counts)."""
    if not isinstance(coverage, dict):
        return []
    return [(k, v) for k, v in coverage.items() if isinstance(v, int) and not isinstance(v, bool)]


def rungs(coverage: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``by_condition`` of a coverage dict (rung name -> its counts), or {}."""
    by = coverage.get("by_condition") if isinstance(coverage, dict) else None
    return {str(k): v for k, v in by.items() if isinstance(v, dict)} if isinstance(by, dict) else {}


def rung_columns(coverage: dict[str, Any] | None) -> list[str]:
    """The count names of the per-rung table (union over rungs, first seen first)."""
    cols: list[str] = []
    for v in rungs(coverage).values():
        for k, _ in counts(v):
            if k not in cols:
                cols.append(k)
    return cols


def condition_line(r: Result) -> str | None:
    """"diverges under X; no divergence found under Y, Z" for one result,
    from its finding's condition and its ``by_condition`` coverage; None when
    it has neither."""
    by = rungs(r.coverage)
    diverged = [name for name, v in by.items() if v.get("diverged")]
    clean = [name for name, v in by.items() if not v.get("diverged")]
    cond = r.finding.condition if r.finding is not None else None
    parts = []
    if cond is not None:
        parts.append(f"diverges under {cond}")
    elif diverged:
        parts.append(f"diverges under {', '.join(diverged)}")
    if clean:
        parts.append(f"no divergence found under {', '.join(clean)}")
    return "; ".join(parts) or None


def contract_status(r: Result, contract: str | None) -> str | None:
    """Where a differential finding stands against the run's contract; None
    for a result with no condition (proofs name theirs in the id)."""
    f = r.finding
    if f is None or f.condition is None:
        return None
    if f.outside_contract:
        return f"outside the contract {contract}: listed, not gating" if contract else "outside the contract: listed, not gating"
    return f"inside the contract {contract}" if contract else "no contract: every input counts"


def counts_line(coverage: dict[str, Any] | None) -> str | None:
    """"accesses_handled 120, multi_candidate 14, ..." or None without counts."""
    c = counts(coverage)
    return ", ".join(f"{k} {v}" for k, v in c) or None
