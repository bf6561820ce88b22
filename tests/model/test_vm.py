"""The VM's ioctl rules, argument checks, the irqchip unwind, destructors, errors and hangs."""

import time

import pytest

from iobus_verify.errors import UsageError
from iobus_verify.model.cints import U64_MAX
from iobus_verify.model.protocol import EEXIST, EINVAL, ENOENT, ENOMEM, ENOSPC, EOPNOTSUPP
from iobus_verify.model.spec import resolve
from iobus_verify.model.vm import VM, Step, replay, run_scenario

LINEAR = resolve("linear")


def vm(era="today", bus=LINEAR, **kw):
    return VM(bus, era=era, **kw)


def ranges(v, bus):
    return [(a, n, d.id) for a, n, d in v.buses[bus].ranges()]


def vm_log(step):
    return [(e.what, e.dev, e.value) for o, e in step.log if o == "vm"]


@pytest.mark.parametrize("era", ["2011", "today"])
def test_create_irqchip_registers_and_second_is_eexist(era):
    v = vm(era)
    assert v.apply({"op": "create_irqchip"}).rc == 0
    assert ranges(v, "pio") == [(0x20, 2, "pic_master"), (0xA0, 2, "pic_slave"), (0x4D0, 2, "pic_elcr")]
    assert ranges(v, "mmio") == [(0xFEC00000, 0x100, "ioapic")]
    assert v.apply({"op": "create_irqchip"}).rc == -EEXIST
    assert len(ranges(v, "pio")) == 3


@pytest.mark.parametrize("era", ["2011", "today"])
def test_irqchip_unwind_when_ioapic_registration_fails(era):
    v = vm(era)
    v.apply({"op": "fail_alloc", "bus": "mmio"})
    s = v.apply({"op": "create_irqchip"})
    assert s.rc == -ENOMEM  # kvm_ioapic_init's error, in both eras
    assert ranges(v, "pio") == [] and ranges(v, "mmio") == []
    assert vm_log(s) == [
        ("register", "pic_master", 0), ("register", "pic_slave", 0), ("register", "pic_elcr", 0),
        ("register", "ioapic", -ENOMEM),
        ("unregister", "pic_master", 0), ("unregister", "pic_slave", 0), ("unregister", "pic_elcr", 0),
    ]
    assert v.apply({"op": "create_irqchip"}).rc == 0  # nothing was left behind: a retry works


@pytest.mark.parametrize("era,rc", [("2011", -ENOMEM), ("today", -ENOSPC)])
def test_irqchip_unwind_when_slave_fails(era, rc):
    v = vm(era, capacity=1)
    s = v.apply({"op": "create_irqchip"})
    assert s.rc == rc  # 2011: kvm_create_pic returns NULL -> -ENOMEM; today: propagated
    assert vm_log(s) == [("register", "pic_master", 0), ("register", "pic_slave", -ENOSPC), ("unregister", "pic_master", 0)]
    assert ranges(v, "pio") == []


def test_irqchip_unwind_when_elcr_fails_unregisters_slave_then_master():
    v = vm("today", capacity=2)
    s = v.apply({"op": "create_irqchip"})
    assert s.rc == -ENOSPC
    assert vm_log(s)[-2:] == [("unregister", "pic_slave", 0), ("unregister", "pic_master", 0)]


def test_create_pit2_rules():
    old = vm("2011")
    assert old.apply({"op": "create_pit2"}).rc == 0  # 2011: no irqchip needed
    assert ranges(old, "pio") == [(0x40, 4, "pit")]  # no speaker unless asked
    assert old.apply({"op": "create_pit2", "speaker": True}).rc == -EEXIST
    new = vm("today")
    assert new.apply({"op": "create_pit2", "speaker": True}).rc == -ENOENT  # today: PIC first
    new.apply({"op": "create_irqchip"})
    assert new.apply({"op": "create_pit2", "speaker": True}).rc == 0
    assert ranges(new, "pio")[-2:] == [(0x40, 4, "pit"), (0x61, 4, "speaker")]


def test_create_pit2_speaker_failure_unregisters_pit():
    v = vm("2011", capacity=1)
    s = v.apply({"op": "create_pit2", "speaker": True})
    assert s.rc == -ENOMEM and ranges(v, "pio") == []
    assert vm_log(s) == [("register", "pit", 0), ("register", "speaker", -ENOSPC), ("unregister", "pit", 0)]


def assign(v, i, addr, n, dm=None, bus="mmio"):
    return v.apply({"op": "ioeventfd", "action": "assign", "id": i, "bus": bus, "addr": addr, "len": n, "datamatch": dm}).rc


@pytest.mark.parametrize(
    "era,addr,n,dm,rc",
    [
        ("2011", 0x10, 0, None, -EINVAL),  # 2011: len 1, 2, 4, 8 only
        ("today", 0x10, 0, None, 0),
        ("today", 0x10, 0, 5, -EINVAL),  # no length with datamatch
        ("today", 0x10, 3, None, -EINVAL),
        ("2011", 0x10, -1, None, -EINVAL),
        ("today", 0x10, 16, None, -EINVAL),
        ("today", U64_MAX - 3, 4, None, -EINVAL),  # addr + len wraps to 0
        ("2011", U64_MAX - 4, 4, None, 0),  # ends exactly at 2**64 - 1
        ("today", U64_MAX, 0, None, 0),
    ],
)
def test_ioeventfd_argument_checks(era, addr, n, dm, rc):
    assert assign(vm(era), "e1", addr, n, dm) == rc


