"""Device lifetimes: the ledger one VM keeps, the faults it sees, and each era's caller rules.

Since 2011 the kernel's I/O bus has regressed mostly on its error and teardown
paths: who destroys a device after an unregister (the caller in
``coalesced_mmio.c`` / ``eventfd.c``, or the bus), and when (before or after
the new bus pointer is published and the SRCU grace period has passed). A
trace of results cannot see a leak or a free that comes too early, so every VM
keeps a :class:`Ledger` beside its trace:

* per tracked device (the devices that have a destructor: ioeventfds and
  coalesced zones), when it was created, registered and unregistered, every
  destroy (the op, and *who*: ``vm:<caller path>`` or ``bus:<bus path>``), and
  every callback that reached it after it was destroyed;
* per bus, the SRCU events a bus reports (``publish`` of a new bus pointer,
  ``sync`` for a grace period) and the readers that hold a bus (``hold_bus``).

Three kinds of :class:`Fault` come out of it, each a divergence class:

* ``LEAK``: a device that is on no bus and held by no VM list (nothing can
  reach it, nothing will ever destroy it) and was never destroyed; checked
  after every op (a leak cannot be undone, so this is the check "at the end of
  every run") and at ``destroy_vm``, after which every device is unreachable;
* ``DOUBLE_FREE``: a device destroyed a second time;
* ``USE_AFTER_FREE``: a callback reaching a destroyed device; a walk (the
  coalesced-MMIO unregister loop) stepping onto a destroyed device; or a
  destroy while a reader may still reach the device: it is still on the
  published bus, or on an older bus a reader holds and the bus has not waited
  for (no grace period since the reader took it).

The VM of the reference keeps a ledger too, under the device era's own caller
rules (2011's for era 2011, today's for today: :data:`DEFAULT_CALLERS`), and a
fault is a finding only where the bus under test has one the reference does
not at that op or before (2011's callers fault on their own: a zone is
destroyed even when the unregister failed and it is still on the bus, on the
reference as on ``seed-2011``). Faults are compared per op, like trace steps.

:class:`CallerRules` are the caller paths of one era, modelled from the code at
the commits :data:`CALLERS` cites; the VM runs them, the bus runs its own
unregister. A historical variant names its callers (``factory.callers``), so
that the VM under test runs the callers of its commit while the reference runs
the era's: a caller path that frees wrongly (a double destroy on every
unregister, a destroy after a failed unregister) is then a finding of that
variant, as a bus that frees wrongly is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable

#: The lifetime classes, most severe first (the order :func:`first_fault` picks in).
LIFETIME_CLASSES = ("DOUBLE_FREE", "USE_AFTER_FREE", "LEAK")


class ZoneWalk(enum.Enum):
    """How ``kvm_vm_ioctl_unregister_coalesced_mmio`` walks ``kvm->coalesced_zones``
    (``list_for_each_entry_safe``: the next zone is read before the body runs)."""

    #: v2.6.31 - v5.12: unregister, then the target's destructor whatever the
    #: unregister did, and go on to the saved next zone (5d3c4c79384a's "before").
    DESTROY_AND_CONTINUE = "destroy-and-continue"
    #: 5d3c4c79384a (and again b1cb1fac22ab): unregister, the target's destructor,
    #: then stop the walk when the unregister failed.
    DESTROY_THEN_STOP = "destroy-then-stop"
    #: 23fa2e46a555: unregister, stop when it failed, else the target's destructor
    #: (a failed unregister leaves the target to nobody: a leak).
    STOP_THEN_DESTROY = "stop-then-destroy"
    #: A vendor mis-merge of 23fa2e46a555 over 5d3c4c79384a (Realking xaga): the
    #: destructor before the check and again after it.
    DESTROY_STOP_DESTROY = "destroy-stop-destroy"
    #: 5ea5ca3c2b4b (v6.5) to today: the bus destroys what it unregisters;
    #: the walk only stops when the unregister failed.
    BUS_DESTROYS = "bus-destroys"


@dataclass(frozen=True)
class CallerRules:
    """The caller paths around the bus of one era: what ``eventfd.c``'s deassign
    and ``coalesced_mmio.c``'s unregister do after ``kvm_io_bus_unregister_dev``.

    ``release_ioeventfd``: deassign calls ``ioeventfd_release`` after the
    unregister, whatever it did (before 5ea5ca3c2b4b); else the bus's
    unregister destroys it. ``zone_walk``: see :class:`ZoneWalk`.
    ``bus_destroys``: the era's bus destroys what it unregisters (5ea5ca3c2b4b
    on), so a bus that does not (the pre-patch linear reference, a plugin) is
    completed by the VM after an unregister that returned 0."""

    name: str
    source: str
    release_ioeventfd: bool
    zone_walk: ZoneWalk
    bus_destroys: bool


CALLERS: dict[str, CallerRules] = {
    r.name: r
    for r in (
        CallerRules(
            "2011",
            "v3.0-v3.4 virt/kvm/eventfd.c kvm_deassign_ioeventfd and coalesced_mmio.c (CyanogenMod/android_kernel_htc_msm8974 @ 9fafe907)",
            release_ioeventfd=True,
            zone_walk=ZoneWalk.DESTROY_AND_CONTINUE,
            bus_destroys=False,
        ),
        CallerRules(
            "pre-5d3c",
            "v3.5-v5.12 callers: the same walk and release as 2011 (Rtoax/linux-5.10.13 @ a751c3fc coalesced_mmio.c)",
            release_ioeventfd=True,
            zone_walk=ZoneWalk.DESTROY_AND_CONTINUE,
            bus_destroys=False,
        ),
        CallerRules(
            "5d3c",
            "5d3c4c79384a coalesced_mmio.c (oracle/linux-uek @ 72e5450a); also what b1cb1fac22ab restores",
            release_ioeventfd=True,
            zone_walk=ZoneWalk.DESTROY_THEN_STOP,
            bus_destroys=False,
        ),
        CallerRules(
            "23fa",
            "23fa2e46a555 coalesced_mmio.c (googleprodkernel/linux-kvm @ 85fb408e)",
            release_ioeventfd=True,
            zone_walk=ZoneWalk.STOP_THEN_DESTROY,
            bus_destroys=False,
        ),
        CallerRules(
            "xaga",
            "vendor mis-merge, coalesced_mmio.c (Rohail33/Realking_xiaomi_xaga @ bb5fadb1)",
            release_ioeventfd=True,
            zone_walk=ZoneWalk.DESTROY_STOP_DESTROY,
            bus_destroys=False,
        ),
        CallerRules(
            "today",
            "5ea5ca3c2b4b to today: eventfd.c and coalesced_mmio.c leave the destroy to the bus (Laminad/WSL2-Linux-Kernel @ 7ed2a119)",
            release_ioeventfd=False,
            zone_walk=ZoneWalk.BUS_DESTROYS,
            bus_destroys=True,
        ),
    )
}

#: The caller rules a device era implies when the bus names none.
DEFAULT_CALLERS = {"2011": "2011", "today": "today"}


def caller_rules(name: str | None, era: str) -> CallerRules:
    """The rules named ``name``, else the era's default."""
    from iobus_verify.errors import UsageError

    key = name or DEFAULT_CALLERS[era]
    if key not in CALLERS:
        raise UsageError(f"caller rules {key!r} are not known; use one of {', '.join(CALLERS)}")
    return CALLERS[key]


