"""Zoho's own v8 OpenAPI documents (verbatim copies under `spec/`, one file per resource) and the
one thing the emulator derives from them: `skeleton()`, a value for every *required* property of
a documented schema.

Zoho's metadata objects (org, module, field, layout, user) each require dozens of properties; the
emulator fills them from the documents and overlays what it actually knows, so every answer has
the documented shape without hand-copying fifty keys per object.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

_DATE_TIME = "2026-01-01T00:00:00+00:00"


@cache
def document(name: str) -> dict[str, Any]:
    """One of the copied documents by file stem (`record`, `notes`, `fields`, ...)."""
    text = resources.files(__package__).joinpath("spec").joinpath(f"{name}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _resolve(ref: str, current: str) -> tuple[dict[str, Any], str]:
    """A `$ref` (`#/...` or `./other.json#/...`) → (schema, file stem it lives in)."""
    target, _, pointer = ref.partition("#")
    stem = current if not target else target.removeprefix("./").removesuffix(".json")
    node: Any = document(stem)
    for part in pointer.strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, stem


def _fill(schema: dict[str, Any], stem: str, depth: int) -> Any:
    while "$ref" in schema:
        schema, stem = _resolve(schema["$ref"], stem)
    if "oneOf" in schema:
        return _fill(schema["oneOf"][0], stem, depth + 1)
    if schema.get("nullable") or depth > 12:
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {
            key: _fill(props[key], stem, depth + 1) if key in props else None
            for key in schema.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "string":
        return _DATE_TIME if schema.get("format") == "date-time" else ""
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None


@cache
def _skeleton(stem: str, schema_name: str) -> Any:
    return _fill(document(stem)["components"]["schemas"][schema_name], stem, 0)


def skeleton(stem: str, schema_name: str, **overlay: Any) -> dict[str, Any]:
    """Every required property of `components.schemas[schema_name]` of `stem`, then `overlay`."""
    base = copy.deepcopy(_skeleton(stem, schema_name))
    if not isinstance(base, dict):
        base = {}
    base.update(overlay)
    return base
