"""The VMM scenario format, ``iobus-vmm-scenario/1``: what a VMM bus is driven with.

A scenario of its own rather than an extension of ``iobus-scenario/1``: the
KVM format speaks of a VM (irqchip, ioeventfds, coalesced zones, C ``int``
lengths), the VMM buses of an address space with u64 bases and lengths, two
kinds of removal (by range, by device) and relocation. The normative form is
``vmm/schemas/iobus-vmm-scenario-1.schema.json`` (validated with jsonschema);
``replay`` reads both formats (it dispatches on the ``schema`` field).

Ops (each on a space, ``mmio`` or ``pio``, one bus each):

* ``register dev base len``: the VMM's insert/register;
* ``register_resources dev ranges``: one device's several ranges in one call
  (rust-vmm's ``IoManager::register_{mmio,pio}_resources``);
* ``remove base len``: removal by range, as the VMM's API takes it (rust-vmm's
  ``deregister`` takes an address: ``base`` is it, ``len`` is unused);
* ``remove_device dev``: removal by device (cloud-hypervisor, Firecracker 1.13);
* ``relocate dev base len new_base``: a move keeping the length
  (Firecracker's ``move_range``, cloud-hypervisor's ``update_range``, crosvm's
  BAR move through ``PciRoot``); ``dev`` is the device whose BAR moves (only
  crosvm's path uses it: ``PciRoot`` knows the device, the bus does not);
* ``read``/``write addr len``: an access of any width.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iobus_verify.errors import UsageError

SCHEMA = "iobus-vmm-scenario/1"
SCHEMA_FILE = Path(__file__).with_name("schemas") / "iobus-vmm-scenario-1.schema.json"
OPS = ("register", "register_resources", "remove", "remove_device", "relocate", "read", "write")
MUTATING = ("register", "register_resources", "remove", "remove_device", "relocate")
ACCESSES = ("read", "write")


@dataclass(frozen=True)
class VmmOp:
    """One operation; fields an op does not take are None."""

    op: str
    space: str
    dev: str | None = None
    base: int | None = None
    len: int | None = None
    new_base: int | None = None
    addr: int | None = None
    ranges: tuple[tuple[int, int], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "space": self.space}
        for k in ("dev", "base", "len", "new_base", "addr"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.ranges is not None:
            out["ranges"] = [[b, n] for b, n in self.ranges]
        if self.op in ACCESSES:  # an access's len follows its addr in the JSON
            out["len"] = out.pop("len")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VmmOp":
        rs = d.get("ranges")
        return cls(d["op"], d["space"], d.get("dev"), d.get("base"), d.get("len"), d.get("new_base"), d.get("addr"),
                   None if rs is None else tuple((int(b), int(n)) for b, n in rs))

    def text(self) -> str:
        """The op in words: ``register mmio d1 [0x10, 0x20)``, ``read pio [0x3f8, +2)``."""
        def rng(a: int, n: int) -> str:
            return f"[{a:#x}, {a + n:#x})" + (" (len 0)" if n == 0 else "")

        if self.op == "register":
            return f"register {self.space} {self.dev} {rng(self.base, self.len)}"
        if self.op == "register_resources":
            return f"register_resources {self.space} {self.dev} " + " ".join(rng(b, n) for b, n in self.ranges)
        if self.op == "remove":
            return f"remove {self.space} {rng(self.base, self.len)}"
        if self.op == "remove_device":
            return f"remove_device {self.space} {self.dev}"
        if self.op == "relocate":
            return f"relocate {self.space} {self.dev} {rng(self.base, self.len)} -> {self.new_base:#x}"
        return f"{self.op} {self.space} {rng(self.addr, self.len)}"


@dataclass(frozen=True)
class VmmScenario:
    ops: tuple[VmmOp, ...]
    vmm: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA}
        if self.vmm:
            out["vmm"] = self.vmm
        if self.meta:
            out["meta"] = dict(self.meta)
        out["ops"] = [o.to_dict() for o in self.ops]
        return out


@functools.cache
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def parse_scenario(obj: Any, source: str = "scenario") -> VmmScenario:
    """A :class:`VmmScenario` from its JSON object; a one-line :class:`UsageError` naming the first bad field otherwise."""
    if not isinstance(obj, dict) or obj.get("schema") != SCHEMA:
        found = obj.get("schema") if isinstance(obj, dict) else type(obj).__name__
        raise UsageError(f"{source}: expected a {SCHEMA!r} document, found schema {found!r}")
    errors = sorted(_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise UsageError(f"{source}: field {where}: {err.message.splitlines()[0][:200]}; it must follow {SCHEMA} ({SCHEMA_FILE.name})")
    return VmmScenario(tuple(VmmOp.from_dict(o) for o in obj["ops"]), obj.get("vmm"), dict(obj.get("meta", {})))


def load_scenario(src: Any) -> VmmScenario:
    """A scenario from a path, a JSON object or a :class:`VmmScenario`."""
    if isinstance(src, VmmScenario):
        return src
    if isinstance(src, dict):
        return parse_scenario(src)
    from iobus_verify.model.scenario import read_json_file

    return parse_scenario(read_json_file(src, "scenario"), str(src))


def ops(*items: tuple) -> tuple[VmmOp, ...]:
    """Terse construction for tests and corners: ``("register", "mmio", "d1", base, len)``,
    ``("register_resources", "mmio", "d1", [(base, len), ...])``,
    ``("remove", "mmio", base, len)``, ``("remove_device", "mmio", "d1")``,
    ``("relocate", "mmio", "d1", base, len, new_base)``, ``("read", "mmio", addr, len)``."""
    out = []
    for t in items:
        kind, space, *rest = t
        if kind == "register":
            out.append(VmmOp(kind, space, dev=rest[0], base=rest[1], len=rest[2]))
        elif kind == "register_resources":
            out.append(VmmOp(kind, space, dev=rest[0], ranges=tuple((b, n) for b, n in rest[1])))
        elif kind == "remove":
            out.append(VmmOp(kind, space, base=rest[0], len=rest[1]))
        elif kind == "remove_device":
            out.append(VmmOp(kind, space, dev=rest[0]))
        elif kind == "relocate":
            out.append(VmmOp(kind, space, dev=rest[0], base=rest[1], len=rest[2], new_base=rest[3]))
        elif kind in ACCESSES:
            out.append(VmmOp(kind, space, addr=rest[0], len=rest[1]))
        else:
            raise ValueError(f"unknown op {kind!r}")
    return tuple(out)
