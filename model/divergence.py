"""Divergence classes: how one op's :class:`~iobus_verify.model.vm.Step` on the bus
under test differs from the reference's.

:func:`classify` looks at one op and the two steps, in this order:

1. ``ERROR``: the bus under test raised or hung (``bus_step.error``).
1b. Lifetime classes (:mod:`iobus_verify.model.lifetime`): a fault of the bus's
   ledger at this op that the reference's ledger did not have (at this op, or
   before it: ``ref_seen``), most severe first: ``DOUBLE_FREE``,
   ``USE_AFTER_FREE``, ``LEAK``. They come before the others because a
   lifetime fault is the worse news and usually arrives on the same op as the
   REGISTRATION divergence that caused it (a dropped bus).
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

REGISTRATION_OPS = ("create_irqchip", "create_pit2", "ioeventfd", "coalesced_mmio", "probe", "fail_alloc", "hold_bus", "release_bus", "destroy_vm")
ACCESS_OPS = ("write", "read")


class DivergenceClass(enum.Enum):
    """The kinds of divergence of a bus from the reference on one op."""

    MISSED = "MISSED"  #: the reference handled an access, the bus did not
    SPURIOUS = "SPURIOUS"  #: the bus handled an access, the reference did not
    REORDERED = "REORDERED"  #: both handled it, different owners
    DATA = "DATA"  #: same owner, different rc, data or log
    REGISTRATION = "REGISTRATION"  #: register/unregister/assign/irqchip/... results differ
    ERROR = "ERROR"  #: the bus under test raised or hung
    LEAK = "LEAK"  #: a device nothing reaches any more was never destroyed
    DOUBLE_FREE = "DOUBLE_FREE"  #: a device destroyed twice
    USE_AFTER_FREE = "USE_AFTER_FREE"  #: a destroyed device reached, or destroyed while a reader may reach it


#: The lifetime classes (compared on the ledgers, not on the trace).
LIFETIME = (DivergenceClass.DOUBLE_FREE, DivergenceClass.USE_AFTER_FREE, DivergenceClass.LEAK)


def _kind(op: Any) -> str:
    return op["op"] if isinstance(op, Mapping) else op.op


def _log_entries(step: Any) -> tuple:
    """The ``(owner, entry)`` pairs; entries name the owner, not the facade
    (see :class:`~iobus_verify.model.devices.LogEntry`), so facades of one
    owner that make the same change log the same thing."""
    return tuple(step.log)


def lifetime_fault(ref_step: Any, bus_step: Any, ref_seen: Any = ()) -> Any:
    """The bus's most severe lifetime fault on this op that the reference's
    ledger lacks (``ref_seen``: the reference's fault keys of earlier ops), or None."""
    from iobus_verify.model.lifetime import new_faults

    got = new_faults(tuple(getattr(ref_step, "faults", ())), tuple(getattr(bus_step, "faults", ())), set(ref_seen))
    return got[0] if got else None


def fault_keys(step: Any) -> set:
    """The ``(class, device)`` keys of a step's lifetime faults."""
    return {f.key for f in getattr(step, "faults", ())}


def classify(op: Any, ref_step: Any, bus_step: Any, ref_seen: Any = ()) -> DivergenceClass | None:
    """The class of the divergence of ``bus_step`` from ``ref_step`` on ``op``
    (an Op or its JSON dict), or None when they agree. ``ref_seen``: the
    reference's lifetime fault keys of the earlier ops."""
    if bus_step.error:
        return DivergenceClass.ERROR
    fault = lifetime_fault(ref_step, bus_step, ref_seen)
    if fault is not None:
        return DivergenceClass(fault.cls)
    return classify_trace(op, ref_step, bus_step)


def classify_trace(op: Any, ref_step: Any, bus_step: Any) -> DivergenceClass | None:
    """The trace classes alone (ERROR, REGISTRATION, MISSED ... DATA): what
    :func:`classify` says when the ledgers agree."""
    if bus_step.error:
        return DivergenceClass.ERROR
    kind = _kind(op)
    if kind == "destroy_vm":
        # The teardown's order (array order: sorted on a range bus, registration
        # order on the linear one) is seen by nobody: the guest is gone. What
        # was destroyed is compared, as a multiset; how well is the ledger's.
        if ref_step.rc != bus_step.rc or sorted(map(repr, _log_entries(ref_step))) != sorted(map(repr, _log_entries(bus_step))):
            return DivergenceClass.REGISTRATION
        return None
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


def show_range(addr: int, length: int) -> str:
    """A range in the one notation of every message: its bytes
    ``[addr, addr + u32(len))`` in hex, clipped at 2^64, with the C length
    when it is not a plain positive size: ``[0x20, 0x22)``,
    ``[0x1, 0x100000000) (len -1)``, ``[0x10, 0x10) (len 0)``."""
    hi = min(addr + (length & 0xFFFFFFFF), 1 << 64)
    end = "2^64" if hi == 1 << 64 else f"{hi:#x}"
    return f"[{addr:#x}, {end})" + ("" if length > 0 else f" (len {length})")


def describe_op(op: Any) -> str:
    """An op (its JSON dict or an Op) in words: ``read pio [0x21, 0x23)``,
    ``write mmio [0x2, 0x3) data 00``, ``probe p1 register mmio [0x0, 0x3)``."""
    d = dict(op) if isinstance(op, Mapping) else op.to_dict()
    kind = d.get("op", "?")
    parts = [str(kind)]
    if d.get("id") is not None:
        parts.append(str(d["id"]))
    if d.get("action"):
        parts.append(str(d["action"]))
    if kind == "coalesced_mmio" and "addr" in d:
        parts.append("mmio")
        if d.get("size") is not None:
            parts.append(f"[{d['addr']:#x}, {d['addr'] + (d['size'] & 0xFFFFFFFF):#x})" if d["size"] else f"[{d['addr']:#x}, {d['addr']:#x}) (size 0)")
        else:
            parts.append(f"at {d['addr']:#x}")
    elif "addr" in d:
        parts.append(str(d.get("bus", "mmio")))
        parts.append(show_range(int(d["addr"]), int(d.get("len", 0))))
    elif d.get("bus"):
        parts.append(str(d["bus"]))
    if kind == "write" and d.get("data"):
        parts.append(f"data {d['data']}")
    if kind == "ioeventfd" and d.get("action") == "assign":
        dm = d.get("datamatch")
        parts.append("any data" if dm is None else f"datamatch {dm:#x}")
    if kind == "probe" and d.get("accepts") not in (None, "range"):
        parts.append(f"accepts {d['accepts']}")
    if kind == "create_pit2" and d.get("speaker") is not None:
        parts.append("with speaker" if d["speaker"] else "without speaker")
    return " ".join(parts)


def _rc(rc: int) -> str:
    from iobus_verify.model.protocol import errno_name

    return "0" if rc == 0 else errno_name(rc)


def _who(step: Any) -> str:
    """``pic_master took it`` / ``no device took it (-EOPNOTSUPP)``, with a
    read's bytes and the owner when it is not the device itself."""
    if step.device:
        owner = f" (part of {step.owner})" if step.owner and step.owner != step.device else ""
        text = f"{step.device}{owner} took it"
        if step.rc != 0:
            text += f" ({_rc(step.rc)})"
    else:
        text = f"no device took it ({_rc(step.rc)})"
    if step.data is not None:
        text += f", read {step.data}" if step.data else ", read no bytes"
    return text


def explain(op: Any, ref_step: Any, bus_step: Any, ref_seen: Any = ()) -> str | None:
    """A one-line explanation of the divergence on ``op``, or None: the class,
    then what the reference did and what the bus did, in words (for a lifetime
    class: the device, how, the op that created it and every destroy, by whom)."""
    cls = classify(op, ref_step, bus_step, ref_seen)
    if cls is None:
        return None
    if cls is DivergenceClass.ERROR:
        return f"ERROR: {bus_step.error}"
    if cls in LIFETIME:
        f = lifetime_fault(ref_step, bus_step, ref_seen)
        return f.show() + "; the reference's ledger has no such fault"
    logs = log_difference(ref_step, bus_step)
    if cls is DivergenceClass.REGISTRATION:
        return f"REGISTRATION: reference rc {ref_step.rc}, bus rc {bus_step.rc}" + (f"; {logs}" if logs else "")
    line = f"{cls.value}: on the reference {_who(ref_step)}; on the bus {_who(bus_step)}"
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
