"""Gating a bus written in C: ``--bus c:FILE.c`` or ``--bus c:FILE.c:PREFIX``;
or in Rust: ``--bus rust:CRATE_DIR[:PREFIX]``, a cdylib exporting the same ABI.

The C file implements the ABI of ``iobus_bus.h`` (shipped in this package's
parent folder) for one or more symbol prefixes. :func:`resolve_c` compiles it
(:mod:`.build`, cached), checks its symbols in a worker process (:mod:`.worker`)
and returns a :class:`~iobus_verify.model.spec.BusSpec` whose factory makes
:class:`.bridge.CBus` objects: ordinary protocol buses whose C code runs in a
worker process, so a segfault or a hang becomes :class:`BusCrashed` /
:class:`BusHung` naming the op, never a dead suite.

Modules: ``build`` (spec syntax, compiler, cache), ``cargo`` (the same for a
Rust crate: cargo instead of the compiler), ``wire`` (pipe frames),
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
        self._cls = bus_class(bool(info.get("ranges")), bool(info.get("stats")), bool(info.get("teardown")), bool(info.get("srcu_events")))

    def __call__(self, capacity: int | None = None, *, alloc: AllocationHook | None = None) -> CBus:
        cap = self.capacity if capacity is None else capacity
        return self._cls(self.build.so_path, self.cspec.prefix, cap, alloc, name=self.bus_name)

    def __repr__(self) -> str:
        return f"CFactory({self.cspec.spec!r})"


class CFactoryNoAlloc(CFactory):
    """The factory of a bus declaring ``p##alloc_hook = 0``: it never calls the
    allocation hook (no ``-ENOMEM`` path, e.g. a Rust bus whose allocations
    abort), so it takes no ``alloc`` and the suite draws no allocation failures."""

    def __call__(self, capacity: int | None = None) -> CBus:
        return super().__call__(capacity)


def load(spec: str) -> CFactory:
    """Compile (or reuse) and check the C bus named by ``spec`` (``c:`` a C file,
    ``rust:`` a crate built with cargo); :class:`UsageError` if unusable."""
    if spec.startswith("rust:"):
        from iobus_verify.model.cbus import cargo

        cspec = cargo.parse(spec)
        return load_cspec(cspec, build=cargo.build_crate(cspec))
    return load_cspec(parse(spec))


def load_cspec(cspec: CSpec, name: str | None = None, build: Build | None = None) -> CFactory:
    """:func:`load` for a file another producer wrote (a kernel tree's unit,
    :mod:`iobus_verify.model.kernel`) or a library it built (``build``, a Rust
    crate); ``name`` names the bus."""
    spec = cspec.spec
    build = compile_bus(cspec) if build is None else build
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
    if info.get("assumes") is not None:
        from iobus_verify.model.conditions import parse as parse_condition

        try:
            info["assumes"] = parse_condition(info["assumes"]).name
        except UsageError as exc:
            raise UsageError(f"bus {spec!r}: {cspec.prefix}assumes: {exc}") from None
    if name is None:
        stem = cspec.name or Path(cspec.path).stem
        name = stem if cspec.prefix == DEFAULT_PREFIX else f"{stem}.{cspec.prefix.rstrip('_')}"
    return (CFactoryNoAlloc if info.get("alloc_hook") == 0 else CFactory)(cspec, build, info, name)


def resolve_c(spec: str):
    """A ``c:`` or ``rust:`` spec -> :class:`~iobus_verify.model.spec.BusSpec` (kind ``"plugin"``)."""
    from iobus_verify.model.spec import BusSpec

    factory = load(spec)
    if spec.startswith("rust:"):
        default = f"Rust crate {factory.cspec.name} (prefix {factory.cspec.prefix})"
    else:
        default = f"C bus {factory.cspec.path.name} (prefix {factory.cspec.prefix})"
    summary = factory.info.get("summary") or default
    return BusSpec(spec, factory.bus_name, factory, factory.capacity, "plugin", summary, factory.era, factory.info.get("assumes"))
