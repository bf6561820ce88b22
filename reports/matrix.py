"""The variant x obligation matrix of the index: one row per obligation, whatever each bus calls it.

The buses' result ids differ for one obligation: a proof checked at two scopes is
``<id>#bounded`` and ``<id>#unbounded`` (``fixed``'s lemma route), a proof under
a condition is ``<id>@<condition>`` (the weakest conditions of a refuted
obligation of ``seed-2011``/``upstream``), and ``fixed``'s comparator laws are
proved for each of its two orders (``comparator.<law>.sort``: the segment
comparator, ``.match``: the point order it induces). :func:`rows` groups the
results by the obligation they are about, so that every bus's answer to one
question sits on one row; :func:`cell` turns one bus's results on a row into
lines for the HTML and Markdown renderers:

* the unconditional results first (one line per facet; the scope, ``N <= n``
  or ``every N``, said when it matters), the cell coloured by the worst of them
  and, for a finding, by the gate's judgement (new / expected / outside the
  contract);
* then, under "holds under", each condition the bus was proved under, with its
  scopes; a condition under which it was not proved says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from iobus_verify.reports.records import Result
from iobus_verify.reports.report import Report

#: the suffix of ``fixed``'s comparator obligations -> what it proves the law of
FACETS = {"sort": "segment comparator", "match": "point order"}

_WORST = ("error", "fail", "unknown", "pass")


def obligation_of(r: Result) -> tuple[str, str]:
    """(the row: the obligation's id, the facet: ``""`` or one of :data:`FACETS`' labels)."""
    base = r.extra.get("obligation") if r.kind == "proof" and isinstance(r.extra, dict) else None
    if not isinstance(base, str) or not base:
        base = r.id.split("@", 1)[0].split("#", 1)[0]
    head, _, last = base.rpartition(".")
    if head.startswith("comparator.") and last in FACETS:
        return head, FACETS[last]
    return base, ""


def condition_of(r: Result) -> str | None:
    """The condition a proof assumed (None: unconditional)."""
    c = r.extra.get("condition") if isinstance(r.extra, dict) else None
    if c in (None, "none"):
        return None if "@" not in r.id else r.id.split("@", 1)[1].split("#", 1)[0]
    return str(c)


def scope_of(r: Result) -> str:
    """``N <= 16`` (arrays of at most 16 ranges), ``every N``, or ``""`` (not a bounded/unbounded pair)."""
    e = r.extra if isinstance(r.extra, dict) else {}
    if e.get("scope") == "bounded" and e.get("n") is not None:
        return f"N ≤ {e['n']}"
    if e.get("scope") == "unbounded" and r.id.startswith("lookup."):
        return "every N"
    return ""


def rows(reports: Sequence[Report]) -> list[tuple[str, dict[str, list[Result]]]]:
    """[(obligation, {bus: its results on that row})], rows sorted by obligation id."""
    table: dict[str, dict[str, list[Result]]] = {}
    for rep in reports:
        for r in rep.results:
            table.setdefault(obligation_of(r)[0], {}).setdefault(rep.bus.name, []).append(r)
    return sorted(table.items())


@dataclass(frozen=True)
class Line:
    """One line of a cell: ``status`` its colour class, ``href`` the finding's page (relative to the index)."""

    status: str
    text: str
    href: str | None = None
    conditional: bool = False
    result: Result | None = None  # the finding the line links to
    #: a "holds under" line: the conditions (each proved; any one suffices) and their scopes
    conditions: tuple[str, ...] = ()
    scopes: str = ""


def worst(statuses: Sequence[str]) -> str:
    return next((s for s in _WORST if s in statuses), "pass")


def _finding_line(rep: Report, r: Result, prefix: str, label: str) -> Line:
    from iobus_verify.reports.render_html import finding_page_path, gate_status

    judged = gate_status(rep, r)
    tag, cls = ("new", r.status) if judged.startswith("new") else ("expected", "expected") if judged.startswith("expected") else (
        ("outside contract", "unknown") if judged.startswith("outside") else ("", r.status)
    )
    where = f" @ {r.finding.condition}" if r.finding.condition else ""  # a differential finding's rung
    text = f"{label}{r.status}: {r.finding.cls}{where}" + (f" ({tag})" if tag else "")
    return Line(cls, text, f"{prefix}{finding_page_path(r)}", result=r)


def _summary(results: Sequence[Result]) -> str:
    """``pass (N ≤ 16 and every N)``, ``pass (N ≤ 16) · unknown (every N)``, ``pass``."""
    by: dict[str, list[str]] = {}
    for r in results:
        by.setdefault(r.status, []).append(scope_of(r))
    parts = []
    for status, scopes in by.items():
        named = [s for s in scopes if s]
        parts.append(status + (f" ({' and '.join(named)})" if named else ""))
    return " · ".join(parts)


def cell(rep: Report, results: Sequence[Result], prefix: str) -> tuple[str, list[Line]]:
    """(the cell's colour class, its lines) for one bus's ``results`` on one row; ``prefix``: the
    bus folder relative to the index (``seed-2011/``)."""
    plain = [r for r in results if condition_of(r) is None]
    conditional = [r for r in results if condition_of(r) is not None]
    lines: list[Line] = []
    facets: dict[str, list[Result]] = {}
    for r in plain:
        facets.setdefault(obligation_of(r)[1], []).append(r)
    order = ["", *FACETS.values()]
    for facet, rs in sorted(facets.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        label = f"{facet}: " if facet else ""
        found = [r for r in rs if r.finding is not None]
        for r in found:
            lines.append(_finding_line(rep, r, prefix, label))
        rest = [r for r in rs if r.finding is None]
        if rest:
            lines.append(Line(worst([r.status for r in rest]), label + _summary(rest)))
    by_cond: dict[str, list[Result]] = {}
    for r in conditional:
        by_cond.setdefault(str(condition_of(r)), []).append(r)
    holds: dict[str, list[str]] = {}  # scopes -> the conditions proved at those scopes
    for cond, rs in by_cond.items():
        if cond != "searched" and all(r.status == "pass" for r in rs):
            holds.setdefault(" and ".join(s for s in (scope_of(r) for r in rs) if s), []).append(cond)
    for scopes, conds in holds.items():
        text = "holds under " + " or ".join(conds) + (f" ({scopes})" if scopes else "")
        lines.append(Line("pass", text, conditional=True, conditions=tuple(conds), scopes=scopes))
    for cond, rs in by_cond.items():
        if any(cond in ln.conditions for ln in lines):
            continue
        st = worst([r.status for r in rs])
        if cond == "searched":  # the search found no condition: its unknown result says so
            lines.append(Line(st, "no condition of the search proves it", conditional=True))
            continue
        found = [r for r in rs if r.finding is not None]
        for r in found:
            ln = _finding_line(rep, r, prefix, f"under {cond}: ")
            lines.append(Line(ln.status, ln.text, ln.href, conditional=True, result=r))
        rest = [r for r in rs if r.finding is None]
        if rest:
            lines.append(Line(worst([r.status for r in rest]), f"under {cond}: {_summary(rest)}", conditional=True))
    main = [ln for ln in lines if not ln.conditional]
    colour = main[0].status if len(main) == 1 else worst([ln.status for ln in main]) if main else "none"
    if len(main) > 1 and any(ln.status == "expected" for ln in main) and not any(ln.status in ("fail", "error") for ln in main):
        colour = "expected"
    return colour, lines
