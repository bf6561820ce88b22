"""A bus's contract: the condition (``--assume``) its callers promise to keep.

A finding that needs inputs outside the contract (a length of 2^31 or more on
a bus whose callers never pass one) is listed but never fails the gate. The
contract is written as a condition of :mod:`iobus_verify.model.conditions`
(atoms joined by ``+``, or ``none``), checked here once so that ``check``,
``report``, ``baseline update`` and the pytest plugin refuse the same typos
with the same one-line message.
"""

from __future__ import annotations

from typing import Any

from iobus_verify.errors import UsageError



def _conditions():
    from iobus_verify.model import conditions

    return conditions


def resolve_contract(assume: str | None, spec: Any = None, option: str = "--assume") -> str | None:
    """The contract to run under: ``assume`` when given (validated), else the
    bus spec's ``assumes`` attribute, else None. ``none`` (no contract) is None.
    A bad atom is a :class:`UsageError` saying how to write one (``option``
    names the option in it)."""
    text = assume if assume is not None else getattr(spec, "assumes", None)
    if text is None:
        return None
    text = str(text).strip()
    where = option if assume is not None else f"bus {getattr(spec, 'spec', '?')!r}: its assumes attribute"
    try:
        name = _conditions().parse(text).name  # the one parser of conditions
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    return None if name == "none" else name


def violation(scenario: dict[str, Any], contract: str | None, era: str | None = None) -> str | None:
    """One line naming the op of ``scenario`` that breaks ``contract`` under
    ``era`` (the bus's: what registers differs between eras), or None: it
    keeps it, or there is no contract."""
    if contract is None or scenario is None:
        return None
    c = _conditions()
    try:
        return c.first_violation(scenario, c.parse(contract), era)
    except (UsageError, ValueError, KeyError, TypeError):
        return None  # a scenario the conditions cannot read is judged on its replay alone
