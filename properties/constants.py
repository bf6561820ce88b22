"""The constants Hypothesis draws from: a function of the bus, not of the process.

Hypothesis (since 6.131) mixes into its draws the literal constants of every
*local* module in ``sys.modules`` (``providers._get_local_constants``): the
pool grows as a process imports more of its own code. So the same seed gave
another search, and another report, depending on what the process had run
before (two ``check`` calls in one process, a test after other tests, a Dask
worker's second task), and on how the suite was installed (an editable install
is "local", a wheel in site-packages is not).

:func:`pinned_constants` fixes the pool for one search: the constants of the
source files of the model and the search (:data:`_PACKAGES`), plus those of
the bus's own Python file, read from the files (never from what happens to be
imported). Everything else
Hypothesis does is unchanged. Every Hypothesis run of the suite goes through
it (the machine's searches, the piece properties).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from pathlib import Path
from typing import Any, Iterator

#: Whose constants a search may draw: the model it drives (the kernel's facts:
#: device ports and ranges, C limits, capacities) and the search itself (its
#: strategies), not the reports, proofs or other VMMs (``pyproject.toml`` maps
#: ``iobus_verify.<name>`` onto each directory).
_PACKAGES = ("iobus_verify.model", "iobus_verify.properties")


def _providers() -> Any | None:
    """Hypothesis's provider module when it has the local-constants pool, else None."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without it: nothing to pin
        return None
    if not callable(getattr(providers, "_get_local_constants", None)):
        return None  # pragma: no cover
    return providers


def _package_files() -> tuple[Path, ...]:
    import importlib.util

    files: set[Path] = set()
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        roots = (spec.submodule_search_locations or ()) if spec is not None else ()
        for root in roots:
            files.update(p for p in Path(root).rglob("*.py") if "__pycache__" not in p.parts)
    return tuple(sorted(files))


@functools.lru_cache(maxsize=64)
def _pool(extra: tuple[str, ...]) -> Any:
    from hypothesis.internal.constants_ast import Constants, _constants_from_source

    out = Constants()
    for path in (*_package_files(), *(Path(p) for p in extra)):
        try:
            out |= _constants_from_source(path.read_bytes(), limit=True)
        except Exception:  # noqa: BLE001 - as Hypothesis does: a file it cannot parse adds nothing
            continue
    return out


def bus_source(spec: Any) -> tuple[str, ...]:
    """The bus's own Python source file, when it has one (a ``file.py:name`` plugin)."""
    import inspect

    for obj in (getattr(spec, "factory", None), spec):
        if obj is None:
            continue
        try:
            path = inspect.getsourcefile(obj if callable(obj) and not isinstance(obj, type) else type(obj))
        except (TypeError, OSError):
            path = None
        if path and path.endswith(".py"):
            return (str(Path(path).resolve()),)
    return ()


_local = threading.local()
_install_lock = threading.Lock()
_original: Any = None


def _dispatch() -> Any:
    pool = getattr(_local, "pool", None)
    return pool if pool is not None else _original()


class _Caches:
    """Hypothesis's ``CONSTANTS_CACHE`` (the constants of a pool that a draw's
    constraints permit), one per thread and pool while a pool is pinned: a
    cache filled from one pool must not answer a draw from another."""

    def __init__(self, original: Any) -> None:
        self._original = original
        self._mine: dict[tuple[int, int], Any] = {}

    def _current(self) -> Any:
        pool = getattr(_local, "pool", None)
        if pool is None:
            return self._original
        key = (threading.get_ident(), id(pool))
        cache = self._mine.get(key)
        if cache is None:
            from hypothesis.internal.cache import LRUCache

            cache = self._mine.setdefault(key, LRUCache(1024))
        return cache

    def __contains__(self, key: Any) -> bool:
        return key in self._current()

    def __getitem__(self, key: Any) -> Any:
        return self._current()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._current()[key] = value

    @property
    def cache(self) -> Any:
        return self._current().cache


def _install(providers: Any) -> None:
    """Put :func:`_dispatch` and :class:`_Caches` in Hypothesis's place once:
    each thread then sees its own pinned pool (Dask runs tasks in threads),
    others Hypothesis's own."""
    global _original
    with _install_lock:
        if _original is None:
            _original = providers._get_local_constants
            providers._get_local_constants = _dispatch
            providers.CONSTANTS_CACHE = _Caches(providers.CONSTANTS_CACHE)


@contextlib.contextmanager
def pinned_constants(extra: tuple[str, ...] = ()) -> Iterator[None]:
    """Within the block (in this thread), Hypothesis's local constants are the
    package's and ``extra``'s (source file paths), whatever this process has imported."""
    providers = _providers()
    if providers is None:
        yield
        return
    _install(providers)
    saved = getattr(_local, "pool", None)
    _local.pool = _pool(tuple(sorted(extra)))
    try:
        yield
    finally:
        _local.pool = saved
