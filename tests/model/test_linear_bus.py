"""The pre-patch linear bus: register, unregister, capacity, scan order."""

from iobus_verify.model.linear_bus import NR_IOBUS_DEVS_2011, NR_IOBUS_DEVS_TODAY, LinearBus
from iobus_verify.model.protocol import ENOENT, ENOMEM, ENOSPC, EOPNOTSUPP, FailNth


class Dev:
    """Accepts every access whose first byte is in [lo, hi); logs who was called."""

    def __init__(self, name, lo=0, hi=2**64, calls=None):
        self.name, self.lo, self.hi = name, lo, hi
        self.calls = calls if calls is not None else []

    def write(self, addr, length, data):
        self.calls.append(self.name)
        return 0 if self.lo <= addr < self.hi else -EOPNOTSUPP

    def read(self, addr, length):
        rc = self.write(addr, length, b"")
        return rc, (bytes([len(self.name)]) if rc == 0 else b"")


def test_capacity_is_the_patchs_300():
    bus = LinearBus(era="2011")
    assert bus.capacity == NR_IOBUS_DEVS_2011 == 300
    for i in range(300):
        assert bus.register(0, 1, Dev(str(i))) == 0
    assert bus.register(0, 1, Dev("x")) == -ENOSPC
    assert len(bus.ranges()) == 300


def test_scan_in_array_order_until_a_device_returns_zero():
    calls = []
    a, b, c = Dev("a", 10, 20, calls), Dev("b", 0, 100, calls), Dev("c", 0, 100, calls)
    bus = LinearBus(8)
    for d in (a, b, c):
        bus.register(0, 0, d)  # the linear bus ignores the range
    assert bus.write(15, 1, b"x") == 0 and calls == ["a"]
    calls.clear()
    assert bus.write(50, 1, b"x") == 0 and calls == ["a", "b"]
    calls.clear()
    assert bus.write(500, 1, b"x") == -EOPNOTSUPP and calls == ["a", "b", "c"]
    assert bus.read(15, 1) == (0, b"\x01")
    assert bus.stats().callbacks == 1 + 2 + 3 + 1


def test_unregister_moves_the_last_device_into_the_hole():
    devs = [Dev(n) for n in "abcd"]
    bus = LinearBus(8, era="2011")
    for d in devs:
        bus.register(0, 1, d)
    assert bus.unregister(devs[1]) == 0
    assert [d.name for _, _, d in bus.ranges()] == ["a", "d", "c"]
    assert bus.unregister(devs[3]) == 0
    assert [d.name for _, _, d in bus.ranges()] == ["a", "c"]
    assert bus.unregister(devs[3]) == -ENOENT


def test_unregister_allocates_before_searching():
    alloc = FailNth(2)
    bus = LinearBus(8, era="2011", alloc=alloc)
    d = Dev("a")
    assert bus.register(0, 1, d) == 0  # allocation 1
    assert bus.unregister(Dev("absent")) == -ENOMEM  # allocation 2 fails before the search
    assert bus.unregister(Dev("absent")) == -ENOENT
    assert [s for s, _ in alloc.sites] == ["register:kzalloc", "unregister:kzalloc", "unregister:kzalloc"]


def test_register_checks_capacity_before_allocating():
    alloc = FailNth(2)
    bus = LinearBus(1, era="2011", alloc=alloc)
    assert bus.register(0, 1, Dev("a")) == 0
    assert bus.register(0, 1, Dev("b")) == -ENOSPC  # no allocation consulted
    assert alloc.calls == 1
    bus2 = LinearBus(4, alloc=FailNth(1))
    assert bus2.register(0, 1, Dev("a")) == -ENOMEM
    assert bus2.ranges() == []


class Eventfd(Dev):
    ioeventfd = True


def test_today_contract_counts_1000_devices_without_ioeventfds():
    """Expected values derived by hand from today's kvm_io_bus_register_dev
    (linux-next 03b9d314): ``dev_count - ioeventfd_count > NR_IOBUS_DEVS - 1``
    gives -ENOSPC, NR_IOBUS_DEVS = 1000; ioeventfds do not count."""
    bus = LinearBus(era="today")
    assert bus.capacity == NR_IOBUS_DEVS_TODAY == 1000
    small = LinearBus(2, era="today")
    assert small.register(0, 1, Eventfd("e1")) == 0
    assert small.register(0, 1, Eventfd("e2")) == 0
    assert small.register(0, 1, Eventfd("e3")) == 0  # 3 ioeventfds, 0 counted
    assert small.register(0, 1, Dev("a")) == 0
    assert small.register(0, 1, Dev("b")) == 0
    assert small.register(0, 1, Dev("c")) == -ENOSPC  # 2 counted: 2 > 2 - 1
    assert small.register(0, 1, Eventfd("e4")) == -ENOSPC  # the check applies to any device
    # the 2011 contract counts every device: the third ioeventfd already fills a bus of 2
    old = LinearBus(2, era="2011")
    assert [old.register(0, 1, Eventfd(f"e{i}")) for i in range(3)] == [0, 0, -ENOSPC]


def test_today_contract_unregister_absent_is_zero_and_searches_first():
    """Derived by hand from today's kvm_io_bus_unregister_dev: the device is
    looked up first and an absent one returns 0 without allocating; a failed
    allocation is -ENOMEM (the linear contract keeps the bus: dropping it is
    what the upstream range bus changes, and stays a finding)."""
    alloc = FailNth(2)
    bus = LinearBus(8, era="today", alloc=alloc)
    a, b = Dev("a"), Dev("b")
    assert bus.register(0, 1, a) == 0  # allocation 1
    assert bus.unregister(Dev("absent")) == 0  # no allocation consulted
    assert alloc.calls == 1
    assert bus.unregister(a) == -ENOMEM  # allocation 2 fails
    assert [d.name for _, _, d in bus.ranges()] == ["a"]
    assert bus.register(0, 1, b) == 0
    assert bus.unregister(a) == 0  # the last device moves into the hole
    assert [d.name for _, _, d in bus.ranges()] == ["b"]