@pytest.mark.parametrize("era", ["2011", "today"])
def test_ioeventfd_collisions(era):
    v = vm(era)
    assert assign(v, "a", 0x10, 4, 1) == 0
    assert assign(v, "b", 0x10, 4, 1) == -EEXIST  # same datamatch
    assert assign(v, "c", 0x10, 4, None) == -EEXIST  # a wildcard collides with anything
    assert assign(v, "d", 0x10, 4, 2) == 0
    assert assign(v, "e", 0x10, 2, 1) == 0  # other length
    other_bus = assign(v, "f", 0x10, 4, 1, bus="pio")
    assert other_bus == (-EEXIST if era == "2011" else 0)  # 2011 checks every bus


def test_today_zero_length_collides_with_any_length_on_its_bus():
    v = vm("today")
    assert assign(v, "a", 0x10, 0) == 0
    assert assign(v, "b", 0x10, 8, 3) == -EEXIST
    assert assign(v, "c", 0x10, 8, 3, bus="pio") == 0


def test_ioeventfd_write_and_deassign_2011_caller_destroys():
    v = vm("2011")
    assert assign(v, "e1", 0x10, 4, 7) == 0
    hit = v.apply({"op": "write", "bus": "mmio", "addr": 0x10, "len": 4, "data": "07000000"})
    assert (hit.rc, hit.device, hit.owner) == (0, "e1", "e1")
    miss = v.apply({"op": "write", "bus": "mmio", "addr": 0x10, "len": 4, "data": "08000000"})
    assert (miss.rc, miss.device) == (-EOPNOTSUPP, None)
    s = v.apply({"op": "ioeventfd", "action": "deassign", "id": "e1"})
    assert s.rc == 0 and [e.what for o, e in s.log if o == "e1"] == ["destroyed"]
    assert v.apply({"op": "ioeventfd", "action": "deassign", "id": "e1"}).rc == -ENOENT
    assert v.apply({"op": "write", "bus": "mmio", "addr": 0x10, "len": 4, "data": "07000000"}).rc == -EOPNOTSUPP


def test_today_null_bus_destroys_so_deassign_finds_nothing():
    v = vm("today", bus=resolve("upstream"))
    assert assign(v, "e1", 0x10, 4) == 0 and assign(v, "e2", 0x20, 4) == 0
    v.apply({"op": "fail_alloc", "bus": "mmio"})
    s = v.apply({"op": "ioeventfd", "action": "deassign", "id": "e1"})
    assert s.rc == 0  # the kernel ignores the unregister's -ENOMEM
    assert ("unregister", "e1", -ENOMEM) in vm_log(s)
    assert {o for o, e in s.log if e.what == "destroyed"} == {"e1", "e2"}  # the NULL bus destroyed all
    assert v.apply({"op": "ioeventfd", "action": "deassign", "id": "e2"}).rc == -ENOENT
    assert assign(v, "e3", 0x30, 4) == -ENOMEM  # the bus is NULL now


def test_today_linear_reference_is_completed_with_the_destructor():
    v = vm("today")
    assign(v, "e1", 0x10, 4)
    s = v.apply({"op": "ioeventfd", "action": "deassign", "id": "e1"})
    assert [e.what for o, e in s.log if o == "e1"] == ["destroyed"]


def zone(v, i, addr, size, action="register"):
    return v.apply({"op": "coalesced_mmio", "action": action, "id": i, "addr": addr, "size": size})


@pytest.mark.parametrize("era,rc", [("2011", 0), ("today", -ENOMEM)])
def test_zone_register_failure(era, rc):
    v = vm(era)
    v.apply({"op": "fail_alloc", "bus": "mmio"})
    assert zone(v, "z1", 0x1000, 0x10).rc == rc  # 2011 (3.4 copy) frees and returns 0
    assert ranges(v, "mmio") == [] and v.zones == []
    assert v.apply({"op": "write", "bus": "mmio", "addr": 0x1000, "len": 1, "data": "00"}).rc == -EOPNOTSUPP


@pytest.mark.parametrize("era", ["2011", "today"])
def test_zone_unregister_removes_every_containing_zone_only(era):
    v = vm(era)
    zone(v, "z1", 0x1000, 0x100)
    zone(v, "z2", 0x1000, 0x10)
    zone(v, "z3", 0x1080, 0x10)
    s = v.apply({"op": "coalesced_mmio", "action": "unregister", "addr": 0x1000, "size": 0x1000})
    assert s.rc == 0 and [z.id for z in v.zones] == ["z1", "z2", "z3"]  # contained zones stay
    s = v.apply({"op": "coalesced_mmio", "action": "unregister", "addr": 0x1004, "size": 4})
    assert s.rc == 0 and [z.id for z in v.zones] == ["z3"]
    assert [r[2] for r in ranges(v, "mmio")] == ["z3"]
    s = v.apply({"op": "coalesced_mmio", "action": "unregister", "id": "z3"})
    assert v.zones == [] and ranges(v, "mmio") == []


