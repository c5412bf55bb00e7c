"""Validate emulator responses against Attio's OpenAPI document (tests/data/attio-openapi.json).

The document is OpenAPI 3.1 but uses 3.0's `nullable: true` in places; those schemas are
widened to accept null before validation, and so are `type: [..., "null"]` schemas whose `enum`
omits null (the spec's intent is plainly "nullable").

Error bodies are checked against the operation's documented error schema for that status with one
relaxation: the spec lists a single example `code` per status (e.g. only `value_not_found` for a
400 on record create) while Attio answers several codes there, so the code must be one Attio
uses (`ATTIO_ERROR_CODES`). Statuses the spec does not document for an operation (401, 429, a
400 on a GET) are checked against Attio's generic error shape.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema

SPEC_PATH = Path(__file__).resolve().parents[2] / "data" / "attio-openapi.json"

ATTIO_ERROR_CODES = frozenset(
    {
        "not_found",
        "filter_error",
        "validation_type",
        "missing_value",
        "value_not_found",
        "multiple_match_results",
        "uniqueness_conflict",
        "immutable_value",
        "slug_conflict",
        "unauthorized",
        "rate_limit_exceeded",
        "system_edit_unauthorized",
    }
)

GENERIC_ERROR = {
    "type": "object",
    "properties": {
        "status_code": {"type": "number"},
        "type": {"type": "string"},
        "code": {"type": "string", "enum": sorted(ATTIO_ERROR_CODES)},
        "message": {"type": "string"},
    },
    "required": ["status_code", "type", "code", "message"],
}


# Formats checked: uuid, and date-time as Attio writes it (nanoseconds, `Z`). Not `date`: the spec
# puts `format: date` on timestamp values, contradicting its own example.
FORMATS = jsonschema.FormatChecker(formats=())
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@FORMATS.checks("uuid")
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(_UUID.match(value))


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


@functools.cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return data


def _widen_nullable(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _widen_nullable(v) for k, v in node.items()}
        kind, enum = out.get("type"), out.get("enum")
        # 3.1 style `type: [..., "null"]` whose enum forgot null (e.g. currency display_type)
        if (
            isinstance(kind, list)
            and "null" in kind
            and isinstance(enum, list)
            and None not in enum
        ):
            out["enum"] = [*enum, None]
        if out.pop("nullable", False):
            kind = out.get("type")
            if isinstance(kind, str):
                out["type"] = [kind, "null"]
            elif isinstance(kind, list) and "null" not in kind:
                out["type"] = [*kind, "null"]
            if isinstance(out.get("enum"), list) and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_widen_nullable(v) for v in node]
    return node


def _resolve(node: Any, depth: int = 0) -> Any:
    if depth > 40:
        raise RecursionError("spec $ref nesting too deep")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = spec()
            for part in ref[2:].split("/"):
                target = target[part]
            return _resolve(target, depth + 1)
        return {k: _resolve(v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, depth + 1) for v in node]
    return node


@functools.cache
def _operation(method: str, template: str) -> dict[str, Any]:
    op: dict[str, Any] = spec()["paths"][template][method.lower()]
    return op


@functools.cache
def response_schema(method: str, template: str, status: int) -> str | None:
    """The (resolved, widened) schema as JSON text, or None if the status is undocumented."""
    responses = _operation(method, template)["responses"]
    found = responses.get(str(status))
    if found is None:
        return None
    schema = found["content"]["application/json"]["schema"]
    return json.dumps(_widen_nullable(_resolve(copy.deepcopy(schema))))


def operations() -> set[tuple[str, str]]:
    return {
        (m.upper(), p)
        for p, ops in spec()["paths"].items()
        for m in ops
        if m in ("get", "post", "put", "patch", "delete")
    }


def template_for(method: str, path: str) -> str:
    """The spec path template matching a concrete path (most specific: fewest parameters)."""
    candidates = []
    for m, template in operations():
        if m != method.upper():
            continue
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            candidates.append(template)
    if not candidates:
        raise AssertionError(f"{method} {path} is not an operation of the Attio spec")
    return min(candidates, key=lambda t: t.count("{"))


# Attio's current API answers `GET /v2/self` for an active token with `token_level` ("workspace"
# or "member") besides the fields the stored document lists (see specs/PROVENANCE.md); current
# clients require it. The active branch is checked closed: no field missing, none extra.
TOKEN_LEVELS = ("workspace", "member")


def _amend_current_api(method: str, template: str, status: int, schema: dict[str, Any]) -> None:
    if (method, template, status) != ("GET", "/v2/self", 200):
        return
    for branch in schema["anyOf"]:
        if "scope" in branch["properties"]:
            branch["properties"]["token_level"] = {"type": "string", "enum": list(TOKEN_LEVELS)}
            branch["required"].append("token_level")
            branch["additionalProperties"] = False


@functools.cache
def _validator(method: str, template: str, status: int) -> jsonschema.Draft202012Validator | None:
    raw = response_schema(method, template, status)
    if raw is None:
        return None
    schema = json.loads(raw)
    _amend_current_api(method, template, status, schema)
    if status >= 400:
        schema.get("properties", {}).get("code", {}).pop("enum", None)
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


_GENERIC = jsonschema.Draft202012Validator(GENERIC_ERROR, format_checker=FORMATS)


def validate(method: str, path: str, status: int, body: Any) -> str:
    """Validate one response; returns the template it was matched to."""
    template = template_for(method, path.split("?")[0])
    validator = _validator(method.upper(), template, status)
    if status >= 400:
        _GENERIC.validate(body)
        assert body["status_code"] == status
    if validator is None:
        assert status >= 400, f"{method} {template}: status {status} is not documented"
        return template
    validator.validate(body)
    return template
