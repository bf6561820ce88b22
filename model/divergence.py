"""Divergence classes: how one op's :class:`~iobus_verify.model.vm.Step` on the bus
under test differs from the reference's.

:func:`classify` looks at one op and the two steps, in this order:

1. ``ERROR``: the bus under test raised or hung (``bus_step.error``).
2. Registration-type ops (``create_irqchip``, ``create_pit2``, ``ioeventfd``,
   ``coalesced_mmio``, ``probe``, ``fail_alloc``): ``REGISTRATION`` when the
   result or the log differ (the log holds each bus call's result and the
   destructors run, so an unwind or a removal that went differently is seen
   even when the ioctl's result hides it).
3. Accesses (``write``, ``read``), by who handled them (a device's callback
   returned 0, observed by the VM):

   * ``MISSED``: the reference handled it, the bus did not;
   * ``SPURIOUS``: the bus handled it, the reference did not;
   * ``REORDERED``: both handled it, with different **owners**;
   * ``DATA``: same owner (or neither handled it), different rc, data or log.

Owners, not device ids, decide ``REORDERED`` because of facades: the three PIC
devices are ``container_of()`` on one ``struct kvm_pic`` and each accepts all
six PIC ports, so a bus that offers an access to ``pic_slave`` before
``pic_master`` changes the same state the same way: no divergence (log entries
name the owner, not the facade). Likewise the coalesced zones all append to
the one ring: which containing zone took a write is not observable.
"""

from __future__ import annotations

import enum
from typing import Any, Mapping

REGISTRATION_OPS = ("create_irqchip", "create_pit2", "ioeventfd", "coalesced_mmio", "probe", "fail_alloc")
ACCESS_OPS = ("write", "read")


class DivergenceClass(enum.Enum):
    """The kinds of divergence of a bus from the reference on one op."""

    MISSED = "MISSED"  #: the reference handled an access, the bus did not
    SPURIOUS = "SPURIOUS"  #: the bus handled an access, the reference did not
    REORDERED = "REORDERED"  #: both handled it, different owners
    DATA = "DATA"  #: same owner, different rc, data or log
    REGISTRATION = "REGISTRATION"  #: register/unregister/assign/irqchip/... results differ
    ERROR = "ERROR"  #: the bus under test raised or hung


def _kind(op: Any) -> str:
    return op["op"] if isinstance(op, Mapping) else op.op


def _log_entries(step: Any) -> tuple:
    """The ``(owner, entry)`` pairs; entries name the owner, not the facade
    (see :class:`~iobus_verify.model.devices.LogEntry`), so facades of one
    owner that make the same change log the same thing."""
    return tuple(step.log)


def classify(op: Any, ref_step: Any, bus_step: Any) -> DivergenceClass | None:
    """The class of the divergence of ``bus_step`` from ``ref_step`` on ``op``
    (an Op or its JSON dict), or None when they agree."""
    if bus_step.error:
        return DivergenceClass.ERROR
    kind = _kind(op)
    if kind not in ACCESS_OPS:
        if ref_step.rc != bus_step.rc or _log_entries(ref_step) != _log_entries(bus_step):
            return DivergenceClass.REGISTRATION
        return None
    ref_h, bus_h = ref_step.device is not None, bus_step.device is not None
    if ref_h and not bus_h:
        return DivergenceClass.MISSED
    if bus_h and not ref_h:
        return DivergenceClass.SPURIOUS
    if ref_h and bus_h and ref_step.owner != bus_step.owner:
        return DivergenceClass.REORDERED
    if (ref_step.rc, ref_step.data, _log_entries(ref_step)) != (bus_step.rc, bus_step.data, _log_entries(bus_step)):
        return DivergenceClass.DATA
    return None


def explain(op: Any, ref_step: Any, bus_step: Any) -> str | None:
    """A one-line explanation of the divergence on ``op``, or None."""
    cls = classify(op, ref_step, bus_step)
    if cls is None:
        return None
    if cls is DivergenceClass.ERROR:
        return f"ERROR: {bus_step.error}"

    def who(s):
        return f"{s.device} (owner {s.owner})" if s.device else "no device"

    logs = log_difference(ref_step, bus_step)
    if cls is DivergenceClass.REGISTRATION:
        return f"REGISTRATION: reference rc {ref_step.rc}, bus rc {bus_step.rc}" + (f"; {logs}" if logs else "")
    line = f"{cls.value}: reference {who(ref_step)} rc {ref_step.rc} data {ref_step.data}; bus {who(bus_step)} rc {bus_step.rc} data {bus_step.data}"
    return line + (f"; {logs}" if logs and cls is DivergenceClass.DATA else "")


def _show_entry(pair: Any) -> str:
    """One ``(owner, LogEntry)`` pair of a step's log, in words."""
    e = pair[1]
    parts = [f"{e.dev} {e.what}"]
    if e.len or e.addr:
        parts.append(f"at {e.addr:#x} len {e.len}")
    if e.value is not None:
        parts.append(f"value {e.value}")
    return " ".join(parts)


def log_difference(ref_step: Any, bus_step: Any) -> str:
    """Where the two logs part, in words ("" when they agree): the first entry
    that differs, or what one log holds past the other's end."""
    ref, bus = _log_entries(ref_step), _log_entries(bus_step)
    if ref == bus:
        return ""
    i = next((k for k, (a, b) in enumerate(zip(ref, bus)) if a != b), min(len(ref), len(bus)))
    if i == len(ref):
        return f"the bus also logs {_show_entry(bus[i])}" + (f" (+{len(bus) - i - 1} more)" if len(bus) > i + 1 else "")
    if i == len(bus):
        return f"the reference also logs {_show_entry(ref[i])}" + (f" (+{len(ref) - i - 1} more)" if len(ref) > i + 1 else "")
    return f"log entry {i}: reference {_show_entry(ref[i])}, bus {_show_entry(bus[i])}"
