"""Compiling a C bus: the spec syntax, the compiler command and the build cache.

``c:path/to/impl.c`` or ``c:path/to/impl.c:prefix``. The file is compiled with
the system C compiler (``$CC``, else ``cc``) into a shared object in a cache
directory, keyed by a SHA-256 of everything that decides the output: the
file's content and absolute path, the ABI header, the flags and the compiler's
identity. Headers the file includes from its own tree are recorded from the
compiler's dependency output (``-MMD``) with their hashes, and a change to any
of them rebuilds too.

Environment:

* ``IOBUS_VERIFY_CFLAGS``: extra compiler flags (shell syntax), after the defaults.
* ``IOBUS_VERIFY_CACHE_DIR``: the cache directory (default
  ``$XDG_CACHE_HOME/iobus-verify/c`` or ``~/.cache/iobus-verify/c``).
* ``CC``: the compiler.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from iobus_verify.errors import UsageError

DEFAULT_PREFIX = "iobus_"
#: The ABI header, shipped next to the model modules.
HEADER = Path(__file__).resolve().parent.parent / "iobus_bus.h"
#: Flags before the user's: optimised with debug info, and the kernel's own
#: code-generation rules (signed overflow wraps, no strict aliasing, NULL checks
#: kept), so that C the kernel compiles one way is not compiled another here.
DEFAULT_CFLAGS = (
    "-std=gnu11",
    "-O2",
    "-g",
    "-Wall",
    "-fno-strict-aliasing",
    "-fno-strict-overflow",
    "-fno-delete-null-pointer-checks",
)
#: Bumped when the bridge changes what it needs from a build.
_BUILD_VERSION = "1"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_MESSAGE = 6000


@dataclass(frozen=True)
class CSpec:
    """A parsed ``c:`` spec."""

    spec: str
    path: Path
    prefix: str
    #: The bus's name when it is not the file's stem (a Rust crate's package name).
    name: str = ""
    #: Flags the producer of the file needs (a kernel tree's unit: -Werror on
    #: implicit declarations, so a kernel API the shim lacks stops the build).
    extra_flags: tuple[str, ...] = ()


class CompileError(UsageError):
    """The file did not compile; ``output`` is the compiler's message (for
    producers such as a kernel tree that map it back to their own sources)."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Build:
    """A compiled bus library and how it was obtained."""

    so_path: Path
    cached: bool  # True when reused from the cache
    seconds: float  # compile time (0 when cached)
    command: tuple[str, ...]


def parse(spec: str) -> CSpec:
    """``c:FILE`` or ``c:FILE:PREFIX`` -> :class:`CSpec` (the file must exist)."""
    rest = spec[2:] if spec.startswith("c:") else spec
    path_text, prefix = rest, DEFAULT_PREFIX
    head, sep, tail = rest.rpartition(":")
    if sep and _IDENT.match(tail) and not Path(rest).is_file():
        path_text, prefix = head, tail
    if not path_text:
        raise UsageError(f"bus {spec!r}: give the C file after 'c:', e.g. c:examples/c/range_bus.c[:prefix]")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise UsageError(f"bus {spec!r}: no file {path_text}; give the path of a C file implementing iobus_bus.h")
    return CSpec(spec, path.resolve(), prefix)


def user_cflags() -> list[str]:
    text = os.environ.get("IOBUS_VERIFY_CFLAGS", "")
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"IOBUS_VERIFY_CFLAGS={text!r} is not valid shell syntax ({exc}); quote it properly") from exc


def cache_dir() -> Path:
    explicit = os.environ.get("IOBUS_VERIFY_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iobus-verify" / "c"


def compiler() -> str:
    cc = os.environ.get("CC") or "cc"
    found = shutil.which(cc)
    if found is None:
        raise UsageError(f"no C compiler {cc!r} found: install gcc or clang, or set CC to your compiler")
    return found


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _compiler_identity(cc: str) -> str:
    real = os.path.realpath(cc)
    st = os.stat(real)
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


def build_key(cspec: CSpec, cc: str, flags: list[str]) -> str:
    h = hashlib.sha256()
    for part in (
        _BUILD_VERSION,
        str(cspec.path),
        _sha(cspec.path.read_bytes()),
        _sha(HEADER.read_bytes()),
        json.dumps(flags),
        _compiler_identity(cc),
    ):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:24]


def _parse_depfile(text: str) -> list[str]:
    # make syntax: "out: dep dep \<newline> dep"; spaces inside names are "\ ".
    body = text.replace("\\\n", " ").split(":", 1)[-1]
    names = re.split(r"(?<!\\)\s+", body.strip())
    return [n.replace("\\ ", " ") for n in names if n]


def _deps_unchanged(manifest: Path) -> bool:
    try:
        deps = json.loads(manifest.read_text())
        return all(_sha(Path(p).read_bytes()) == h for p, h in deps.items())
    except (OSError, ValueError):
        return False


def compile_bus(cspec: CSpec) -> Build:
    """The shared object for ``cspec``: from the cache, or compiled now.

    Raises :class:`UsageError` with the compiler's message when it does not compile.
    """
    import time

    cc = compiler()
    flags = [*DEFAULT_CFLAGS, *cspec.extra_flags, *user_cflags()]
    key = build_key(cspec, cc, flags)
    root = cache_dir()
    so = root / f"{cspec.path.stem}-{key}.so"
    manifest = so.with_suffix(".deps.json")
    if so.is_file() and _deps_unchanged(manifest):
        return Build(so, True, 0.0, ())
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    except OSError as exc:
        raise UsageError(f"cannot write the C build cache {root} ({exc}); set IOBUS_VERIFY_CACHE_DIR to a writable directory") from exc
    try:
        out, dep = work / "bus.so", work / "bus.d"
        cmd = (
            cc,
            *flags[:1],
            "-fPIC",
            "-shared",
            *flags[1:],
            "-I",
            str(HEADER.parent),
            "-MMD",
            "-MT",
            "bus.so",
            "-MF",
            str(dep),
            "-o",
            str(out),
            "-x",
            "c",
            str(cspec.path),
        )
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip()
            if len(message) > _MAX_MESSAGE:
                message = message[:_MAX_MESSAGE] + "\n[... compiler output cut]"
            raise CompileError(
                f"bus {cspec.spec!r}: {Path(cc).name} could not compile {cspec.path} "
                f"(exit {proc.returncode}); fix the file or IOBUS_VERIFY_CFLAGS:\n{message}",
                proc.stderr or proc.stdout,
            )
        deps = _parse_depfile(dep.read_text()) if dep.is_file() else [str(cspec.path)]
        hashes = {}
        for name in deps:
            p = Path(name) if os.path.isabs(name) else (Path.cwd() / name)
            hashes[str(p.resolve())] = _sha(p.read_bytes())
        # Publish atomically: concurrent suites may build the same key.
        (work / "deps.json").write_text(json.dumps(hashes, indent=1))
        os.replace(out, so)
        os.replace(work / "deps.json", manifest)
        return Build(so, False, seconds, cmd)
    finally:
        shutil.rmtree(work, ignore_errors=True)
