"""A bus's contract: the condition (``--assume``) its callers promise to keep.

A finding that needs inputs outside the contract (a length of 2^31 or more on
a bus whose callers never pass one) is listed but never fails the gate. The
contract is written as a condition of :mod:`iobus_verify.model.conditions`
(atoms joined by ``+``, or ``none``), checked here once so that ``check``,
``report``, ``baseline update`` and the pytest plugin refuse the same typos
with the same one-line message.
"""

from __future__ import annotations

import re
from typing import Any

from iobus_verify.errors import UsageError

_SYNTAX = re.compile(r"[a-z0-9-]+(\+[a-z0-9-]+)*")


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
    parse = getattr(_conditions(), "parse", None)
    if parse is not None:
        try:
            cond = parse(text)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
        except ValueError as exc:  # an older parse: same meaning
            raise UsageError(f"{where}: {exc}") from None
        name = getattr(cond, "name", text)
    else:
        known = {a.name for a in getattr(_conditions(), "ATOMS", ())} | {"access-inside"}
        bad = [a for a in text.split("+") if a not in known] if text != "none" else []
        if not _SYNTAX.fullmatch(text) or bad:
            raise UsageError(
                f"{where}: unknown condition {text!r}: join atoms from {', '.join(sorted(known))} with '+', or say 'none'"
            )
        name = text
    return None if name == "none" else name


def violation(scenario: dict[str, Any], contract: str | None) -> str | None:
    """One line naming the op of ``scenario`` that breaks ``contract`` (None:
    it keeps it, there is no contract, or the conditions module cannot tell)."""
    if contract is None or scenario is None:
        return None
    c = _conditions()
    first, parse = getattr(c, "first_violation", None), getattr(c, "parse", None)
    if first is None or parse is None:
        return None
    try:
        return first(scenario, parse(contract))
    except (UsageError, ValueError, KeyError, TypeError):
        return None  # a scenario the conditions cannot read is judged on its replay alone