def callers_of(spec: Any) -> str | None:
    """The caller rules a bus spec pairs with (its factory's ``callers``
    attribute, as ``era`` pairs it with device rules), or None (the era's)."""
    for obj in (spec, getattr(spec, "factory", None)):
        name = getattr(obj, "callers", None)
        if isinstance(name, str):
            return name
    return None


@dataclass(frozen=True)
class LedgerEvent:
    """One event of a ledger: at op ``op``, ``what`` happened to ``dev`` (a
    device id, or a bus name for ``publish``/``sync``/``hold``/``release``),
    done by ``by``."""

    op: int
    what: str
    dev: str
    by: str = ""
    detail: str = ""

    def show(self) -> str:
        out = f"op {self.op}: {self.dev} {self.what}"
        if self.by:
            out += f" by {self.by}"
        return out + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Fault:
    """A lifetime fault of one device: its class, the op it happened at, how
    (``site``), and the device's history: the op that created it and every
    destroy ``(op, by)`` before or at the fault."""

    cls: str
    dev: str
    op: int
    site: str
    detail: str
    created: int | None = None
    destroyed: tuple[tuple[int, str], ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.cls, self.dev)

    def show(self) -> str:
        made = f"created at op {self.created}" if self.created is not None else "created before the run"
        gone = "; ".join(f"destroyed at op {o} by {b}" for o, b in self.destroyed) or "never destroyed"
        return f"{self.cls} {self.dev} ({self.site}): {self.detail}; {made}, {gone}"


@dataclass
class _Record:
    """What the ledger knows of one device (mutable while the VM runs)."""

    dev: Any
    created: int
    destroyed: list[tuple[int, str]] = field(default_factory=list)
    leaked: bool = False


