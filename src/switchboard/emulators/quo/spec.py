"""The Quo OpenAPI document (a verbatim copy) and what the emulator derives from it.

- `error_body(operation, status, message)` — the spec's error body for that operation and status
  (its `code`, `title`, `description` constants), falling back to the 7-digit scheme
  group(2) + sub-code "00" + status(3) for statuses the spec does not list (e.g. 429).
- `request_schema(operation)` — the JSON schema of a request body, for validation.
- `operation_of(method, path)` — operationId (or an emulator name for non-spec routes).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

DOCS = "https://openphone.com/docs"

# Resource groups of the 7-digit error code scheme (quo-api.md).
GROUPS = {
    "call": "01",
    "message": "02",
    "webhook": "03",
    "phoneNumber": "04",
    "callSummary": "05",
    "transcript": "06",
    "customField": "07",
    "contact": "08",
    "recording": "09",
    "conversation": "10",
    "user": "11",
    "voicemail": "12",
}

# Operations the emulator serves that the public spec does not document.
EXTRA_OPERATIONS = {
    "bulkCreateContacts": "contact",
    "listWebhooks_v2": "webhook",
    "getWebhookById_v2": "webhook",
    "deleteWebhookById_v2": "webhook",
    "createMessageWebhook_v2": "webhook",
    "createCallWebhook_v2": "webhook",
    "createCallSummaryWebhook_v2": "webhook",
    "createCallTranscriptWebhook_v2": "webhook",
}

_GROUP_BY_PREFIX = [
    ("getCallRecordings", "recording"),
    ("getCallSummary", "callSummary"),
    ("getCallTranscript", "transcript"),
    ("getCallVoicemails", "voicemail"),
    ("getContactCustomFields", "customField"),
    ("Call", "call"),
    ("Contact", "contact"),
    ("Conversation", "conversation"),
    ("Message", "message"),
    ("PhoneNumber", "phoneNumber"),
    ("User", "user"),
    ("Webhook", "webhook"),
]

STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Unknown",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@cache
def spec() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("quo-openapi.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId → (METHOD, path template, operation object)."""
    out: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in spec()["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                out[op["operationId"]] = (method.upper(), path, op)
    return out


def group_of(operation: str) -> str:
    if operation in EXTRA_OPERATIONS:
        return GROUPS[EXTRA_OPERATIONS[operation]]
    for needle, group in _GROUP_BY_PREFIX:
        if needle in operation:
            return GROUPS[group]
    return "00"


def _consts(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    return {k: v["const"] for k, v in props.items() if isinstance(v, dict) and "const" in v}


def error_body(operation: str, status: int, message: str | None = None) -> dict[str, Any]:
    """The error body Quo sends for `operation` answering `status`."""
    # The partner bulk endpoint answers like single create; v2 webhook paths like v1.
    base = (
        "createContact_v1" if operation == "bulkCreateContacts" else operation.replace("_v2", "_v1")
    )
    op = operations().get(base)
    if op is not None:
        resp = op[2].get("responses", {}).get(str(status))
        schema = (resp or {}).get("content", {}).get("application/json", {}).get("schema")
        if schema:
            consts = _consts(schema)
            body: dict[str, Any] = {
                "message": message or consts.get("title", STATUS_TITLES.get(status, "Error")),
                "code": consts["code"],
                "status": status,
                "docs": consts.get("docs", DOCS),
                "title": consts["title"],
            }
            if "description" in consts:
                body["description"] = consts["description"]
            return body
    title = STATUS_TITLES.get(status, "Error")
    sub = "01" if status >= 500 else "00"
    return {
        "message": message or title,
        "code": f"{group_of(operation)}{sub}{status}",
        "status": status,
        "docs": DOCS,
        "title": title,
    }


def request_schema(operation: str) -> dict[str, Any]:
    op = operations()[operation.replace("_v2", "_v1")][2]
    schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
    return schema


# Method + path → operation, for the request log and fault targeting.
_ROUTES: list[tuple[str, re.Pattern[str], str]] = []


def _compile() -> list[tuple[str, re.Pattern[str], str]]:
    if not _ROUTES:
        for op_id, (method, path, _) in operations().items():
            rx = "^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"
            _ROUTES.append((method, re.compile(rx), op_id))
            if path.startswith("/v1/webhooks"):
                v2 = "^" + re.sub(r"\{[^/]+\}", "[^/]+", "/v2" + path[3:]) + "$"
                _ROUTES.append((method, re.compile(v2), op_id.replace("_v1", "_v2")))
        _ROUTES.append(("POST", re.compile(r"^/v1/contacts/bulk$"), "bulkCreateContacts"))
        # Static paths before templated ones ("/v1/contacts/bulk" vs "/v1/contacts/{id}").
        _ROUTES.sort(key=lambda r: r[1].pattern.count("[^/]+"))
    return _ROUTES


def operation_of(method: str, path: str) -> str:
    for m, rx, op_id in _compile():
        if m == method and rx.match(path):
            return op_id
    return f"{method} {path}" if not path.startswith("/v") else "unknown"
