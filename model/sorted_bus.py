"""The range bus (the 2011 patch and its descendants), its variants, and the registry.

A range bus keeps ``(addr, len, dev)`` entries in an array ordered by a *sort
comparator*; an access ``(addr, len)`` is looked up with the kernel's
``bsearch`` and a *match comparator* (key first), then walks back to the first
entry that compares equal and forward, offering each equal entry's device until
one returns 0. :class:`Variant` records every knob; :data:`VARIANTS` names them.

``seed-2011`` is the seed patch exactly: ``kvm_io_bus_sort_cmp`` with no
zero-length rule, append-then-``sort()`` (the 2005 heapsort) on register,
swap-last-then-``sort()`` on unregister, the 2011 ``bsearch``, ``int len``,
``NR_IOBUS_DEVS`` = 300 counting every device.

``upstream`` is today's ``virt/kvm/kvm_main.c`` as stored at
``ColinIanKing/linux-next`` @ 03b9d3141510e2d2d83eea1f60c18467b01b9ac2 (a
linux-next snapshot that includes Keir Fraser's 2025 SRCU changes, upstream
7d9a0273c459 and 7788255aba65; the ordered insert is upstream d4c67a7a54f1):
``kvm_io_bus_cmp`` with the zero-length wildcard, ordered insertion on register
(first ``i`` with ``cmp(range[i], new) > 0``), today's ``bsearch``,
``NR_IOBUS_DEVS`` = 1000 counting only non-ioeventfd devices, order-preserving
unregister that is silent when the device is absent, and, when the shrunken
copy cannot be allocated, a NULL bus: every device is destroyed and later
accesses and registrations return ``-ENOMEM``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable

from iobus_verify.model.cints import INT, check_access
from iobus_verify.model.comparators import Comparator, cmp_2011, cmp_upstream
from iobus_verify.model.kbsearch import BSEARCHES
from iobus_verify.model.ksort import SORTS
from iobus_verify.model.offering import OfferingBus, remove_moving_last
from iobus_verify.model.protocol import ENOENT, ENOMEM, ENOSPC, AllocationHook, always_allocate


class RegisterRule(enum.Enum):
    """How ``kvm_io_bus_register_dev`` places a new range."""

    #: 2011 ``kvm_io_bus_insert_dev``: append at ``dev_count``, then ``sort()`` the array.
    APPEND_THEN_SORT = "append-then-sort"
    #: 2017 (d4c67a7a) to today: insert before the first ``i`` with ``cmp(range[i], new) > 0``.
    ORDERED_INSERT = "ordered-insert"


class UnregisterRule(enum.Enum):
    """How ``kvm_io_bus_unregister_dev`` removes a device and fails."""

    #: 2011: allocate first (-ENOMEM), find (-ENOENT), move the last entry into the
    #: hole, ``sort()`` again. Callers destroy the device.
    SWAP_LAST_THEN_SORT = "swap-last-then-sort"
    #: Today: absent device or NULL bus -> 0; shift the tail (order kept); on
    #: allocation failure install a NULL bus, destroy every device, -ENOMEM; on
    #: success destroy the target.
    SHIFT_TAIL = "shift-tail"


class FailRule(enum.Enum):
    """What an order-preserving (``SHIFT_TAIL``) unregister does when the shrunken
    copy cannot be allocated: the history of ``kvm_io_bus_unregister_dev``'s
    error path, in the order of the SRCU events and destroys it emits."""

    #: v3.5 - v4.10: ``-ENOMEM``, the old bus stays published (nothing dropped).
    KEEP = "keep"
    #: 90db10434b16 (2017): publish a NULL bus, wait, free the old array; no
    #: destructor runs (every other device leaks).
    DROP_LEAK = "drop-leak"
    #: f65886606c2d (2020): destroy every device but the target, THEN publish NULL
    #: and wait (a reader may still reach what was destroyed).
    DROP_DESTROY_OTHERS_FIRST = "drop-destroy-others-first"
    #: 2ee3757424be (2021): publish NULL, wait, then destroy every device but the target.
    DROP_DESTROY_OTHERS_AFTER_SYNC = "drop-destroy-others-after-sync"
    #: 5ea5ca3c2b4b (2023) to today: publish NULL, wait, destroy every device, the target too.
    DROP_DESTROY_ALL_AFTER_SYNC = "drop-destroy-all-after-sync"


@dataclass(frozen=True)
class Variant:
    """Every knob of a range bus. Comparators are the generic definitions of
    :mod:`iobus_verify.model.comparators`, evaluated here on Python ints."""

    name: str
    summary: str
    sort_cmp: Comparator
    match_cmp: Comparator
    sort: str  # a key of ksort.SORTS
    bsearch: str  # a key of kbsearch.BSEARCHES
    walk_back: bool
    capacity: int  # NR_IOBUS_DEVS
    capacity_excludes_ioeventfds: bool
    register_rule: RegisterRule
    unregister_rule: UnregisterRule
    #: SHIFT_TAIL only: the error path of the unregister (see :class:`FailRule`)
    fail_rule: FailRule = FailRule.DROP_DESTROY_ALL_AFTER_SYNC
    #: SHIFT_TAIL only: the unregister returns void (90db10434b16 to 5d3c4c79384a):
    #: the caller sees 0 whatever happened
    void_unregister: bool = False
    #: SHIFT_TAIL only: a successful unregister destroys the target (5ea5ca3c2b4b on)
    destroys_target: bool = True
    #: SHIFT_TAIL only: an absent device gives -ENOENT (before 90db10434b16), else 0
    absent_enoent: bool = False


def is_ioeventfd(dev: Any) -> bool:
    """Devices declare themselves ioeventfds (``dev.ioeventfd = True``) so that
    today's capacity rule can leave them out, as ``bus->ioeventfd_count`` does."""
    return bool(getattr(dev, "ioeventfd", False))


