"""What a VMM bus model offers the suite, and the Rust facts every model shares.

A model is built per address space, ``factory(space, width)`` (``width``: 64,
or 16 for a 16-bit PIO bus), and has:

* ``OPS``: the op kinds its API has (a subset of ``register``, ``remove``,
  ``remove_device``, ``relocate``, ``read``, ``write``); the others are not
  drawn for it, and a stored scenario's op it lacks is skipped on both sides;
* ``register(dev, base, length) -> str``, ``remove(base, length) -> str``,
  ``remove_device(dev) -> str``, ``relocate(dev, base, length, new_base) -> str``:
  ``"ok"`` or the name of the error the code returns (``"Overlap"``);
* ``access(kind, addr, length) -> Access``: which device the code calls, with
  the base and offset it is told;
* ``mappings() -> list[(base, length, dev)]``: what the bus holds, by base,
  with each entry's **stored** length (so a replaced value under an old key
  shows);
* ``accepts(op) -> bool`` *(optional)*: False when the API cannot express the
  op's integers (a port above ``0xffff``); the op is then skipped.

The modelled code's panic (Rust ``panic!``/overflow check, C ``abort``) is
:class:`ModelPanic`; any other exception is a crash of the suite.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Iterator

M = (1 << 64) - 1
T = 1 << 64


class ModelPanic(Exception):
    """The modelled code panicked or aborted (a finding, class ``PANIC``), not a suite crash."""


class Unsupported(Exception):
    """The model's API has no such operation (the op is skipped)."""


@dataclass(frozen=True)
class Access:
    """The outcome of one access: the device called (None: no device), the
    base and offset it was given, and the API's result (``"ok"`` or an error name)."""

    dev: str | None
    base: int | None = None
    offset: int | None = None
    rc: str = "ok"


MISS = Access(None, rc="miss")


def add(a: int, b: int, mode: str, what: str = "+") -> int:
    """Rust ``u64 + u64`` under a build's overflow mode: ``wrap`` (release,
    no ``overflow-checks``) or ``panic`` (dev/test, or a release with
    ``overflow-checks = true``)."""
    s = a + b
    if s > M:
        if mode == "panic":
            raise ModelPanic(f"attempt to add with overflow ({a:#x} {what} {b:#x})")
        return s - T
    return s


def sub(a: int, b: int, mode: str) -> int:
    """Rust ``u64 - u64`` under an overflow mode."""
    s = a - b
    if s < 0:
        if mode == "panic":
            raise ModelPanic(f"attempt to subtract with overflow ({a:#x} - {b:#x})")
        return s + T
    return s


def checked_add(a: int, b: int, top: int = T) -> int | None:
    """Rust ``checked_add`` on a type of ``top`` values: None on overflow."""
    s = a + b
    return None if s >= top else s


def saturating_add(a: int, b: int, top: int = T) -> int:
    """Rust ``saturating_add``."""
    return min(a + b, top - 1)


class BaseKeyedMap:
    """A Rust ``BTreeMap<Range, V>`` whose range key compares by its base only (reference 0.3.1).

    Entries are ``base -> [key, value]`` where ``key`` is whatever range
    record the bus stores (its length or end lives there). ``insert`` on an
    existing base replaces the value, **keeps the old key** and returns the old
    value, as std's ``BTreeMap::insert`` does."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._entries: dict[int, list[Any]] = {}

    def insert(self, base: int, key: Any, value: Any) -> Any | None:
        # Rust: map.insert(key, value): an equal key keeps the stored key, swaps the value.
        if base in self._entries:
            old = self._entries[base][1]
            self._entries[base][1] = value
            return old
        bisect.insort(self._bases, base)
        self._entries[base] = [key, value]
        return None

    def remove(self, base: int) -> tuple[Any, Any] | None:
        # Rust: map.remove(&key): by base only.
        e = self._entries.pop(base, None)
        if e is None:
            return None
        self._bases.remove(base)
        return e[0], e[1]

    def pred(self, addr: int) -> tuple[int, Any, Any] | None:
        # Rust: map.range(..=key(addr)).next_back(): greatest base <= addr.
        i = bisect.bisect_right(self._bases, addr)
        if i == 0:
            return None
        b = self._bases[i - 1]
        return b, self._entries[b][0], self._entries[b][1]

    def get(self, base: int) -> tuple[Any, Any] | None:
        e = self._entries.get(base)
        return None if e is None else (e[0], e[1])

    def items(self) -> Iterator[tuple[int, Any, Any]]:
        # Rust: map.iter(): ascending by base.
        for b in list(self._bases):
            yield b, self._entries[b][0], self._entries[b][1]

    def __len__(self) -> int:
        return len(self._bases)