@dataclass
class _Hold:
    """A reader in an SRCU read-side section on ``bus``: the devices of the bus it loaded."""

    bus: str
    op: int
    devices: tuple[Any, ...]
    drained: bool = False


class Ledger:
    """One VM's ledger (see the module docstring).

    The VM tells it who acts (:meth:`acting`), what it creates
    (:meth:`created`), registers and unregisters; devices report their
    destructor runs (:meth:`destroyed`) and callbacks (:meth:`reached`); buses
    report ``publish``/``sync`` through :meth:`srcu`. ``published(dev)`` is
    the VM's answer to "which published bus holds this device now" (None:
    none); the VM passes what can still reach a device to :meth:`check_leaks`."""

    def __init__(self, published: Callable[[Any], str | None]):
        self._published = published
        self._call: _Call | None = None
        self.op = -1
        self.records: dict[int, _Record] = {}
        self.events: list[LedgerEvent] = []
        self.faults: list[Fault] = []
        self.holds: list[_Hold] = []
        self._who: list[str] = []

    # -- who acts -------------------------------------------------------------------
    def acting(self, who: str) -> "_Acting":
        """``with ledger.acting("vm:eventfd.c deassign"):`` names who destroys inside."""
        return _Acting(self, who)

    @property
    def who(self) -> str:
        return self._who[-1] if self._who else "vm"

    def _event(self, what: str, dev: str, detail: str = "", by: str | None = None) -> None:
        self.events.append(LedgerEvent(self.op, what, dev, self.who if by is None else by, detail))

    def _fault(self, cls: str, rec: _Record | None, dev_id: str, site: str, detail: str) -> None:
        f = Fault(cls, dev_id, self.op, site, detail, rec.created if rec else None, tuple(rec.destroyed) if rec else ())
        if f not in self.faults:
            self.faults.append(f)
        self._event("fault", dev_id, f"{cls}: {detail}")

    # -- devices --------------------------------------------------------------------
    def created(self, dev: Any) -> None:
        self.records[id(dev)] = _Record(dev, self.op)
        self._event("created", dev.id)

    def tracked(self, dev: Any) -> bool:
        return id(dev) in self.records

    def note(self, what: str, dev: Any, detail: str = "") -> None:
        """``registered`` / ``unregistered`` / ``freed``... of a tracked device."""
        if self.tracked(dev):
            self._event(what, dev.id, detail)

    def freed(self, dev: Any) -> None:
        """A device freed without its destructor (``kfree`` after a failed
        register): the end of its life, not a leak."""
        rec = self.records.get(id(dev))
        if rec is not None:
            rec.destroyed.append((self.op, self.who))
            self._event("freed", dev.id)

    def destroyed(self, dev: Any) -> None:
        """A destructor ran (called by the device, before it changes anything)."""
        rec = self.records.get(id(dev))
        if rec is None:
            return
        again = bool(rec.destroyed)
        rec.destroyed.append((self.op, self.who))
        self._event("destroyed", dev.id)
        if again:
            first = rec.destroyed[0]
            self._fault("DOUBLE_FREE", rec, dev.id, "destroy", f"destroyed again by {self.who}, first at op {first[0]} by {first[1]}")
            return
        # A reader holding an older bus it loaded, not yet waited for: read now
        # (a later sync in the same bus call must not excuse this destroy).
        held = next((h for h in self.holds if not h.drained and any(d is dev for d in h.devices)), None)
        if self._call is not None:
            # Inside a bus call (a destructor the bus ran): never call back into the
            # bus (a C bus refuses re-entry). Whether the device was still on the
            # published bus is settled when the call returns (:meth:`settled`).
            self._call.pending.append(_Pending(rec, self.who, self._call.publishes, held))
            return
        self._after_destroy(rec, self.who, self._published(dev), held)

    def _after_destroy(self, rec: _Record, who: str, where: str | None, held: "_Hold | None") -> None:
        if where is not None:
            self._fault("USE_AFTER_FREE", rec, rec.dev.id, "destroy-while-published", f"destroyed by {who} while still on the published {where} bus: any reader may reach it")
        elif held is not None:
            self._fault(
                "USE_AFTER_FREE",
                rec,
                rec.dev.id,
                "destroy-while-held",
                f"destroyed by {who} while a reader still holds the {held.bus} bus it loaded at op {held.op} (no grace period since)",
            )

    # -- a bus call in progress -------------------------------------------------------
    def bus_call(self, bus: str, before: list[Any] | None) -> "_Call":
        """``with ledger.bus_call(bus, before):`` around a call into ``bus``:
        ``before`` is what the bus held when the call began (its published
        devices), so a destroy the bus runs before it publishes a new bus is
        judged against it, and one after against what the bus holds when the
        call has returned. Call :meth:`settled` after a call that returned."""
        self._call = _Call(bus, list(before or ()), ledger=self)
        return self._call

    def settled(self, call: "_Call") -> None:
        """Judge the destroys of a finished bus call (see :meth:`bus_call`)."""
        for p in call.pending:
            if p.publishes == 0:
                where = call.bus if any(d is p.rec.dev for d in call.before) else None
                if where is None:
                    where = self._published(p.rec.dev, skip=call.bus)
            else:
                where = self._published(p.rec.dev)
            self._after_destroy(p.rec, p.who, where, p.held)
        call.pending.clear()

    def reached(self, dev: Any, how: str = "callback") -> None:
        """A callback (or a walk) reached ``dev``; a fault if it was destroyed."""
        rec = self.records.get(id(dev))
        if rec is None or not rec.destroyed:
            return
        o, b = rec.destroyed[0]
        self._event("reached", dev.id, how)
        self._fault("USE_AFTER_FREE", rec, dev.id, how, f"a {how} reached it after it was destroyed at op {o} by {b}")

    # -- readers and the bus's SRCU events ------------------------------------------
    def hold(self, bus: str, devices: list[Any]) -> None:
        self.holds.append(_Hold(bus, self.op, tuple(devices)))
        self._event("hold", bus, f"{len(devices)} device(s)", by="reader")

    def release(self, bus: str) -> bool:
        """The oldest reader of ``bus`` leaves; False when there was none."""
        for h in self.holds:
            if h.bus == bus:
                self.holds.remove(h)
                self._event("release", bus, "" if not h.drained else "after the grace period", by="reader")
                return True
        return False

    def srcu(self, bus: str, what: str) -> None:
        """A bus's ``publish`` (new bus pointer) or ``sync`` (grace period: every
        reader that held an older bus is done with it, as synchronize_srcu waits)."""
        self._event(what, bus)
        if what == "publish" and self._call is not None and self._call.bus == bus:
            self._call.publishes += 1
        if what == "sync":
            for h in self.holds:
                if h.bus == bus:
                    h.drained = True

    # -- leaks ----------------------------------------------------------------------
    def alive(self) -> bool:
        """Some tracked device is neither destroyed nor already reported leaked."""
        return any(not r.destroyed and not r.leaked for r in self.records.values())

    def check_leaks(self, reachable: Callable[[Any], bool], site: str = "unreachable") -> None:
        """Every tracked device that nothing reaches and nobody destroyed is leaked (once)."""
        for rec in self.records.values():
            if rec.destroyed or rec.leaked or reachable(rec.dev):
                continue
            rec.leaked = True
            what = "left on no bus and in no VM list" if site == "unreachable" else "still alive after the VM's teardown"
            self._fault("LEAK", rec, rec.dev.id, site, f"{what}, never destroyed")

    def history(self, dev_id: str) -> list[LedgerEvent]:
        return [e for e in self.events if e.dev == dev_id]


