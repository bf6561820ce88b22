"""The I/O bus's history as named variants: the family ``history``.

Each member is one version of ``virt/kvm/kvm_main.c``'s bus (a
:class:`~iobus_verify.model.sorted_bus.Variant`: comparator, sort, register
rule, and the unregister's error path, :class:`~iobus_verify.model.sorted_bus.FailRule`)
paired with the caller paths of ``coalesced_mmio.c`` and ``eventfd.c`` at the
same commit (:class:`~iobus_verify.model.lifetime.CallerRules`, the bus
factory's ``callers``). Every member was modelled from the code stored at the
repository and commit its docstring cites (``../shared/reference/kernel-history.md``
tells where each can be read); none of the kernel's code is copied here.

The members, oldest first, with the regression each carries and the commit
that fixed it (the quality set, ``tests/quality/test_history.py``, checks that
the suite finds each class before the fix and not after):

=============  =================================================  ==========================
member         what changed                                       lifetime class it shows
=============  =================================================  ==========================
hist-3.18      unregister may fail (-ENOMEM) and the callers       USE_AFTER_FREE (fixed by
               destroy the device anyway, still on the bus         90db10434b16)
hist-90db      90db10434b16: unregister never fails: a NULL bus,   LEAK (fixed by f65886606c2d)
               no destructor runs
hist-f658      f65886606c2d: the other devices destroyed before    USE_AFTER_FREE (fixed by
               the NULL bus is published and waited for; the       2ee3757424be; the walk's
               zone walk steps onto zones the bus just freed       part by 5d3c4c79384a)
hist-5d3c      5d3c4c79384a: int return, the walk stops on error   USE_AFTER_FREE (2ee3)
hist-2ee3      2ee3757424be: destroy only after publish + sync     none
hist-23fa      23fa2e46a555: the walk stops before destroying      LEAK (fixed by b1cb1fac22ab)
               the target: nobody destroys it
hist-b1cb      b1cb1fac22ab: destructor before the check again     none
hist-xaga      a vendor mis-merge: the zone destroyed twice on     DOUBLE_FREE
               every successful unregister
hist-5ea5-half 5ea5ca3c2b4b's bus with the callers before it (a    DOUBLE_FREE (fixed by
               partial backport, not a stored tree): both destroy  taking both halves)
hist-5ea5      5ea5ca3c2b4b: the bus destroys what it unregisters  none
hist-today     today's ``upstream`` (linux-next 03b9d314)          none
=============  =================================================  ==========================

All members pair with the ``today`` device rules (the PIC, IOAPIC, PIT,
ioeventfd and zone behaviour of the VM); what differs between them is the bus
and its callers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from iobus_verify.model.comparators import cmp_2011, cmp_upstream
from iobus_verify.model.protocol import AllocationHook, always_allocate
from iobus_verify.model.sorted_bus import UPSTREAM, FailRule, RangeBus, RegisterRule, UnregisterRule, Variant

FAMILY = "history"

_TODAY_SHAPE = dict(
    sort_cmp=cmp_upstream,
    match_cmp=cmp_upstream,
    sort="today",  # unused by ordered insertion
    bsearch="today",
    walk_back=True,
    capacity=1000,
    capacity_excludes_ioeventfds=True,
    register_rule=RegisterRule.ORDERED_INSERT,
    unregister_rule=UnregisterRule.SHIFT_TAIL,
)

#: v3.18 (``18712886438/android_kernel_zuk_msm8996`` @ 94e5c3bd49144f821205cea8ecfc3225a5fd514c,
#: ``kvm_main.c`` destroy..unregister): the 2011 (start, end) comparator, append
#: then the 2005 heapsort, 1000 devices without the ioeventfds (6ea34c9b78c1);
#: unregister searches first (-ENOENT for an absent device), then allocates the
#: shrunken copy: -ENOMEM leaves the old bus published. The callers
#: (``eventfd.c``, ``coalesced_mmio.c``) destroy the device whatever the
#: unregister returned: after a failed one it is freed while still on the bus.
HIST_3_18 = Variant(
    name="hist-3.18",
    summary="v3.18 (zuk msm8996 94e5c3bd): 2011 comparator, heapsort, unregister may fail with -ENOMEM and the callers free anyway",
    sort_cmp=cmp_2011,
    match_cmp=cmp_2011,
    sort="2005",
    bsearch="2011",
    walk_back=True,
    capacity=1000,
    capacity_excludes_ioeventfds=True,
    register_rule=RegisterRule.APPEND_THEN_SORT,
    unregister_rule=UnregisterRule.SHIFT_TAIL,
    fail_rule=FailRule.KEEP,
    void_unregister=False,
    destroys_target=False,
    absent_enoent=True,
)

#: 90db10434b16 "kvm_io_bus_unregister_dev() should never fail" (2017), as in v4.9
#: (``XRC111/android_kernel_huawei_hi3660`` @ 0d387a8eac88c71898e5e8ca831ae6b9ed9c8c8e):
#: void unregister, silent for an absent device or a NULL bus; when the copy
#: cannot be allocated, a NULL bus is published and waited for and the old
#: array freed with no destructor: every other device leaks (syzbot, 2020).
#: Register still heapsorts (d4c67a7a54f1 came in v4.15-v4.19); the comparator
#: has the 2015 zero-length rule.
HIST_90DB = Variant(
    name="hist-90db",
    summary="90db10434b16 (v4.9 hi3660 0d387a8e): never-failing void unregister; a failed shrink drops the bus and leaks every device",
    sort_cmp=cmp_upstream,
    match_cmp=cmp_upstream,
    sort="2005",
    bsearch="today",
    walk_back=True,
    capacity=1000,
    capacity_excludes_ioeventfds=True,
    register_rule=RegisterRule.APPEND_THEN_SORT,
    unregister_rule=UnregisterRule.SHIFT_TAIL,
    fail_rule=FailRule.DROP_LEAK,
    void_unregister=True,
    destroys_target=False,
)

#: f65886606c2d "fix memory leak in kvm_io_bus_unregister_dev()" (2020), as backported to
#: v4.19 (``Danda420/kernel_xiaomi_sm8250`` @ abd2ee1abffbf73d585f2caeb6b3a609ded847a3):
#: ordered insertion (d4c67a7a54f1); on a failed shrink the destructor of every
#: device but the target runs BEFORE the NULL bus is published and the grace
#: period waited for (CVE-2021-47061); still void. The coalesced-MMIO walk of
#: that time continues after a failed unregister onto the zones the bus has
#: just destroyed (fixed by 5d3c4c79384a).
HIST_F658 = Variant(
    name="hist-f658",
    summary="f65886606c2d (v4.19 sm8250 abd2ee1a): a failed shrink destroys the other devices before publishing NULL and waiting",
    **_TODAY_SHAPE,
    fail_rule=FailRule.DROP_DESTROY_OTHERS_FIRST,
    void_unregister=True,
    destroys_target=False,
)

#: 5d3c4c79384a "Stop looking for coalesced MMIO zones if the bus is destroyed" (2021,
#: CVE-2021-47060), as in v5.4.203 (``Atom-X-Devs/android_kernel_xiaomi_sm7325`` @
#: 7a90aff31010e160f7ef820615ea0cbb79b04fdc, which lacks 2ee3757424be): unregister
#: returns -ENOMEM when it dropped the bus; the walk destroys the target and stops
#: (``oracle/linux-uek`` @ 72e5450ae45eb703e7171dc58a9e8b156a5ca9f4). The others
#: are still destroyed before the NULL bus is published.
HIST_5D3C = Variant(
    name="hist-5d3c",
    summary="5d3c4c79384a (v5.4.203 sm7325 7a90aff3): -ENOMEM returned, the zone walk stops; others still destroyed before the grace period",
    **_TODAY_SHAPE,
    fail_rule=FailRule.DROP_DESTROY_OTHERS_FIRST,
    void_unregister=False,
    destroys_target=False,
)

#: 2ee3757424be "Destroy I/O bus devices on unregister failure _after_ sync'ing SRCU"
#: (2021), as in v5.10.166 GKI (``freak07/Kirisakura_Raviole`` @
#: b7743ded7142573dd7011164b4d8463ca971dcda): publish NULL, wait, then destroy
#: every device but the target; the 5d3c4c79384a walk.
HIST_2EE3 = Variant(
    name="hist-2ee3",
    summary="2ee3757424be (v5.10.166 Kirisakura b7743ded): on a failed shrink, publish NULL and wait before destroying the others",
    **_TODAY_SHAPE,
    fail_rule=FailRule.DROP_DESTROY_OTHERS_AFTER_SYNC,
    void_unregister=False,
    destroys_target=False,
)

#: 23fa2e46a555 (5.14-rc2, 5.10.52) on the 2ee3757424be bus: the walk breaks on a
#: failed unregister BEFORE the target's destructor, which the bus does not run
#: either: the target zone leaks (``googleprodkernel/linux-kvm`` @
#: 85fb408e6f0cbeb2a1052fe4d189d82631b97fdd, coalesced_mmio.c).
HIST_23FA = replace(HIST_2EE3, name="hist-23fa", summary="23fa2e46a555 (googleprodkernel 85fb408e): the zone walk stops before destroying the target: it leaks")

#: b1cb1fac22ab "Destroy target device if coalesced MMIO unregistration fails" (2023):
#: the destructor before the check again (the behaviour of the 5d3c4c79384a walk;
#: no clean copy is stored, ``oracle/linux-uek`` @ 72e5450a stands for it).
HIST_B1CB = replace(HIST_2EE3, name="hist-b1cb", summary="b1cb1fac22ab: the target zone destroyed before the walk stops (as 5d3c4c79384a's walk)")

#: A vendor mis-merge of 23fa2e46a555 over 5d3c4c79384a (``Rohail33/Realking_xiaomi_xaga``
#: @ bb5fadb14ce73a059d06918076894df464a273b6, coalesced_mmio.c; its kvm_main.c is not
#: stored: the 5.10 GKI bus of 2ee3757424be is assumed): the destructor runs before
#: the error check and again after it: every successful unregister destroys the zone twice.
HIST_XAGA = replace(HIST_2EE3, name="hist-xaga", summary="vendor mis-merge (Realking xaga bb5fadb1): the zone destructor twice on every successful unregister")

#: 5ea5ca3c2b4b "destruct kvm_io_device while unregistering it from kvm_io_bus" (v6.5),
#: as in ``Laminad/WSL2-Linux-Kernel`` @ 7ed2a1194df1d7c098acec6fa7777c9000112ae8 (kvm_main.c,
#: coalesced_mmio.c, eventfd.c): the bus destroys the target after publish + sync
#: on success, and every device (the target too) after publish NULL + sync on a
#: failed shrink; the callers destroy nothing.
HIST_5EA5 = Variant(
    name="hist-5ea5",
    summary="5ea5ca3c2b4b (v6.5, WSL2 7ed2a119): the bus destroys what it unregisters, after the grace period",
    **_TODAY_SHAPE,
    fail_rule=FailRule.DROP_DESTROY_ALL_AFTER_SYNC,
    void_unregister=False,
    destroys_target=True,
)

#: Not a stored tree: the kvm_main.c half of 5ea5ca3c2b4b without its
#: coalesced_mmio.c/eventfd.c half (a partial backport): the bus destroys what it
#: unregisters and the callers of 5d3c4c79384a still destroy it after the
#: unregister: every successful unregister destroys the device twice
#: (kernel-history.md, 5ea5ca3c2b4b: "a caller that still destroys ... shows count 2").
HIST_5EA5_HALF = replace(HIST_5EA5, name="hist-5ea5-half", summary="5ea5ca3c2b4b's bus with the callers before it (a partial backport, not a stored tree): both destroy")

#: Today: the project's ``upstream`` variant (``ColinIanKing/linux-next`` @
#: 03b9d3141510e2d2d83eea1f60c18467b01b9ac2, with 7d9a0273c459's call_srcu on
#: register, which frees only the old array and so changes no device's life).
HIST_TODAY = replace(UPSTREAM, name="hist-today", summary="today's upstream (linux-next 03b9d314), the newest member: " + UPSTREAM.summary)

#: (variant, the callers of its commit), oldest first.
MEMBERS: tuple[tuple[Variant, str], ...] = (
    (HIST_3_18, "pre-5d3c"),
    (HIST_90DB, "pre-5d3c"),
    (HIST_F658, "pre-5d3c"),
    (HIST_5D3C, "5d3c"),
    (HIST_2EE3, "5d3c"),
    (HIST_23FA, "23fa"),
    (HIST_B1CB, "5d3c"),
    (HIST_XAGA, "xaga"),
    (HIST_5EA5_HALF, "5d3c"),
    (HIST_5EA5, "today"),
    (HIST_TODAY, "today"),
)


@dataclass(frozen=True)
class Regression:
    """One historical regression the family tells apart: the lifetime class
    ``cls`` on ``before``, none on ``after`` (the version with ``fix``)."""

    before: str
    after: str
    cls: str
    fix: str
    why: str


#: Every regression of the family, oldest first: the quality set
#: (``tests/quality/test_history.py``) and ``bench_history`` run these.
REGRESSIONS: tuple[Regression, ...] = (
    Regression("hist-3.18", "hist-90db", "USE_AFTER_FREE", "90db10434b16", "a failing unregister the callers freed after"),
    Regression("hist-90db", "hist-f658", "LEAK", "f65886606c2d", "the dropped bus's devices leaked (syzbot, 2020)"),
    Regression("hist-f658", "hist-2ee3", "USE_AFTER_FREE", "2ee3757424be", "destroyed before the grace period"),
    Regression("hist-5d3c", "hist-2ee3", "USE_AFTER_FREE", "2ee3757424be", "destroyed before the grace period"),
    Regression("hist-23fa", "hist-b1cb", "LEAK", "b1cb1fac22ab", "the target zone leaked on a failed unregister"),
    Regression("hist-xaga", "hist-b1cb", "DOUBLE_FREE", "(mis-merge; clean: b1cb1fac22ab)", "a vendor mis-merge against the clean b1cb1fac22ab state"),
    Regression("hist-5ea5-half", "hist-5ea5", "DOUBLE_FREE", "5ea5ca3c2b4b whole", "5ea5ca3c2b4b taken whole: bus and callers agree"),
)


def factory_for(variant: Variant, callers: str) -> Callable[..., RangeBus]:
    """A bus factory for one member: a :class:`RangeBus` of ``variant``; its
    ``callers`` attribute pairs the VM with the caller paths of the same commit."""

    def factory(capacity: int | None = None, *, alloc: AllocationHook = always_allocate) -> RangeBus:
        return RangeBus(variant, capacity, alloc=alloc)

    factory.__name__ = f"{variant.name.replace('-', '_').replace('.', '_')}_factory"
    factory.callers = callers  # type: ignore[attr-defined]
    factory.era = "today"  # type: ignore[attr-defined]
    return factory


def named_buses() -> dict[str, Any]:
    """The family's :class:`~iobus_verify.model.sorted_bus.NamedBus` entries."""
    from iobus_verify.model.sorted_bus import NamedBus

    return {
        v.name: NamedBus(v.name, v.summary, factory_for(v, callers), v.capacity, era="today", family=FAMILY)
        for v, callers in MEMBERS
    }


def _register() -> None:
    from iobus_verify.model.sorted_bus import REGISTRY

    REGISTRY.update(named_buses())


_register()
