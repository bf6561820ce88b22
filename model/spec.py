"""Bus specs: how a user names the bus to test.

A spec is one of:

* a registered name: ``linear``, ``seed-2011``, ``upstream``, ``fixed``;
* ``path/to/file.py:factory``: a factory in a Python file;
* ``package.module:factory``: a factory in an importable module;
* ``c:path/to/impl.c`` or ``c:path/to/impl.c:prefix``: a bus written in C
  against ``iobus_bus.h`` (see :mod:`iobus_verify.model.cbus`);
* ``rust:path/to/crate`` or ``rust:path/to/crate:prefix``: a Rust crate whose
  cdylib exports that ABI, built with cargo (:mod:`iobus_verify.model.cbus.cargo`);
* ``kernel:PATH`` or ``kernel:PATH@2011|@today``: the I/O bus code of a Linux
  source tree (see :mod:`iobus_verify.model.kernel`).

:func:`resolve` turns a spec into a :class:`BusSpec` or raises
:class:`~iobus_verify.errors.UsageError` with a one-line message saying what to fix.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from iobus_verify.errors import UsageError
from iobus_verify.model.linear_bus import NR_IOBUS_DEVS_2011
from iobus_verify.model.protocol import AllocationHook
from iobus_verify.model.sorted_bus import REGISTRY

_PROTOCOL_METHODS = ("register", "unregister", "write", "read")


@dataclass(frozen=True)
class BusSpec:
    """A resolved bus: what to call to make one, and how to name it."""

    spec: str
    name: str
    factory: Callable[..., Any] = field(repr=False, compare=False)
    capacity: int
    kind: str  # "reference", "variant" or "plugin"
    summary: str = ""
    #: Device rules and ioctl checks to pair with: "2011" or "today" (see NamedBus.era).
    era: str = "today"
    #: The bus's contract: the condition (``model.conditions``, e.g.
    #: ``positive-len+no-wrap``) on the inputs it promises to handle; None: all.
    assumes: str | None = None

    @property
    def accepts_alloc(self) -> bool:
        """Whether the factory takes the optional ``alloc`` keyword."""
        try:
            params = inspect.signature(self.factory).parameters
        except (TypeError, ValueError):
            return False
        return "alloc" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def make(self, capacity: int | None = None, alloc: AllocationHook | None = None) -> Any:
        """A new bus. A plugin that raises, or returns something that is not a
        bus, gives a :class:`UsageError` naming the spec."""
        cap = self.capacity if capacity is None else capacity
        try:
            bus = self.factory(cap, alloc=alloc) if alloc is not None and self.accepts_alloc else self.factory(cap)
        except UsageError:
            raise
        except Exception as exc:  # a plugin's own bug, reported as bad input
            raise UsageError(f"bus {self.spec!r}: factory({cap}) raised {type(exc).__name__}: {exc}") from exc
        missing = [m for m in _PROTOCOL_METHODS if not callable(getattr(bus, m, None))]
        if missing:
            raise UsageError(
                f"bus {self.spec!r}: factory returned {type(bus).__name__}, which lacks "
                f"{', '.join(missing)}; a bus needs register, unregister, write and read (see the README)"
            )
        return bus


def resolve(spec: str) -> BusSpec:
    """Resolve a spec string (see the module docstring)."""
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError("empty bus spec: give a variant name (see `iobus-verify variants`) or FILE.py:factory")
    spec = spec.strip()
    named = REGISTRY.get(spec)
    if named is not None:
        return BusSpec(
            spec,
            named.name,
            named.factory,
            named.capacity,
            "reference" if named.reference else "variant",
            named.summary,
            named.era,
        )
    if spec.startswith(("c:", "rust:")):
        from iobus_verify.model.cbus import resolve_c  # compiles; imported only for C and Rust specs

        return resolve_c(spec)
    if spec.startswith("kernel:"):
        from iobus_verify.model.kernel import resolve_kernel  # extracts and compiles

        return resolve_kernel(spec)
    if ":" not in spec:
        known = ", ".join(sorted(REGISTRY))
        raise UsageError(
            f"unknown bus {spec!r}: use one of {known}, or a plugin as path/to/file.py:factory or module:factory"
        )
    target, _, attr = spec.rpartition(":")
    module = _load_file(spec, target) if target.endswith(".py") or "/" in target else _load_module(spec, target)
    factory = getattr(module, attr, None)
    if factory is None:
        raise UsageError(f"bus {spec!r}: {target} has no attribute {attr!r}; name the factory after the colon")
    if not callable(factory):
        raise UsageError(f"bus {spec!r}: {target}:{attr} is a {type(factory).__name__}, not a callable factory")
    capacity = getattr(factory, "capacity", NR_IOBUS_DEVS_2011)
    name = getattr(factory, "bus_name", None) or f"{Path(target).stem}.{attr}"
    era = getattr(factory, "era", "today")
    if era not in ("2011", "today"):
        raise UsageError(f"bus {spec!r}: factory.era is {era!r}; set it to '2011' or 'today'")
    assumes = getattr(factory, "assumes", None)
    if assumes is not None:
        from iobus_verify.model.conditions import parse

        try:
            assumes = parse(assumes).name
        except UsageError as exc:
            raise UsageError(f"bus {spec!r}: factory.assumes: {exc}") from None
    return BusSpec(spec, name, factory, capacity, "plugin", (inspect.getdoc(factory) or "").split("\n")[0], era, assumes)


def _load_file(spec: str, target: str):
    path = Path(target)
    if not path.is_file():
        raise UsageError(f"bus {spec!r}: no file {target}; give the path of a Python file holding the factory")
    mod_name = f"iobus_verify_plugin_{abs(hash(str(path.resolve())))}"
    loader_spec = importlib.util.spec_from_file_location(mod_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise UsageError(f"bus {spec!r}: {target} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[mod_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[mod_name]
        raise UsageError(f"bus {spec!r}: importing {target} raised {type(exc).__name__}: {exc}") from exc
    return module


def _load_module(spec: str, target: str):
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        raise UsageError(f"bus {spec!r}: no module {exc.name!r}; check the name or install it") from exc
    except Exception as exc:
        raise UsageError(f"bus {spec!r}: importing {target} raised {type(exc).__name__}: {exc}") from exc
