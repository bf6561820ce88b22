"""C buses through the bridge: the examples against the Python models, and the failure modes.

Needs a C compiler (``$CC`` or ``cc``). On a person's machine without one every
test is skipped, with the reason printed; under ``IOBUS_VERIFY_REQUIRE_CC=1``
(set by ``.ci/run``) a missing compiler fails instead, so CI cannot pass with
the C bridge untested. The build cache goes to a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from iobus_verify.errors import UsageError
from iobus_verify.model.cbus import BusCrashed, BusDead, BusHung, load
from iobus_verify.model.linear_bus import LinearBus
from iobus_verify.model.protocol import ENOENT, ENOSPC, EOPNOTSUPP, FailNth
from iobus_verify.model.sorted_bus import SEED_2011, RangeBus
from iobus_verify.model.spec import resolve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "c"
LINEAR_C = f"c:{EXAMPLES / 'linear_bus.c'}"
RANGE_C = f"c:{EXAMPLES / 'range_bus.c'}"

_NO_CC = shutil.which(os.environ.get("CC") or "cc") is None
if _NO_CC and os.environ.get("IOBUS_VERIFY_REQUIRE_CC") == "1":
    raise RuntimeError("IOBUS_VERIFY_REQUIRE_CC=1 but no C compiler (cc or $CC) found: the C bus bridge cannot be tested")
pytestmark = pytest.mark.skipif(_NO_CC, reason="no C compiler (cc or $CC) found: the C bus bridge cannot be tested")


@pytest.fixture(scope="module", autouse=True)
def _cache(build_cache):
    return build_cache


@pytest.fixture(scope="module")
def linear_c():
    return resolve(LINEAR_C)


@pytest.fixture(scope="module")
def range_c():
    return resolve(RANGE_C)


class Probe:
    """A device accepting accesses whose first byte lies in [lo, lo+n); logs every call."""

    def __init__(self, index: int, lo: int, n: int, log: list) -> None:
        self.index, self.lo, self.n, self.log = index, lo, n, log
        self.name = f"p{index}"

    def _mine(self, addr: int) -> bool:
        return self.lo <= addr < self.lo + self.n

    def write(self, addr, length, data):
        self.log.append(("w", self.index, addr, length, bytes(data)))
        return 0 if self._mine(addr) else -EOPNOTSUPP

    def read(self, addr, length):
        self.log.append(("r", self.index, addr, length))
        if not self._mine(addr):
            return -EOPNOTSUPP, b""
        return 0, bytes([self.index & 0xFF, addr & 0xFF, 0xAB, 0xCD, 1, 2, 3, 4])[: max(length, 0)]


# -- op sequences run on two buses side by side --------------------------------

# Small clustered values, where entries overlap and ends wrap or collide; and C
# int extremes, where the int -> u64 conversion in addr + len decides the order.
BASES = [0, 2**32 - 8, 2**63 - 8, 2**64 - 16]
ADDRS = st.one_of(
    st.integers(0, 40),
    st.integers(0, 24),
    st.tuples(st.sampled_from(BASES), st.integers(0, 15)).map(lambda t: (t[0] + t[1]) % 2**64),
)
LENS = st.one_of(
    st.integers(0, 12),
    st.integers(-12, 12),
    st.sampled_from([2**31 - 1, 2**31 - 16, -(2**31), -(2**31) + 1]),
    st.integers(-(2**31), 2**31 - 1),
)
#: Mostly the kernel's access sizes; also lengths no vCPU makes (the protocol
#: allows any C int), where the key's own int -> u64 conversion shows.
ACCESS_LENS = st.one_of(st.integers(1, 8), st.integers(1, 8), st.integers(-8, 0), st.sampled_from([2**31 - 1, -(2**31)]))
NDEV = 8

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.integers(0, NDEV - 1), ADDRS, LENS),
        st.tuples(st.just("unregister"), st.integers(0, NDEV - 1)),
        st.tuples(st.just("write"), ADDRS, ACCESS_LENS),
        st.tuples(st.just("read"), ADDRS, ACCESS_LENS),
        st.tuples(st.just("oom"),),
    ),
    max_size=40,
)


def _run(make, ops, capacity):
    """Run ``ops`` on a bus made by ``make``; returns everything observable."""
    log: list = []
    devs = [Probe(i, 5 * i, 6, log) for i in range(NDEV)]
    alloc = FailNth()
    bus = make(capacity, alloc=alloc)
    seen = []
    for op in ops:
        if op[0] == "register":
            _, i, addr, length = op
            devs[i].lo = addr  # accept around where it is registered
            seen.append(("register", bus.register(addr, length, devs[i])))
        elif op[0] == "unregister":
            seen.append(("unregister", bus.unregister(devs[op[1]])))
        elif op[0] == "write":
            seen.append(("write", bus.write(op[1], op[2], bytes(range(min(max(op[2], 0), 8))))))
        elif op[0] == "read":
            seen.append(("read", bus.read(op[1], op[2])))
        else:
            alloc.fail_next()
            continue
        seen.append(("ranges", [(a, n, d.index) for a, n, d in bus.ranges()]))
        seen.append(("stats", bus.stats()))
    seen.append(("log", log))
    seen.append(("sites", alloc.sites))
    return seen


@seed(20110708)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, capacity=st.sampled_from([3, 300]))
def test_c_linear_equals_python_linear(linear_c, ops, capacity):
    assert _run(linear_c.make, ops, capacity) == _run(lambda c, alloc: LinearBus(c, era="2011", alloc=alloc), ops, capacity)


@seed(20110709)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, capacity=st.sampled_from([4, 300]))
def test_c_range_equals_seed_2011(range_c, ops, capacity):
    # Array order after every op (ranges()), each access's result and the exact
    # device callback sequence, and the comparator/callback counts (stats()).
    assert _run(range_c.make, ops, capacity) == _run(lambda c, alloc: RangeBus(SEED_2011, c, alloc=alloc), ops, capacity)


@seed(20110710)
@settings(max_examples=150, deadline=None)
@given(regs=st.lists(st.tuples(st.one_of(ADDRS, st.integers(0, 2**64 - 1)), LENS), min_size=2, max_size=40))
def test_c_range_order_on_wide_values(range_c, regs):
    """Order and comparator count after each register, on clustered and unconstrained u64/int values."""
    c_bus, py_bus = range_c.make(), RangeBus(SEED_2011)
    devs = [Probe(i, 0, 0, []) for i in range(len(regs))]
    for dev, (addr, length) in zip(devs, regs):
        assert c_bus.register(addr, length, dev) == py_bus.register(addr, length, dev) == 0
        assert [d for _, _, d in c_bus.ranges()] == [d for _, _, d in py_bus.ranges()]
        assert c_bus.stats() == py_bus.stats()


def test_spec_fields(range_c, linear_c):
    assert (range_c.kind, range_c.era, range_c.capacity, range_c.name) == ("plugin", "2011", 300, "range_bus")
    assert range_c.accepts_alloc and "2011 range bus" in range_c.summary
    bus = range_c.make(2)
    assert hasattr(bus, "ranges") and hasattr(bus, "stats")
    a, b, c = (Probe(i, i, 1, []) for i in range(3))
    assert [bus.register(0, 1, a), bus.register(1, 1, b), bus.register(2, 1, c)] == [0, 0, -ENOSPC]
    assert bus.unregister(c) == -ENOENT
    assert bus.write(0, 1, b"\x01") == 0 and a.log == [("w", 0, 0, 1, b"\x01")]


# -- errors -------------------------------------------------------------------

MINIMAL = """
#include "iobus_bus.h"
struct {p}bus {{ const struct iobus_host *h; iobus_dev_t d; }};
struct {p}bus *{p}create(int cap, const struct iobus_host *h) {{
    struct {p}bus *b = calloc(1, sizeof(*b)); b->h = h; return b; }}
