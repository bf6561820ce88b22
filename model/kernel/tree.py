"""A Linux source tree as the suite needs it: which files hold the bus code,
and the release the top Makefile names.

A tree is any folder holding the files at their real paths (a git checkout,
an unpacked release, or a partial copy). Files that moved over the years are
looked for at each of their homes: ``iodev.h`` in ``virt/kvm/`` (until 4.x)
or ``include/kvm/``; ``bsearch()`` in ``lib/bsearch.c``, whose body moved to
``include/linux/bsearch.h`` in 2020 (both are read when both exist).
``lib/sort.c`` is needed only when the bus code calls ``sort()`` (until 2018,
the ordered insert replaced it): :func:`need_sort` says so after extraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iobus_verify.errors import UsageError

KVM_MAIN = "virt/kvm/kvm_main.c"
KVM_HOST = "include/linux/kvm_host.h"
IODEV = ("include/kvm/iodev.h", "virt/kvm/iodev.h")
SORT = "lib/sort.c"
BSEARCH = ("lib/bsearch.c", "include/linux/bsearch.h")


@dataclass(frozen=True)
class KernelTree:
    """The files of one tree the bus code is extracted from (paths relative to ``root``)."""

    root: Path
    sources: tuple[str, ...]  # in lookup order: kvm_main.c, kvm_host.h, iodev.h, lib/sort.c, bsearch
    version: tuple[int, int, int] | None  # VERSION, PATCHLEVEL, SUBLEVEL of the top Makefile
    extraversion: str = ""

    @property
    def release(self) -> str:
        if self.version is None:
            return "unknown (no VERSION/PATCHLEVEL in the top Makefile)"
        v = ".".join(str(x) for x in self.version)
        return v + self.extraversion


def _first(root: Path, options: tuple[str, ...]) -> list[str]:
    return [o for o in options if (root / o).is_file()]


def read_makefile_version(path: Path) -> tuple[tuple[int, int, int] | None, str]:
    """``VERSION = 3`` / ``PATCHLEVEL = 2`` / ``SUBLEVEL = 4`` / ``EXTRAVERSION =`` from the top Makefile.

    These are plain make assignments at the top of the file (not C), read line by line.
    """
    fields: dict[str, str] = {}
    try:
        lines = path.read_text(errors="replace").splitlines()[:40]
    except OSError:
        return None, ""
    for line in lines:
        name, sep, value = line.partition("=")
        name = name.strip()
        if sep and name in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION") and name not in fields:
            fields[name] = value.strip()
    try:
        version = (int(fields["VERSION"]), int(fields["PATCHLEVEL"]), int(fields.get("SUBLEVEL") or 0))
    except (KeyError, ValueError):
        return None, ""
    return version, fields.get("EXTRAVERSION", "")


def open_tree(spec: str, path_text: str) -> KernelTree:
    """The tree at ``path_text``; :class:`UsageError` naming the first missing file."""
    root = Path(path_text).expanduser()
    if not root.is_dir():
        raise UsageError(f"bus {spec!r}: {path_text} is not a directory; give the root of a Linux source tree (kernel:PATH)")
    root = root.resolve()
    missing: list[str] = []
    sources: list[str] = []
    for rel in (KVM_MAIN, KVM_HOST):
        (sources if (root / rel).is_file() else missing).append(rel)
    iodev = _first(root, IODEV)
    if iodev:
        sources.append(iodev[0])
    else:
        missing.append(" or ".join(IODEV))
    if (root / SORT).is_file():  # needed only by trees whose bus calls sort() (checked after extraction)
        sources.append(SORT)
    bs = _first(root, BSEARCH)
    if bs:
        sources.extend(bs)
    else:
        missing.append(" or ".join(BSEARCH))
    if not (root / "Makefile").is_file():
        missing.append("Makefile")
    if missing:
        raise UsageError(
            f"bus {spec!r}: {root} is not a kernel tree: no {missing[0]}"
            + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else "")
            + "; give the root of a Linux source tree"
        )
    version, extra = read_makefile_version(root / "Makefile")
    return KernelTree(root, tuple(sources), version, extra)


def need_sort(spec: str, tree: KernelTree, called: bool) -> None:
    """A bus that calls ``sort()`` in a tree without ``lib/sort.c``: not a usable tree."""
    if called and SORT not in tree.sources:
        raise UsageError(f"bus {spec!r}: {tree.root} is not a kernel tree: no {SORT} (the bus code calls sort()); give the root of a Linux source tree")
