"""The published JSON Schemas of reports and baselines, and validation against them.

The schema files live in ``reports/schemas/`` and ship with the package; this
module is the only place that reads them. :func:`validate` raises
:class:`SchemaError` (a :class:`~iobus_verify.errors.UsageError`, so that a
malformed file a user hands in exits 2) with the path of the first offending
field.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

from iobus_verify.errors import UsageError
from iobus_verify.model.scenario import read_json_file

SCHEMA_DIR = Path(__file__).with_name("schemas")

#: schema name as written in a document's "schema" field -> file in SCHEMA_DIR
FILES = {
    "iobus-report/1": "iobus-report-1.schema.json",
    "iobus-baseline/1": "iobus-baseline-1.schema.json",
    "iobus-baseline/2": "iobus-baseline-2.schema.json",
}


class SchemaError(UsageError):
    """A document does not follow its published schema."""


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The JSON Schema named ``name`` (e.g. ``"iobus-report/1"``)."""
    return json.loads((SCHEMA_DIR / FILES[name]).read_text())


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = load(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(obj: Any, name: str, *, source: str = "document") -> None:
    """Raise :class:`SchemaError` unless ``obj`` follows schema ``name``.

    ``source`` names the file in the message (``"old.json"``)."""
    if not isinstance(obj, dict) or obj.get("schema") != name:
        found = obj.get("schema") if isinstance(obj, dict) else type(obj).__name__
        raise SchemaError(f"{source}: expected a {name!r} document, found schema {found!r}")
    errors = sorted(_validator(name).iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaError(f"{source}: field {where}: {err.message}{more}; it must follow {name} ({FILES[name]})")


def load_json(path: Path, name: str | tuple[str, ...]) -> dict[str, Any]:
    """Read and validate a JSON document; every failure is a one-line SchemaError.

    ``name`` may list several schemas (newest first, e.g. a baseline's /2 and
    /1): the document is validated against the one its ``"schema"`` names."""
    # unreadable, not UTF-8, not JSON: one line naming the file ("report 'x.json' is not UTF-8 text ...")
    first = name if isinstance(name, str) else next(iter(name), "document")
    obj = read_json_file(path, first.split("/")[0].removeprefix("iobus-"), SchemaError)
    names = (name,) if isinstance(name, str) else tuple(name)
    found = obj.get("schema") if isinstance(obj, dict) else None
    if len(names) > 1 and found not in names:
        raise SchemaError(f"{path}: expected one of {', '.join(repr(n) for n in names)}, found schema {found!r}")
    validate(obj, found if found in names else names[0], source=str(path))
    return obj
