"""Request body validation against the spec's request schemas (JSON Schema 2020-12).

A valid body is the common case (every contact of a bulk create is checked), and jsonschema
spends ~2 ms walking one contact — most of the emulator's CPU while ten connections sync. So
each schema is also compiled into a plain predicate over the keywords the spec uses (`type`,
`properties`, `required`, `items`, `anyOf`, `allOf`, `minLength`, `maxLength`, `pattern`;
annotations ignored, as jsonschema ignores `format` without a format checker). A body the
predicate accepts is valid; anything else — a body it rejects, or a schema with a keyword it
does not know (no predicate then) — goes through jsonschema, which reports the violations. The
answer is therefore always jsonschema's: the predicate only skips its walk for valid bodies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from switchboard.emulators.quo.spec import request_schema
from switchboard.emulators.quo.state import QuoError

_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number"}

Check = Callable[[Any], bool]

#: Keywords that never constrain an instance here.
_ANNOTATIONS = frozenset(
    {"description", "examples", "default", "format", "title", "deprecated", "$comment"}
)


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "number":
        return isinstance(value, int | float)
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    raise _Unsupported(f"type {name!r}")


class _Unsupported(Exception):
    """The schema uses something the predicate does not model: jsonschema alone decides."""


def _compile(schema: Any) -> Check:
    if schema is True or schema == {}:
        return lambda _v: True
    if not isinstance(schema, dict):
        raise _Unsupported(repr(schema)[:80])
    unknown = set(schema) - _ANNOTATIONS - {
        "type", "properties", "required", "items", "anyOf", "allOf",
        "minLength", "maxLength", "pattern",
    }  # fmt: skip
    if unknown:
        raise _Unsupported(", ".join(sorted(unknown)))
    checks: list[Check] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        for name in names:
            _is_type(None, name)  # unknown type names are refused at compile time
        checks.append(lambda v: any(_is_type(v, n) for n in names))
    props = {k: _compile(s) for k, s in (schema.get("properties") or {}).items()}
    required = list(schema.get("required") or [])
    if props or required:
        checks.append(
            lambda v: (
                not isinstance(v, dict)
                or (
                    all(k in v for k in required)
                    and all(check(v[k]) for k, check in props.items() if k in v)
                )
            )
        )
    if "items" in schema:
        item = _compile(schema["items"])
        checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
    if "anyOf" in schema:
        either = [_compile(s) for s in schema["anyOf"]]
        checks.append(lambda v: any(check(v) for check in either))
    if "allOf" in schema:
        every = [_compile(s) for s in schema["allOf"]]
        checks.append(lambda v: all(check(v) for check in every))
    low, high = schema.get("minLength"), schema.get("maxLength")
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
    if low is not None or high is not None or pattern is not None:
        checks.append(
            lambda v: (
                not isinstance(v, str)
                or (
                    (low is None or len(v) >= low)
                    and (high is None or len(v) <= high)
                    and (pattern is None or pattern.search(v) is not None)
                )
            )
        )
    return lambda v: all(check(v) for check in checks)


@cache
def _validator(operation: str) -> Draft202012Validator:
    return Draft202012Validator(request_schema(operation))


@cache
def _predicate(operation: str) -> Check | None:
    try:
        return _compile(request_schema(operation))
    except _Unsupported:
        return None


def validate_body(operation: str, body: Any) -> None:
    """Raise QuoError(400) listing every violation (path, message, expected type)."""
    if not isinstance(body, dict):
        raise QuoError(400, "Request body must be a JSON object")
    accepts = _predicate(operation)
    if accepts is not None and accepts(body):
        return
    errors = sorted(_validator(operation).iter_errors(body), key=lambda e: list(e.path))
    if not errors:
        return
    items = []
    for err in errors[:10]:
        expected = err.schema.get("type") if isinstance(err.schema, dict) else None
        items.append(
            {
                "path": "/" + "/".join(str(p) for p in err.absolute_path),
                "message": err.message[:300],
                "value": err.instance
                if isinstance(err.instance, str | int | float | bool)
                else None,
                "schema": {"type": expected if isinstance(expected, str) else "unknown"},
            }
        )
    raise QuoError(400, "Invalid request body: " + items[0]["message"], errors=items)
