"""The suite's side of a C bus: worker processes and the Python bus object.

:class:`CBus` implements :mod:`iobus_verify.model.protocol` by forwarding each
call to a worker process (see :mod:`.worker`) that runs the compiled C code.
Device and allocation callbacks made by the C code come back over the pipe and
run here, on the suite's own device objects, so device state stays in one
process. A crash of the C code kills only the worker's child and surfaces as
:class:`BusCrashed`; a worker that stops answering is killed and surfaces as
:class:`BusHung`. Both carry the operation, so the VM can report an error
finding with the op that crashed.

Why ``ctypes`` and not cffi: it is in the standard library (cffi is not a
dependency), the ABI is six functions and three small structs, and the calls
already cross a process boundary, so cffi's lower call overhead would not show.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable

from iobus_verify.model.cbus import wire
from iobus_verify.model.cints import check_access
from iobus_verify.model.protocol import AllocationHook, BusStats

WORKER = Path(__file__).resolve().parent / "worker.py"
#: Seconds the C side may run between two messages before it is declared hung.
DEFAULT_TIMEOUT = 10.0
#: Idle workers kept per library.
_POOL_SIZE = 8


def op_timeout() -> float:
    text = os.environ.get("IOBUS_VERIFY_C_TIMEOUT")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        from iobus_verify.errors import UsageError

        raise UsageError(f"IOBUS_VERIFY_C_TIMEOUT={text!r}: give a positive number of seconds")
    return value


class CBusError(RuntimeError):
    """The C bus failed in ``op`` (``"write(0x10, 4)"`` style in ``call``)."""

    def __init__(self, op: str, call: str, detail: str) -> None:
        self.op, self.call, self.detail = op, call, detail
        super().__init__(f"C bus failed in {call}: {detail}")


class BusCrashed(CBusError):
    """The C code died (``signal``: the signal number, 0 when it exited instead)."""

    def __init__(self, op: str, call: str, signal_number: int, exit_code: int, log: str = "") -> None:
        self.signal, self.exit_code, self.log = signal_number, exit_code, log
        if signal_number:
            try:
                how = f"killed by {signal.Signals(signal_number).name}"
            except ValueError:
                how = f"killed by signal {signal_number}"
        else:
            how = f"exited with status {exit_code}"
        detail = how + (f"; its output ends with:\n{log}" if log else "")
        super().__init__(op, call, detail)
        self.args = (f"C bus crashed in {call}: {detail}",)


class BusHung(CBusError):
    """The C code did not answer within ``timeout`` seconds and was killed."""

    def __init__(self, op: str, call: str, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(
            op, call, f"no answer within {timeout:g} s, worker killed (raise IOBUS_VERIFY_C_TIMEOUT if it is just slow)"
        )
        self.args = (f"C bus hung in {call}: no answer within {timeout:g} s; the worker was killed",)


class BusDead(CBusError):
    """A call on a bus whose worker died earlier."""


# -- worker processes -----------------------------------------------------------


class Worker:
    """One zygote process serving one library + prefix, one bus at a time."""

    def __init__(self, so_path: Path, prefix: str, timeout: float) -> None:
        self.key = (str(so_path), prefix)
        self.owner = os.getpid()  # only this process may talk to the worker
        _all_workers.add(self)
        to_child_r, self.wfd = os.pipe()
        self.rfd, from_child_w = os.pipe()
        self.log = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WORKER), str(so_path), prefix, str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=self.log,
                start_new_session=True,  # a terminal's Ctrl-C goes to the suite only
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        try:
            self.hello = wire.recv(self.rfd, timeout)
        except (EOFError, wire.WireTimeout):
            self.close()
            self.hello = ("error", f"the worker did not start; its output: {self.log_tail(0) or '(none)'}")

    @property
    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def forget(self) -> None:
        """In a forked copy of the suite: drop the inherited pipe ends, leave the worker alone."""
        for fd in (self.rfd, self.wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.rfd = self.wfd = -1

    def log_offset(self) -> int:
        return os.fstat(self.log.fileno()).st_size

    def log_tail(self, since: int, limit: int = 2000) -> str:
        """What the bus printed since ``since``, at most ``limit`` bytes: when
        longer, its head and its tail. The head matters: an assertion's or a
        Rust panic's message comes first, a backtrace (RUST_BACKTRACE=1) after."""
        try:
            fd, size = self.log.fileno(), self.log_offset()
            if size - since <= limit:
                return os.pread(fd, size - since, since).decode("utf-8", "replace").strip()
            half = limit // 2
            head = os.pread(fd, half, since).decode("utf-8", "replace").rstrip()
            tail = os.pread(fd, half, size - half).decode("utf-8", "replace").lstrip()
            return f"{head}\n[... {size - since - 2 * half} bytes left out ...]\n{tail}".strip()
        except OSError:
            return ""

    def close(self) -> None:
        if self.owner != os.getpid():
            self.forget()
            return
        if self.proc.poll() is None:
            try:
                # The zygote leads its own process group: this also stops a running (maybe hung) child.
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.rfd = self.wfd = -1
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kill that did not land
            pass
        self.log.close()