void {p}destroy(struct {p}bus *b) {{ free(b); }}
int {p}register(struct {p}bus *b, uint64_t a, int l, iobus_dev_t d) {{ b->d = d; return 0; }}
int {p}unregister(struct {p}bus *b, iobus_dev_t d) {{ return 0; }}
int {p}write(struct {p}bus *b, uint64_t a, int l, const void *v) {{ {write} }}
int {p}read(struct {p}bus *b, uint64_t a, int l, void *v) {{ {read} }}
"""
OK_WRITE = "return b->d ? iobus_dev_write(b->h, b->d, a, l, v) : -IOBUS_EOPNOTSUPP;"
OK_READ = "return b->d ? iobus_dev_read(b->h, b->d, a, l, v) : -IOBUS_EOPNOTSUPP;"


def _bus_source(prefix="iobus_", write=OK_WRITE, read=OK_READ, extra=""):
    return IOBUS_DECLARE(prefix) + MINIMAL.format(p=prefix, write=write, read=read) + extra


def IOBUS_DECLARE(prefix):  # noqa: N802 - mirrors the C macro
    return "" if prefix == "iobus_" else f'#include "iobus_bus.h"\nIOBUS_DECLARE({prefix});\n'


def test_compile_error_carries_compiler_message(tmp_path):
    f = tmp_path / "broken.c"
    f.write_text('#include "iobus_bus.h"\nint iobus_write(struct iobus_bus *b, uint64_t a, int l, const void *v) { return undeclared_thing; }\n')
    with pytest.raises(UsageError) as err:
        resolve(f"c:{f}")
    message = str(err.value)
    assert "could not compile" in message and "undeclared_thing" in message and "error" in message


def test_missing_symbol_names_symbol_and_prefix(tmp_path):
    f = tmp_path / "partial.c"
    f.write_text(_bus_source().replace("int iobus_read(", "static int unused_read("))
    with pytest.raises(UsageError, match=r"missing symbol iobus_read \(prefix 'iobus_'\)"):
        resolve(f"c:{f}")
    with pytest.raises(UsageError, match=r"missing symbols other_create, .*other_read \(prefix 'other_'\)"):
        resolve(f"c:{f}:other_")


def test_bad_specs(tmp_path):
    with pytest.raises(UsageError, match="no file"):
        resolve(f"c:{tmp_path / 'nosuch.c'}")
    with pytest.raises(UsageError, match="give the C file"):
        resolve("c:")
    f = tmp_path / "era.c"
    f.write_text(_bus_source(extra='const char iobus_era[] = "1999";\n'))
    with pytest.raises(UsageError, match=r"iobus_era is '1999'"):
        resolve(f"c:{f}")


CRASHY = (
    _bus_source("ok_")
    + _bus_source("segv_", write="*(volatile int *)0 = 1; return 0;")
    + _bus_source("abrt_", read='fputs("about to abort\\n", stderr); abort();', extra="")
    + _bus_source("hang_", write="for (;;) ; return 0;")
)


@pytest.fixture(scope="module")
def crashy(tmp_path_factory):
    f = tmp_path_factory.mktemp("crashy") / "crashy.c"
    f.write_text("#include <stdio.h>\n" + CRASHY)
    return f


def test_several_buses_in_one_file(crashy):
    spec = resolve(f"c:{crashy}:ok_")
    assert spec.name == "crashy.ok" and spec.era == "today" and spec.capacity == 300
    bus = spec.make()
    assert not hasattr(bus, "ranges") and not hasattr(bus, "stats")
    dev = Probe(0, 0x10, 4, [])
    assert bus.register(0x10, 4, dev) == 0
    assert bus.read(0x11, 2) == (0, bytes([0, 0x11]))
    assert bus.write(0x20, 1, b"z") == -EOPNOTSUPP


def test_segfault_is_reported_with_the_op_and_the_suite_survives(crashy):
    spec = resolve(f"c:{crashy}:segv_")
    bus = spec.make()
    assert bus.register(0x10, 4, Probe(0, 0x10, 4, [])) == 0
    with pytest.raises(BusCrashed) as err:
        bus.write(0x10, 4, b"abcd")
    assert err.value.op == "write" and err.value.signal == signal.SIGSEGV
    assert "write(0x10, 4)" in str(err.value) and "SIGSEGV" in str(err.value)
    with pytest.raises(BusDead, match="died earlier"):
        bus.register(0, 1, Probe(1, 0, 1, []))
    # The suite goes on: a new bus of the same library works.
    again = spec.make()
    assert again.register(0, 1, Probe(2, 0, 1, [])) == 0 and again.read(0, 1)[0] == 0


def test_abort_is_reported_with_its_output(crashy):
    bus = resolve(f"c:{crashy}:abrt_").make()
    with pytest.raises(BusCrashed) as err:
        bus.read(0, 1)
    assert err.value.op == "read" and err.value.signal == signal.SIGABRT
    assert "about to abort" in str(err.value)


def test_hung_bus_is_killed(crashy, monkeypatch):
    monkeypatch.setenv("IOBUS_VERIFY_C_TIMEOUT", "0.5")
    bus = resolve(f"c:{crashy}:hang_").make()
    child = bus._state.child
    t0 = time.monotonic()
    with pytest.raises(BusHung) as err:
        bus.write(0, 1, b"x")
    # the bus spins forever: any bound proves the kill; 30 s (60x the limit) holds on a loaded CI machine
    assert err.value.op == "write" and time.monotonic() - t0 < 30
    assert _gone(child)  # the spinning child was killed


def _gone(pid: int, within: float = 5.0) -> bool:
    """The process has ended (reaped, or a zombie waiting for init to reap it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def test_device_exception_propagates_and_kills_the_bus(crashy):
    class Boom(Probe):
        def write(self, addr, length, data):
            raise KeyError("device bug")

    bus = resolve(f"c:{crashy}:ok_").make()
    bus.register(0, 1, Boom(0, 0, 1, []))
    with pytest.raises(KeyError):
        bus.write(0, 1, b"x")
    with pytest.raises(BusDead):
        bus.write(0, 1, b"x")


def test_destructor_and_ioeventfd_callbacks(tmp_path):
    f = tmp_path / "today.c"
    f.write_text(
        _bus_source()
        .replace("{ b->d = d; return 0; }", "{ b->d = d; return iobus_dev_is_ioeventfd(b->h, d); }")
        .replace("{ return 0; }", "{ iobus_dev_destructor(b->h, d); return 0; }")
    )

    class Eventfd(Probe):
        ioeventfd = True

        def destructor(self):
            self.log.append("destroyed")

    bus = resolve(f"c:{f}").make()
    plain, efd = Probe(0, 0, 1, []), Eventfd(1, 0, 1, [])
    assert bus.register(0, 1, plain) == 0 and bus.register(0, 1, efd) == 1
    assert bus.unregister(efd) == 0 and efd.log == ["destroyed"]
    assert bus.unregister(plain) == 0  # no destructor: nothing to call


def test_interrupted_call_kills_the_worker(crashy):
    """A suite-side interruption mid-op (the per-op SIGALRM limit, Ctrl-C) leaves no stray process."""

    class Alarm(Exception):
        pass

    def _raise(signum, frame):
        raise Alarm

    bus = resolve(f"c:{crashy}:hang_").make()
    child = bus._state.child
    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(Alarm):
            bus.write(0, 1, b"x")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    with pytest.raises(BusDead, match="interrupted"):
        bus.write(0, 1, b"x")
    assert _gone(child)


def _in_forked_child(spec_text, inherited, queue):
    try:
        inherited.write(0, 1, b"x")
        queue.put("inherited bus answered")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        queue.put(type(exc).__name__)
    bus = resolve(spec_text).make()
    dev = Probe(0, 0, 1, [])
    queue.put((bus.register(0, 1, dev), bus.write(0, 1, b"x")))


def test_forked_suite_makes_its_own_workers(crashy):
    import multiprocessing as mp

    spec_text = f"c:{crashy}:ok_"
    bus = resolve(spec_text).make()
    assert bus.register(0, 1, Probe(0, 0, 1, [])) == 0
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_in_forked_child, args=(spec_text, bus, queue))
    proc.start()
    assert queue.get(timeout=20) == "CBusError"
    assert queue.get(timeout=20) == (0, 0)
    proc.join(20)
    assert proc.exitcode == 0
    assert bus.write(0, 1, b"x") == 0  # the parent's bus is untouched