def test_zone_size_is_u32_passed_as_int():
    v = vm("2011")
    assert zone(v, "z", 0x1000, 0x80000000).rc == 0
    assert ranges(v, "mmio") == [(0x1000, -(1 << 31), "z")]
    # unregister passes zone.size as int len too: a negative len is never "in range"
    v.apply({"op": "coalesced_mmio", "action": "unregister", "addr": 0x1000, "size": 0x80000000})
    assert [z.id for z in v.zones] == ["z"]


def test_probe_register_unregister_and_unknown_id():
    v = vm()
    p = {"op": "probe", "action": "register", "id": "p1", "bus": "pio", "addr": 0x300, "len": 4, "accepts": "range"}
    assert v.apply(p).rc == 0
    with pytest.raises(UsageError, match="already live"):
        v.apply(p)
    s = v.apply({"op": "read", "bus": "pio", "addr": 0x302, "len": 2})
    assert (s.rc, s.device, s.data) == (0, "p1", "0000")
    assert v.apply({"op": "probe", "action": "unregister", "id": "p1"}).rc == 0
    assert v.apply({"op": "probe", "action": "unregister", "id": "p1"}).rc == -ENOENT


def test_pic_facade_observed_and_read_data():
    # the linear scan offers 0xa1 to pic_master first, which accepts all six ports;
    # a range bus offers it only to pic_slave: same owner, so no divergence
    lin = vm("today")
    lin.apply({"op": "create_irqchip"})
    s = lin.apply({"op": "write", "bus": "pio", "addr": 0xA1, "len": 1, "data": "3c"})
    assert (s.device, s.owner) == ("pic_master", "pic")
    v = vm("today", bus=resolve("upstream"))
    v.apply({"op": "create_irqchip"})
    t = v.apply({"op": "write", "bus": "pio", "addr": 0xA1, "len": 1, "data": "3c"})
    assert (t.device, t.owner) == ("pic_slave", "pic") and t.log == s.log
    r = v.apply({"op": "read", "bus": "pio", "addr": 0xA1, "len": 1})
    assert (r.rc, r.data) == (0, "3c") and r.callbacks >= 1


def test_speaker_refresh_is_driven_by_the_op_index_on_every_bus():
    ops = [{"op": "create_irqchip"}, {"op": "create_pit2", "speaker": True}] + [{"op": "read", "bus": "pio", "addr": 0x61, "len": 1}] * 2
    sc = {"schema": "iobus-scenario/1", "ops": ops}
    datas = {b: [s.data for s in run_scenario(sc, b).steps[2:]] for b in ("linear", "seed-2011", "upstream", "fixed")}
    assert set(map(tuple, datas.values())) == {("00", "10")}  # op 2 -> refresh 0, op 3 -> refresh 1


class _Boom:
    def __init__(self, capacity):
        self.n = 0

    def register(self, addr, length, dev):
        return 0

    def unregister(self, dev):
        return 0

    def write(self, addr, length, data):
        raise RuntimeError("kaboom")

    def read(self, addr, length):
        time.sleep(10)
        return 0, b""


def test_bus_exception_and_hang_become_step_errors():
    spec = resolve("linear").__class__("boom", "boom", _Boom, 10, "plugin")
    v = VM(spec, op_timeout=0.3)
    assert v.apply({"op": "probe", "action": "register", "id": "p", "bus": "pio", "addr": 0, "len": 1}).rc == 0
    s = v.apply({"op": "write", "bus": "pio", "addr": 0, "len": 1, "data": "00"})
    assert "RuntimeError" in s.error and "kaboom" in s.error and "op 1" in s.error
    assert v.apply({"op": "read", "bus": "pio", "addr": 0, "len": 1}).error.startswith("not run")
    v2 = VM(spec, op_timeout=0.3)
    t0 = time.monotonic()
    s2 = v2.apply({"op": "read", "bus": "pio", "addr": 0, "len": 1})
    # the read never returns by itself: any bound proves the cut; 30 s (100x the limit) holds under load
    assert "did not return within 0.3 s" in s2.error and time.monotonic() - t0 < 30
    assert isinstance(s2, Step)


def test_replay_is_truthy_only_when_a_bus_diverges():
    sc = {"schema": "iobus-scenario/1", "ops": [
        {"op": "probe", "action": "register", "id": "big", "bus": "mmio", "addr": 0, "len": 16},
        {"op": "probe", "action": "register", "id": "small", "bus": "mmio", "addr": 8, "len": 4},
        {"op": "write", "bus": "mmio", "addr": 12, "len": 1, "data": "00"},
    ]}
    assert not replay(sc, ["fixed"])
    r = replay(sc, ["seed-2011", "upstream"])
    assert [(b.bus, [(i, c.value) for i, c in b.divergences()]) for b in r.buses] == [("seed-2011", [(2, "MISSED")]), ("upstream", [(2, "MISSED")])]
