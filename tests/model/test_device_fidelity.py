"""Issue 18: device rules read from Linux 3.2 (2011) and today's code.

Every expected value below was derived by hand from the C (the function named
in each docstring, at the commits of ``model/devices.py``'s docstring), not
computed with the model's own helpers.
"""

import pytest

from iobus_verify.model import devices as D
from iobus_verify.model.protocol import EINVAL, EOPNOTSUPP
from iobus_verify.model.spec import resolve
from iobus_verify.model.vm import VM

U64 = 1 << 64


# -- 1. the 2011 coalesced range check ----------------------------------------------


def test_2011_zone_accepts_a_write_whose_end_wraps():
    """3.2 coalesced_mmio_in_range: zone.addr <= addr && addr + len <= zone.addr
    + zone.size in u64. Write (2^64-4, 4) in zone (2^64-4096, 4096): 2^64-4 >=
    2^64-4096, and both sums wrap to 0, 0 <= 0: accepted. Today the overflow
    test (addr + len < addr) refuses it."""
    assert D.coalesced_in_range(U64 - 4096, 4096, U64 - 4, 4, "2011") is True
    assert D.coalesced_in_range(U64 - 4096, 4096, U64 - 4, 4, "today") is False


def test_2011_zone_contains_a_negative_length():
    """Unregister (2^32+8, size 0x80000000): the u32 size reaches the check as
    int len = -2^31; 2^32+8 - 2^31 = 2^31+8 <= 2^32+4096 and 2^32+8 >= 2^32:
    the zone (2^32, 4096) contains it in 3.2; today len < 0 refuses it."""
    assert D.coalesced_in_range(1 << 32, 4096, (1 << 32) + 8, -(1 << 31), "2011") is True
    assert D.coalesced_in_range(1 << 32, 4096, (1 << 32) + 8, -(1 << 31), "today") is False


def test_2011_unregister_removes_the_zone_a_negative_size_lands_in():
    vm = VM(resolve("linear"), era="2011")
    assert vm.register_zone("z1", 1 << 32, 4096) == 0
    assert vm.unregister_zone((1 << 32) + 8, 0x80000000) == 0
    assert vm.zones == []
    vm2 = VM(resolve("linear"), era="today")
    assert vm2.register_zone("z1", 1 << 32, 4096) == 0
    assert vm2.unregister_zone((1 << 32) + 8, 0x80000000) == 0
    assert [z.id for z in vm2.zones] == ["z1"]


def test_2011_wrapping_write_lands_in_the_ring_and_negative_len_is_marked():
    vm = VM(resolve("linear"), era="2011")
    vm.register_zone("z1", U64 - 4096, 4096)
    step = vm.apply({"op": "write", "bus": "mmio", "addr": U64 - 4, "len": 4, "data": "01020304"})
    assert step.rc == 0 and step.device == "z1"
    # (0x1008, -1) in a zone (0x1000, 16): 0x1008 >= 0x1000 and 0x1008 - 1 =
    # 0x1007 <= 0x1010: accepted in 3.2 (the kernel then copies a huge size_t).
    vm.register_zone("z2", 0x1000, 16)
    step = vm.apply({"op": "write", "bus": "mmio", "addr": 0x1008, "len": -1})
    assert step.rc == 0 and step.device == "z2"
    assert any("would not survive" in e.detail for _, e in step.log)
    today = VM(resolve("linear"), era="today")
    today.register_zone("z2", 0x1000, 16)
    assert today.apply({"op": "write", "bus": "mmio", "addr": 0x1008, "len": -1}).device is None


# -- 3. today's PIO zones ---------------------------------------------------------------


def test_today_pio_zone_lives_on_the_pio_bus():
    """Today's kvm_vm_ioctl_register_coalesced_mmio: zone->pio 0/1 picks
    KVM_MMIO_BUS/KVM_PIO_BUS, other values -EINVAL; unregister matches pio."""
    vm = VM(resolve("linear"), era="today")
    assert vm.register_zone("z1", 0x300, 8, pio=1) == 0
    assert [d.id for _, _, d in vm.pio.ranges()] == ["z1"] and vm.mmio.ranges() == []
    assert vm.register_zone("z2", 0x300, 8, pio=2) == -EINVAL
    assert vm.apply({"op": "write", "bus": "pio", "addr": 0x302, "len": 2, "data": "aabb"}).device == "z1"
    assert vm.apply({"op": "write", "bus": "mmio", "addr": 0x302, "len": 2, "data": "aabb"}).device is None
    assert vm.unregister_zone(0x300, 8, pio=0) == 0  # an MMIO unregister does not touch it
    assert [z.id for z in vm.zones] == ["z1"]
    assert vm.unregister_zone(0x300, 8, pio=7) == -EINVAL
    assert vm.unregister_zone(0x300, 8, pio=1) == 0 and vm.zones == []