_pool: dict[tuple[str, str], list[Worker]] = {}
_pool_lock = threading.Lock()
_all_workers: "weakref.WeakSet[Worker]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked copy of the suite (e.g. a multiprocessing "fork" pool) must not
    # talk over its parent's pipes: it starts its own workers when it needs some.
    global _pool_lock
    _pool_lock = threading.Lock()
    _pool.clear()
    for w in list(_all_workers):
        w.forget()


os.register_at_fork(after_in_child=_after_fork_in_child)


#: Workers alive before acquire() first runs the cyclic garbage collector. A
#: bus dropped inside a reference cycle (a VM, its devices, the search's state)
#: keeps its worker, a process and three descriptors, until that collector
#: runs; a long search would otherwise hold hundreds (past 1024 descriptors
#: select() fails). The limit doubles while the workers are really in use.
_GC_AT = 32
_gc_at = _GC_AT


def _collect_dropped_buses() -> None:
    global _gc_at
    if len(_all_workers) >= _gc_at:
        gc.collect()  # finalises dropped buses: their workers return to the pool or stop
        _gc_at = max(_GC_AT, 2 * len(_all_workers))


def acquire(so_path: Path, prefix: str, timeout: float) -> Worker:
    """An idle worker for the library (a new one when none is idle)."""
    _collect_dropped_buses()
    with _pool_lock:
        idle = _pool.get((str(so_path), prefix), [])
        while idle:
            w = idle.pop()
            if w.alive:
                return w
            w.close()
    return Worker(so_path, prefix, timeout)


def release(w: Worker) -> None:
    """Return a worker whose child has exited cleanly to the pool."""
    with _pool_lock:
        idle = _pool.setdefault(w.key, [])
        if w.alive and len(idle) < _POOL_SIZE:
            idle.append(w)
            return
    w.close()


def shutdown_workers() -> None:
    """Stop every idle worker (tests; workers also exit on their own with the suite)."""
    with _pool_lock:
        workers = [w for ws in _pool.values() for w in ws]
        _pool.clear()
    for w in workers:
        w.close()


# -- the bus ----------------------------------------------------------------------


class _State:
    """What the finaliser needs; holds no reference to the bus object."""

    def __init__(self, worker: Worker) -> None:
        self.worker: Worker | None = worker
        self.child: int | None = None
        self.busy = False


def _finalize(state: _State, timeout: float) -> None:
    """Destroy the C bus of a garbage-collected :class:`CBus` and recycle its worker."""
    w = state.worker
    if w is None or state.busy or w.owner != os.getpid():
        return
    state.worker = None
    try:
        wire.send(w.wfd, ("destroy",))
        while True:
            msg = wire.recv(w.rfd, timeout)
            if msg[0] == "exited":
                break
        if msg[1] == 0 and msg[2] == 0:
            release(w)
            return
        warnings.warn(f"C bus {w.key[0]}: destroy() crashed ({msg[1:]}); call close() to see it raised", RuntimeWarning, stacklevel=1)
    except Exception:  # noqa: BLE001 - a finaliser must not raise
        pass
    w.close()


def _fmt(op: str, args: tuple) -> str:
    parts = [f"{a:#x}" if i == 0 and op in ("register", "write", "read") else repr(a) for i, a in enumerate(args)]
    return f"{op}({', '.join(parts)})"