@dataclass
class _Pending:
    """A destroy inside a bus call, judged when the call returns: how many new
    bus pointers the bus had published before it, and the undrained reader that
    held the device then (if any)."""

    rec: _Record
    who: str
    publishes: int
    held: _Hold | None


@dataclass
class _Call:
    """A call into one bus in progress (see :meth:`Ledger.bus_call`)."""

    bus: str
    before: list[Any]
    publishes: int = 0
    pending: list[_Pending] = field(default_factory=list)
    ledger: Any = None

    def __enter__(self) -> "_Call":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.ledger is not None and self.ledger._call is self:
            self.ledger._call = None


class _Acting:
    def __init__(self, ledger: Ledger, who: str):
        self.ledger, self.who_ = ledger, who

    def __enter__(self) -> None:
        self.ledger._who.append(self.who_)

    def __exit__(self, *exc: Any) -> None:
        self.ledger._who.pop()


def new_faults(ref_faults: tuple[Fault, ...], bus_faults: tuple[Fault, ...], ref_seen: set[tuple[str, str]]) -> list[Fault]:
    """The bus's faults of one op that the reference did not have (at this op or
    before: ``ref_seen``), most severe first."""
    mine = {f.key for f in ref_faults} | ref_seen
    out = [f for f in bus_faults if f.key not in mine]
    return sorted(out, key=lambda f: LIFETIME_CLASSES.index(f.cls))
