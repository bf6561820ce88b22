"""The worker process that runs a C bus (run as a script, never imported).

``python -I -S worker.py SO PREFIX RFD WFD`` loads the compiled bus, checks its
symbols and sends ``("info", {...})`` (or ``("error", message)``) on WFD. Then it
is a *zygote*: for each ``("create", capacity, has_alloc)`` it forks a child
that owns the bus and talks to the suite over the same pipes, and waits for
that child. When the child ends (``destroy``, a crash, a kill) the zygote sends
``("exited", code, signal)`` and is ready for the next bus. So every bus starts
in a fresh copy of the just-loaded library (static variables at their initial
values), a crash kills only the child, and the suite learns the exact signal.

Child protocol (requests from the suite, replies from the child)::

    ("register", addr, len, handle)  -> ("ret", rc)
    ("unregister", handle)           -> ("ret", rc)
    ("write", addr, len, data)       -> ("ret", rc)
    ("read", addr, len)              -> ("ret", rc, data)
    ("ranges",)                      -> ("ret", [(addr, len, handle), ...])
    ("stats",)                       -> ("ret", comparisons, callbacks)
    ("teardown",)                    -> ("ret", 0)   (p##teardown: destructors of what is on the bus)
    ("destroy",)                     -> ("ret", 0), then the child exits

While a request runs, the C code's device and allocation callbacks become
``("cb_write", handle, addr, len, data)``, ``("cb_read", handle, addr, len)``
and ``("cb_alloc", site)``, ``("cb_destructor", handle)``, ``("cb_ioeventfd",
handle)`` and ``("cb_srcu", "publish" | "sync")`` frames; the suite answers each with ``("cbret", ...)``
and the child returns that answer to the C code. Devices thus live in the
suite's process only.
"""

import ctypes
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script dir out

import wire  # noqa: E402  (the sibling module, imported as a top-level module here)

REQUIRED = ("create", "destroy", "register", "unregister", "write", "read")
OPTIONAL = ("ranges", "stats", "teardown")
#: The largest guest buffer the worker allocates for one access.
MAX_BUFFER = 1 << 20
#: The smallest guest buffer: room for what a device stores for a length <= 0.
MIN_BUFFER = 16

WRITE_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int, ctypes.c_void_p)
READ_CB = WRITE_CB
ALLOC_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)
DESTRUCTOR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
FLAG_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
SRCU_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)


class Host(ctypes.Structure):  # struct iobus_host
    _fields_ = [
        ("ctx", ctypes.c_void_p),
        ("dev_write", WRITE_CB),
        ("dev_read", READ_CB),
        ("alloc_ok", ALLOC_CB),
        ("dev_destructor", DESTRUCTOR_CB),
        ("dev_is_ioeventfd", FLAG_CB),
        ("srcu_event", SRCU_CB),
    ]


class Range(ctypes.Structure):  # struct iobus_range
    _fields_ = [("addr", ctypes.c_uint64), ("len", ctypes.c_int32), ("dev", ctypes.c_void_p)]


class Stats(ctypes.Structure):  # struct iobus_stats
    _fields_ = [("comparisons", ctypes.c_uint64), ("callbacks", ctypes.c_uint64)]


def _string_symbol(lib, name):
    try:
        first = ctypes.c_char.in_dll(lib, name)
    except ValueError:
        return None
    return ctypes.string_at(ctypes.addressof(first)).decode("utf-8", "replace")


