"""A VM: a PIO bus and an MMIO bus from any bus factory, and the operations user
space has (the kernel's ioctl-level rules), one :class:`Step` per scenario op.

:class:`VM` implements, for its ``era`` (``"2011"`` or ``"today"``):

* ``create_irqchip``: ``-EEXIST`` when the irqchip exists; the PIC facades
  ``pic_master (0x20, 2)``, ``pic_slave (0xa0, 2)``, ``pic_elcr (0x4d0, 2)``
  on PIO with the patch's unwind (a failed slave unregisters the master, a
  failed ELCR the slave then the master), then the IOAPIC
  ``(0xfec00000, 0x100)`` on MMIO; if that fails, the three PIC facades are
  unregistered (master, slave, ELCR) and its error returned. A failed PIC:
  2011 returns ``-ENOMEM`` (``kvm_create_pic`` returns NULL), today the
  registration's error (``kvm_pic_init``).
* ``create_pit2``: ``-EEXIST`` when a PIT exists; today ``-ENOENT`` without
  an in-kernel PIC (the check in the stored x86.c); the PIT ``(0x40, 4)``,
  then the speaker ``(0x61, 4)`` only when asked (a failed speaker unregisters
  the PIT); any failure is ``-ENOMEM`` (``kvm_create_pit`` returns NULL).
* ``ioeventfd`` assign/deassign with the era's checks (lengths, ``addr+len``
  overflow, today's "no length with datamatch", collisions -> ``-EEXIST``,
  the bus from ``bus``); deassign by id, ``-ENOENT`` when the id is not in
  the VM's ioeventfd list (never assigned, or destroyed). Today's
  ``KVM_FAST_MMIO_BUS`` twin of a length-0 MMIO ioeventfd is not modelled: no
  op accesses that bus and no op can make its registration fail.
* ``coalesced_mmio`` register (``zone.size`` a u32 passed as ``int len``:
  :func:`~iobus_verify.model.cints.c_int`; 2011 returns 0 even when the bus
  registration fails, today its error) and unregister (every zone that
  CONTAINS the requested range is removed; always returns 0). Today a zone
  has ``pio`` (0: MMIO bus, 1: PIO bus, anything else ``-EINVAL`` on register
  and unregister) and unregister removes only zones with the same ``pio``;
  in 2011 the field was padding: every zone is MMIO.
* ``probe`` register/unregister (``-ENOENT`` for an id that is not live),
  guest ``write``/``read``, and ``fail_alloc`` (the next allocation on that
  bus fails: :meth:`FailNth.fail_next`).
* ``hold_bus`` / ``release_bus`` (scenario version 2): a reader enters the
  SRCU read side and loads a bus pointer (it can reach every device of that
  bus until it leaves, or until the bus waits for it with a grace period), and
  the oldest such reader leaves (``-ENOENT`` when none holds that bus).
* ``destroy_vm`` (version 2): ``kvm_destroy_vm``'s teardown of the buses: every
  bus destroyed in bus order (MMIO, then PIO), each device's destructor run by
  the bus's own ``destroy()`` (``kvm_io_bus_destroy``) or, for a bus without
  one, by the VM over the devices on it; then whatever is still alive leaked.
  It is the last op: the VM is gone.

Destructors follow the era's caller rules (:mod:`iobus_verify.model.lifetime`,
``CallerRules``; by default 2011's for era 2011, today's for today): before
5ea5ca3c2b4b the caller frees after the bus unregister (``ioeventfd_release``,
``kvm_iodevice_destructor`` on a zone), whatever the unregister returned, and
the coalesced-MMIO walk's handling of a failed unregister is the era's; from
5ea5ca3c2b4b on the bus unregister destroys the device (a bus that returns 0
without destroying and does not declare ``destroys_on_unregister`` either way,
such as the pre-patch linear reference, is completed by the VM), and after a failed
unregister the callers do nothing more.

Every VM keeps a lifetime :class:`~iobus_verify.model.lifetime.Ledger` of the
devices with a destructor (ioeventfds, coalesced zones): created, registered,
unregistered, destroyed by whom, reached after destroy, the buses' SRCU
events and the readers' holds; each :class:`Step` carries the ledger events
and faults of its op.

The linear reference (a spec of kind ``reference``) is built with the VM's
era's registration contract (:class:`~iobus_verify.model.linear_bus.LinearBus`
``era=``): 2011 300 devices counting every one, ``-ENOENT`` for an absent
device; today 1000 devices not counting ioeventfds, 0 for an absent device.

Every bus call's result is logged under the owner ``"vm"`` so that a
registration divergence is seen even where the ioctl hides it. The device that
handled an access is observed through the devices' ``observer`` hook, never
taken from the bus. Exceptions from the bus (a plugin's bug) and ops that run
past ``op_timeout`` seconds (SIGALRM, main thread only) become
``Step.error``; the VM is then *broken* and later ops are not run.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from iobus_verify.errors import UsageError
from iobus_verify.model import devices as D
from iobus_verify.model.cints import c_int, u64
from iobus_verify.model.lifetime import Ledger, ZoneWalk, caller_rules, callers_of
from iobus_verify.model.protocol import EEXIST, EINVAL, ENOENT, ENOMEM, FailNth, errno_name
from iobus_verify.model.scenario import BUSES, Op, Scenario, load_scenario, op_from_dict

#: Default per-op time limit (seconds).
OP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Step:
    """What one op did on one VM.

    ``rc``: the ioctl's or the access's result. ``device``/``owner``: the id
    and owner of the device whose callback returned 0 (None if none did).
    ``data``: hex of the bytes a read returned (None for non-reads and failed
    reads). ``log``: the ``(owner, LogEntry)`` pairs this op appended, across
    devices (owner ``"vm"``: the bus calls' results). ``error``: set when the
    bus raised or hung. ``callbacks``/``comparisons``: from the buses'
    ``stats()`` when they have one. ``ledger``: the lifetime events of this op
    (:class:`~iobus_verify.model.lifetime.LedgerEvent`); ``faults``: the
    lifetime faults it caused (:class:`~iobus_verify.model.lifetime.Fault`).
    """

    rc: int
    device: str | None = None
    owner: str | None = None
    data: str | None = None
    log: tuple = ()
    error: str | None = None
    callbacks: int = 0
    comparisons: int = 0
    ledger: tuple = ()
    faults: tuple = ()

    @property
    def handled(self) -> bool:
        """A device's callback returned 0 for this op."""
        return self.device is not None

    def summary(self) -> str:
        if self.error:
            return f"ERROR {self.error}"
        out = errno_name(self.rc)
        if self.device:
            out += f" {self.device}"
        if self.data is not None:
            out += f" data={self.data or '-'}"
        return out


@dataclass(frozen=True)
class Trace:
    """The steps of one scenario on one bus."""

    bus: str
    era: str
    steps: tuple[Step, ...]


class OpTimeout(BaseException):
    """Raised by SIGALRM inside a bus past the per-op limit (a BaseException, so
    that a plugin's ``except Exception`` cannot swallow it)."""


def _run_limited(seconds: float | None, fn: Callable[[], Any]) -> Any:
    """``fn()`` under a wall-clock limit; re-arms an outer ITIMER_REAL afterwards.

    An outer timer (``check --timeout``'s deadline) that would fire first is
    left alone, handler and all: its expiry is the run's deadline, not a hang
    of the bus, and must not be turned into an ``OpTimeout`` (nor disarmed)."""
    if not seconds or seconds <= 0 or threading.current_thread() is not threading.main_thread():
        return fn()
    pending, _ = signal.getitimer(signal.ITIMER_REAL)
    if 0 < pending <= seconds:
        return fn()

    def _alarm(signum, frame):
        raise OpTimeout()

    old_handler = signal.signal(signal.SIGALRM, _alarm)
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if outer > 0:  # an enclosing limit (e.g. the state machine's) keeps running
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 1e-6), interval)


