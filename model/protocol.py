"""The bus protocol: what a bus, a device and an allocation hook look like.

This is the public contract a user's own lookup implements to be gated by the
suite (see the README, "Plugging in your own bus"). Everything follows the
kernel's conventions: 0 for success, a negative errno for failure.

A *device* is what the bus calls back::

    write(addr: int, length: int, data: bytes) -> int
    read(addr: int, length: int) -> tuple[int, bytes]

0 means "handled"; ``-EOPNOTSUPP`` means "not mine, try the next device".
A read returns the bytes it stored into the guest's buffer (possibly fewer than
``length`` when the device leaves the rest untouched).

A *bus* is made by ``factory(capacity)`` and has::

    register(addr: int, length: int, dev) -> int
    unregister(dev) -> int
    write(addr: int, length: int, data: bytes) -> int
    read(addr: int, length: int) -> tuple[int, bytes]

``addr`` is a ``gpa_t`` (u64) and ``length`` a C ``int``; the suite's own
buses (the Python models and the C bridge) raise ``ValueError`` for anything
else (:func:`iobus_verify.model.cints.check_access`) rather than compute with
it. Optional, used when present: ``ranges()`` (the array as ``(addr, len, dev)``
in array order) and ``stats()`` (a :class:`BusStats` of the work done since the
previous call). A factory may accept a keyword ``alloc``: an
:class:`AllocationHook` consulted at each of the kernel's allocation sites, so
that tests can drive the ``-ENOMEM`` paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h).
ENOENT = 2
ENOMEM = 12
EEXIST = 17
EINVAL = 22
ENOSPC = 28
EOPNOTSUPP = 95

ERRNO_NAMES = {
    0: "0",
    -ENOENT: "-ENOENT",
    -ENOMEM: "-ENOMEM",
    -EEXIST: "-EEXIST",
    -EINVAL: "-EINVAL",
    -ENOSPC: "-ENOSPC",
    -EOPNOTSUPP: "-EOPNOTSUPP",
}


def errno_name(rc: int) -> str:
    """``-95`` -> ``"-EOPNOTSUPP"``; unknown codes are printed as numbers."""
    return ERRNO_NAMES.get(rc, str(rc))


@runtime_checkable
class Device(Protocol):
    def write(self, addr: int, length: int, data: bytes) -> int: ...

    def read(self, addr: int, length: int) -> tuple[int, bytes]: ...


@runtime_checkable
class Bus(Protocol):
    def register(self, addr: int, length: int, dev: Any) -> int: ...

    def unregister(self, dev: Any) -> int: ...

    def write(self, addr: int, length: int, data: bytes) -> int: ...

    def read(self, addr: int, length: int) -> tuple[int, bytes]: ...


@dataclass(frozen=True)
class BusStats:
    """Work a bus did since the previous ``stats()`` call."""

    comparisons: int = 0
    callbacks: int = 0

    def __add__(self, other: "BusStats") -> "BusStats":
        return BusStats(self.comparisons + other.comparisons, self.callbacks + other.callbacks)


class AllocationHook(Protocol):
    """Consulted at each allocation site; returns False to make that allocation fail.

    ``site`` names the kernel call being modelled, e.g. ``"register:kzalloc"``.
    """

    def __call__(self, site: str) -> bool: ...


def always_allocate(site: str) -> bool:
    """The default hook: every allocation succeeds."""
    return True


class FailNth:
    """Fails chosen allocations, counted from 1 over this hook's lifetime.

    ``FailNth(3)`` fails the third allocation. ``fail_next()`` arms the next one,
    which is how the stateful machine injects "the next register or unregister
    runs out of memory". ``sites`` records every site consulted, in order.
    """

    def __init__(self, *nth: int) -> None:
        self.calls = 0
        self._fail = set(nth)
        self.sites: list[tuple[str, bool]] = []

    def fail_next(self) -> None:
        self._fail.add(self.calls + 1)

    def __call__(self, site: str) -> bool:
        self.calls += 1
        ok = self.calls not in self._fail
        self._fail.discard(self.calls)
        self.sites.append((site, ok))
        return ok