def test_today_zero_length_pio_zone_and_2011_padding():
    """A zero-size PIO zone registers (len 0 on the bus) and holds no byte; in
    2011 the pio field was __u32 pad: every zone goes to MMIO, whatever it holds."""
    vm = VM(resolve("linear"), era="today")
    assert vm.register_zone("z0", 0x300, 0, pio=1) == 0
    assert vm.apply({"op": "write", "bus": "pio", "addr": 0x300, "len": 1, "data": "00"}).device is None
    # coalesced_mmio_in_range: len 0 at the zone's address: 0x300 + 0 <= 0x300 + 0
    assert vm.apply({"op": "write", "bus": "pio", "addr": 0x300, "len": 0}).device == "z0"
    old = VM(resolve("linear"), era="2011")
    assert old.register_zone("z1", 0x300, 8, pio=5) == 0
    assert [d.id for _, _, d in old.mmio.ranges()] == ["z1"]


def test_scenario_pio_field_round_trips():
    from iobus_verify.model.scenario import load_scenario

    s = load_scenario({"schema": "iobus-scenario/1", "ops": [
        {"op": "coalesced_mmio", "action": "register", "id": "z", "addr": 1, "size": 2, "pio": 1},
        {"op": "coalesced_mmio", "action": "register", "id": "y", "addr": 1, "size": 2}]})
    assert s.ops[0].pio == 1 and s.ops[0].to_dict()["pio"] == 1
    assert "pio" not in s.ops[1].to_dict()  # backward compatible


# -- 4. today's PIC with len <= 0 ----------------------------------------------------------


def test_today_pic_takes_what_todays_comparator_delivers():
    """kvm_io_bus_cmp((0x22, 0), (0x20, 2)): 0x22 >= 0x20; r2.len != 0 so ends
    0x22 + 0 = 0x22 vs 0x20 + 2 = 0x22: not greater: 0, delivered; picdev_write
    then takes len != 1 first: returns 0. (0x20, -1): end 0x1f <= 0x22: 0,
    delivered, swallowed. (0x22, 1): end 0x23 > 0x22: not delivered."""
    pic = D.KvmPic()
    master = D.PicDevice("pic_master", pic, era="today")
    assert master.write(0x22, 0, b"") == 0
    assert master.write(0x20, -1, b"") == 0
    assert master.write(0x22, 1, b"\0") == -EOPNOTSUPP
    assert master.read(0x22, 0) == (0, b"")
    old = D.PicDevice("pic_master", D.KvmPic(), era="2011")
    assert old.write(0x22, 0, b"") == -EOPNOTSUPP  # 2011: picdev_in_range first


# -- 5 and 6. IOAPIC ------------------------------------------------------------------------


def _io(era):
    return D.Ioapic(era=era)


def test_2011_ioapic_takes_only_4_and_8_byte_writes_and_a_full_ioregsel():
    """3.2 ioapic_mmio_write: len 4/8 -> *(u32 *)val, else a warning and return
    0; IOREGSEL = data (u32). Today 1/2 are taken and IOREGSEL = data & 0xff."""
    a = _io("2011")
    assert a.write(D.IOAPIC_BASE, 1, b"\x10") == 0 and a.ioregsel == 0  # swallowed
    assert a.write(D.IOAPIC_BASE, 4, (0x1234).to_bytes(4, "little")) == 0 and a.ioregsel == 0x1234
    assert a.read(D.IOAPIC_BASE, 4) == (0, (0x1234).to_bytes(4, "little"))
    b = _io("today")
    assert b.write(D.IOAPIC_BASE, 1, b"\x10") == 0 and b.ioregsel == 0x10
    assert b.write(D.IOAPIC_BASE, 4, (0x1234).to_bytes(4, "little")) == 0 and b.ioregsel == 0x34