class _BusFault(Exception):
    """A bus call raised: carries the description for Step.error."""


class VM:
    """A VM over one bus spec (see the module docstring)."""

    def __init__(
        self,
        spec: Any,
        *,
        era: str | None = None,
        capacity: int | None = None,
        alloc_faults: bool = True,
        op_timeout: float | None = OP_TIMEOUT,
        callers: str | None = None,
    ):
        self.spec = spec
        self.era = D.check_era(era or getattr(spec, "era", "today"))
        #: the era's caller paths (who destroys after an unregister): ``callers``,
        #: else the spec's (``factory.callers``), else the era's default
        self.callers = caller_rules(callers or callers_of(spec), self.era)
        self.op_timeout = op_timeout
        use_alloc = alloc_faults and getattr(spec, "accepts_alloc", False)
        self.allocs: dict[str, FailNth] = {b: FailNth() for b in BUSES} if use_alloc else {}
        self.ledger = Ledger(self._published_on)
        self.buses: dict[str, Any] = {b: self._make_bus(spec, capacity, self.allocs.get(b)) for b in BUSES}
        # A bus that reports its SRCU events (publish, sync) gets the ledger's hook;
        # for any other bus a successful register/unregister is publish + sync.
        self._srcu: dict[str, bool] = {}
        for b, bus in self.buses.items():
            self._srcu[b] = hasattr(bus, "srcu")
            if self._srcu[b]:
                bus.srcu = lambda what, name=b: self.ledger.srcu(name, what)
        #: what the VM registered on each bus and did not unregister (the bus's
        #: content for a bus without ranges())
        self._view: dict[str, list[Any]] = {b: [] for b in BUSES}
        self.op_index = 0
        self.broken: str | None = None
        self.dead: int | None = None  # the op index of destroy_vm
        # kernel objects
        self.pic: D.KvmPic | None = None
        self.pic_devs: tuple[D.PicDevice, ...] = ()
        self.ioapic: D.Ioapic | None = None
        self.pit: D.Pit | None = None
        self.speaker: D.Speaker | None = None
        self.ring = D.CoalescedRing(era=self.era)
        self.ioeventfds: list[D.Ioeventfd] = []  # kvm->ioeventfds, list order
        self.zones: list[D.CoalescedZone] = []  # kvm->coalesced_zones, list order
        self.probes: dict[str, tuple[str, D.Probe]] = {}  # id -> (bus, probe), live ones
        # observation
        self._vm_log: list[D.LogEntry] = []
        self._logs: dict[str, list] = {"vm": self._vm_log}
        self._accepted: list[Any] = []

    def _make_bus(self, spec: Any, capacity: int | None, alloc: Any) -> Any:
        if getattr(spec, "kind", None) == "reference":
            # The reference is the linear scan with the era's registration contract
            # (issue 18): its capacity, ioeventfd counting and absent-device result.
            from iobus_verify.model.linear_bus import LinearBus
            from iobus_verify.model.protocol import always_allocate

            return LinearBus(capacity, era=self.era, alloc=alloc if alloc is not None else always_allocate)
        return spec.make(capacity, alloc=alloc)

    @property
    def pio(self) -> Any:
        return self.buses["pio"]

    @property
    def mmio(self) -> Any:
        return self.buses["mmio"]

    # -- plumbing -------------------------------------------------------------------------
    def _adopt(self, dev: Any) -> Any:
        dev.observer = self._on_accept
        self._logs.setdefault(dev.owner, dev.log)
        if hasattr(dev, "destructor"):  # the devices with a lifetime of their own
            dev.ledger = self.ledger
            self.ledger.created(dev)
        return dev

    # -- what can reach a device (for the ledger) ------------------------------------------
    def devices_on(self, bus: str) -> list[Any]:
        """The devices on ``bus`` now: its ``ranges()``, else what the VM registered there."""
        fn = getattr(self.buses[bus], "ranges", None)
        if callable(fn):
            return [e[2] for e in fn()]
        return list(self._view[bus])

    def _published_on(self, dev: Any, skip: str | None = None) -> str | None:
        if self.dead is not None:
            return None
        for b in BUSES:
            if b != skip and any(d is dev for d in self.devices_on(b)):
                return b
        return None

    def _vm_held(self) -> list[Any]:
        return [*self.ioeventfds, *self.zones]  # kvm->ioeventfds, kvm->coalesced_zones

    def _reachable_ids(self) -> set[int]:
        """What can still reach a device: the VM's lists, the published buses, the
        readers that hold an older bus not yet waited for (ids of the devices)."""
        if self.dead is not None:
            return set()
        out = {id(d) for d in self._vm_held()}
        for b in BUSES:
            out.update(id(d) for d in self.devices_on(b))
        for h in self.ledger.holds:
            if not h.drained:
                out.update(id(d) for d in h.devices)
        return out

    def _implicit_sync(self, bus: str, rc: int) -> None:
        # A bus that does not report its SRCU events: a change it made was
        # published and waited for before it returned (the pre-patch contract).
        if not self._srcu[bus] and rc == 0:
            with self.ledger.acting(f"bus:{getattr(self.spec, 'name', '?')}"):
                self.ledger.srcu(bus, "publish")
                self.ledger.srcu(bus, "sync")

    def _on_accept(self, dev: Any) -> None:
        self._accepted.append(dev)

    def _bus_call(self, what: str, fn: Callable[[], Any], bus: str | None = None) -> Any:
        """Call into a bus. ``bus``: the VM bus a call that may destroy devices
        (register, unregister, destroy) goes to; the ledger judges those destroys
        once the call has returned, never from inside it (see ``Ledger.bus_call``)."""
        try:
            with self.ledger.acting(f"bus:{getattr(self.spec, 'name', '?')} {what.split('(')[0]}"):
                if bus is None:
                    return fn()
                before = self.devices_on(bus) if self.dead is None and self.ledger.alive() else None
                with self.ledger.bus_call(bus, before) as call:
                    out = fn()
                    self.ledger.settled(call)
                return out
        except (OpTimeout, UsageError):
            raise
        except Exception as exc:  # a bus plugin's own bug: reported with the op
            raise _BusFault(f"bus {getattr(self.spec, 'name', '?')} raised {type(exc).__name__} in {what}: {exc}") from exc

    def _register(self, bus: str, addr: int, length: int, dev: Any) -> int:
        rc = self._bus_call(f"register({addr:#x}, {length})", lambda: self.buses[bus].register(addr, length, dev), bus)
        rc = self._check_rc(rc, "register")
        self._vm_log.append(D.LogEntry("register", dev.id, addr, length, rc, bus))
        if rc == 0:
            self._view[bus].append(dev)
            self.ledger.note("registered", dev, bus)
        self._implicit_sync(bus, rc)
        return rc

    def _unregister(self, bus: str, dev: Any) -> int:
        rc = self._bus_call(f"unregister({dev.id})", lambda: self.buses[bus].unregister(dev), bus)
        rc = self._check_rc(rc, "unregister")
        self._vm_log.append(D.LogEntry("unregister", dev.id, 0, 0, rc, bus))
        if rc == 0 and any(d is dev for d in self._view[bus]):
            self._view[bus] = [d for d in self._view[bus] if d is not dev]
        self.ledger.note("unregistered", dev, f"{bus} rc {rc}")
        self._implicit_sync(bus, rc)
        if self.callers.bus_destroys and rc == 0 and getattr(self.buses[bus], "destroys_on_unregister", None) is None:
            # Since 5ea5ca3c2b4b kvm_io_bus_unregister_dev destroys the device it
            # removed; a bus that returned 0 without doing so and says nothing
            # about it (the pre-patch reference, a plugin) is completed here. A
            # bus that declares it does not destroy (a range bus of an older
            # commit) is taken at its word: under these callers nobody does.
            if getattr(dev, "destroyed", True) is False:
                with self.ledger.acting("vm:completes the era's bus destroy"):
                    dev.destructor()
        return rc

    def _check_rc(self, rc: Any, what: str) -> int:
        if not isinstance(rc, int) or isinstance(rc, bool):
            raise _BusFault(f"bus {getattr(self.spec, 'name', '?')}: {what} returned {rc!r}, not an int")
        return rc

    # -- the op loop ----------------------------------------------------------------------
    def apply(self, op: Op | Mapping[str, Any]) -> Step:
        """Run one op (an :class:`Op` or its JSON dict) and return its :class:`Step`."""
        if not isinstance(op, Op):
            op = op_from_dict(op, self.op_index)
        index = self.op_index
        self.op_index += 1
        if self.dead is not None:
            raise UsageError(f"op {index}: the VM was destroyed at op {self.dead} (destroy_vm must be the last op)")
        if self.broken is not None:
            return Step(rc=0, error=f"not run: {self.broken}")
        self.ledger.op = index
        ev_mark, fault_mark = len(self.ledger.events), len(self.ledger.faults)
        marks = {owner: len(log) for owner, log in self._logs.items()}
        self._accepted = []
        error = None
        rc, data = 0, None
        stats = (0, 0)
        try:
            rc, data = _run_limited(self.op_timeout, lambda: self._dispatch(op))
            stats = _run_limited(self.op_timeout, self._stats)
        except OpTimeout:
            error = f"op {index} ({op.op}): bus {getattr(self.spec, 'name', '?')} did not return within {self.op_timeout:g} s"
        except _BusFault as exc:
            error = f"op {index} ({op.op}): {exc}"
        if error is not None:
            self.broken = error
            return Step(rc=0, error=error)
        if op.op not in _NO_LIFETIME_END and self.ledger.alive():
            reach = self._reachable_ids()
            self.ledger.check_leaks(lambda d: id(d) in reach)
        log = tuple((owner, e) for owner, lg in self._logs.items() for e in lg[marks.get(owner, 0) :])
        first = self._accepted[0] if self._accepted else None
        return Step(
            rc=rc,
            device=first.id if first is not None else None,
            owner=first.owner if first is not None else None,
            data=data,
            log=log,
            callbacks=stats[0],
            comparisons=stats[1],
            ledger=tuple(self.ledger.events[ev_mark:]),
            faults=tuple(self.ledger.faults[fault_mark:]),
        )

    def run(self, ops: Iterable[Op | Mapping[str, Any]]) -> list[Step]:
        return [self.apply(op) for op in ops]

    def _stats(self) -> tuple[int, int]:
        calls = comps = 0
        for name, bus in self.buses.items():
            fn = getattr(bus, "stats", None)
            if callable(fn):
                s = self._bus_call("stats()", fn)
                calls += int(getattr(s, "callbacks", 0))
                comps += int(getattr(s, "comparisons", 0))
        return calls, comps

    def _dispatch(self, op: Op) -> tuple[int, str | None]:
        kind = op.op
        if kind == "create_irqchip":
            return self.create_irqchip(), None
        if kind == "create_pit2":
            return self.create_pit2(bool(op.speaker)), None
        if kind == "ioeventfd":
            if op.action == "assign":
                return self.assign_ioeventfd(op.id, _need(op, "bus"), _need(op, "addr"), _need(op, "len"), op.datamatch), None
            if op.action == "deassign":
                return self.deassign_ioeventfd(_need(op, "id")), None
        elif kind == "coalesced_mmio":
            if op.action == "register":
                return self.register_zone(_need(op, "id"), _need(op, "addr"), _need(op, "size"), op.pio or 0), None
            if op.action == "unregister":
                return self.unregister_zone(op.addr, op.size, op.id, op.pio), None
        elif kind == "probe":
            if op.action == "register":
                return self.register_probe(_need(op, "id"), _need(op, "bus"), _need(op, "addr"), _need(op, "len"), op.accepts or "range"), None
            if op.action == "unregister":
                return self.unregister_probe(_need(op, "id")), None
        elif kind == "write":
            return self.write(_need(op, "bus"), _need(op, "addr"), _need(op, "len"), op.data or ""), None
        elif kind == "read":
            return self.read(_need(op, "bus"), _need(op, "addr"), _need(op, "len"))
        elif kind == "fail_alloc":
            return self.fail_alloc(_need(op, "bus")), None
        elif kind == "hold_bus":
            return self.hold_bus(_need(op, "bus")), None
        elif kind == "release_bus":
            return self.release_bus(_need(op, "bus")), None
        elif kind == "destroy_vm":
            return self.destroy_vm(), None
        raise UsageError(f"op {self.op_index - 1}: unknown op {kind!r} / action {op.action!r}")

    # -- irqchip and PIT ------------------------------------------------------------------
    def create_irqchip(self) -> int:
        if self.pic is not None:  # C: if (kvm->arch.vpic) / irqchip_in_kernel(): -EEXIST
            return -EEXIST
        pic = D.KvmPic()
        master, slave, elcr = (self._adopt(D.PicDevice(i, pic, era=self.era)) for i in ("pic_master", "pic_slave", "pic_elcr"))
        fail_rc = None
        rc = self._register("pio", D.PIC_MASTER, D.PIC_LEN, master)
        if rc < 0:
            fail_rc = rc
        else:
            rc = self._register("pio", D.PIC_SLAVE, D.PIC_LEN, slave)
            if rc < 0:
                self._unregister("pio", master)  # fail_unreg_2
                fail_rc = rc
            else:
                rc = self._register("pio", D.PIC_ELCR, D.PIC_LEN, elcr)
                if rc < 0:
                    self._unregister("pio", slave)  # fail_unreg_1, then fall through to fail_unreg_2
                    self._unregister("pio", master)
                    fail_rc = rc
        if fail_rc is not None:
            # 2011: kvm_create_pic returns NULL and the ioctl says -ENOMEM; today kvm_pic_init's error.
            return -ENOMEM if self.era == "2011" else fail_rc
        ioapic = self._adopt(D.Ioapic(era=self.era))
        rc = self._register("mmio", D.IOAPIC_BASE, D.IOAPIC_LEN, ioapic)
        if rc < 0:
            # kvm_ioapic_init failed (it freed the IOAPIC); 2011 x86.c / today's
            # kvm_pic_destroy unregister the three PIC devices in this order.
            for dev in (master, slave, elcr):
                self._unregister("pio", dev)
            return rc
        self.pic, self.pic_devs, self.ioapic = pic, (master, slave, elcr), ioapic
        return 0

    def create_pit2(self, speaker: bool) -> int:
        if self.pit is not None:
            return -EEXIST
        if self.era == "today" and self.pic is None:
            return -ENOENT  # C (today): if (!pic_in_kernel(kvm)) r = -ENOENT
        state = D.PitState()
        pit = self._adopt(D.Pit(state, era=self.era))
        if self._register("pio", D.PIT_BASE, D.PIT_LEN, pit) < 0:
            return -ENOMEM  # kvm_create_pit returns NULL: the ioctl says -ENOMEM
        spk = None
        if speaker:
            spk = self._adopt(D.Speaker(state, clock=lambda: self.op_index - 1, era=self.era))
            if self._register("pio", D.SPEAKER_BASE, D.SPEAKER_LEN, spk) < 0:
                self._unregister("pio", pit)  # fail_unregister
                return -ENOMEM
        self.pit, self.speaker = pit, spk
        return 0

    # -- ioeventfd ------------------------------------------------------------------------
    def _live_ids(self) -> set[str]:
        return {e.id for e in self.ioeventfds} | {z.id for z in self.zones} | set(self.probes)

    def _fresh(self, dev_id: str) -> None:
        if dev_id in self._live_ids():
            raise UsageError(f"op {self.op_index - 1}: field 'id': {dev_id!r} is already live; give each live device its own id")

    def assign_ioeventfd(self, dev_id: str, bus: str, addr: int, length: int, datamatch: int | None) -> int:
        self._fresh(dev_id)
        allowed = (1, 2, 4, 8) if self.era == "2011" else (0, 1, 2, 4, 8)
        if length not in allowed:  # C: switch (args->len) ... default: return -EINVAL
            return -EINVAL
        if u64(addr + length) < addr:  # C: args->addr + args->len < args->addr (u64 + __u32)
            return -EINVAL
        if self.era == "today" and length == 0 and datamatch is not None:
            return -EINVAL  # C: !args->len && (flags & KVM_IOEVENTFD_FLAG_DATAMATCH)
        p = D.Ioeventfd(dev_id, bus, addr, length, datamatch, era=self.era, on_destroy=self._drop_ioeventfd)
        for q in self.ioeventfds:  # ioeventfd_check_collision
            if self._collides(q, p):
                return -EEXIST
        self._adopt(p)
        rc = self._register(bus, addr, length, p)
        if rc < 0:
            with self.ledger.acting("vm:eventfd.c kvm_assign_ioeventfd (unlock_fail)"):
                self.ledger.freed(p)  # C: kfree(p) after the failed registration
            return rc
        self.ioeventfds.append(p)  # list_add_tail(&p->list, &kvm->ioeventfds)
        return 0

    def _collides(self, q: D.Ioeventfd, p: D.Ioeventfd) -> bool:
        same_data = q.wildcard or p.wildcard or q.datamatch == p.datamatch
        if self.era == "2011":
            # 2011: every ioeventfd, whatever its bus.
            return q.addr == p.addr and q.len == p.len and same_data
        return q.bus == p.bus and q.addr == p.addr and (q.len == 0 or p.len == 0 or (q.len == p.len and same_data))

    def _drop_ioeventfd(self, p: D.Ioeventfd) -> None:
        # ioeventfd_release: list_del(&p->list)
        if p in self.ioeventfds:
            self.ioeventfds.remove(p)

    def deassign_ioeventfd(self, dev_id: str) -> int:
        p = next((q for q in self.ioeventfds if q.id == dev_id), None)
        if p is None:
            return -ENOENT
        self._unregister(p.bus, p)  # result ignored by the kernel in every era
        if self.callers.release_ioeventfd:
            with self.ledger.acting("vm:eventfd.c kvm_deassign_ioeventfd"):
                p.destructor()  # C (before 5ea5ca3c2b4b): ioeventfd_release(p) after the unregister, whatever it did
        return 0

    # -- coalesced MMIO -------------------------------------------------------------------
    def register_zone(self, dev_id: str, addr: int, size: int, pio: int = 0) -> int:
        self._fresh(dev_id)
        if self.era == "today" and pio not in (0, 1):
            return -EINVAL  # C: if (zone->pio != 1 && zone->pio != 0) return -EINVAL;
        z = self._adopt(D.CoalescedZone(dev_id, addr, size, self.ring, era=self.era, on_destroy=self._drop_zone, pio=pio))
        rc = self._register(z.bus, addr, c_int(size), z)  # C: __u32 size -> int len
        if rc < 0:
            with self.ledger.acting("vm:coalesced_mmio.c register (out_free_dev)"):
                self.ledger.freed(z)  # C: kfree(dev)
            # 2011 (3.4 copy): kfree(dev) and return 0; today: return the error.
            return 0 if self.era == "2011" else rc
        self.zones.append(z)  # list_add_tail(&dev->list, &kvm->coalesced_zones)
        return 0

    def _drop_zone(self, z: D.CoalescedZone) -> None:
        if z in self.zones:
            self.zones.remove(z)  # coalesced_mmio_destructor: list_del

    def unregister_zone(self, addr: int | None, size: int | None, dev_id: str | None = None, pio: int | None = None) -> int:
        if addr is None or size is None:
            z = next((z for z in self.zones if z.id == dev_id), None)
            if z is None:
                return 0  # nothing contains an unknown range; the ioctl returns 0
            addr, size = z.addr, z.size
            pio = z.pio if pio is None else pio
        pio = pio or 0
        if self.era == "today" and pio not in (0, 1):
            return -EINVAL  # C: if (zone->pio != 1 && zone->pio != 0) return -EINVAL;
        walk = self.callers.zone_walk
        who = f"vm:coalesced_mmio.c unregister ({walk.value})"
        z = self.zones[0] if self.zones else None
        while z is not None:
            # C: list_for_each_entry_safe(dev, tmp, ...): tmp, the next zone, is read before the body
            i = next(k for k, y in enumerate(self.zones) if y is z)
            nxt = self.zones[i + 1] if i + 1 < len(self.zones) else None
            if (self.era == "2011" or z.pio == pio) and z.contains(addr, c_int(size)):
                # C: (today: zone->pio == dev->zone.pio &&) coalesced_mmio_in_range(dev, zone->addr, zone->size)
                rc = self._unregister(z.bus, z)
                with self.ledger.acting(who):
                    if walk is ZoneWalk.DESTROY_AND_CONTINUE:
                        z.destructor()  # C: kvm_iodevice_destructor(&dev->dev), whatever the unregister did
                    elif walk is ZoneWalk.DESTROY_THEN_STOP:
                        z.destructor()  # C (5d3c4c79384a, b1cb1fac22ab): destructor, then if (r) break;
                        if rc != 0:
                            break
                    elif walk is ZoneWalk.STOP_THEN_DESTROY:
                        if rc != 0:
                            break  # C (23fa2e46a555): if (r) break; before the destructor
                        z.destructor()
                    elif walk is ZoneWalk.DESTROY_STOP_DESTROY:
                        z.destructor()  # C (mis-merge): destructor, if (r) break;, destructor again
                        if rc != 0:
                            break
                        z.destructor()
                    elif rc != 0:
                        break  # C (5ea5ca3c2b4b on): the bus destroyed what it had to; stop the walk
            if nxt is None:
                break
            if getattr(nxt, "destroyed", False):
                # C: dev = tmp; the walk reads the freed zone's range and list
                # pointers. The model stops there (what the kernel does next is undefined).
                self.ledger.reached(nxt, "zone-walk")
                break
            z = nxt
        return 0

    # -- probes ---------------------------------------------------------------------------
    def register_probe(self, dev_id: str, bus: str, addr: int, length: int, accepts: str = "range") -> int:
        self._fresh(dev_id)
        p = self._adopt(D.Probe(dev_id, addr, length, accepts, era=self.era))
        rc = self._register(bus, addr, length, p)
        if rc == 0:
            self.probes[dev_id] = (bus, p)
        return rc

    def unregister_probe(self, dev_id: str) -> int:
        live = self.probes.get(dev_id)
        if live is None:
            return -ENOENT
        bus, p = live
        rc = self._unregister(bus, p)
        if rc == 0:
            del self.probes[dev_id]
        return rc

    # -- guest accesses -------------------------------------------------------------------
    def write(self, bus: str, addr: int, length: int, data_hex: str) -> int:
        from iobus_verify.model.scenario import write_bytes

        # exactly max(length, 0) bytes, else a UsageError naming the op (the scenario rule)
        buf = write_bytes(length, data_hex, f"op {self.op_index - 1}: " if self.op_index else "")
        rc = self._bus_call(f"write({addr:#x}, {length})", lambda: self.buses[bus].write(addr, length, buf))
        return self._check_rc(rc, "write")

    def read(self, bus: str, addr: int, length: int) -> tuple[int, str | None]:
        out = self._bus_call(f"read({addr:#x}, {length})", lambda: self.buses[bus].read(addr, length))
        if not (isinstance(out, tuple) and len(out) == 2):
            raise _BusFault(f"bus {getattr(self.spec, 'name', '?')}: read returned {out!r}, not (rc, bytes)")
        rc = self._check_rc(out[0], "read")
        return rc, (bytes(out[1]).hex() if rc == 0 else None)

    # -- readers and teardown ------------------------------------------------------------
    def hold_bus(self, bus: str) -> int:
        """A reader (a vCPU in ``srcu_read_lock``) loads the ``bus`` pointer: it can
        reach every device of that bus until it leaves or the bus waits for it."""
        self.ledger.hold(bus, self.devices_on(bus))
        return 0

    def release_bus(self, bus: str) -> int:
        """The oldest reader of ``bus`` leaves (``srcu_read_unlock``); ``-ENOENT`` when none holds it."""
        return 0 if self.ledger.release(bus) else -ENOENT

    def destroy_vm(self) -> int:
        """``kvm_destroy_vm``: the readers are gone (every vCPU has left), then
        each bus is destroyed in bus order (``KVM_MMIO_BUS`` 0 before
        ``KVM_PIO_BUS`` 1): ``kvm_io_bus_destroy`` runs every device's
        destructor (a bus's own ``destroy()``; else the VM over the devices on
        it). What is still alive afterwards leaked."""
        for h in list(self.ledger.holds):
            self.ledger.release(h.bus)
        self.dead = self.op_index - 1  # from here on no reader reaches anything: no bus is published
        for name in ("mmio", "pio"):  # C: for (i = 0; i < KVM_NR_BUSES; i++) kvm_io_bus_destroy(kvm_get_bus(kvm, i))
            bus = self.buses[name]
            fn = getattr(bus, "destroy", None)
            if callable(fn):
                self._bus_call("destroy()", fn, name)
            else:
                with self.ledger.acting(f"vm:kvm_io_bus_destroy({name}) for a bus without destroy()"):
                    for dev in self.devices_on(name):
                        d = getattr(dev, "destructor", None)
                        if d is not None:
                            d()
            self._vm_log.append(D.LogEntry("destroy_bus", name, 0, 0, 0, name))
        self.ledger.check_leaks(lambda d: False, site="destroy_vm")
        return 0

    def fail_alloc(self, bus: str) -> int:
        hook = self.allocs.get(bus)
        if hook is not None:
            hook.fail_next()
        self._vm_log.append(D.LogEntry("fail_alloc", bus, 0, 0, hook is not None))
        return 0


