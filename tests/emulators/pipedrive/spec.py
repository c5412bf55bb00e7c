"""Validate Pipedrive emulator responses against Pipedrive's own OpenAPI documents
(tests/data/pipedrive-v1.json and pipedrive-v2.json: the served operations of Pipedrive's
v1.yaml and v2.yaml).

Relaxations, each because the documents contradict Pipedrive's documented behaviour:
- Every property also accepts null. The documents mark only some fields `nullable`, yet Pipedrive
  sends null for unset values and says so in its own descriptions (e.g. `next_cursor` "will be
  null if you have reached the end", a person without an organization has `org_id: null`).
- Statuses an operation does not document (most v2 errors, 401/429 almost everywhere) are checked
  against Pipedrive's generic error shape: `{"success": false, "error": "..."}`.
- `date-time` accepts RFC 3339 with a `Z` or an offset (what the documents' examples show).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema

DATA = Path(__file__).resolve().parents[2] / "data"
PREFIXES = {"v1": "/v1", "v2": "/api/v2"}

GENERIC_ERROR = {
    "type": "object",
    "properties": {"success": {"const": False}, "error": {"type": "string"}},
    "required": ["success", "error"],
}

FORMATS = jsonschema.FormatChecker(formats=())
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@FORMATS.checks("uuid")
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or bool(_UUID.match(value))


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


@FORMATS.checks("date")
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE.match(value))


@functools.cache
def spec(version: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"pipedrive-{version}.json").read_text())
    return data


def _nullable(node: Any) -> Any:
    """Every schema with a type (or an enum) also admits null."""
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items()}
    out.pop("nullable", None)
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def operations() -> set[tuple[str, str]]:
    """(METHOD, full path template) of every served operation in the documents."""
    out = set()
    for version, prefix in PREFIXES.items():
        for path, ops in spec(version)["paths"].items():
            for method in ops:
                if method in ("get", "post", "put", "patch", "delete"):
                    out.add((method.upper(), prefix + path))
    return out


def template_for(method: str, path: str) -> tuple[str, str, str]:
    """(version, document path, full template) of a concrete path; most specific first."""
    found = []
    for version, prefix in PREFIXES.items():
        if not path.startswith(prefix + "/"):
            continue
        rel = path[len(prefix) :]
        for template, ops in spec(version)["paths"].items():
            if method.lower() not in ops:
                continue
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if re.match(pattern, rel):
                found.append((version, template, prefix + template))
    if not found:
        raise AssertionError(f"{method} {path} is not an operation of Pipedrive's documents")
    return min(found, key=lambda t: t[1].count("{"))


@functools.cache
def _validator(
    version: str, template: str, method: str, status: int
) -> jsonschema.Draft202012Validator | None:
    responses = spec(version)["paths"][template][method.lower()]["responses"]
    found = responses.get(str(status))
    if found is None:
        return None
    content = found.get("content", {})
    media = content.get("application/json")
    if media is None or "schema" not in media:
        return None
    schema = _nullable(copy.deepcopy(media["schema"]))
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


_GENERIC = jsonschema.Draft202012Validator(GENERIC_ERROR)


def validate(method: str, path: str, status: int, body: Any) -> str:
    """Validate one response; returns the full template it matched."""
    version, template, full = template_for(method, path.split("?")[0])
    validator = _validator(version, template, method.upper(), status)
    if status >= 400:
        assert isinstance(body, dict) and body.get("success") is False, body
        if validator is None:
            _GENERIC.validate(body)
            return full
    else:
        assert validator is not None, f"{method} {full}: status {status} is not documented"
        assert body.get("success") is True, body
    assert validator is not None
    validator.validate(body)
    return full
