"""The ``iobus-scenario`` format: a replayable sequence of VM operations.

A scenario is a JSON object::

    {"schema": "iobus-scenario/2", "ops": [...], "era": "2011"|"today",
     "capacity": N, "meta": {...}}

Version 2 adds the teardown ops (``destroy_vm``, ``hold_bus``,
``release_bus``); version 1 files (every op but those) are still read, and a
scenario without a teardown op is still written as version 1, so that the
files written before version 2 stay byte for byte what they were.

``era``, ``capacity`` and ``meta`` are optional. Integers are JSON integers
(addresses u64, lengths C ``int``, zone sizes ``__u32``), data hex strings.
The ops (``schemas/iobus-scenario-1.schema.json`` is the normative form)::

    {"op": "create_irqchip"}
    {"op": "create_pit2", "speaker": true}
    {"op": "ioeventfd", "action": "assign", "id": "e1", "bus": "pio"|"mmio",
     "addr": A, "len": N, "datamatch": null|D}
    {"op": "ioeventfd", "action": "deassign", "id": "e1"}
    {"op": "coalesced_mmio", "action": "register"|"unregister", "id": "z1", "addr": A, "size": S,
     "pio": 0|1}  (optional, today's zone->pio, a __u32: 0 MMIO, 1 PIO, else -EINVAL; padding in 2011)
    {"op": "probe", "action": "register", "id": "p1", "bus": B, "addr": A, "len": N,
     "accepts": "range"|"all"|"none"}
    {"op": "probe", "action": "unregister", "id": "p1"}
    {"op": "write", "bus": B, "addr": A, "len": N, "data": "hex"}  (exactly N bytes; "" or absent if N <= 0)
    {"op": "read", "bus": B, "addr": A, "len": N}
    {"op": "fail_alloc", "bus": B}
    {"op": "hold_bus", "bus": B}     (version 2: a reader enters the SRCU read side and loads the bus pointer)
    {"op": "release_bus", "bus": B}  (version 2: the oldest such reader leaves)
    {"op": "destroy_vm"}             (version 2: the VM's teardown; the last op of a scenario)

A coalesced ``unregister`` is the kernel's: it removes every zone that
contains ``(addr, size)``; with only ``id`` it uses that zone's own range.
:func:`load_scenario` validates with the JSON Schema (the ``jsonschema``
library) and reports the first fault as a :class:`UsageError` naming the op
index and the field, e.g. ``op 3: field 'len': expected an int in
[-2147483648, 2147483647], got 'x'``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from iobus_verify.errors import UsageError

SCHEMA_V1 = "iobus-scenario/1"
SCHEMA_V2 = "iobus-scenario/2"
#: The newest version (what a scenario with a teardown op is written as).
SCHEMA_ID = SCHEMA_V2
SCHEMAS = {
    SCHEMA_V1: Path(__file__).with_name("schemas") / "iobus-scenario-1.schema.json",
    SCHEMA_V2: Path(__file__).with_name("schemas") / "iobus-scenario-2.schema.json",
}
SCHEMA_PATH = SCHEMAS[SCHEMA_V2]
#: The ops version 2 added: the VM's teardown and readers holding a bus.
TEARDOWN_OPS = ("destroy_vm", "hold_bus", "release_bus")
FIXED_IDS = ("pic_master", "pic_slave", "pic_elcr", "ioapic", "pit", "speaker")
BUSES = ("pio", "mmio")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


@dataclass(frozen=True)
class Op:
    """One scenario op. ``op`` names the kind; the other fields are those the
    kind takes (``None`` when absent). ``datamatch None`` is a wildcard."""

    op: str
    action: str | None = None
    id: str | None = None
    bus: str | None = None
    addr: int | None = None
    len: int | None = None
    size: int | None = None
    data: str | None = None
    datamatch: int | None = None
    accepts: str | None = None
    speaker: bool | None = None
    pio: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the fields this op has (``datamatch`` kept as null on
        an assign, as the format writes wildcards)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None or (f.name == "datamatch" and self.op == "ioeventfd" and self.action == "assign"):
                out[f.name] = v
        return out

    def describe(self) -> str:
        """A short one-line rendering for traces."""
        d = self.to_dict()
        parts = [d.pop("op")]
        for k, v in d.items():
            if k in ("addr",) and isinstance(v, int):
                v = hex(v)
            parts.append(f"{k}={v}")
        return " ".join(parts)


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario: its ops, and optionally the era, the buses' capacity
    and free-form ``meta`` (seed, bus, class...)."""

    ops: tuple[Op, ...]
    era: str | None = None
    capacity: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)


