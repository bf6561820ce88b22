"""The devices on the KVM I/O buses, each with its kernel callback's acceptance rule.

Every device implements the bus protocol (:mod:`iobus_verify.model.protocol`):
``write(addr, len, data) -> rc`` and ``read(addr, len) -> (rc, bytes)``, 0 for
"handled", ``-EOPNOTSUPP`` for "not mine". Each has

* ``id``: the scenario id (fixed ids for the built-in devices);
* ``owner``: the kernel object whose state the callback changes. Devices that
  are facades of one object share it: the three PIC devices are each
  ``container_of()`` on the same ``struct kvm_pic`` (owner ``"pic"``), the
  speaker writes the PIT's state (owner ``"pit"``), and every coalesced zone
  appends to the one ``kvm->coalesced_mmio_ring`` (owner ``"coalesced_ring"``);
* ``log``: a list of frozen :class:`LogEntry` of what it accepted or changed
  (facades of one owner share the owner's list);
* ``era``: ``"2011"`` or ``"today"`` where the kernel's rules differ (each
  class says which is which);
* ``ioeventfd = True`` on ioeventfds (today's capacity rule leaves them out);
* ``destructor()`` where the kernel has one (ioeventfds, coalesced zones).

A VM observes callbacks through ``observer``: when set, it is called with the
device each time one of its callbacks returns 0, which is how a
:class:`~iobus_verify.model.vm.Step` names the device that handled an access
without trusting the bus under test.

Sources: ``../shared/reference/kernel-facts.md`` §5 (2011: Linux 3.2, the
first release with the patch, ``qiubing/vanet-linux-3.2.4`` @ 9358c5ca, where
it differs from the 3.4 tree ``CyanogenMod/android_kernel_htc_msm8974`` @
9fafe907 that the first model was read from (issue 18: the coalesced range
check, the IOAPIC's write lengths and IOREGSEL); today: ``sean-jc/linux``,
per-file commits listed there). State that the kernel
derives from time (PIT counters, the speaker's refresh bit, channel 2's output)
is replaced by deterministic values, documented where it happens, so that the
same scenario gives the same data on every bus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from iobus_verify.model.cints import INT, U64_MAX, c_int, u32, u64
from iobus_verify.model.comparators import byte_extent, cmp_upstream
from iobus_verify.model.protocol import EOPNOTSUPP

ERAS = ("2011", "today")

#: KVM_PIT_BASE_ADDRESS, KVM_PIT_MEM_LENGTH (i8254.h, both eras).
PIT_BASE, PIT_LEN = 0x40, 4
#: KVM_SPEAKER_BASE_ADDRESS; the speaker is registered with length 4.
SPEAKER_BASE, SPEAKER_LEN = 0x61, 4
#: The PIC's three PIO registrations (seed patch, i8259.c).
PIC_MASTER, PIC_SLAVE, PIC_ELCR, PIC_LEN = 0x20, 0xA0, 0x4D0, 2
PIC_PORTS = (0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1)
#: ELCR masks of the master and slave chips.
ELCR_MASKS = (0xF8, 0xDE)
#: IOAPIC_DEFAULT_BASE_ADDRESS, IOAPIC_MEM_LENGTH.
IOAPIC_BASE, IOAPIC_LEN = 0xFEC00000, 0x100
#: IOAPIC_NUM_PINS and IOAPIC_VERSION_ID: the version register reads ((24-1) << 16) | 0x11.
IOAPIC_NUM_PINS, IOAPIC_VERSION_ID = 24, 0x11
#: KVM_COALESCED_MMIO_MAX with 4 KiB pages: (4096 - 2*4) // 24.
COALESCED_MMIO_MAX = (4096 - 8) // 24


def check_era(era: str) -> str:
    if era not in ERAS:
        raise ValueError(f"era must be '2011' or 'today', got {era!r}")
    return era


@dataclass(frozen=True)
class LogEntry:
    """One thing a device accepted or changed.

    ``what`` names the effect (``"write"``, ``"read"``, ``"swallowed"``,
    ``"signal"``, ``"ring"``, ``"destroyed"``...), ``dev`` the owner whose
    state changed (not the facade: facades of one owner that make the same
    change log the same entry), ``addr``/``len`` the access, ``value`` the datum the
    effect recorded (an int, or hex for raw bytes), ``detail`` a short note.
    """

    what: str
    dev: str
    addr: int = 0
    len: int = 0
    value: Any = None
    detail: str = ""


def le_value(data: bytes, n: int) -> int:
    """The ``n``-byte little-endian value at the start of the guest buffer.

    Models C reading ``*(u8/u16/u32/u64 *)val``; bytes beyond what the guest
    supplied read as zero (the VM pads the buffer to the access length).
    """
    chunk = bytes(data[: max(n, 0)])
    return int.from_bytes(chunk.ljust(max(n, 0), b"\0"), "little")


def copy_out(value: int, n: int) -> bytes:
    """The first ``n`` little-endian bytes of ``value``: C ``memcpy(val, &x, n)``.

    A negative ``n`` would be a huge ``size_t`` in C (a kernel crash); the
    model copies nothing instead.
    """
    n = max(n, 0)
    return (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little") if n else b""


def copy_len_min_sizeof(length: int, size: int) -> int:
    """``if (len > sizeof(ret)) len = sizeof(ret);`` with ``int len``: the
    comparison is done in ``size_t``, so a negative ``len`` (a huge unsigned
    value) is cut to ``size`` too. A zero ``len`` copies nothing."""
    return size if u64(length) > size else length  # C: int converted to size_t


def inside(lo: int, hi: int, addr: int, length: int) -> bool:
    """An access ``(addr, length)`` lies inside the byte extent ``[lo, hi)``: its
    first byte is inside and its ``max(length, 0)`` bytes end by ``hi``."""
    return lo <= addr and addr + max(length, 0) <= hi and addr < hi


class Device:
    """Common plumbing: ids, the log, the observer hook, the era."""

    ioeventfd = False
    #: the VM's lifetime ledger (model.lifetime.Ledger) when the VM tracks this
    #: device: callbacks into a destroyed device and destructor runs are reported
    ledger: Any = None

    def __init__(self, dev_id: str, owner: str | None = None, *, era: str = "today", log: list | None = None):
        self.id = dev_id
        self.owner = owner or dev_id
        self.era = check_era(era)
        self.log: list[LogEntry] = [] if log is None else log
        self.observer: Callable[[Any], None] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"

    # the protocol methods; subclasses implement _write/_read
    def _touched(self) -> None:
        # A callback into a freed device: the ledger decides whether it is one.
        if self.ledger is not None and getattr(self, "destroyed", False):
            self.ledger.reached(self)

    def write(self, addr: int, length: int, data: bytes) -> int:
        self._touched()
        rc = self._write(addr, length, data)
        if rc == 0 and self.observer is not None:
            self.observer(self)
        return rc

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        self._touched()
        rc, out = self._read(addr, length)
        if rc == 0 and self.observer is not None:
            self.observer(self)
        return rc, (out if rc == 0 else b"")

    def _write(self, addr: int, length: int, data: bytes) -> int:  # pragma: no cover - abstract
        return -EOPNOTSUPP

    def _read(self, addr: int, length: int) -> tuple[int, bytes]:
        # C: a device without a read op: kvm_iodevice_read returns -EOPNOTSUPP.
        return -EOPNOTSUPP, b""

    def _note(self, what: str, addr: int = 0, length: int = 0, value: Any = None, detail: str = "") -> None:
        self.log.append(LogEntry(what, self.owner, addr, length, value, detail))


# -- probes ---------------------------------------------------------------------


class Probe(Device):
    """A synthetic device for bus-level fuzzing, independent of real devices.

    ``accepts="range"``: exactly the accesses ``(x, n)`` inside its registered
    range, taken literally
    (:func:`~iobus_verify.model.comparators.byte_extent` on ints:
    ``[addr, addr + u32(len))``, clipped at 2**64; a zero-length probe holds
    no byte and accepts nothing, as a zero-size coalesced zone does): inside
    when ``lo <= x``, ``x + max(n, 0) <= hi`` and ``x < hi`` (its first byte
    is inside). For
    the accesses a guest issues (1 to 8 bytes, not running past 2**64) this is
    :func:`iobus_verify.proofs.encode.probe_accepts`. ``"all"`` accepts every
    access, ``"none"`` none. A read returns ``len`` zero bytes (none for
    ``len <= 0``). Each accepted access is logged.
    """

    ACCEPTS = ("range", "all", "none")

    def __init__(self, dev_id: str, addr: int, length: int, accepts: str = "range", *, era: str = "today"):
        super().__init__(dev_id, era=era)
        if accepts not in self.ACCEPTS:
            raise ValueError(f"probe accepts must be one of {self.ACCEPTS}, got {accepts!r}")
        self.addr, self.len, self.accepts = addr, length, accepts
        self.lo, self.hi = byte_extent(INT, addr, length)

    def accepts_access(self, addr: int, length: int) -> bool:
        if self.accepts == "all":
            return True
        if self.accepts == "none":
            return False
        return inside(self.lo, self.hi, addr, length)

    def _write(self, addr, length, data):
        if not self.accepts_access(addr, length):
            return -EOPNOTSUPP
        self._note("write", addr, length, bytes(data).hex())
        return 0

    def _read(self, addr, length):
        if not self.accepts_access(addr, length):
            return -EOPNOTSUPP, b""
        self._note("read", addr, length)
        return 0, bytes(max(length, 0))


# -- PIT and speaker (i8254.c) ----------------------------------------------------


class PitState:
    """The part of ``struct kvm_pit`` the bus callbacks touch, shared by the PIT
    and the speaker devices (owner ``"pit"``).

    Deterministic stand-ins for time: a channel's count reads back as the last
    value loaded into it (the kernel derives it from the elapsed time), and
    channel 2's output reads as 0.
    """

    def __init__(self) -> None:
        self.log: list[LogEntry] = []
        self.counts = [0, 0, 0]  # last byte loaded per channel (model)
        self.control = 0  # last control word
        self.speaker_data_on = 0
        self.gate2 = 0


class Pit(Device):
    """The i8254 PIT, PIO ``(0x40, 4)``; the same rule in both eras.

    ``pit_in_range``: ``0x40 <= addr < 0x44``, whatever ``len``. A write takes
    ``*(u32 *)data & 0xff`` (four bytes whatever ``len``: the low byte is the
    first byte), ``addr &= 3``: 3 is the control word, 0-2 load a channel; it
    always returns 0. A read of port 3 returns 0 leaving ``val`` untouched (no
    bytes); ports 0-2 copy ``min(len, 4)`` bytes of the channel's value, the
    minimum taken in ``size_t`` (``len > sizeof(ret)``), so a negative length
    copies 4 bytes (both eras; the speaker's read too).
    """

    def __init__(self, state: PitState | None = None, *, era: str = "today"):
        self.state = state or PitState()
        super().__init__("pit", "pit", era=era, log=self.state.log)

    @staticmethod
    def in_range(addr: int) -> bool:
        return PIT_BASE <= addr < PIT_BASE + PIT_LEN  # C: pit_in_range

    def _write(self, addr, length, data):
        if not self.in_range(addr):
            return -EOPNOTSUPP
        val = le_value(data, 4) & 0xFF  # C: val = *(u32 *)data; val &= 0xff
        port = addr & 3
        if port == 3:
            self.state.control = val
        else:
            self.state.counts[port] = val
        self._note("write", addr, length, val, "control" if port == 3 else f"channel {port}")
        return 0

    def _read(self, addr, length):
        if not self.in_range(addr):
            return -EOPNOTSUPP, b""
        port = addr & 3
        if port == 3:  # C: if (addr == 3) return 0; -- val untouched
            self._note("read", addr, length, None, "control: untouched")
            return 0, b""
        value = self.state.counts[port]
        self._note("read", addr, length, value, f"channel {port}")
        # C: if (len > sizeof(ret)) len = sizeof(ret); -- size_t compare: len < 0 copies 4
        return 0, copy_out(value, copy_len_min_sizeof(length, 4))


class Speaker(Device):
    """The dummy PC speaker, PIO ``(0x61, 4)``, registered only with
    ``KVM_PIT_SPEAKER_DUMMY``; owner ``"pit"`` (it writes the PIT's state).

    Both callbacks accept only ``addr == 0x61`` exactly (0x62-0x64, inside its
    registration, return ``-EOPNOTSUPP``). A write sets "speaker data on" from
    bit 1 and channel 2's gate from bit 0 of ``*(u32 *)data`` (the flag was the
    field ``speaker_data_on`` in 2011 and ``KVM_PIT_FLAGS_SPEAKER_DATA_ON``
    today: the same effect). A read returns ``(data_on << 1) | gate2 |
    (out2 << 5) | (refresh << 4)``, ``min(len, 4)`` bytes. The kernel's refresh
    bit is ``(ktime_ns >> 14) & 1``; the model uses ``clock() & 1`` where the
    VM's clock is the index of the op being run, and ``out2`` is 0.
    """

    def __init__(self, state: PitState, *, clock: Callable[[], int] = lambda: 0, era: str = "today"):
        self.state = state
        self.clock = clock
        super().__init__("speaker", "pit", era=era, log=state.log)

    def _write(self, addr, length, data):
        if addr != SPEAKER_BASE:
            return -EOPNOTSUPP
        val = le_value(data, 4)  # C: val = *(u32 *)data
        self.state.speaker_data_on = (val >> 1) & 1
        self.state.gate2 = val & 1
        self._note("write", addr, length, val & 3, "data_on/gate2")
        return 0

    def _read(self, addr, length):
        if addr != SPEAKER_BASE:
            return -EOPNOTSUPP, b""
        refresh = self.clock() & 1  # deterministic stand-in for (ktime_ns >> 14) & 1
        out2 = 0  # deterministic stand-in for pit_get_out(pit, 2)
        ret = (self.state.speaker_data_on << 1) | self.state.gate2 | (out2 << 5) | (refresh << 4)
        self._note("read", addr, length, ret)
        return 0, copy_out(ret, copy_len_min_sizeof(length, 4))  # C: as the PIT: len < 0 copies 4


# -- PIC (i8259.c) ------------------------------------------------------------------


class PicChip:
    """One 8259 (``struct kvm_kpic_state``), reduced to the registers a port
    access changes: the initialisation sequence (ICW1-ICW4), IMR, ELCR, the
    OCW3 read-register select and poll command. IRR and ISR stay 0 (no
    interrupt lines in the model). The same in both eras (``pic_ioport_write``
    / ``pic_ioport_read``, 3.2 and today):

    * ICW1 (port 0, bit 4): ``init4 = val & 1``, then ``kvm_pic_reset``: IMR
      and the read-register select cleared, ``init_state = 1`` (single mode,
      bit 1, is only logged as unsupported: it changes nothing).
    * ICW2 (port 1, ``init_state`` 1): ``irq_base = val & 0xf8`` and
      ``init_state = 2`` always; ICW3 (state 2): state 3 if ``init4`` else 0;
      ICW4 (state 3): state 0. Port 1 in state 0 writes IMR (OCW1).
    * OCW3 (port 0, bit 4 clear, bit 3 set): bit 2 arms a poll; bit 1 set
      selects ISR (bit 0 = 1) or IRR (bit 0 = 0) for reads of port 0.
    * A read after a poll command returns the poll result and disarms it:
      ``pic_get_irq`` finds nothing pending in the model, so 0x07. Otherwise
      port 0 reads ISR or IRR (both 0), port 1 IMR.
    """

    def __init__(self, elcr_mask: int) -> None:
        self.imr = 0
        self.irq_base = 0
        self.init_state = 0
        self.init4 = 0
        self.elcr = 0
        self.elcr_mask = elcr_mask
        self.poll = 0
        self.read_reg_select = 0

    def ioport_write(self, port: int, val: int) -> str:
        if port == 0:
            if val & 0x10:  # C: ICW1
                self.init4 = val & 1
                # C: kvm_pic_reset(s): imr = 0, read_reg_select = 0, init_state = 1
                self.imr = 0
                self.read_reg_select = 0
                self.init_state = 1
                return "icw1"
            if val & 0x08:  # C: else if (val & 0x08): OCW3
                if val & 0x04:
                    self.poll = 1  # C: s->poll = 1
                if val & 0x02:
                    self.read_reg_select = val & 1  # C: s->read_reg_select = val & 1
                return "ocw3"
            return "ocw2"  # EOI/rotation commands only touch ISR/priority, not modelled
        if self.init_state == 0:
            self.imr = val  # OCW1
            return "imr"
        if self.init_state == 1:
            self.irq_base = val & 0xF8
            self.init_state = 2  # C: case 1: ... s->init_state = 2 (no single mode)
            return "icw2"
        if self.init_state == 2:
            self.init_state = 3 if self.init4 else 0
            return "icw3"
        self.init_state = 0
        return "icw4"

    def ioport_read(self, port: int) -> int:
        if self.poll:  # C: if (s->poll) { ret = pic_poll_read(s, addr); s->poll = 0; }
            self.poll = 0
            return 0x07  # C: pic_get_irq() < 0 (nothing pending): ret = 0x07
        if port == 0:
            return 0  # C: read_reg_select ? isr : irr -- both 0 in the model
        return self.imr


class KvmPic:
    """``struct kvm_pic``: two chips and the log shared by its three facades."""

    def __init__(self) -> None:
        self.log: list[LogEntry] = []
        self.pics = (PicChip(ELCR_MASKS[0]), PicChip(ELCR_MASKS[1]))


class PicDevice(Device):
    """One of the three PIC facades (``pic_master``, ``pic_slave``,
    ``pic_elcr``), owner ``"pic"``. Each accepts all six PIC ports; only the
    bus range limits what it is offered. Registered as ``(0x20, 2)``,
    ``(0xa0, 2)``, ``(0x4d0, 2)``.

    * **2011** (``picdev_in_range`` first): an address outside
      {0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1} is ``-EOPNOTSUPP``; **then**
      ``len != 1`` is swallowed: return 0, no state change, a read leaves
      ``val`` untouched (no bytes).
    * **today** (``len != 1`` first): a ``len != 1`` access returns 0 with no
      address check (a write is logged and ignored, a read zeroes ``len``
      bytes); then the six ports are handled and any other address is
      ``-EOPNOTSUPP``. Because that branch checks no address, today's callback
      relies on the range bus to deliver only what it matches. The model makes
      that delivery explicit: the ``len != 1`` branch sees exactly the accesses
      today's ``kvm_io_bus_cmp(access, registration)`` calls equal to the
      facade's registration, also on the linear reference (which offers every
      access to every device and would otherwise credit the PIC with every
      non-byte PIO access on the bus). So it sees (0x20, 2) and (0x21, 1)...
      and also a zero-length access at the registration's end, (0x22, 0), and
      negative lengths whose wrapped end stays inside, (0x20, -1): the kernel
      swallows those writes; a read of a negative length would ``memset`` a
      huge size (the model returns no bytes: the real kernel would not
      survive it).

    1-byte accesses: 0x20/0x21/0xa0/0xa1 go to chip ``addr >> 7``'s
    ``pic_ioport_read/write``, 0x4d0/0x4d1 to the ELCR of chip ``addr & 1``
    (written masked by 0xf8 / 0xde).
    """

    BASES = {"pic_master": PIC_MASTER, "pic_slave": PIC_SLAVE, "pic_elcr": PIC_ELCR}

    def __init__(self, dev_id: str, pic: KvmPic, *, era: str = "today", base: int | None = None):
        self.pic = pic
        super().__init__(dev_id, "pic", era=era, log=pic.log)
        self.base = self.BASES.get(dev_id, PIC_MASTER) if base is None else base
        self.lo, self.hi = byte_extent(INT, self.base, PIC_LEN)

    def _delivered(self, addr: int, length: int) -> bool:
        # today's len != 1 branch: what today's range bus delivers (see the class doc):
        # C: kvm_io_bus_cmp(&key, &range) == 0, the key first, the registration second
        return cmp_upstream(INT, addr, length, self.base, PIC_LEN) == 0

    def _write(self, addr, length, data):
        if self.era == "2011":
            if addr not in PIC_PORTS:  # C: if (!picdev_in_range(addr)) return -EOPNOTSUPP;
                return -EOPNOTSUPP
            if length != 1:  # C: then if (len != 1) { log; return 0; }
                self._note("swallowed", addr, length, None, "non byte write")
                return 0
        else:
            if length != 1:  # C (today): if (len != 1) { log; return 0; } comes first
                if not self._delivered(addr, length):
                    return -EOPNOTSUPP
                self._note("swallowed", addr, length, None, "non byte write")
                return 0
            if addr not in PIC_PORTS:  # C: switch default: return -EOPNOTSUPP
                return -EOPNOTSUPP
        val = le_value(data, 1)  # C: unsigned char data = *(unsigned char *)val
        if addr in (0x4D0, 0x4D1):
            chip = self.pic.pics[addr & 1]
            chip.elcr = val & chip.elcr_mask
            self._note("write", addr, length, chip.elcr, f"elcr{addr & 1}")
        else:
            what = self.pic.pics[addr >> 7].ioport_write(addr & 1, val)
            self._note("write", addr, length, val, f"pic{addr >> 7} {what}")
        return 0

    def _read(self, addr, length):
        if self.era == "2011":
            if addr not in PIC_PORTS:
                return -EOPNOTSUPP, b""
            if length != 1:  # swallowed, val untouched
                self._note("swallowed", addr, length, None, "non byte read")
                return 0, b""
        else:
            if length != 1:  # C (today): memset(val, 0, len); return 0;
                if not self._delivered(addr, length):
                    return -EOPNOTSUPP, b""
                self._note("swallowed", addr, length, None, "non byte read")
                return 0, bytes(max(length, 0))
            if addr not in PIC_PORTS:
                return -EOPNOTSUPP, b""
        if addr in (0x4D0, 0x4D1):
            value = self.pic.pics[addr & 1].elcr
        else:
            value = self.pic.pics[addr >> 7].ioport_read(addr & 1)
        self._note("read", addr, length, value)
        return 0, bytes([value])


# -- IOAPIC ---------------------------------------------------------------------------


class Ioapic(Device):
    """The IOAPIC on the MMIO bus, ``(0xfec00000, 0x100)``.

    ``ioapic_in_range``: ``base <= addr < base + 0x100`` (the current base).
    Read (both eras): ``addr &= 0xff``; 0x00 gives IOREGSEL, 0x10 the register
    IOREGSEL selects (0x00 id, 0x01 version ``0x170011``, 0x02 arbitration,
    otherwise redirection entry ``(sel - 0x10) >> 1`` in u32, its high half
    when ``sel`` is odd), other offsets 0; then by ``len``: 8 copies the value
    zero-extended to u64, 1/2/4 copy ``len`` bytes, any other length leaves
    ``val`` untouched (no bytes); always 0.

    Write, **2011** (Linux 3.2 ``ioapic_mmio_write``): only ``len`` 4 or 8
    are taken (``*(u32 *)val``); any other length is swallowed with a warning
    (returns 0, no state change); 0x00 sets IOREGSEL to the full u32.
    **today**: ``len`` 8 or 4 take ``*(u32 *)val``, 2 a u16, 1 a u8, others
    are swallowed; IOREGSEL is masked with 0xff. In both, 0x10 writes the
    selected register and other offsets are ignored; always 0.

    Redirection entries (``ioapic_write_indirect``): an index past the table
    is ignored on write. **2011**: a low-half write replaces bits 0-31 and
    clears remote_irr (bit 14); an index past the table reads out of bounds
    (``ASSERT`` compiled out: undefined, the model reads 0). **today**: the
    write keeps remote_irr and delivery_status (bits 14 and 12) as they were,
    then clears remote_irr when the entry is edge-triggered (bit 15 clear); an
    index past the table reads as all ones (``redir_content = ~0ULL``).
    (2011's IA64-only EOI register at 0x40 is not x86.)
    """

    def __init__(self, *, base: int = IOAPIC_BASE, era: str = "today"):
        super().__init__("ioapic", era=era)
        self.base = base
        self.ioregsel = 0
        self.id_reg = 0
        self.redirtbl = [1 << 16] * IOAPIC_NUM_PINS  # reset: every pin masked (low halves)
        self.redirtbl_hi = [0] * IOAPIC_NUM_PINS

    def in_range(self, addr: int) -> bool:
        return self.base <= addr < self.base + IOAPIC_LEN

    def _pin(self) -> int:
        return u32(self.ioregsel - 0x10) >> 1  # C: u32 redir_index = (ioregsel - 0x10) >> 1

    def _indirect_read(self) -> int:
        sel = self.ioregsel
        if sel == 0x01:
            return ((IOAPIC_NUM_PINS - 1) << 16) | IOAPIC_VERSION_ID
        if sel in (0x00, 0x02):
            return self.id_reg << 24
        pin = self._pin()
        if pin < IOAPIC_NUM_PINS:
            return self.redirtbl_hi[pin] if sel & 1 else self.redirtbl[pin]
        if self.era == "today":
            return 0xFFFFFFFF  # C: redir_content = ~0ULL, either half
        return 0  # 2011: out-of-bounds read (ASSERT compiled out): undefined, the model reads 0

    def _read(self, addr, length):
        if not self.in_range(addr):
            return -EOPNOTSUPP, b""
        off = addr & 0xFF
        if off == 0x00:
            result = self.ioregsel
        elif off == 0x10:
            result = self._indirect_read()
        else:
            result = 0
        if length == 8:
            out = copy_out(result, 8)  # C: *(u64 *)val = result (zero-extended)
        elif length in (1, 2, 4):
            out = copy_out(result, length)
        else:
            self._note("swallowed", addr, length, None, "unsupported read length")
            return 0, b""
        self._note("read", addr, length, result)
        return 0, out

    def _write(self, addr, length, data):
        if not self.in_range(addr):
            return -EOPNOTSUPP
        if length in (8, 4):
            val = le_value(data, 4)  # C: data = *(u32 *)val, also for len 8
        elif length == 2 and self.era == "today":
            val = le_value(data, 2)
        elif length == 1 and self.era == "today":
            val = le_value(data, 1)
        else:  # C (3.2): only 4 and 8; today: also 2 and 1; else printk and return 0
            self._note("swallowed", addr, length, None, "unsupported write length")
            return 0
        off = addr & 0xFF
        if off == 0x00:
            # C (3.2): ioregsel = data; today: ioregsel = data & 0xFF
            self.ioregsel = val if self.era == "2011" else val & 0xFF
            self._note("write", addr, length, self.ioregsel, "ioregsel")
        elif off == 0x10:
            self._indirect_write(val)
            self._note("write", addr, length, val, f"iowin reg {self.ioregsel:#x}")
        else:
            self._note("write", addr, length, val, "ignored offset")
        return 0

    def _indirect_write(self, val: int) -> None:
        sel = self.ioregsel
        if sel == 0x00:
            self.id_reg = (val >> 24) & 0xF
            return
        if sel in (0x01, 0x02):
            return
        pin = self._pin()
        if pin >= IOAPIC_NUM_PINS:  # C: if (index >= IOAPIC_NUM_PINS) return;
            return
        if sel & 1:
            self.redirtbl_hi[pin] = val
            low = self.redirtbl[pin]
        else:
            old = self.redirtbl[pin]
            low = val
            if self.era == "2011":
                low &= ~(1 << 14)  # C (3.2): e->fields.remote_irr = 0 on a low-half write
            else:
                keep = (1 << 12) | (1 << 14)  # C: remote_irr, delivery_status restored
                low = (low & ~keep) | (old & keep)
        if self.era == "today" and not (low >> 15) & 1:
            low &= ~(1 << 14)  # C: if (trig_mode == IOAPIC_EDGE_TRIG) remote_irr = 0
        self.redirtbl[pin] = low


# -- coalesced MMIO (virt/kvm/coalesced_mmio.c) -------------------------------------------


class CoalescedRing:
    """``kvm->coalesced_mmio_ring``: ``first`` (user space's consumer index,
    never advanced in a scenario), ``last`` (the kernel's producer index) and
    the entries; shared by every zone (owner ``"coalesced_ring"``).

    Ring full (``era``):

    * **2011** (the form from the 3.4 copy of 2012 to 2024; the exact 3.1
      text is UNCONFIRMED): ``avail = ((u32)(first - last - 1)) % MAX``, full
      when ``avail == 0``. As ``2**32 % 170 == 86``, with ``first == 0`` it
      also reports full at ``last == 85``: the premature exit fixed in 2024.
    * **today**: full when ``last >= MAX`` or ``(last + 1) % MAX == first``:
      169 entries fit when ``first == 0``.
    """

    def __init__(self, *, era: str = "today", capacity: int = COALESCED_MMIO_MAX):
        self.era = check_era(era)
        self.max = capacity
        self.first = 0
        self.last = 0
        self.entries: list[tuple[int, int, str]] = []
        self.log: list[LogEntry] = []

    def has_room(self) -> bool:
        if self.era == "2011":
            avail = u32(self.first - self.last - 1) % self.max  # C: (u32 arithmetic) % MAX
            return avail != 0
        insert = self.last
        return not (insert >= self.max or (insert + 1) % self.max == self.first)

    def push(self, addr: int, length: int, data: bytes) -> None:
        self.entries.append((addr, length, bytes(data[: max(length, 0)]).hex()))
        self.last = (self.last + 1) % self.max


def coalesced_in_range(zone_addr: int, zone_size: int, addr: int, length: int, era: str = "today") -> bool:
    """``coalesced_mmio_in_range``: does the zone contain ``(addr, len)``?

    * **today** (and the 3.4 copy of 2012), in its order: ``len < 0`` -> no;
      ``addr + len`` overflows -> no; ``addr < zone.addr`` -> no;
      ``addr + len > zone.addr + zone.size`` (u64, size a ``__u32``) -> no;
      otherwise yes (the end may equal the zone's end).
    * **2011** (Linux 3.2): only ``zone.addr <= addr`` and
      ``addr + len <= zone.addr + zone.size``, both sums in u64 with ``len``
      sign-extended: no ``len < 0`` test and no overflow test. So a write
      (2**64-4, 4) lies in a zone (2**64-4096, 4096) (both sums wrap to 0),
      and an unregister (2**32+8, 0x80000000) (``size`` read as ``int``:
      -2**31) lies in a zone (2**32, 4096). A negative length that passes is
      accepted, and the write then copies ``len`` bytes through a huge
      ``size_t``: see :meth:`CoalescedZone._write`.
    """
    if era == "2011":
        # C (3.2): addr >= zone.addr && addr + len <= zone.addr + zone.size, u64, len sign-extended
        return zone_addr <= addr and u64(addr + length) <= u64(zone_addr + u32(zone_size))
    if length < 0:
        return False
    end = u64(addr + length)  # C: addr + len, int -> u64 (len >= 0 here)
    if end < addr:
        return False
    if addr < zone_addr:
        return False
    if end > u64(zone_addr + u32(zone_size)):  # C: zone.addr + zone.size in u64, wraps
        return False
    return True


class CoalescedZone(Device):
    """A coalesced MMIO zone (one device per zone since 2011), registered as
    ``(zone.addr, c_int(zone.size))``: ``zone.size`` is a ``__u32`` passed to
    ``int len``, so sizes >= 2**31 arrive negative. ``pio`` (today only,
    ``zone->pio``): the zone lives on the PIO bus instead of MMIO (in 2011
    the field was padding and every zone is MMIO).

    Write: outside the zone (:func:`coalesced_in_range`, era-dependent) or ring full
    (:meth:`CoalescedRing.has_room`, era-dependent) -> ``-EOPNOTSUPP``;
    otherwise append ``(addr, len, data)`` to the shared ring and return 0.
    No read op (reads are ``-EOPNOTSUPP``). ``destructor()`` is the kernel's
    ``coalesced_mmio_destructor``: ``list_del`` from the VM's zone list and
    free; the VM passes ``on_destroy`` to model the list removal.
    """

    def __init__(
        self,
        dev_id: str,
        addr: int,
        size: int,
        ring: CoalescedRing,
        *,
        era: str = "today",
        on_destroy: Callable[[Any], None] | None = None,
        pio: int = 0,
    ):
        self.ring = ring
        super().__init__(dev_id, "coalesced_ring", era=era, log=ring.log)
        self.addr = addr
        self.size = u32(size)  # struct kvm_coalesced_mmio_zone.size is __u32
        self.pio = pio if era == "today" else 0  # C (2011): __u32 pad, no pio field
        self.destroyed = False
        self._on_destroy = on_destroy

    @property
    def bus_len(self) -> int:
        return c_int(self.size)  # C: u32 zone.size -> int len of kvm_io_bus_register_dev

    @property
    def bus(self) -> str:
        return "pio" if self.pio else "mmio"  # C: zone->pio ? KVM_PIO_BUS : KVM_MMIO_BUS

    def contains(self, addr: int, length: int) -> bool:
        return coalesced_in_range(self.addr, self.size, addr, length, self.era)

    def _write(self, addr, length, data):
        if not self.contains(addr, length):
            return -EOPNOTSUPP
        if not self.ring.has_room():
            return -EOPNOTSUPP
        self.ring.push(addr, length, data)
        # 2011 only: a negative length passes the range check; the kernel then
        # memcpy()s len bytes as a huge size_t and does not survive it.
        detail = "negative len: the kernel's memcpy would not survive this" if length < 0 else ""
        self._note("ring", addr, length, bytes(data[: max(length, 0)]).hex(), detail)
        return 0

    def destructor(self) -> None:
        if self.ledger is not None:
            self.ledger.destroyed(self)  # who, when, and whether a reader may still reach it
        if self.destroyed:
            self._note("destroyed-again", self.addr, self.bus_len, None, f"{self.id}: double destroy (a kernel double free)")
            return
        self.destroyed = True
        self._note("destroyed", self.addr, self.bus_len, None, self.id)
        if self._on_destroy is not None:
            self._on_destroy(self)


# -- ioeventfd (virt/kvm/eventfd.c) ------------------------------------------------------------


class Ioeventfd(Device):
    """An ioeventfd: write-only (reads are ``-EOPNOTSUPP``); a hit signals its
    eventfd (logged as ``"signal"``) and returns 0. ``datamatch None`` is a
    wildcard (no ``KVM_IOEVENTFD_FLAG_DATAMATCH``).

    * **2011**: hit when ``addr == p.addr`` and ``len == p.length``, then a
      wildcard hits, else the access's ``len`` bytes as a little-endian
      u8/u16/u32/u64 must equal ``datamatch``.
    * **today**: ``addr != p.addr`` misses; ``p.length == 0`` hits for any
      ``len`` (the data is not read); else ``len != p.length`` misses; a
      wildcard hits; else the data must equal ``datamatch``.

    ``destructor()`` is ``ioeventfd_release``: ``list_del`` from the VM's
    ioeventfd list and free (2011: called by deassign after the bus
    unregister; today: by the bus unregister itself).
    """

    ioeventfd = True

    def __init__(
        self,
        dev_id: str,
        bus: str,
        addr: int,
        length: int,
        datamatch: int | None,
        *,
        era: str = "today",
        on_destroy: Callable[[Any], None] | None = None,
    ):
        super().__init__(dev_id, era=era)
        self.bus = bus
        self.addr = addr
        self.len = length
        self.datamatch = None if datamatch is None else u64(datamatch)
        self.destroyed = False
        self._on_destroy = on_destroy

    @property
    def wildcard(self) -> bool:
        return self.datamatch is None

    def in_range(self, addr: int, length: int, data: bytes) -> bool:
        if addr != self.addr:
            return False
        if self.era == "today" and self.len == 0:
            return True  # C (today): if (!p->length) return true; -- val not read
        if length != self.len:
            return False
        if self.wildcard:
            return True
        if length not in (1, 2, 4, 8):  # C: switch (len) default: return false
            return False
        return le_value(data, length) == self.datamatch

    def _write(self, addr, length, data):
        if not self.in_range(addr, length, data):
            return -EOPNOTSUPP
        self._note("signal", addr, length, bytes(data[: max(min(length, 8), 0)]).hex())
        return 0

    def destructor(self) -> None:
        if self.ledger is not None:
            self.ledger.destroyed(self)  # who, when, and whether a reader may still reach it
        if self.destroyed:
            self._note("destroyed-again", self.addr, self.len, None, f"{self.id}: double destroy (a kernel double free)")
            return
        self.destroyed = True
        self._note("destroyed", self.addr, self.len, None, self.id)
        if self._on_destroy is not None:
            self._on_destroy(self)


__all__ = [
    "ERAS",
    "LogEntry",
    "Device",
    "Probe",
    "PitState",
    "Pit",
    "Speaker",
    "KvmPic",
    "PicDevice",
    "Ioapic",
    "CoalescedRing",
    "CoalescedZone",
    "coalesced_in_range",
    "Ioeventfd",
    "COALESCED_MMIO_MAX",
    "U64_MAX",
]
