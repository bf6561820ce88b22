"""The shared Hypothesis example database: a directory, or a Redis server, with a local fallback.

Every search saves the failing runs it shrinks under a key of its own
(``iobus-verify:<bus>:<rung>:<capacity>:<class>``, see
:class:`~iobus_verify.properties.run.SearchPlan`), and every later survey of
the same bus, rung and capacity replays them first (:class:`~iobus_verify.properties.run._SurveyView`).
Sharing that database is how searches on many processes and machines help
each other; nothing else is shared. A database is named by a
:class:`DatabaseSpec`, plain data that crosses to campaign workers, each of
which opens it itself (:func:`open_database`):

* a directory (Hypothesis's ``DirectoryBasedExampleDatabase``): processes on
  one machine, or machines sharing a file system; the default is
  ``$IOBUS_VERIFY_DB``, else ``.hypothesis/iobus-verify``;
* ``redis://HOST:PORT/N`` (Hypothesis's own ``RedisExampleDatabase``, needs
  the ``redis`` package): machines without a shared file system. A server
  that is gone when the campaign starts is bad input (:func:`check_reachable`);
  one lost mid-run is survived: :class:`FallbackDatabase` goes on with the
  local directory and records why, so that the report can say so;
* ``none``: no database (every search on its own, as the ``ci`` profile runs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from iobus_verify.errors import UsageError

DB_ENV = "IOBUS_VERIFY_DB"
REDIS_ENV = "IOBUS_VERIFY_REDIS"
DEFAULT_DIR = ".hypothesis/iobus-verify"
#: prefix of every key the suite writes in a shared Redis
KEY_PREFIX = b"hypothesis:"
#: seconds a Redis call may take before the server counts as lost
REDIS_TIMEOUT_S = 3.0
INSTALL_REDIS = "pip install 'iobus-verify[campaign]'"


@dataclass(frozen=True)
class DatabaseSpec:
    """Where the example database is. ``kind``: ``directory``, ``redis`` or
    ``none``; ``where``: an absolute directory or a Redis URL; ``fallback``:
    the directory used when a Redis server is lost mid-run."""

    kind: str
    where: str = ""
    fallback: str = ""

    def describe(self) -> str:
        if self.kind == "none":
            return "none (every search on its own)"
        return f"{self.kind} {self.where}"


def default_dir() -> str:
    return str(Path(os.environ.get(DB_ENV) or DEFAULT_DIR).resolve())


def parse_database(text: str | None) -> DatabaseSpec:
    """``--db``: a directory, ``redis://HOST:PORT/N`` or ``none`` (default: the
    directory of :func:`default_dir`). Directories are made absolute here, so
    that workers started elsewhere use the same one."""
    if text is None or text == "":
        return DatabaseSpec("directory", default_dir())
    if text == "none":
        return DatabaseSpec("none")
    if text.startswith(("redis://", "rediss://", "unix://")):
        return DatabaseSpec("redis", text, default_dir())
    if "://" in text:
        raise UsageError(f"--db {text}: give a directory, redis://HOST:PORT/N or none")
    return DatabaseSpec("directory", str(Path(text).resolve()))


def _redis_module():
    try:
        import redis
    except ImportError:
        raise UsageError(f"a Redis example database needs the redis package: {INSTALL_REDIS}") from None
    return redis


def _client(url: str):
    redis = _redis_module()
    try:
        return redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
    except ValueError as exc:
        raise UsageError(f"--db {url}: not a Redis URL ({exc})") from None


def check_reachable(spec: DatabaseSpec) -> None:
    """A Redis database must answer before a campaign starts: a UsageError
    (one line, exit 2) otherwise; a directory must be creatable."""
    if spec.kind == "redis":
        redis = _redis_module()
        try:
            _client(spec.where).ping()
        except (redis.exceptions.RedisError, OSError) as exc:
            raise UsageError(f"--db {spec.where}: the Redis server cannot be reached ({type(exc).__name__}: {exc})") from None
    elif spec.kind == "directory":
        try:
            Path(spec.where).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--db {spec.where}: cannot create the directory ({exc.strerror})") from None


def open_database(spec: DatabaseSpec | None) -> ExampleDatabase | None:
    """The database a :class:`DatabaseSpec` names (None for ``none``)."""
    if spec is None or spec.kind == "none":
        return None
    if spec.kind == "directory":
        return DirectoryBasedExampleDatabase(spec.where)
    from hypothesis.extra.redis import RedisExampleDatabase

    primary = RedisExampleDatabase(_client(spec.where), key_prefix=KEY_PREFIX)
    return FallbackDatabase(primary, DirectoryBasedExampleDatabase(spec.fallback or default_dir()), spec.where)


class FallbackDatabase(ExampleDatabase):
    """A Redis example database that, once the server fails, goes on with a
    local directory for good (``lost`` says when and why). Without it, a
    Redis error would surface inside Hypothesis as the search's own failure."""

    def __init__(self, primary: ExampleDatabase, fallback: ExampleDatabase, name: str = "redis") -> None:
        super().__init__()
        self.primary, self.fallback, self.name = primary, fallback, name
        self.lost: str | None = None

    def _failed(self, exc: BaseException) -> None:
        self.lost = f"{self.name} lost ({type(exc).__name__}: {exc}); went on with the local database {getattr(self.fallback, 'path', '')}"

    def _errors(self) -> tuple[type[BaseException], ...]:
        redis = _redis_module()
        return (redis.exceptions.RedisError, OSError)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        if self.lost is None:
            try:
                got = list(self.primary.fetch(key))
            except self._errors() as exc:
                self._failed(exc)
            else:
                yield from got
                return
        yield from self.fallback.fetch(key)

    def save(self, key: bytes, value: bytes) -> None:
        self._call("save", key, value)

    def delete(self, key: bytes, value: bytes) -> None:
        self._call("delete", key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self._call("move", src, dest, value)

    def _call(self, name: str, *args: Any) -> None:
        if self.lost is None:
            try:
                getattr(self.primary, name)(*args)
                return
            except self._errors() as exc:
                self._failed(exc)
        getattr(self.fallback, name)(*args)


def default_database() -> ExampleDatabase | None:
    """The database of the ``thorough`` profile's searches in ``check``:
    ``$IOBUS_VERIFY_REDIS`` when set, else the directory of :func:`default_dir`."""
    url = os.environ.get(REDIS_ENV)
    return open_database(parse_database(url) if url else DatabaseSpec("directory", default_dir()))
