"""Gating a Linux source tree: ``--bus kernel:PATH`` (``kernel:PATH@2011|@today``).

The tree's own I/O bus code becomes a C bus for the existing bridge
(:mod:`iobus_verify.model.cbus`): :mod:`.tree` finds the files,
:mod:`.extract` cuts the bus code and what it uses out of them with
tree-sitter, :mod:`.era` picks the device rules, :mod:`.unit` writes one
translation unit (the project's shim ``kshim.h``, the extract, the glue) that
the bridge compiles (content-hash cache) and runs in its worker processes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from iobus_verify.errors import UsageError
from iobus_verify.model.cbus import CFactory

ERAS = ("2011", "today")


@dataclass(frozen=True)
class KernelSpec:
    """A parsed ``kernel:`` spec."""

    spec: str
    path: str
    era: str | None  # forced with @2011 / @today, else detected


def parse_spec(spec: str) -> KernelSpec:
    rest = spec[len("kernel:") :]
    path, era = rest, None
    head, sep, tail = rest.rpartition("@")
    if sep and tail in ERAS:
        path, era = head, tail
    elif sep and tail and "/" not in tail and not Path(rest).expanduser().is_dir():  # a folder named a@b is a path
        raise UsageError(f"bus {spec!r}: unknown era @{tail}; use kernel:PATH, kernel:PATH@2011 or kernel:PATH@today")
    if not path:
        raise UsageError(f"bus {spec!r}: give the root of a Linux source tree after 'kernel:', e.g. kernel:~/src/linux")
    return KernelSpec(spec, path, era)


@dataclass(frozen=True)
class KernelBuild:
    """What resolving a tree produced: the factory and how it was obtained."""

    factory: object
    era: str
    reason: str
    release: str
    unit_path: str
    build_seconds: float
    cached: bool
    functions: tuple[str, ...]
    callers: str = "today"  # the caller rules the tree's coalesced_mmio.c / eventfd.c have (lifetime.CALLERS)
    callers_reason: str = ""


def build(spec: str) -> KernelBuild:
    """Extract, generate, compile (or reuse) and check the bus of the tree ``spec`` names."""
    from iobus_verify.model.cbus import CompileError, CSpec, DEFAULT_PREFIX, compile_bus, load_cspec
    from iobus_verify.model.cbus.build import cache_dir, compiler
    from iobus_verify.model.kernel.callers import decide as decide_callers
    from iobus_verify.model.kernel.era import detect
    from iobus_verify.model.kernel.extract import closure, parse_file
    from iobus_verify.model.kernel.tree import need_sort, open_tree
    from iobus_verify.model.kernel.unit import ENTRIES, GLUE_TYPES, OPTIONAL_ENTRIES, UNIT_FLAGS, build_unit, explain_compile_error, missing_api, shim_provides, unit_path

    ks = parse_spec(spec)
    tree = open_tree(spec, ks.path)
    compiler()  # no compiler: say so before any work
    sources = [parse_file(tree.root / rel, rel) for rel in tree.sources]
    optional = [e for e in OPTIONAL_ENTRIES if any(e in src.pieces for src in sources)]
    extract = closure(sources, [*ENTRIES, *optional], shim_provides(), list(GLUE_TYPES))
    need_sort(spec, tree, "sort" in extract.unresolved)
    missing = missing_api(extract)
    if missing is not None:
        name, user = missing
        p = extract.by_name(user)
        where = f" ({p.path}:{p.line})" if p is not None else ""
        raise UsageError(f"bus {spec!r}: kernel API {name} is not in the shim (model/kernel/kshim.h): {user}{where} calls it; add it there")
    decision = detect(extract, tree.version, tree.release)
    era, reason = decision.era, decision.reason
    if ks.era is not None and ks.era != era:
        reason = f"era {ks.era} (forced by @{ks.era}; detection said {reason})"
        era = ks.era
    elif ks.era is not None:
        reason = f"{reason} (and @{ks.era} asked for it)"
    callers = decide_callers(spec, tree.root, era, extract)
    summary = f"kernel tree {tree.root.name} (Linux {tree.release}), {reason}; {callers.reason}"
    unit = build_unit(spec, tree.root, extract, era, reason, summary)
    path = unit_path(cache_dir(), tree.root, unit.text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != unit.text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(unit.text)
            tmp.replace(path)
    except OSError as exc:
        raise UsageError(f"cannot write the C build cache {path.parent} ({exc}); set IOBUS_VERIFY_CACHE_DIR to a writable directory") from exc
    cspec = CSpec(spec, path, DEFAULT_PREFIX, extra_flags=UNIT_FLAGS)
    try:
        b = compile_bus(cspec)
        factory = load_cspec(cspec, name=f"kernel-{tree.root.name}")
    except CompileError as exc:
        raise UsageError(explain_compile_error(spec, tree.root, unit.pieces, exc.output)) from None
    factory = KernelFactory.of(factory, callers.name, callers.bus_destroys)
    return KernelBuild(factory, era, reason, tree.release, str(path), b.seconds, b.cached, tuple(p.name for p in extract.functions), callers.name, callers.reason)


class KernelFactory(CFactory):
    """A tree's bus factory: the C bridge's, plus what the tree's callers are
    (``callers``: the VM runs them, :func:`~iobus_verify.model.lifetime.callers_of`)
    and whether the tree's unregister destroys its device, given to each bus as
    ``destroys_on_unregister`` (the VM then never completes a destroy for it)."""

    callers: str = "today"
    destroys: bool | None = None

    @classmethod
    def of(cls, factory: CFactory, callers: str, destroys: bool | None) -> "KernelFactory":
        kf = cls.__new__(cls)
        kf.__dict__.update(factory.__dict__)
        kf.callers, kf.destroys = callers, destroys
        return kf

    def __call__(self, capacity: int | None = None, *, alloc=None):
        bus = super().__call__(capacity, alloc=alloc)
        if self.destroys is not None:
            bus.destroys_on_unregister = self.destroys
        return bus


def resolve_kernel(spec: str):
    """A ``kernel:`` spec -> :class:`~iobus_verify.model.spec.BusSpec` (kind ``"plugin"``).

    Says on stderr which era it picked and why (once per process and spec).
    """
    from iobus_verify.model.spec import BusSpec

    kb = _cached(spec)
    f = kb.factory
    return BusSpec(spec, f.bus_name, f, f.capacity, "plugin", f.info.get("summary") or "", kb.era)


_BUILDS: dict[tuple, KernelBuild] = {}


def _stamp(spec: str) -> tuple:
    """The spec and the size and mtime of each source file: an edited tree is rebuilt."""
    from iobus_verify.model.kernel.tree import open_tree

    tree = open_tree(spec, parse_spec(spec).path)
    out = [spec]
    from iobus_verify.model.kernel.callers import COALESCED, EVENTFD

    for rel in (*tree.sources, "Makefile", COALESCED, EVENTFD):
        p = tree.root / rel
        st = p.stat() if p.is_file() else None
        out.append((rel, st.st_size, st.st_mtime_ns) if st else (rel, None))
    return tuple(out)


def _cached(spec: str) -> KernelBuild:
    key = _stamp(spec)
    kb = _BUILDS.get(key)
    if kb is None:
        kb = build(spec)
        _BUILDS[key] = kb
        how = "cached build" if kb.cached else f"built in {kb.build_seconds:.2f} s"
        print(f"iobus-verify: {spec}: Linux {kb.release}, {kb.reason}; {kb.callers_reason}; {len(kb.functions)} functions extracted, {how}", file=sys.stderr)
    return kb