class RangeBus(OfferingBus):
    """A range bus run by a :class:`Variant`.

    ``srcu``: the VM's hook for the bus's SRCU events, called with
    ``"publish"`` (``rcu_assign_pointer(kvm->buses[idx], new)``) and
    ``"sync"`` (``synchronize_srcu_expedited``), so that the order of publish,
    grace period and destroys is in the VM's ledger."""

    srcu: Any = None

    def __init__(self, variant: Variant, capacity: int | None = None, *, alloc: AllocationHook = always_allocate):
        super().__init__()
        #: the VM does not complete a destroy this bus does itself (or, by its era, must not do)
        self.destroys_on_unregister = variant.unregister_rule is UnregisterRule.SHIFT_TAIL and variant.destroys_target
        self.variant = variant
        self.name = variant.name
        self.capacity = variant.capacity if capacity is None else capacity
        self._alloc = alloc
        self._range: list[tuple[int, int, Any]] = []
        self._null = False  # today's bus pointer after a failed shrink
        self._ioeventfd_count = 0
        self._sort = SORTS[variant.sort]
        self._bsearch = BSEARCHES[variant.bsearch]

    # -- comparators on entries (addr, len, dev) --------------------------------
    def _sort_cmp(self, r1, r2) -> int:
        self._comparisons += 1
        return self.variant.sort_cmp(INT, r1[0], r1[1], r2[0], r2[1])

    def _match_cmp(self, key, r) -> int:
        self._comparisons += 1
        return self.variant.match_cmp(INT, key[0], key[1], r[0], r[1])

    def _resort(self) -> None:
        # The sort counts its own calls; the comparator passed is uncounted.
        v = self.variant
        out = self._sort(self._range, lambda a, b: v.sort_cmp(INT, a[0], a[1], b[0], b[1]))
        self._comparisons += out.comparisons
        self._range = list(out.items)

    def _srcu_event(self, what: str) -> None:
        if self.srcu is not None:
            self.srcu(what)

    # -- registration -----------------------------------------------------------
    def register(self, addr: int, length: int, dev: Any) -> int:
        check_access("register", addr, length)  # a gpa_t and an int, as the C bridge checks
        v = self.variant
        if self._null:  # C: bus = kvm_get_bus(); if (!bus) return -ENOMEM;
            return -ENOMEM
        count = len(self._range)
        if v.capacity_excludes_ioeventfds:
            count -= self._ioeventfd_count  # C: dev_count - ioeventfd_count > NR_IOBUS_DEVS - 1
        if count > self.capacity - 1:
            return -ENOSPC
        if v.register_rule is RegisterRule.APPEND_THEN_SORT:
            if not self._alloc("register:kzalloc"):
                return -ENOMEM
            # kvm_io_bus_insert_dev's own "dev_count == NR_IOBUS_DEVS" check cannot fire
            # after the check above, and its result is ignored by the caller.
            self._range.append((addr, length, dev))
            self._resort()
            self._srcu_event("publish")  # C: rcu_assign_pointer(kvm->buses[bus_idx], new_bus)
            self._srcu_event("sync")  # C: synchronize_srcu_expedited(&kvm->srcu); kfree(bus)
        else:
            if not self._alloc("register:kmalloc"):
                return -ENOMEM
            new = (addr, length, dev)
            i = 0
            # C: for (i = 0; i < dev_count; i++) if (kvm_io_bus_cmp(&range[i], &new) > 0) break;
            while i < len(self._range) and not self._sort_cmp(self._range[i], new) > 0:
                i += 1
            self._range.insert(i, new)
            self._srcu_event("publish")  # C: rcu_assign_pointer(kvm->buses[bus_idx], new_bus)
            # C: synchronize_srcu_expedited + kfree(bus); since 7d9a0273c459 call_srcu:
            # only the old array waits, no device is freed here either way.
            self._srcu_event("sync")
        if v.capacity_excludes_ioeventfds and is_ioeventfd(dev):
            self._ioeventfd_count += 1  # eventfd.c: bus->ioeventfd_count++ after success
        return 0

    def unregister(self, dev: Any) -> int:
        if self.variant.unregister_rule is UnregisterRule.SWAP_LAST_THEN_SORT:
            return self._unregister_2011(dev)
        return self._unregister_today(dev)

    def _unregister_2011(self, dev: Any) -> int:
        if not self._alloc("unregister:kzalloc"):  # allocated before the search
            return -ENOMEM
        # C: dev_count--; range[i] = range[dev_count]; sort(range, dev_count, ...)
        if not remove_moving_last(self._range, dev):
            return -ENOENT
        self._resort()
        self._srcu_event("publish")
        self._srcu_event("sync")
        return 0

    def _unregister_today(self, dev: Any) -> int:
        v = self.variant
        failed = 0 if v.void_unregister else -ENOMEM  # C: void before 5d3c4c79384a, int (-ENOMEM) after
        if self._null:  # C: if (!bus) return 0;  ("clear bus pointer", 3.10 stable on)
            return 0
        for i, entry in enumerate(self._range):
            if entry[2] is dev:
                break
        else:
            return -ENOENT if v.absent_enoent else 0  # C: if (i == bus->dev_count) return [-ENOENT | 0];
        if not self._alloc("unregister:kmalloc"):
            if v.fail_rule is FailRule.KEEP:
                if v.capacity_excludes_ioeventfds and is_ioeventfd(dev):
                    # eventfd.c (v3.11-v4.10) decrements bus->ioeventfd_count after the
                    # unregister whatever it returned: the ioeventfd stays on the kept bus
                    # uncounted, and the capacity test (dev_count - ioeventfd_count) counts
                    # it from now on (seen against a real 3.18 tree's own glue-run deassign)
                    self._ioeventfd_count -= 1
                return -ENOMEM  # C (v3.5-v4.10): if (!new_bus) return -ENOMEM; the old bus stays
            doomed = [e[2] for e in self._range]
            others = [d for d in doomed if d is not dev]
            if v.fail_rule is FailRule.DROP_DESTROY_OTHERS_FIRST:
                # C (f65886606c2d): for (j = 0; j < dev_count; j++) if (j != i) kvm_iodevice_destructor(...)
                # before rcu_assign_pointer(NULL) and synchronize_srcu_expedited.
                for d in others:
                    _destroy(d)
            self._range = []
            self._null = True
            self._ioeventfd_count = 0
            self._srcu_event("publish")  # C: rcu_assign_pointer(kvm->buses[bus_idx], NULL)
            self._srcu_event("sync")  # C: synchronize_srcu_expedited(&kvm->srcu)
            if v.fail_rule is FailRule.DROP_DESTROY_OTHERS_AFTER_SYNC:
                for d in others:  # C (2ee3757424be): the others' destructors after the grace period
                    _destroy(d)
            elif v.fail_rule is FailRule.DROP_DESTROY_ALL_AFTER_SYNC:
                for d in doomed:  # C (5ea5ca3c2b4b on): kvm_io_bus_destroy(bus): every device
                    _destroy(d)
            # DROP_LEAK (90db10434b16): kfree(bus) only, no destructor.
            return failed
        del self._range[i]  # order-preserving copy around the hole
        if v.capacity_excludes_ioeventfds and is_ioeventfd(dev):
            self._ioeventfd_count -= 1  # eventfd.c: if (bus) bus->ioeventfd_count--
        self._srcu_event("publish")  # C: rcu_assign_pointer(kvm->buses[bus_idx], new_bus)
        self._srcu_event("sync")  # C: synchronize_srcu_expedited(&kvm->srcu)
        if v.destroys_target:
            _destroy(dev)  # C (5ea5ca3c2b4b on): kvm_iodevice_destructor(dev) after the grace period
        return 0

    def destroy(self) -> None:
        """``kvm_io_bus_destroy`` (at VM teardown): every device's destructor, in
        array order; a NULL bus has none."""
        for e in list(self._range):  # C: for (i = 0; i < bus->dev_count; i++) kvm_iodevice_destructor(...)
            _destroy(e[2])

    # -- accesses ---------------------------------------------------------------
    def _first(self, key) -> int | None:
        """``kvm_io_bus_get_first_dev``: bsearch, then walk back over equal entries."""
        out = self._bsearch(key, self._range, self._match_cmp)
        if out.index is None:
            return None
        off = out.index
        if self.variant.walk_back:
            # C: while (off > 0 && cmp(&key, &range[off-1]) == 0) off--;
            while off > 0 and self._match_cmp(key, self._range[off - 1]) == 0:
                off -= 1
        return off

    def _candidates(self, addr: int, length: int):
        key = (addr, length)
        idx = self._first(key)
        if idx is None:
            return
        # C: while (idx < dev_count && cmp(&key, &range[idx]) == 0) { try; idx++; }
        while idx < len(self._range) and self._match_cmp(key, self._range[idx]) == 0:
            yield self._range[idx][2]
            idx += 1

    def write(self, addr: int, length: int, data: bytes) -> int:
        check_access("write", addr, length)
        if self._null:  # C: bus = kvm_get_bus_srcu(); if (!bus) return -ENOMEM;
            return -ENOMEM
        # The generator interleaves comparator calls and callbacks, as the C loop does.
        return self._offer_write(self._candidates(addr, length), addr, length, data)

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        check_access("read", addr, length)
        if self._null:
            return -ENOMEM, b""
        return self._offer_read(self._candidates(addr, length), addr, length)

    # -- optional protocol ------------------------------------------------------
    def ranges(self) -> list[tuple[int, int, Any]]:
        return list(self._range)


