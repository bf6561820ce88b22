"""Each device's acceptance rule at its edges; expectations written from the kernel rules
(kernel-facts §5), not computed by the model."""

import pytest

from iobus_verify.model import devices as D
from iobus_verify.model.cints import U64_MAX
from iobus_verify.model.protocol import EOPNOTSUPP

NO = -EOPNOTSUPP


# -- probe ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "addr,n,ok",
    [
        (0x100, 1, True),  # first byte
        (0x103, 1, True),  # last byte
        (0x104, 1, False),  # one past
        (0xFF, 1, False),  # one before
        (0xFF, 2, False),  # straddles the start
        (0x102, 2, True),  # ends at the end
        (0x102, 4, False),  # straddles the end
        (0x100, 4, True),
        (0x100, 8, False),
        (0x103, 0, True),  # zero-length access: first byte inside
        (0x104, 0, False),
        (0x101, -1, True),  # negative length counts as no bytes
    ],
)
def test_probe_range_edges(addr, n, ok):
    p = D.Probe("p", 0x100, 4)
    assert (p.write(addr, n, b"\0" * max(n, 0)) == 0) is ok
    assert (p.read(addr, n)[0] == 0) is ok


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_probe_each_size_at_first_and_last_bytes(n):
    p = D.Probe("p", 0x1000, 8)
    assert p.write(0x1000, n, bytes(n)) == 0
    assert p.write(0x1008 - n, n, bytes(n)) == 0
    assert p.write(0x1008 - n + 1, n, bytes(n)) == NO
    assert p.read(0x1000, n) == (0, bytes(n))


def test_zero_length_probe_holds_no_byte():
    # [0x50, 0x50) is empty: a zero-length probe accepts nothing, as a zero-size
    # coalesced zone accepts no access of positive length. (The fixed bus's
    # one-byte wildcard extent is a lookup rule, not what a device holds.)
    p = D.Probe("p", 0x50, 0)
    for addr, n in [(0x50, 1), (0x50, 0), (0x50, 2), (0x51, 1), (0x4F, 1)]:
        assert p.write(addr, n, bytes(max(n, 0))) == NO and p.read(addr, n)[0] == NO


def test_zero_length_access_inside_a_probe():
    p = D.Probe("p", 0x50, 2)
    assert p.write(0x50, 0, b"") == 0 and p.write(0x51, 0, b"") == 0 and p.write(0x52, 0, b"") == NO


def test_probe_len_is_read_as_u32_and_clipped_at_top():
    big = D.Probe("p", 0x10, -1)  # u32 0xffffffff bytes
    assert big.write(0x10 + 0xFFFFFFFE, 1, b"\0") == 0 and big.write(0x10 + 0xFFFFFFFF, 1, b"\0") == NO
    top = D.Probe("t", U64_MAX - 3, 8)  # [2**64-4, 2**64): clipped, no wrap to 0
    assert top.write(U64_MAX, 1, b"\0") == 0 and top.write(0, 1, b"\0") == NO and top.write(U64_MAX, 2, b"\0\0") == NO


def test_probe_all_and_none_and_log():
    a, n = D.Probe("a", 0, 1, "all"), D.Probe("n", 0, 1, "none")
    assert a.write(12345, 3, b"abc") == 0 and n.write(0, 1, b"\0") == NO
    assert [(e.what, e.addr, e.len, e.value) for e in a.log] == [("write", 12345, 3, "616263")]
    assert n.log == []
    with pytest.raises(ValueError):
        D.Probe("x", 0, 1, "some")


def test_probe_agrees_with_the_proofs_definition_on_guest_accesses():
    from iobus_verify.model.cints import INT
    from iobus_verify.proofs.encode import probe_accepts

    for plen in (0, 1, 3, 8, -1):
        p = D.Probe("p", 0x20, plen)
        for addr in range(0x1C, 0x2C):
            for n in (1, 2, 4, 8):
                assert p.accepts_access(addr, n) == bool(probe_accepts(INT, addr, n, 0x20, plen)), (plen, addr, n)


# -- PIT and speaker -----------------------------------------------------------------------
def test_pit_ports_any_length():
    pit = D.Pit()
    for addr in (0x40, 0x41, 0x42, 0x43):
        for n in (1, 2, 4, 8, 3):
            assert pit.write(addr, n, bytes([0x34]) + bytes(7)) == 0
    assert pit.write(0x3F, 1, b"\0") == NO and pit.write(0x44, 1, b"\0") == NO
    assert pit.read(0x44, 1)[0] == NO


def test_pit_write_takes_low_byte_and_read_copies_min_len_4():
    pit = D.Pit()
    assert pit.write(0x42, 2, b"\xab\xcd") == 0  # *(u32*)data & 0xff -> 0xab
    assert pit.read(0x42, 8) == (0, bytes([0xAB, 0, 0, 0]))  # min(len, 4) bytes
    assert pit.read(0x42, 1) == (0, b"\xab")
    assert pit.read(0x43, 4) == (0, b"")  # control port: val untouched


