"""The pipe protocol between the suite and a C bus worker: length-prefixed marshal frames.

Shared by both ends: the worker runs :mod:`.worker` as a plain script (``python
-I -S worker.py``), so this module imports nothing but the standard library.
Frames hold tuples of ints, bytes, strs, bools, None and lists/dicts of those;
``marshal`` handles exactly that, quickly, with no import cost.
"""

from __future__ import annotations

import marshal
import os
import select
import struct

_HEADER = struct.Struct("<I")


class WireTimeout(Exception):
    """No complete frame arrived within the time limit."""


def send(fd: int, msg: tuple) -> None:
    """Write one frame (blocks until the whole frame is in the pipe)."""
    data = marshal.dumps(msg)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int, timeout: float | None) -> bytes:
    parts = []
    while n:
        if timeout is not None:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise WireTimeout
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError("the other end closed the pipe")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def recv(fd: int, timeout: float | None = None) -> tuple:
    """Read one frame; ``EOFError`` when the writer is gone, :class:`WireTimeout`
    when ``timeout`` seconds pass with no data (per read, so a frame that keeps
    arriving is never cut)."""
    (n,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, timeout))
    return marshal.loads(_read_exact(fd, n, timeout))
