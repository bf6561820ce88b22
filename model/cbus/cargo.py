"""Building a Rust bus: ``rust:CRATE_DIR`` or ``rust:CRATE_DIR:prefix``.

The crate (a ``Cargo.toml`` in ``CRATE_DIR``) builds a ``cdylib`` that exports
the symbols of ``iobus_bus.h`` with ``#[no_mangle] extern "C"``; the suite runs
``cargo build --offline --profile PROFILE --lib`` on it and hands the library
to the C bridge's worker exactly like a compiled C file (same :class:`Build`,
same worker, same crash and hang handling). Only the build differs.

The cache is the C bridge's directory. A build is keyed by a SHA-256 of the
manifest's path and content, ``Cargo.lock``, the profile, the flags,
``RUSTFLAGS`` and the toolchain (``cargo -V``, ``rustc -vV``); the sources that
went into the library are read from cargo's dep-info file (``lib<name>.d``,
which lists the crate's own files and those of its path dependencies) and
recorded with their hashes, so editing any of them rebuilds and anything else
reuses the build without starting cargo. Cargo's own target directory is kept
per crate in the cache, so a rebuild is incremental.

Environment:

* ``CARGO``: the cargo to run (default ``cargo`` on ``PATH``).
* ``IOBUS_VERIFY_CARGO_PROFILE``: the cargo profile (default ``release``;
  ``dev`` builds with overflow checks, so an overflow panics and the bridge
  reports the crash).
* ``IOBUS_VERIFY_CARGOFLAGS``: extra ``cargo build`` flags (shell syntax), e.g.
  ``--features iobus``.
* ``IOBUS_VERIFY_CACHE_DIR``: the cache directory (see :mod:`.build`).
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
import time
import tomllib
from pathlib import Path

from iobus_verify.errors import UsageError
from iobus_verify.model.cbus.build import DEFAULT_PREFIX, Build, CSpec, _deps_unchanged, _parse_depfile, _sha, cache_dir

#: Bumped when the bridge changes what it needs from a build.
_BUILD_VERSION = "1"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PROFILE = re.compile(r"[A-Za-z0-9_-]+\Z")
_MAX_MESSAGE = 6000


def parse(spec: str) -> CSpec:
    """``rust:DIR`` or ``rust:DIR:PREFIX`` -> :class:`CSpec` (``path`` is the crate's ``Cargo.toml``)."""
    rest = spec[len("rust:") :] if spec.startswith("rust:") else spec
    dir_text, prefix = rest, DEFAULT_PREFIX
    head, sep, tail = rest.rpartition(":")
    if sep and _IDENT.match(tail) and not Path(rest).expanduser().exists():
        dir_text, prefix = head, tail
    if not dir_text:
        raise UsageError(f"bus {spec!r}: give the crate directory after 'rust:', e.g. rust:examples/rust[:prefix]")
    given = Path(dir_text).expanduser()
    manifest = given if given.name == "Cargo.toml" else given / "Cargo.toml"
    if not manifest.is_file():
        raise UsageError(
            f"bus {spec!r}: no {manifest}; give the directory of a crate whose cdylib exports the iobus_bus.h symbols"
        )
    try:
        package = tomllib.loads(manifest.read_text()).get("package", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"bus {spec!r}: cannot read {manifest} ({exc}); fix the manifest") from exc
    name = package.get("name") if isinstance(package.get("name"), str) else manifest.resolve().parent.name
    return CSpec(spec, manifest.resolve(), prefix, name=name)


def cargo() -> str:
    exe = os.environ.get("CARGO") or "cargo"
    found = shutil.which(exe)
    if found is None:
        raise UsageError(f"no cargo {exe!r} found: install a Rust toolchain (e.g. apt-get install cargo), or set CARGO")
    return found


def profile() -> str:
    name = os.environ.get("IOBUS_VERIFY_CARGO_PROFILE") or "release"
    if not _PROFILE.match(name):
        raise UsageError(f"IOBUS_VERIFY_CARGO_PROFILE={name!r} is not a cargo profile name; use e.g. release or dev")
    return name


def user_flags() -> list[str]:
    text = os.environ.get("IOBUS_VERIFY_CARGOFLAGS", "")
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"IOBUS_VERIFY_CARGOFLAGS={text!r} is not valid shell syntax ({exc}); quote it properly") from exc