# -- the cache ----------------------------------------------------------------


def test_cache_reuses_and_rebuilds(tmp_path):
    f = tmp_path / "cached.c"
    inc = tmp_path / "cached_impl.h"
    inc.write_text("#define ANSWER 0\n")
    f.write_text('#include "cached_impl.h"\n' + _bus_source(extra="int answer(void) { return ANSWER; }\n"))
    first = load(f"c:{f}").build
    second = load(f"c:{f}").build
    assert not first.cached and second.cached and second.so_path == first.so_path
    f.write_text(f.read_text() + "\n/* changed */\n")
    third = load(f"c:{f}").build
    assert not third.cached and third.so_path != first.so_path
    inc.write_text("#define ANSWER 1\n")  # a local header the file includes
    fourth = load(f"c:{f}").build
    assert not fourth.cached and fourth.so_path == third.so_path
    assert load(f"c:{f}").build.cached


def test_cflags_change_the_key(tmp_path, monkeypatch):
    f = tmp_path / "flags.c"
    f.write_text(_bus_source(extra="#ifndef NEEDED\n#error define NEEDED\n#endif\n"))
    with pytest.raises(UsageError, match="define NEEDED"):
        load(f"c:{f}")
    monkeypatch.setenv("IOBUS_VERIFY_CFLAGS", "-DNEEDED=1")
    assert not load(f"c:{f}").build.cached
    assert load(f"c:{f}").build.cached