def test_speaker_only_0x61_and_deterministic_refresh():
    clock = [0]
    st = D.PitState()
    spk = D.Speaker(st, clock=lambda: clock[0])
    for addr in (0x60, 0x62, 0x63, 0x64):
        assert spk.write(addr, 1, b"\x03") == NO and spk.read(addr, 1)[0] == NO
    assert spk.write(0x61, 1, b"\x03") == 0
    assert spk.read(0x61, 1) == (0, bytes([0b011]))  # data_on<<1 | gate2, refresh 0
    clock[0] = 1
    assert spk.read(0x61, 4) == (0, bytes([0b10011, 0, 0, 0]))  # refresh bit 4 from the op index
    assert spk.owner == "pit" and spk.log is st.log


# -- PIC -------------------------------------------------------------------------------
def _pic(era):
    pic = D.KvmPic()
    return pic, [D.PicDevice(i, pic, era=era) for i in ("pic_master", "pic_slave", "pic_elcr")]


@pytest.mark.parametrize("era", ["2011", "today"])
def test_each_pic_facade_accepts_all_six_ports(era):
    _, devs = _pic(era)
    for d in devs:
        assert d.owner == "pic"
        for port in D.PIC_PORTS:
            assert d.write(port, 1, b"\0") == 0
        for port in (0x1F, 0x22, 0x9F, 0xA2, 0x4CF, 0x4D2):
            assert d.write(port, 1, b"\0") == NO and d.read(port, 1)[0] == NO


def test_pic_len_not_1_order_of_checks_differs_by_era():
    _, (old, *_) = _pic("2011")
    _, (new, *_) = _pic("today")
    # 2011: range first, so a 2-byte access outside the six ports is refused...
    assert old.write(0x22, 2, b"\0\0") == NO and old.read(0x22, 2)[0] == NO
    # ...and inside it is swallowed with val untouched
    assert old.write(0x20, 2, b"\xff\xff") == 0 and old.read(0x20, 2) == (0, b"")
    # today: len != 1 first, with no port check, for what the range bus delivers:
    # accesses inside the facade's registration (pic_master: [0x20, 0x22))
    assert new.write(0x20, 2, b"\0\0") == 0 and new.read(0x20, 2) == (0, b"\0\0")  # zeroed
    assert new.read(0x20, 0) == (0, b"") and new.write(0x21, 0, b"") == 0
    assert new.write(0x21, 2, b"\0\0") == NO  # straddles the end: never delivered
    assert new.write(0x22, 2, b"\0\0") == NO and new.read(0x9999, 4)[0] == NO
    _, (_, _, elcr) = _pic("today")
    assert elcr.read(0x4D0, 2) == (0, b"\0\0") and elcr.read(0x20, 2)[0] == NO


@pytest.mark.parametrize("era", ["2011", "today"])
def test_pic_state_imr_and_elcr_masks(era):
    pic, (m, s, e) = _pic(era)
    assert m.write(0x21, 1, b"\x5a") == 0 and s.read(0x21, 1) == (0, b"\x5a")  # same kvm_pic
    assert e.write(0x4D0, 1, b"\xff") == 0 and m.read(0x4D0, 1) == (0, b"\xf8")
    assert e.write(0x4D1, 1, b"\xff") == 0 and e.read(0x4D1, 1) == (0, b"\xde")
    assert m.write(0x20, 1, b"\x11") == 0  # ICW1 resets IMR
    assert m.read(0x21, 1) == (0, b"\x00")
    assert m.log is s.log is e.log is pic.log


# -- IOAPIC --------------------------------------------------------------------------------
def test_ioapic_range_edges():
    io = D.Ioapic()
    base = D.IOAPIC_BASE
    assert io.read(base, 4)[0] == 0 and io.read(base + 0xFF, 1)[0] == 0
    assert io.read(base + 0x100, 4)[0] == NO and io.read(base - 1, 1)[0] == NO
    assert io.write(base + 0x100, 4, bytes(4)) == NO


def test_ioapic_version_register_and_lengths():
    io = D.Ioapic()
    base = D.IOAPIC_BASE
    assert io.write(base, 4, b"\x01\0\0\0") == 0  # IOREGSEL = 1 (version)
    assert io.read(base + 0x10, 4) == (0, bytes.fromhex("11001700"))  # 0x00170011 LE
    assert io.read(base + 0x10, 8) == (0, bytes.fromhex("1100170000000000"))  # u64 zero-extended
    assert io.read(base + 0x10, 2) == (0, bytes.fromhex("1100"))
    assert io.read(base + 0x10, 3) == (0, b"")  # other lengths: untouched, still 0
    assert io.write(base, 3, b"\x02\0\0") == 0 and io.ioregsel == 1  # swallowed
    assert io.read(base + 0x20, 4) == (0, bytes(4))  # other offsets read 0