_OP_FIELDS = {f.name for f in fields(Op)}


def write_bytes(length: int, data: Any, where: str = "") -> bytes:
    """The bytes of a write op of ``len`` ``length`` whose ``data`` is ``data`` (hex).

    The rule: with ``length > 0``, ``data`` holds exactly ``length`` bytes (2 *
    ``length`` hex digits); with ``length <= 0`` the write carries no bytes and
    ``data`` is ``""`` or absent (None). Anything else is a :class:`UsageError`
    prefixed with ``where`` (``"op 3: "``), e.g. ``op 3: field 'data': expected
    exactly 4 bytes (len 4), got 2``. :func:`op_from_dict` (hence every loaded
    scenario and every op the VM is handed) and ``VM.write`` both apply it."""
    n = max(length, 0)
    if data is None:
        if n:
            raise UsageError(f"{where}missing field 'data' (a write of len {length} carries {n} bytes)")
        return b""
    shown = repr(data) if len(repr(data)) <= 60 else repr(data)[:57] + "..."
    if not isinstance(data, str) or not _HEX.fullmatch(data):
        raise UsageError(f"{where}field 'data': expected a hex string (two digits a byte), got {shown}")
    got = len(data) // 2
    if got != n:
        if n == 0:  # the same words as the schema's message for a file
            raise UsageError(f"{where}field 'data': expected \"\" or no data field (a write of len <= 0 carries no bytes), got {shown}")
        raise UsageError(f"{where}field 'data': expected exactly {n} byte{'s' if n != 1 else ''} (len {length}), got {got}")
    return bytes.fromhex(data)


def op_from_dict(d: Mapping[str, Any], index: int | None = None) -> Op:
    """An :class:`Op` from its JSON form, without schema validation (the VM uses
    this on ops built in memory; files go through :func:`load_scenario`). A
    write's ``data`` is checked against its ``len`` (:func:`write_bytes`)."""
    where = f"op {index}: " if index is not None else ""
    if not isinstance(d, Mapping) or "op" not in d:
        raise UsageError(f"{where}an op must be an object with an 'op' field, got {d!r}")
    unknown = set(d) - _OP_FIELDS
    if unknown:
        raise UsageError(f"{where}unknown field {sorted(unknown)[0]!r} in a {d['op']!r} op")
    kw = {k: (int(v) if k in ("addr", "len", "size", "datamatch", "pio") and isinstance(v, float) else v) for k, v in d.items()}
    length = kw.get("len")
    if kw["op"] == "write" and isinstance(length, int) and not isinstance(length, bool):
        write_bytes(length, kw.get("data"), where)
    return Op(**kw)


def schema_id_for(ops: Any) -> str:
    """The version a scenario of ``ops`` (Ops or their JSON dicts) is written
    as: 2 when it uses a teardown op, else 1 (what every reader of version 1
    already takes)."""
    kinds = {(o.get("op") if isinstance(o, Mapping) else o.op) for o in ops}
    return SCHEMA_V2 if kinds & set(TEARDOWN_OPS) else SCHEMA_V1


