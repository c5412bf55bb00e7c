"""The operations the emulator serves: (method, path pattern, operationId, token cost, scope).

Token costs are the `x-token-cost` values of Pipedrive's own documents (v1.yaml, v2.yaml); the
scope is the OAuth scope an app token needs (API tokens have every scope).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    method: str
    pattern: re.Pattern[str]
    name: str
    cost: int
    scope: str | None


_V2 = "/api/v2"
_ID = r"[^/]+"

OPERATIONS: list[Operation] = [
    Operation(m, re.compile(f"^{p}$"), name, cost, scope)
    for m, p, name, cost, scope in [
        ("GET", f"{_V2}/persons/search", "searchPersons", 20, "search:read"),
        ("GET", f"{_V2}/persons", "getPersons", 10, "contacts:read"),
        ("POST", f"{_V2}/persons", "addPerson", 5, "contacts:full"),
        ("GET", f"{_V2}/persons/{_ID}", "getPerson", 1, "contacts:read"),
        ("PATCH", f"{_V2}/persons/{_ID}", "updatePerson", 5, "contacts:full"),
        ("DELETE", f"{_V2}/persons/{_ID}", "deletePerson", 3, "contacts:full"),
        ("GET", f"{_V2}/organizations", "getOrganizations", 10, "contacts:read"),
        ("POST", f"{_V2}/organizations", "addOrganization", 5, "contacts:full"),
        ("GET", f"{_V2}/organizations/{_ID}", "getOrganization", 1, "contacts:read"),
        ("PATCH", f"{_V2}/organizations/{_ID}", "updateOrganization", 5, "contacts:full"),
        ("DELETE", f"{_V2}/organizations/{_ID}", "deleteOrganization", 3, "contacts:full"),
        ("GET", f"{_V2}/deals", "getDeals", 10, "deals:read"),
        ("GET", f"{_V2}/deals/{_ID}", "getDeal", 1, "deals:read"),
        ("GET", f"{_V2}/activities", "getActivities", 10, "activities:read"),
        ("POST", f"{_V2}/activities", "addActivity", 5, "activities:full"),
        ("GET", f"{_V2}/activities/{_ID}", "getActivity", 1, "activities:read"),
        ("PATCH", f"{_V2}/activities/{_ID}", "updateActivity", 5, "activities:full"),
        ("DELETE", f"{_V2}/activities/{_ID}", "deleteActivity", 3, "activities:full"),
        ("GET", "/v1/leads", "getLeads", 20, "leads:read"),
        ("GET", "/v1/callLogs", "getUserCallLogs", 20, "phone-integration"),
        ("POST", "/v1/callLogs", "addCallLog", 10, "phone-integration"),
        ("GET", f"/v1/callLogs/{_ID}", "getCallLog", 2, "phone-integration"),
        ("DELETE", f"/v1/callLogs/{_ID}", "deleteCallLog", 6, "phone-integration"),
        ("POST", f"/v1/callLogs/{_ID}/recordings", "addCallLogAudioFile", 10, "phone-integration"),
        ("GET", "/v1/notes", "getNotes", 20, "contacts:read"),
        ("POST", "/v1/notes", "addNote", 10, "contacts:full"),
        ("GET", f"/v1/notes/{_ID}", "getNote", 2, "contacts:read"),
        ("PUT", f"/v1/notes/{_ID}", "updateNote", 10, "contacts:full"),
        ("DELETE", f"/v1/notes/{_ID}", "deleteNote", 6, "contacts:full"),
        ("GET", "/v1/users", "getUsers", 20, "users:read"),
        ("GET", "/v1/users/me", "getCurrentUser", 2, None),
        ("GET", "/v1/users/find", "findUsersByName", 40, "users:read"),
        ("GET", "/v1/webhooks", "getWebhooks", 10, "admin"),
        ("POST", "/v1/webhooks", "addWebhook", 10, "admin"),
        ("DELETE", f"/v1/webhooks/{_ID}", "deleteWebhook", 6, "admin"),
    ]
]
BY_NAME = {op.name: op for op in OPERATIONS}

# Scopes that include another (a `:full` scope grants the matching `:read`).
IMPLIED = {
    "contacts:full": {"contacts:read"},
    "deals:full": {"deals:read"},
    "activities:full": {"activities:read"},
    "leads:full": {"leads:read"},
}


def match(method: str, path: str) -> Operation | None:
    for op in OPERATIONS:
        if op.method == method and op.pattern.match(path):
            return op
    return None


def operation_name(method: str, path: str) -> str | None:
    """The operationId of an API request, "unknown" for other API paths, None for anything else
    (the control surface; OAuth is "oauthAuthorize" / "oauthToken")."""
    if path == "/oauth/token":
        return "oauthToken"
    if path == "/oauth/authorize":
        return "oauthAuthorize"
    if not (path.startswith("/v1/") or path.startswith(_V2 + "/")):
        return None
    op = match(method, path)
    return op.name if op else "unknown"


def has_scope(granted: str, needed: str | None) -> bool:
    if needed is None:
        return True
    scopes = set(granted.split())
    if "admin" in scopes and needed == "admin":
        return True
    expanded = set(scopes)
    for scope in scopes:
        expanded |= IMPLIED.get(scope, set())
    return needed in expanded