class CBus:
    """A bus implemented in C (see :mod:`iobus_verify.model.cbus`).

    Made by :class:`CFactory`; has ``ranges()`` / ``stats()`` only when the C
    file defines them (see the subclasses built by :func:`bus_class`).
    """

    name = "c"

    def __init__(
        self,
        so_path: Path,
        prefix: str,
        capacity: int,
        alloc: AllocationHook | None = None,
        *,
        name: str = "c",
        timeout: float | None = None,
    ) -> None:
        self.name = name
        self.capacity = capacity
        self._alloc = alloc
        self._timeout = op_timeout() if timeout is None else timeout
        self._devs: dict[int, Any] = {}  # handle -> device
        self._handles: dict[int, int] = {}  # id(device) -> handle
        self._dead: CBusError | None = None
        worker = acquire(so_path, prefix, self._timeout)
        if worker.hello[0] != "info":
            worker.close()
            raise CBusError("create", f"create({capacity})", str(worker.hello[1]))
        self._state = _State(worker)
        (ok,) = self._call("create", (capacity,), ("create", capacity, alloc is not None))
        if not ok:
            self._end_child()
            raise CBusError("create", f"create({capacity})", "create() returned NULL")
        self._finalizer = weakref.finalize(self, _finalize, self._state, self._timeout)
        self._finalizer.atexit = False  # workers exit by themselves when the suite does

    # -- the protocol -----------------------------------------------------------
    def register(self, addr: int, length: int, dev: Any) -> int:
        check_access("register", addr, length)
        h = self._handles.get(id(dev))
        if h is None:
            # Handles are never reused within a bus, and the device is kept alive
            # here, so equal handles mean the same device, as pointers do in C.
            h = 0x1000 + 0x40 * len(self._devs)
            self._devs[h] = dev
            self._handles[id(dev)] = h
        return self._call("register", (addr, length), ("register", addr, length, h))[0]

    def unregister(self, dev: Any) -> int:
        # A device never registered still needs a handle the C code cannot match.
        h = self._handles.get(id(dev), 0x10)
        return self._call("unregister", (getattr(dev, "name", type(dev).__name__),), ("unregister", h))[0]

    def write(self, addr: int, length: int, data: bytes) -> int:
        check_access("write", addr, length)
        return self._call("write", (addr, length), ("write", addr, length, bytes(data)))[0]

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        check_access("read", addr, length)
        rc, data = self._call("read", (addr, length), ("read", addr, length))
        return rc, data

    def close(self) -> None:
        """Destroy the C bus now (raises :class:`BusCrashed` if ``destroy`` crashes)."""
        if self._dead is not None or self._state.worker is None:
            return
        self._finalizer.detach()
        self._call("destroy", (), ("destroy",))
        self._end_child()

    # -- optional, bound by bus_class() -----------------------------------------
    def _ranges(self) -> list[tuple[int, int, Any]]:
        (rows,) = self._call("ranges", (), ("ranges",))
        out = []
        for addr, length, h in rows:
            if h not in self._devs:
                raise self._fail(CBusError("ranges", "ranges()", f"the C code returned a device handle the suite never gave: {h:#x}"))
            out.append((addr, length, self._devs[h]))
        return out

    def _teardown(self) -> None:
        """The VM's teardown of this bus (``p##teardown``: every device's destructor)."""
        self._call("teardown", (), ("teardown",))

    def _stats(self) -> BusStats:
        comparisons, callbacks = self._call("stats", (), ("stats",))
        return BusStats(comparisons, callbacks)

    # -- the exchange -----------------------------------------------------------
    def _call(self, op: str, args: tuple, msg: tuple) -> tuple:
        call = _fmt(op, args)
        if self._dead is not None:
            raise BusDead(op, call, f"the bus died earlier ({self._dead})")
        st = self._state
        if st.busy:
            raise CBusError(op, call, "re-entrant call: a device callback called back into the same C bus")
        w = st.worker
        assert w is not None
        if w.owner != os.getpid():
            raise CBusError(op, call, "this C bus was made in another process (before a fork); make a new bus here")
        st.busy = True
        since = w.log_offset()
        try:
            wire.send(w.wfd, msg)
            while True:
                try:
                    reply = wire.recv(w.rfd, self._timeout)
                except wire.WireTimeout:
                    raise self._hung(op, call) from None
                except (EOFError, OSError):
                    raise self._fail(BusCrashed(op, call, 0, -1, w.log_tail(since) or "the worker process itself died")) from None
                tag = reply[0]
                if tag == "ret":
                    return reply[1:]
                if tag == "child":
                    st.child = reply[1]
                elif tag == "exited":
                    st.child = None
                    raise self._fail(BusCrashed(op, call, reply[2], reply[1], w.log_tail(since)), recycle=True)
                elif tag in ("cb_write", "cb_read", "cb_alloc", "cb_destructor", "cb_ioeventfd", "cb_srcu"):
                    wire.send(w.wfd, self._callback(op, call, reply))
                else:
                    raise self._fail(CBusError(op, call, f"worker protocol error: {reply!r}"))
        except BrokenPipeError:
            raise self._fail(BusCrashed(op, call, 0, -1, w.log_tail(since) or "the worker process died")) from None
        except CBusError:
            raise
        except BaseException:
            # Interrupted mid-exchange (a device raised, SIGALRM, Ctrl-C): the C
            # side is still inside the op and the pipe may hold half a frame, so
            # the worker cannot be trusted again. Stop it; the bus is dead.
            if self._dead is None:
                self._abandon(CBusError(op, call, "interrupted by an exception in the suite"))
            raise
        finally:
            st.busy = False

    def _callback(self, op: str, call: str, reply: tuple) -> tuple:
        tag = reply[0]
        if tag == "cb_alloc":
            return ("cbret", bool(self._alloc(reply[1])) if self._alloc is not None else True)
        if tag == "cb_srcu":
            hook = getattr(self, "srcu", None)
            if reply[1] not in ("publish", "sync"):
                raise self._fail(CBusError(op, call, f"iobus_srcu_event() takes \"publish\" or \"sync\", not {reply[1]!r}"))
            if hook is not None:
                hook(reply[1])
            return ("cbret",)
        h = reply[1]
        dev = self._devs.get(h)
        if dev is None:
            raise self._fail(CBusError(op, call, f"the C code called a device with a handle the suite never gave: {h:#x}"))
        if tag == "cb_ioeventfd":
            return ("cbret", bool(getattr(dev, "ioeventfd", False)))
        if tag == "cb_destructor":
            destructor = getattr(dev, "destructor", None)
            if destructor is not None:
                destructor()
            return ("cbret",)
        if tag == "cb_write":
            return ("cbret", int(dev.write(reply[2], reply[3], reply[4])))
        rc, data = dev.read(reply[2], reply[3])
        return ("cbret", int(rc), bytes(data))

    def _fail(self, exc: CBusError, recycle: bool = False) -> CBusError:
        """Mark the bus dead; stop the child unless it already ended."""
        self._dead = exc
        if not recycle:
            self._end_child(kill=True)
        else:
            self._end_child()
        return exc

    def _hung(self, op: str, call: str) -> BusHung:
        # A child killed mid-frame could leave half a frame in the pipe: do not reuse the worker.
        return self._abandon(BusHung(op, call, self._timeout))

    def _abandon(self, exc: CBusError) -> CBusError:
        """Mark the bus dead and stop its worker and child for good."""
        self._dead = exc
        w, self._state.worker = self._state.worker, None
        self._state.child = None
        self._finalizer_detach()
        if w is not None:
            w.close()
        return exc

    def _end_child(self, kill: bool = False) -> None:
        """Wait for the zygote's "exited" frame (killing the child first if asked) and recycle it."""
        st = self._state
        self._finalizer_detach()
        w, st.worker = st.worker, None
        if w is None:
            return
        if st.child is None and not kill:
            release(w)
            return
        try:
            if st.child is not None:
                if kill:
                    try:
                        os.kill(st.child, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                while wire.recv(w.rfd, self._timeout)[0] != "exited":
                    pass
            st.child = None
            release(w)
        except (EOFError, OSError, wire.WireTimeout):
            w.close()

    def _finalizer_detach(self) -> None:
        f = getattr(self, "_finalizer", None)
        if f is not None:
            f.detach()


_CLASSES: dict[tuple[bool, bool], type] = {}


def bus_class(has_ranges: bool, has_stats: bool, has_teardown: bool = False, srcu_events: bool = False) -> type:
    """:class:`CBus` with ``ranges``/``stats``/``destroy`` exactly when the C file
    defines ``ranges``/``stats``/``teardown``, and an ``srcu`` hook when it
    reports its SRCU events, so that ``hasattr(bus, "stats")`` tells the truth to
    the suite."""
    key = (has_ranges, has_stats, has_teardown, srcu_events)
    if key not in _CLASSES:
        ns: dict[str, Any] = {}
        if has_ranges:
            ns["ranges"] = CBus._ranges
        if has_stats:
            ns["stats"] = CBus._stats
        if has_teardown:
            ns["destroy"] = CBus._teardown
        if srcu_events:
            ns["srcu"] = None  # the VM's hook: called with "publish" / "sync"
        _CLASSES[key] = type("CBus", (CBus,), ns)
    return _CLASSES[key]
