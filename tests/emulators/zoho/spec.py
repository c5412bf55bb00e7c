"""Validation of the Zoho emulator's answers against Zoho's own v8 OpenAPI documents
(`tests/data/zoho/*.json`, verbatim copies: one file per resource, `./other.json#/...` refs).

How the documents are read (each point is a defect or gap of the documents, not of the emulator):
- OpenAPI 3.0 `nullable` becomes a JSON-schema `null` type.
- `oneOf` is read as `anyOf`: the documents list alternatives that do not exclude each other
  (e.g. `Response_Wrapper` and `API_Exception` have no required keys), so a correct answer would
  match "more than one".
- `Notification.notify_url` carries `pattern: www[.][a-z]{5}zoho[.]com` (Zoho's own hostname
  from an example) and `Notification.channel_id` `type: object` while Zoho answers a number;
  both are relaxed.
- record.json documents only status 200 for every records operation, with the error object as
  one alternative; 201/207 answers of writes are validated against that 200 schema, and error
  statuses (400, 401, ...) of those operations against the same schema (its error alternative).
- Statuses no document lists for an operation (401, 404, 429, ...) are checked against the
  generic error of common.json (`{code, details, message, status}`, all required).
- 204 and 304 must have an empty body.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DATA = Path(__file__).resolve().parents[2] / "data" / "zoho"
BASE = "https://zoho.test/"

FORMATS = jsonschema.FormatChecker(formats=())
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


def _prepare(node: Any, stem: str) -> Any:
    if isinstance(node, dict):
        out = {k: _prepare(v, stem) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str):
            target, _, pointer = ref.partition("#")
            file = target.removeprefix("./") if target else f"{stem}.json"
            out["$ref"] = f"{BASE}{file}#{pointer}"
        if "oneOf" in out:
            out["anyOf"] = out.pop("oneOf")
        if out.pop("nullable", False):
            kind = out.get("type")
            if isinstance(kind, str):
                out["type"] = [kind, "null"]
            if isinstance(out.get("enum"), list) and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
            if "$ref" in out or "anyOf" in out:
                out = {"anyOf": [{"type": "null"}, out]}
        return out
    if isinstance(node, list):
        return [_prepare(v, stem) for v in node]
    return node


@functools.cache
def documents() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(DATA.glob("*.json")):
        doc = _prepare(json.loads(path.read_text()), path.stem)
        if path.stem == "notifications":
            props = doc["components"]["schemas"]["Notification"]["properties"]
            props["notify_url"].pop("pattern", None)
            props["channel_id"] = {"type": ["integer", "string", "object"]}
        docs[path.stem] = doc
    return docs


@functools.cache
def registry() -> Registry:
    resources = [
        (f"{BASE}{stem}.json", Resource.from_contents(doc, default_specification=DRAFT202012))
        for stem, doc in documents().items()
    ]
    return Registry().with_resources(resources)


@functools.cache
def operations() -> list[tuple[str, str, str]]:
    """(method, template, document stem) over every document."""
    out = []
    for stem, doc in documents().items():
        for template, ops in doc.get("paths", {}).items():
            for method in ops:
                if method in ("get", "post", "put", "patch", "delete"):
                    out.append((method.upper(), template, stem))
    return out


def match(method: str, path: str) -> tuple[str, str]:
    """(template, stem) of the most specific documented operation for a concrete path."""
    candidates = []
    for m, template, stem in operations():
        if m != method.upper():
            continue
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            candidates.append((template.count("{"), "{external" in template, template, stem))
    if not candidates:
        raise AssertionError(f"{method} {path} is not an operation of Zoho's documents")
    _, _, template, stem = min(candidates)
    return template, stem


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _response_ref(stem: str, template: str, method: str, status: int) -> str | None:
    responses = documents()[stem]["paths"][template][method.lower()]["responses"]
    found = responses.get(str(status))
    if found is None:
        return None
    if "$ref" in found:
        ref = found["$ref"]
        target = registry().resolver().lookup(ref).contents
        if "content" not in target:
            return "empty"
        return ref + "/content/application~1json/schema"
    if "content" not in found:
        return "empty"
    return (
        f"{BASE}{stem}.json#"
        + _pointer("paths", template, method.lower(), "responses", str(status))
        + "/content/application~1json/schema"
    )


GENERIC_ERROR = {"$ref": f"{BASE}common.json#/components/schemas/API_Exception"}


@functools.cache
def _validator(ref: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": ref}, registry=registry(), format_checker=FORMATS
    )


def validate(method: str, path: str, status: int, body: Any) -> str:
    """Validate one answer (body None = empty); returns the matched template."""
    template, stem = match(method, path.split("?")[0])
    ref = _response_ref(stem, template, method, status)
    if ref is None and stem == "record" and (200 <= status < 300 or 400 <= status < 500):
        ref = _response_ref(stem, template, method, 200)
    if status in (204, 304) or ref == "empty":
        assert body is None, f"{method} {template} {status}: expected no body"
        return template
    assert body is not None, f"{method} {template} {status}: expected a JSON body"
    if ref is None:
        assert status >= 400, f"{method} {template}: status {status} is not documented"
        _validator(GENERIC_ERROR["$ref"]).validate(body)
        return template
    validator = _validator(ref)
    errors = list(validator.iter_errors(body))
    if errors:
        deepest = [e for err in errors for e in (err.context or [err])]
        deepest.sort(key=lambda e: -len(list(e.absolute_path)))
        detail = "; ".join(f"{list(e.absolute_path)}: {e.message[:150]}" for e in deepest[:3])
        raise AssertionError(f"{method} {template} {status}: {detail}")
    if status >= 400 and stem == "record" and "data" not in body:
        _validator(f"{BASE}record.json#/components/schemas/API_Exception").validate(body)
        _validator(GENERIC_ERROR["$ref"]).validate(body)
    return template