#: Ops after which the leak check is skipped: a guest access or a reader taking
#: a bus cannot leave a device unreachable (a bus that dropped devices on an
#: access would show its leak at the next change or at destroy_vm, which every
#: search run ends with). For a C bus the check costs a ranges() round trip per bus.
_NO_LIFETIME_END = frozenset({"read", "write", "hold_bus"})


def _need(op: Op, name: str) -> Any:
    v = getattr(op, name)
    if v is None:
        raise UsageError(f"op: a {op.op} {op.action or ''} op needs field {name!r}".replace("  ", " "))
    return v


# -- running scenarios -------------------------------------------------------------------------


def _resolve(spec: Any) -> Any:
    if isinstance(spec, str):
        from iobus_verify.model.spec import resolve

        return resolve(spec)
    return spec


def run_scenario(
    scenario: Any,
    spec: Any,
    *,
    era: str | None = None,
    capacity: int | None = None,
    alloc_faults: bool = True,
    op_timeout: float | None = OP_TIMEOUT,
) -> Trace:
    """Run ``scenario`` (a Scenario, a JSON object or a path) on a fresh VM over
    ``spec`` (a BusSpec or a spec string). The era is ``era``, else the
    scenario's, else the spec's; the capacity ``capacity``, else the
    scenario's, else the spec's."""
    s = load_scenario(scenario)
    spec = _resolve(spec)
    vm = VM(
        spec,
        era=era or s.era,
        capacity=capacity if capacity is not None else s.capacity,
        alloc_faults=alloc_faults,
        op_timeout=op_timeout,
    )
    return Trace(spec.name, vm.era, tuple(vm.apply(op) for op in s.ops))