# -- coalesced MMIO ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "addr,n,ok",
    [
        (0x1000, 1, True),
        (0x100F, 1, True),
        (0x1010, 1, False),
        (0x0FFF, 1, False),
        (0x0FFF, 2, False),
        (0x100C, 4, True),  # end equals the zone's end
        (0x100E, 4, False),
        (0x1008, 8, True),
        (0x1010, 0, True),  # len 0 at the end: addr+0 <= end
        (0x1000, -1, False),  # len < 0
    ],
)
def test_coalesced_in_range_edges(addr, n, ok):
    assert D.coalesced_in_range(0x1000, 0x10, addr, n) is ok


def test_coalesced_in_range_overflow_rules():
    assert not D.coalesced_in_range(0, 0xFFFFFFFF, U64_MAX, 2)  # addr + len overflows
    # zone end wraps in u64: zone.addr + size = 8 (mod 2**64), so nothing fits
    assert not D.coalesced_in_range(U64_MAX - 7, 16, U64_MAX - 7, 1)
    # size is a u32: 2**32-1 is a 4 GiB zone
    assert D.coalesced_in_range(0, 0xFFFFFFFF, 0xFFFFFFFE, 1)


def test_zone_write_only_and_logs_ring():
    ring = D.CoalescedRing()
    z = D.CoalescedZone("z", 0x1000, 0x10, ring)
    assert z.read(0x1000, 4)[0] == NO
    assert z.write(0x1004, 4, b"\x01\x02\x03\x04") == 0
    assert ring.entries == [(0x1004, 4, "01020304")]
    assert z.owner == "coalesced_ring" and z.bus_len == 0x10
    assert D.CoalescedZone("big", 0, 0x80000000, ring).bus_len == -(1 << 31)  # u32 -> int


def test_ring_full_today_after_169():
    ring = D.CoalescedRing(era="today")
    z = D.CoalescedZone("z", 0, 0x100, ring, era="today")
    assert D.COALESCED_MMIO_MAX == 170
    assert all(z.write(0, 1, b"\0") == 0 for _ in range(169))
    assert z.write(0, 1, b"\0") == NO  # (last + 1) % 170 == first
    assert len(ring.entries) == 169


def test_ring_full_2011_premature_at_85():
    ring = D.CoalescedRing(era="2011")
    z = D.CoalescedZone("z", 0, 0x100, ring, era="2011")
    # ((u32)(0 - last - 1)) % 170 == 0 first at last == 85 (2**32 % 170 == 86)
    assert all(z.write(0, 1, b"\0") == 0 for _ in range(85))
    assert z.write(0, 1, b"\0") == NO
    assert len(ring.entries) == 85


def test_zone_destructor_once():
    gone = []
    z = D.CoalescedZone("z", 0, 4, D.CoalescedRing(), on_destroy=gone.append)
    z.destructor()
    z.destructor()
    assert gone == [z] and [e.what for e in z.log] == ["destroyed", "destroyed-again"]


# -- ioeventfd -------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 4, 8])
@pytest.mark.parametrize("era", ["2011", "today"])
def test_ioeventfd_datamatch_hit_and_miss_each_size(era, n):
    dm = int.from_bytes(bytes(range(1, n + 1)), "little")
    e = D.Ioeventfd("e", "mmio", 0x500, n, dm, era=era)
    assert e.write(0x500, n, bytes(range(1, n + 1))) == 0
    assert e.write(0x500, n, bytes(range(2, n + 2))) == NO  # data miss
    assert e.write(0x501, n, bytes(range(1, n + 1))) == NO  # address miss
    other = 1 if n != 1 else 2
    assert e.write(0x500, other, bytes(range(1, other + 1))) == NO  # length miss
    assert e.read(0x500, n)[0] == NO  # write-only


def test_ioeventfd_datamatch_wider_than_access_never_matches():
    e = D.Ioeventfd("e", "pio", 0x10, 1, 0x1FF)
    assert all(e.write(0x10, 1, bytes([b])) == NO for b in range(256))


def test_ioeventfd_wildcard_and_zero_length_by_era():
    w = D.Ioeventfd("w", "pio", 0x10, 2, None)
    assert w.write(0x10, 2, b"\x12\x34") == 0 and w.write(0x10, 1, b"\x12") == NO
    today = D.Ioeventfd("t", "mmio", 0x10, 0, None, era="today")
    assert all(today.write(0x10, n, bytes(max(n, 0))) == 0 for n in (0, 1, 2, 4, 8))
    assert today.write(0x11, 1, b"\0") == NO
    old = D.Ioeventfd("o", "mmio", 0x10, 0, None, era="2011")  # 2011: no length-0 rule
    assert old.write(0x10, 0, b"") == 0 and old.write(0x10, 1, b"\0") == NO
    assert today.ioeventfd is True and today.owner == "t"
    assert [e.what for e in today.log].count("signal") == 5