def _destroy(dev: Any) -> None:
    """``kvm_iodevice_destructor``: call the device's destructor when it has one."""
    destructor = getattr(dev, "destructor", None)
    if destructor is not None:
        destructor()


SEED_2011 = Variant(
    name="seed-2011",
    summary="the 2011 patch exactly: kvm_io_bus_sort_cmp, append+heapsort, 2011 bsearch, 300 devices",
    sort_cmp=cmp_2011,
    match_cmp=cmp_2011,
    sort="2005",
    bsearch="2011",
    walk_back=True,
    capacity=300,
    capacity_excludes_ioeventfds=False,
    register_rule=RegisterRule.APPEND_THEN_SORT,
    unregister_rule=UnregisterRule.SWAP_LAST_THEN_SORT,
)

UPSTREAM = Variant(
    name="upstream",
    summary="today's kvm_main.c (linux-next 03b9d314): zero-length wildcard, ordered insert, "
    "1000 non-ioeventfd devices, NULL bus on failed shrink",
    sort_cmp=cmp_upstream,
    match_cmp=cmp_upstream,
    sort="today",  # unused: today's register inserts in place and never calls sort()
    bsearch="today",
    walk_back=True,
    capacity=1000,
    capacity_excludes_ioeventfds=True,
    register_rule=RegisterRule.ORDERED_INSERT,
    unregister_rule=UnregisterRule.SHIFT_TAIL,
)