def load(so_path, prefix):
    """The library and its info, or raise ValueError with a message for the user."""
    try:
        lib = ctypes.CDLL(so_path, mode=ctypes.RTLD_LOCAL)
    except OSError as exc:
        raise ValueError(f"cannot load {so_path}: {exc}")
    missing = [prefix + s for s in REQUIRED if not hasattr(lib, prefix + s)]
    if missing:
        raise ValueError(
            f"missing symbol{'s' if len(missing) > 1 else ''} {', '.join(missing)} (prefix {prefix!r}); "
            f"define them with the signatures of IOBUS_DECLARE({prefix}) in iobus_bus.h, not static"
        )
    info = {s: hasattr(lib, prefix + s) for s in OPTIONAL}
    info["era"] = _string_symbol(lib, prefix + "era")
    info["summary"] = _string_symbol(lib, prefix + "summary")
    info["assumes"] = _string_symbol(lib, prefix + "assumes")
    for name in ("capacity", "alloc_hook", "srcu_events"):
        try:
            info[name] = ctypes.c_int.in_dll(lib, prefix + name).value
        except ValueError:
            info[name] = None
    return lib, info


def _fn(lib, name, restype, argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


class Child:
    """The process that owns one bus."""

    def __init__(self, lib, prefix, rfd, wfd, has_alloc):
        self.rfd, self.wfd = rfd, wfd
        vp, u64, cint = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int
        self.create = _fn(lib, prefix + "create", vp, [cint, ctypes.POINTER(Host)])
        self.destroy = _fn(lib, prefix + "destroy", None, [vp])
        self.register = _fn(lib, prefix + "register", cint, [vp, u64, cint, vp])
        self.unregister = _fn(lib, prefix + "unregister", cint, [vp, vp])
        self.write = _fn(lib, prefix + "write", cint, [vp, u64, cint, vp])
        self.read = _fn(lib, prefix + "read", cint, [vp, u64, cint, vp])
        self.ranges = _fn(lib, prefix + "ranges", cint, [vp, ctypes.POINTER(Range), cint]) if hasattr(lib, prefix + "ranges") else None
        self.stats = _fn(lib, prefix + "stats", None, [vp, ctypes.POINTER(Stats)]) if hasattr(lib, prefix + "stats") else None
        self.teardown = _fn(lib, prefix + "teardown", None, [vp]) if hasattr(lib, prefix + "teardown") else None
        self.has_alloc = has_alloc
        # The current access: the guest buffer (address, size, bytes given) and
        # how many bytes the accepting device stored.
        self.buf_addr, self.buf_size, self.data, self.op_len, self.stored = None, 0, b"", 0, 0
        # Keep the callback objects alive as long as the host struct points at them.
        self.host = Host(
            None,
            WRITE_CB(self._cb_write),
            READ_CB(self._cb_read),
            ALLOC_CB(self._cb_alloc),
            DESTRUCTOR_CB(self._cb_destructor),
            FLAG_CB(self._cb_ioeventfd),
            SRCU_CB(self._cb_srcu),
        )

    # -- callbacks from C -------------------------------------------------------
    def _ask(self, msg):
        try:
            wire.send(self.wfd, msg)
            return wire.recv(self.rfd)
        except BaseException:  # the suite is gone: nothing sensible to return to C
            _exit(70)

    def _cb_write(self, ctx, dev, addr, length, val):
        if val is not None and val == self.buf_addr and length == self.op_len:
            data = self.data  # the guest's bytes, as given
        elif val is None or length <= 0:
            data = b""
        else:
            n = min(length, self.buf_size) if val == self.buf_addr else length
            data = ctypes.string_at(val, n)
        return self._ask(("cb_write", dev or 0, addr, length, data))[1]

    def _cb_read(self, ctx, dev, addr, length, val):
        reply = self._ask(("cb_read", dev or 0, addr, length))
        rc, data = reply[1], reply[2]
        # A device stores what it returns: for a negative length that is what the
        # kernel's device copies (a PIT or speaker read of len < 0 copies 4 bytes,
        # `len > sizeof(ret)` being a size_t compare), as the Python buses pass on.
        n = len(data) if length <= 0 else min(len(data), length)
        if val is not None and val == self.buf_addr:
            n = min(n, self.buf_size)
        if n and val is not None:
            ctypes.memmove(val, data, n)
        if rc == 0:
            self.stored = n
        return rc

    def _cb_destructor(self, ctx, dev):
        self._ask(("cb_destructor", dev or 0))

    def _cb_ioeventfd(self, ctx, dev):
        return 1 if self._ask(("cb_ioeventfd", dev or 0))[1] else 0

    def _cb_srcu(self, ctx, what):
        self._ask(("cb_srcu", (what or b"").decode("utf-8", "replace")))

    def _cb_alloc(self, ctx, site):
        if not self.has_alloc:
            return 1
        return 1 if self._ask(("cb_alloc", (site or b"").decode("utf-8", "replace")))[1] else 0

    # -- the request loop -------------------------------------------------------
    def _buffer(self, length, data=b""):
        # At least MIN_BUFFER bytes: a device may store a few bytes for a length <= 0.
        size = max(len(data), min(max(length, 0), MAX_BUFFER), MIN_BUFFER)
        buf = ctypes.create_string_buffer(data, size)
        self.buf_addr, self.buf_size, self.data, self.op_len, self.stored = ctypes.addressof(buf), size, data, length, 0
        return buf

    def serve(self, capacity):
        wire.send(self.wfd, ("child", os.getpid()))
        bus = self.create(capacity, ctypes.byref(self.host))
        wire.send(self.wfd, ("ret", bool(bus)))
        if not bus:
            _exit(0)
        while True:
            try:
                msg = wire.recv(self.rfd)
            except EOFError:
                _exit(0)
            op = msg[0]
            if op == "register":
                reply = ("ret", self.register(bus, msg[1], msg[2], msg[3] or None))
            elif op == "unregister":
                reply = ("ret", self.unregister(bus, msg[1] or None))
            elif op == "write":
                buf = self._buffer(msg[2], msg[3])
                reply = ("ret", self.write(bus, msg[1], msg[2], buf))
            elif op == "read":
                buf = self._buffer(msg[2])
                rc = self.read(bus, msg[1], msg[2], buf)
                reply = ("ret", rc, buf.raw[: self.stored] if rc == 0 else b"")
            elif op == "ranges":
                reply = ("ret", self._ranges(bus, capacity))
            elif op == "stats":
                st = Stats()
                self.stats(bus, ctypes.byref(st))
                reply = ("ret", st.comparisons, st.callbacks)
            elif op == "teardown":
                self.teardown(bus)
                reply = ("ret", 0)
            elif op == "destroy":
                self.destroy(bus)
                wire.send(self.wfd, ("ret", 0))
                _exit(0)
            else:
                reply = ("protocol", f"unknown request {op!r}")
            wire.send(self.wfd, reply)

    def _ranges(self, bus, capacity):
        size = max(capacity, 16)
        while True:
            out = (Range * size)()
            count = self.ranges(bus, out, size)
            if count <= size:
                return [(r.addr, r.len, r.dev or 0) for r in out[: max(count, 0)]]
            size = count


def _exit(code):
    # C stdio buffers are not flushed by os._exit: flush them so printf debugging shows.
    try:
        ctypes.CDLL(None).fflush(None)
    finally:
        os._exit(code)


def main(argv):
    so_path, prefix, rfd, wfd = argv[1], argv[2], int(argv[3]), int(argv[4])
    try:
        lib, info = load(so_path, prefix)
    except ValueError as exc:
        wire.send(wfd, ("error", str(exc)))
        return 0
    wire.send(wfd, ("info", info))
    while True:
        try:
            msg = wire.recv(rfd)
        except EOFError:
            return 0
        if msg[0] != "create":
            wire.send(wfd, ("protocol", f"the zygote expected create, got {msg[0]!r}"))
            continue
        pid = os.fork()
        if pid == 0:
            try:
                Child(lib, prefix, rfd, wfd, bool(msg[2])).serve(int(msg[1]))
            except BaseException:  # serve() leaves only through _exit; a bug of ours lands here
                import traceback

                traceback.print_exc()
            _exit(71)
        _, status = os.waitpid(pid, 0)
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0
        wire.send(wfd, ("exited", code, sig))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