@lru_cache(maxsize=2)
def _validator(schema_id: str = SCHEMA_V2):
    import jsonschema

    schema = json.loads(SCHEMAS[schema_id].read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema(schema_id: str = SCHEMA_V2) -> dict[str, Any]:
    """The published JSON Schema of the format (the newest version by default)."""
    return json.loads(SCHEMAS[schema_id].read_text())


def _describe_error(err) -> str:
    """A jsonschema error as 'op N: field F: expected ..., got ...'."""
    path = list(err.absolute_path)
    if path[:1] == ["ops"] and len(path) >= 2:
        where = f"op {path[1]}"
        rest = path[2:]
    else:
        where = "scenario"
        rest = path
    inst = err.instance
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        target = f"field {rest[0]!r}: " if rest else ""
        return f"{where}: {target}missing field {missing!r}"
    if err.validator == "additionalProperties":
        extra = sorted(set(inst) - set(err.schema.get("properties", {})))
        return f"{where}: unknown field {extra[0]!r}" if extra else f"{where}: {err.message}"
    if err.validator == "anyOf" and not rest and isinstance(inst, dict):
        return f"{where}: an unregister needs 'addr' and 'size' (the range to remove) or 'id'"
    expected = err.schema.get("description") if isinstance(err.schema, dict) else None
    if expected is None and err.validator == "type":
        kinds = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        article = {"object": "an object", "array": "an array", "integer": "an integer", "string": "a string", "null": "null", "boolean": "a boolean"}
        expected = " or ".join(article.get(k, k) for k in kinds)
    if expected is None:
        expected = err.message
    name = f"field {rest[-1]!r}" if rest else "value"
    shown = json.dumps(inst) if not isinstance(inst, str) else repr(inst)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{where}: {name}: expected {expected}, got {shown}"


def _first_error(errors):
    """The error to report: the first op at fault, the deepest error in it."""

    def key(e):
        p = list(e.absolute_path)
        op_index = p[1] if p[:1] == ["ops"] and len(p) > 1 and isinstance(p[1], int) else -1
        return (op_index, -len(p), e.validator == "required")

    return min(errors, key=key)


def parse_scenario(obj: Any) -> Scenario:
    """Validate a decoded JSON object and build the :class:`Scenario`."""
    if not isinstance(obj, dict):
        raise UsageError(f"a scenario must be a JSON object with \"schema\": \"{SCHEMA_ID}\" and \"ops\", got {type(obj).__name__}")
    if obj.get("schema") not in SCHEMAS:
        raise UsageError(f"scenario: field 'schema': expected \"{SCHEMA_V2}\" (or \"{SCHEMA_V1}\"), got {obj.get('schema')!r}")
    errors = list(_validator(obj["schema"]).iter_errors(obj))
    if errors:
        raise UsageError(_describe_error(_first_error(errors)))
    ops = []
    for i, d in enumerate(obj["ops"]):
        op = op_from_dict(d, i)
        if op.id in FIXED_IDS:
            raise UsageError(f"op {i}: field 'id': {op.id!r} is a fixed device's id; choose another")
        ops.append(op)
        if op.op == "destroy_vm" and i != len(obj["ops"]) - 1:
            raise UsageError(f"op {i}: destroy_vm must be the last op (the VM is gone after it)")
    return Scenario(tuple(ops), obj.get("era"), obj.get("capacity"), dict(obj.get("meta") or {}))


def read_json_file(path: str | Path, what: str, error: type[UsageError] = UsageError) -> Any:
    """The decoded content of the JSON file ``path``; every failure is one line
    naming the file (``what`` says what it is: ``"scenario"``, ``"report"``...),
    raised as ``error`` (a :class:`UsageError`): unreadable, not UTF-8 (a UTF-8
    byte order mark is allowed), not JSON. Scenarios, reports and baselines are
    all read here."""
    path = Path(path)
    name = f"{what} {str(path)!r}"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise error(f"{name} is not UTF-8 text (byte 0x{bad} at offset {exc.start}); it must be a UTF-8 JSON file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{name} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise error(f"{name} is not JSON this tool reads: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise error(f"{name} is not JSON this tool reads: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def load_scenario(source: Any) -> Scenario:
    """A :class:`Scenario` from a path (str or Path), a decoded JSON object, or a
    Scenario (returned as is). Errors are :class:`UsageError`."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, (str, Path)):
        return parse_scenario(read_json_file(source, "scenario"))
    return parse_scenario(source)


def dump_scenario(s: Scenario) -> dict[str, Any]:
    """The JSON object of a scenario (loads back to an equal Scenario)."""
    out: dict[str, Any] = {"schema": schema_id_for(s.ops)}
    if s.era is not None:
        out["era"] = s.era
    if s.capacity is not None:
        out["capacity"] = s.capacity
    if s.meta:
        out["meta"] = dict(s.meta)
    out["ops"] = [op.to_dict() for op in s.ops]
    return out


def write_scenario(s: Scenario, path: str | Path) -> Path:
    """Write ``s`` as indented JSON, one op a line; returns the path."""
    p = Path(path)
    d = dump_scenario(s)
    ops = d.pop("ops")
    head = json.dumps(d, indent=2)[:-2]  # the object without its closing brace
    body = ",\n".join("    " + json.dumps(o) for o in ops)
    p.write_text(f"{head},\n  \"ops\": [\n{body}\n  ]\n}}\n")
    return p