def _toolchain(cargo_exe: str, cwd: Path) -> str:
    """The toolchain's identity, as the crate's directory selects it (rustup overrides apply there)."""
    out = []
    for cmd in ([cargo_exe, "-V"], [os.environ.get("RUSTC") or "rustc", "-vV"]):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL, timeout=60)
            out.append(proc.stdout.strip() or proc.stderr.strip())
        except (OSError, subprocess.TimeoutExpired) as exc:
            out.append(f"{cmd[0]}: {exc}")
    return "\n".join(out)


def build_key(cspec: CSpec, cargo_exe: str, profile_name: str, flags: list[str]) -> str:
    manifest = cspec.path
    lock = manifest.parent / "Cargo.lock"
    h = hashlib.sha256()
    for part in (
        _BUILD_VERSION,
        str(manifest),
        _sha(manifest.read_bytes()),
        _sha(lock.read_bytes()) if lock.is_file() else "-",
        profile_name,
        json.dumps(flags),
        os.environ.get("RUSTFLAGS", ""),
        _toolchain(cargo_exe, manifest.parent),
    ):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:24]


def _cdylib(stdout: str, manifest: Path) -> Path | None:
    """The cdylib cargo reported for ``manifest`` in its JSON messages."""
    found = None
    for line in stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-artifact" or "cdylib" not in msg.get("target", {}).get("kind", []):
            continue
        if Path(msg.get("manifest_path", "")).resolve() != manifest:
            continue
        for name in msg.get("filenames", []):
            if name.endswith((".so", ".dylib")):
                found = Path(name)
    return found


def build_crate(cspec: CSpec) -> Build:
    """The crate's cdylib: from the cache, or built now with cargo.

    Raises :class:`UsageError` with cargo's message when it does not build.
    """
    exe = cargo()
    prof = profile()
    flags = user_flags()
    key = build_key(cspec, exe, prof, flags)
    root = cache_dir()
    so = root / f"{cspec.name}-{key}.so"
    manifest = so.with_suffix(".deps.json")
    if so.is_file() and _deps_unchanged(manifest):
        return Build(so, True, 0.0, ())
    target = root / f"cargo-target-{_sha(str(cspec.path).encode())[:16]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    except OSError as exc:
        raise UsageError(f"cannot write the build cache {root} ({exc}); set IOBUS_VERIFY_CACHE_DIR to a writable directory") from exc
    try:
        cmd = (
            exe,
            "build",
            "--offline",
            "--lib",
            "--profile",
            prof,
            "--manifest-path",
            str(cspec.path),
            "--target-dir",
            str(target),
            "--message-format=json-render-diagnostics",
            *flags,
        )
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=cspec.path.parent)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            message = proc.stderr.strip()
            if len(message) > _MAX_MESSAGE:
                message = "[... cargo output cut]\n" + message[-_MAX_MESSAGE:]
            raise UsageError(
                f"bus {cspec.spec!r}: cargo could not build {cspec.path} (exit {proc.returncode}); "
                f"fix the crate or IOBUS_VERIFY_CARGOFLAGS:\n{message}"
            )
        lib = _cdylib(proc.stdout, cspec.path)
        if lib is None or not lib.is_file():
            raise UsageError(
                f"bus {cspec.spec!r}: cargo built no cdylib for {cspec.path}; "
                f'set crate-type = ["cdylib"] under [lib] in the manifest'
            )
        depfile = lib.with_suffix(".d")
        deps = _parse_depfile(depfile.read_text()) if depfile.is_file() else []
        deps += [str(cspec.path)] + ([str(cspec.path.parent / "Cargo.lock")] if (cspec.path.parent / "Cargo.lock").is_file() else [])
        hashes = {str(Path(p).resolve()): _sha(Path(p).read_bytes()) for p in deps}
        # Publish atomically: concurrent suites may build the same key.
        shutil.copyfile(lib, work / "bus.so")
        (work / "deps.json").write_text(json.dumps(hashes, indent=1))
        os.replace(work / "bus.so", so)
        os.replace(work / "deps.json", manifest)
        return Build(so, False, seconds, cmd)
    finally:
        shutil.rmtree(work, ignore_errors=True)