@dataclass(frozen=True)
class BusReplay:
    """One tested bus against the reference run under the same era."""

    bus: str
    era: str
    reference: Trace
    trace: Trace
    classes: tuple  # per op: a DivergenceClass or None

    @property
    def diverged(self) -> bool:
        return any(c is not None for c in self.classes)

    def divergences(self) -> list[tuple[int, Any]]:
        return [(i, c) for i, c in enumerate(self.classes) if c is not None]


@dataclass(frozen=True)
class ReplayResult:
    """The replay of one scenario on several buses. Truthy when any bus diverges
    from the reference (so ``assert replay(s, [bus])`` asserts a counterexample
    reproduces)."""

    scenario: Scenario
    buses: tuple[BusReplay, ...] = field(default_factory=tuple)

    @property
    def diverged(self) -> bool:
        return any(b.diverged for b in self.buses)

    def __bool__(self) -> bool:
        return self.diverged


def replay(
    scenario: Any,
    specs: Sequence[Any],
    *,
    era: str | None = None,
    op_timeout: float | None = OP_TIMEOUT,
    on_op: Callable[[int, Any, list[tuple[str, str, Step, Step, Any]]], None] | None = None,
) -> ReplayResult:
    """Run ``scenario`` on the linear reference and on each bus of ``specs``
    (BusSpecs or spec strings), the reference under each tested bus's era
    (``era`` or the scenario's era override both), and classify every op with
    :func:`iobus_verify.model.divergence.classify`. A bus whose factory takes no
    ``alloc`` hook is compared with a reference without allocation faults.

    Every VM advances one op at a time, so ``on_op(index, op, rows)`` (rows:
    ``(bus, era, reference step, bus step, class)`` per bus) can show each
    operation as it runs: a long scenario is not silent until its end."""
    from iobus_verify.model.divergence import classify

    s = load_scenario(scenario)
    ref_spec = _resolve("linear")
    pairs = []
    for spec in specs:
        spec = _resolve(spec)
        the_era = era or s.era or spec.era
        faults = bool(spec.accepts_alloc)
        cap = s.capacity
        # The reference runs the era's own caller rules (2011's or today's), not the
        # tested bus's: a caller path that frees wrongly is a finding of its variant.
        ref_vm = VM(ref_spec, era=the_era, capacity=cap, alloc_faults=faults, op_timeout=None)
        bus_vm = VM(spec, era=the_era, capacity=cap, alloc_faults=faults, op_timeout=op_timeout)
        pairs.append((spec, the_era, ref_vm, bus_vm, [], [], []))
    for i, op in enumerate(s.ops):
        rows = []
        for spec, the_era, ref_vm, bus_vm, ref_steps, bus_steps, classes in pairs:
            r, b = ref_vm.apply(op), bus_vm.apply(op)
            seen = {f.key for st in ref_steps for f in st.faults}  # the reference's faults so far
            c = classify(op, r, b, seen)
            ref_steps.append(r)
            bus_steps.append(b)
            classes.append(c)
            rows.append((spec.name, the_era, r, b, c))
        if on_op is not None:
            on_op(i, op, rows)
    out = [
        BusReplay(spec.name, the_era, Trace(ref_spec.name, the_era, tuple(rs)), Trace(spec.name, the_era, tuple(bs)), tuple(cs))
        for spec, the_era, _, _, rs, bs, cs in pairs
    ]
    return ReplayResult(s, tuple(out))