@dataclass(frozen=True)
class NamedBus:
    """A bus the suite knows by name: the linear reference or a variant."""

    name: str
    summary: str
    factory: Callable[..., Any] = field(repr=False)
    capacity: int
    reference: bool = False
    #: Which kernel's device rules and ioctl checks the VM pairs with this bus:
    #: "2011" (the patch's era) or "today". The linear reference takes the era
    #: of the bus it is compared with, and that era's registration contract.
    era: str = "today"
    #: Which family `iobus-verify variants` lists it under and `report --family`
    #: checks: "kvm" (the main job's buses); other families (the kernel's
    #: history, other VMMs' buses) are opt-in, so the main job stays short.
    family: str = "kvm"


def _range_factory(variant: Variant) -> Callable[..., RangeBus]:
    def factory(capacity: int | None = None, *, alloc: AllocationHook = always_allocate) -> RangeBus:
        return RangeBus(variant, capacity, alloc=alloc)

    factory.__name__ = f"{variant.name}_factory"
    return factory


def _registry() -> dict[str, NamedBus]:
    from iobus_verify.model.fixed_bus import FIXED_SUMMARY, FixedBus
    from iobus_verify.model.linear_bus import NR_IOBUS_DEVS_2011, NR_IOBUS_DEVS_TODAY, LinearBus

    return {
        "linear": NamedBus(
            "linear",
            "the reference: the pre-patch linear scan in registration order, with the era's "
            "registration contract (2011: 300 devices, -ENOENT; today: 1000 non-ioeventfd devices, "
            "0 for an absent device)",
            LinearBus,
            NR_IOBUS_DEVS_2011,
            reference=True,
            era="2011",
        ),
        SEED_2011.name: NamedBus(SEED_2011.name, SEED_2011.summary, _range_factory(SEED_2011), SEED_2011.capacity, era="2011"),
        UPSTREAM.name: NamedBus(UPSTREAM.name, UPSTREAM.summary, _range_factory(UPSTREAM), UPSTREAM.capacity),
        "fixed": NamedBus("fixed", FIXED_SUMMARY, FixedBus, NR_IOBUS_DEVS_TODAY),
    }


#: Every named bus, the linear reference included.
REGISTRY: dict[str, NamedBus] = _registry()

#: The family the main job (`report` without --family) checks.
DEFAULT_FAMILY = "kvm"


def family_variants(family: str = DEFAULT_FAMILY) -> dict[str, NamedBus]:
    """The named variants under test of one family (the reference excluded)."""
    return {k: v for k, v in REGISTRY.items() if not v.reference and v.family == family}


def families() -> tuple[str, ...]:
    """Every family of the registry, the default first."""
    seen = dict.fromkeys([DEFAULT_FAMILY] + [b.family for b in REGISTRY.values()])
    return tuple(seen)


#: The named variants of the main job (the reference excluded).
VARIANTS: dict[str, NamedBus] = family_variants()

# The family "history" (opt-in): the bus and its callers at each commit since 2014.
# model/history.py adds its members to REGISTRY when imported (it needs this
# module's Variant and RangeBus, so it is imported last).
from iobus_verify.model import history as _history  # noqa: E402,F401
