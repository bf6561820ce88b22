"""Deterministic minimisation of a found scenario, after Hypothesis's shrinking.

Hypothesis finds the divergence and shrinks it; its stateful shrinking works on
the choice sequence and often stops with operations that play no part in the
divergence (a write before the registrations that matter, a probe that is never
offered). :func:`minimise` finishes the job on the ``iobus-scenario/1`` object
itself, replaying every candidate through the VM
(:func:`~iobus_verify.properties.replaying.first_divergence_class`) and keeping
it only when the first divergence is still of the same class:

1. drop operations, one at a time, last first, until no single operation can
   go; then try dropping any two at once (an armed allocation failure and the
   unregister it fails only go together);
2. translate all addresses together towards 0 (ranges and accesses keep their
   relative positions), then make every number as small as it can be on its
   own (0, 1, 2, 4, 8, then halving and decrementing; data bytes to zeros; the
   top-level capacity removed or lowered). The length of a guest read or write
   is the exception: a guest issues accesses of 1 to 8 bytes, so 1 counts as
   its simplest value and 0 or a negative length is kept only when the
   divergence needs it;
3. repeat both until nothing changes.

The result is minimal in this sense: removing any one or any two operations,
or lowering any one number to a tried candidate, loses the divergence. It is a pure function of its
input, so the same finding always minimises to the same scenario.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from iobus_verify.errors import UsageError

Predicate = Callable[[dict[str, Any]], bool]

#: Numeric fields of an op that may be lowered, in the order they are tried.
NUMERIC_FIELDS = ("addr", "len", "size", "datamatch")
#: Upper bound on candidate replays per call (a safety net, never hit in practice).
MAX_REPLAYS = 5000


def _simplicity(c: int) -> tuple:
    """Order of numbers: non-negative before negative, then by magnitude."""
    return (c < 0, abs(c))


def _access_len_simplicity(c: int) -> tuple:
    """Order of access lengths: positive (what a guest issues) first, then 0, then negative."""
    return (c < 1, c < 0, abs(c))


def _smaller(v: int, key: Callable[[int], tuple] = _simplicity) -> list[int]:
    """Candidates "simpler" than ``v`` under ``key``."""
    cands = [0, 1, 2, 4, 8, v // 2, v - 1, -1]
    out = []
    for c in cands:
        if key(c) < key(v) and c not in out:
            out.append(c)
    return sorted(out, key=key)


def _drop_a_pair(best: dict[str, Any], ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """``best`` without some two of its operations (later pairs tried first) that
    still satisfies ``ok``, or None. Quadratic, but only ever run on a scenario
    no single drop shortens, which is a handful of operations."""
    ops = best["ops"]
    for j in range(len(ops) - 1, 0, -1):
        for i in range(j - 1, -1, -1):
            cand = dict(best, ops=ops[:i] + ops[i + 1 : j] + ops[j + 1 :])
            if ok(cand):
                return cand
    return None


def minimise(scenario: dict[str, Any], keeps_divergence: Predicate) -> tuple[dict[str, Any], int]:
    """A minimal scenario (see the module docstring) for which ``keeps_divergence`` still holds, and the
    number of replays spent. ``scenario`` itself must satisfy the predicate."""
    best = copy.deepcopy(scenario)
    replays = 0

    def ok(candidate: dict[str, Any]) -> bool:
        nonlocal replays
        if replays >= MAX_REPLAYS:
            return False
        replays += 1
        try:
            return keeps_divergence(candidate)
        except UsageError:  # e.g. an unregister whose register was dropped
            return False

    changed = True
    while changed:
        changed = False
        # 1. drop operations
        i = len(best["ops"]) - 1
        while i >= 0:
            cand = dict(best, ops=best["ops"][:i] + best["ops"][i + 1 :])
            if ok(cand):
                best, changed = cand, True
            i -= 1
        # 1b. drop two operations at once: pairs that only matter together
        # (an armed allocation failure and the unregister it fails) survive
        # every single drop
        if not changed:
            cand = _drop_a_pair(best, ok)
            if cand is not None:
                best, changed = cand, True
                continue
        # 2a. translate every address by the same amount
        addrs = [o["addr"] for o in best["ops"] if isinstance(o.get("addr"), int)]
        if addrs and min(addrs) > 0:
            low = min(addrs)
            for d in dict.fromkeys([low, low - low // 2, low // 2, 1]):
                if d <= 0:
                    continue
                cand = copy.deepcopy(best)
                for o in cand["ops"]:
                    if isinstance(o.get("addr"), int):
                        o["addr"] -= d
                if ok(cand):
                    best, changed = cand, True
                    break
        # 2b. lower numbers one at a time
        for i in range(len(best["ops"])):
            for field in NUMERIC_FIELDS:
                is_access_len = field == "len" and best["ops"][i].get("op") in ("read", "write")
                key = _access_len_simplicity if is_access_len else _simplicity
                while True:
                    v = best["ops"][i].get(field)
                    if not isinstance(v, int) or isinstance(v, bool):
                        break
                    for c in _smaller(v, key):
                        cand = copy.deepcopy(best)
                        cand["ops"][i][field] = c
                        if is_access_len and cand["ops"][i].get("op") == "write":
                            # a write carries exactly max(len, 0) bytes: keep its first ones
                            n = 2 * max(c, 0)
                            cand["ops"][i]["data"] = str(cand["ops"][i].get("data") or "")[:n].ljust(n, "0")
                        if ok(cand):
                            best, changed = cand, True
                            break
                    else:
                        break
            data = best["ops"][i].get("data")
            if isinstance(data, str) and data.strip("0"):
                cand = copy.deepcopy(best)
                cand["ops"][i]["data"] = "0" * len(data)
                if ok(cand):
                    best, changed = cand, True
        cap = best.get("capacity")
        if isinstance(cap, int):
            cand = {k: v for k, v in best.items() if k != "capacity"}
            if ok(cand):
                best, changed = cand, True
            else:
                for c in [x for x in _smaller(cap) if x >= 1]:
                    cand = dict(best, capacity=c)
                    if ok(cand):
                        best, changed = cand, True
                        break
    return best, replays