def _sel_write(dev, sel, val):
    dev.write(D.IOAPIC_BASE, 4, sel.to_bytes(4, "little"))
    dev.write(D.IOAPIC_BASE + 0x10, 4, val.to_bytes(4, "little"))
    return int.from_bytes(dev.read(D.IOAPIC_BASE + 0x10, 4)[1], "little")


def test_redirection_entry_remote_irr_and_delivery_status():
    """ioapic_write_indirect, low half (sel 0x10, pin 0), value 0x0000d000
    (bits 12, 14, 15: delivery_status, remote_irr, level-triggered).
    3.2: bits replaced, remote_irr cleared: 0x9000. Today: bits 12 and 14 kept
    as they were (0): 0x8000; edge value 0x5000 -> 0x0000 today, 0x1000 in 3.2."""
    assert _sel_write(_io("2011"), 0x10, 0xD000) == 0x9000
    assert _sel_write(_io("today"), 0x10, 0xD000) == 0x8000
    assert _sel_write(_io("2011"), 0x10, 0x5000) == 0x1000
    assert _sel_write(_io("today"), 0x10, 0x5000) == 0x0000


def test_today_index_past_the_table_reads_all_ones():
    """Today: redir_index = (0x40 - 0x10) >> 1 = 24 >= IOAPIC_NUM_PINS ->
    redir_content = ~0ULL: 0xffffffff; also sel 0x05 ((u32)(0x05-0x10) >> 1 is
    huge). 2011 reads out of bounds (undefined); the model reads 0."""
    t = _io("today")
    t.write(D.IOAPIC_BASE, 4, (0x40).to_bytes(4, "little"))
    assert t.read(D.IOAPIC_BASE + 0x10, 4) == (0, b"\xff\xff\xff\xff")
    t.write(D.IOAPIC_BASE, 4, (0x05).to_bytes(4, "little"))
    assert t.read(D.IOAPIC_BASE + 0x10, 4) == (0, b"\xff\xff\xff\xff")
    o = _io("2011")
    o.write(D.IOAPIC_BASE, 4, (0x40).to_bytes(4, "little"))
    assert o.read(D.IOAPIC_BASE + 0x10, 4) == (0, b"\0\0\0\0")


# -- 7. PIC chip logic ------------------------------------------------------------------------


@pytest.mark.parametrize("era", ["2011", "today"])
def test_pic_goes_from_icw2_to_icw3_and_polls(era):
    """pic_ioport_write: ICW1 0x13 (single mode bit set, init4) -> init_state 1;
    ICW2 -> init_state 2 always (single mode unsupported); ICW3 -> 3 (init4);
    ICW4 -> 0; then port 1 writes IMR. OCW3 0x0c (poll) -> the next read of
    port 0 returns pic_poll_read: nothing pending -> 0x07, then poll is off."""
    pic = D.KvmPic()
    m = D.PicDevice("pic_master", pic, era=era)
    for port, val in ((0x20, 0x13), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01), (0x21, 0x5A)):
        assert m.write(port, 1, bytes([val])) == 0
    chip = pic.pics[0]
    assert chip.init_state == 0 and chip.irq_base == 0x08 and chip.imr == 0x5A
    assert m.write(0x20, 1, b"\x0c") == 0
    assert m.read(0x21, 1) == (0, b"\x07")  # the poll result, whatever the port
    assert m.read(0x21, 1) == (0, b"\x5a")


# -- 8. PIT and speaker with a negative length ----------------------------------------------


@pytest.mark.parametrize("era", ["2011", "today"])
def test_pit_and_speaker_negative_length_copies_four_bytes(era):
    """pit_ioport_read / speaker_ioport_read: if (len > sizeof(ret)) len =
    sizeof(ret): int len compared with size_t: -1 becomes 2^64-1 > 4, so 4
    bytes are copied; len 0 copies none."""
    state = D.PitState()
    pit = D.Pit(state, era=era)
    pit.write(0x40, 1, b"\x2a")
    assert pit.read(0x40, -1) == (0, b"\x2a\0\0\0")
    assert pit.read(0x40, 0) == (0, b"")
    spk = D.Speaker(state, era=era)
    spk.write(0x61, 1, b"\x03")
    assert spk.read(0x61, -5) == (0, b"\x03\0\0\0")
