"""Gating a bus written in C: ``--bus c:FILE.c`` or ``--bus c:FILE.c:PREFIX``.

The C file implements the ABI of ``iobus_bus.h`` (shipped in this package's
parent folder) for one or more symbol prefixes. :func:`resolve_c` compiles it
(:mod:`.build`, cached), checks its symbols in a worker process (:mod:`.worker`)
and returns a :class:`~iobus_verify.model.spec.BusSpec` whose factory makes
:class:`.bridge.CBus` objects: ordinary protocol buses whose C code runs in a
worker process, so a segfault or a hang becomes :class:`BusCrashed` /
:class:`BusHung` naming the op, never a dead suite.

Modules: ``build`` (spec syntax, compiler, cache), ``wire`` (pipe frames),
``worker`` (the process running the C code), ``bridge`` (the Python bus).
"""

from __future__ import annotations

from pathlib import Path

from iobus_verify.errors import UsageError
from iobus_verify.model.cbus.bridge import (
    BusCrashed,
    BusDead,
    BusHung,
    CBus,
    CBusError,
    acquire,
    bus_class,
    op_timeout,
    release,
    shutdown_workers,
)
from iobus_verify.model.cbus.build import DEFAULT_PREFIX, HEADER, Build, CompileError, CSpec, compile_bus, parse
from iobus_verify.model.linear_bus import NR_IOBUS_DEVS_2011
from iobus_verify.model.protocol import AllocationHook

__all__ = [
    "BusCrashed",
    "BusDead",
    "BusHung",
    "CBus",
    "CBusError",
    "CFactory",
    "CompileError",
    "CSpec",
    "DEFAULT_PREFIX",
    "HEADER",
    "load",
    "load_cspec",
    "resolve_c",
    "shutdown_workers",
]


class CFactory:
    """``factory(capacity, alloc=None)`` -> a :class:`CBus` of one compiled library and prefix."""

    def __init__(self, cspec: CSpec, build: Build, info: dict, name: str) -> None:
        self.cspec, self.build, self.info = cspec, build, info
        self.bus_name = name
        self.capacity = info["capacity"] if info.get("capacity") is not None else NR_IOBUS_DEVS_2011
        self.era = info.get("era") or "today"
        self._cls = bus_class(bool(info.get("ranges")), bool(info.get("stats")))

    def __call__(self, capacity: int | None = None, *, alloc: AllocationHook | None = None) -> CBus:
        cap = self.capacity if capacity is None else capacity
        return self._cls(self.build.so_path, self.cspec.prefix, cap, alloc, name=self.bus_name)

    def __repr__(self) -> str:
        return f"CFactory({self.cspec.spec!r})"


def load(spec: str) -> CFactory:
    """Compile (or reuse) and check the C bus named by ``spec``; :class:`UsageError` if unusable."""
    return load_cspec(parse(spec))


def load_cspec(cspec: CSpec, name: str | None = None) -> CFactory:
    """:func:`load` for a file another producer wrote (a kernel tree's unit,
    :mod:`iobus_verify.model.kernel`); ``name`` names the bus."""
    spec = cspec.spec
    build = compile_bus(cspec)
    timeout = op_timeout()
    worker = acquire(build.so_path, cspec.prefix, timeout)
    hello = worker.hello
    if hello[0] != "info":
        worker.close()
        raise UsageError(f"bus {spec!r}: {hello[1]}")
    release(worker)  # checked and warm: the first bus reuses it
    info = hello[1]
    era = info.get("era") or "today"
    if era not in ("2011", "today"):
        raise UsageError(f'bus {spec!r}: {cspec.prefix}era is {era!r}; declare const char {cspec.prefix}era[] = "2011" or "today"')
    if info.get("capacity") is not None and info["capacity"] < 0:
        raise UsageError(f"bus {spec!r}: {cspec.prefix}capacity is {info['capacity']}; give a count >= 0")
    if name is None:
        stem = Path(cspec.path).stem
        name = stem if cspec.prefix == DEFAULT_PREFIX else f"{stem}.{cspec.prefix.rstrip('_')}"
    return CFactory(cspec, build, info, name)


def resolve_c(spec: str):
    """A ``c:`` spec -> :class:`~iobus_verify.model.spec.BusSpec` (kind ``"plugin"``)."""
    from iobus_verify.model.spec import BusSpec

    factory = load(spec)
    summary = factory.info.get("summary") or f"C bus {factory.cspec.path.name} (prefix {factory.cspec.prefix})"
    return BusSpec(spec, factory.bus_name, factory, factory.capacity, "plugin", summary, factory.era)
