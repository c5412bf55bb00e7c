"""Request body validation against the spec's request schemas (JSON Schema 2020-12)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from switchboard.emulators.quo.spec import request_schema
from switchboard.emulators.quo.state import QuoError

_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number"}


@cache
def _validator(operation: str) -> Draft202012Validator:
    return Draft202012Validator(request_schema(operation))


def validate_body(operation: str, body: Any) -> None:
    """Raise QuoError(400) listing every violation (path, message, expected type)."""
    if not isinstance(body, dict):
        raise QuoError(400, "Request body must be a JSON object")
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
