"""OAuth scopes: which scope strings allow a request (`ZohoCRM.<service>[.<resource>].<action>`,
compared case-insensitively; `ALL` covers every action). A token without one answers 401
`OAUTH_SCOPE_MISMATCH`."""

from __future__ import annotations

from switchboard.emulators.zoho.errors import ZohoError

# What the emulator's own tokens carry unless told otherwise: everything it serves.
FULL_SCOPE = ",".join(
    [
        "ZohoCRM.modules.ALL",
        "ZohoCRM.settings.ALL",
        "ZohoCRM.users.ALL",
        "ZohoCRM.org.ALL",
        "ZohoCRM.notifications.ALL",
    ]
)

_ACTIONS = {"GET": "READ", "POST": "CREATE", "PUT": "UPDATE", "PATCH": "UPDATE", "DELETE": "DELETE"}


def scope_mismatch() -> ZohoError:
    return ZohoError(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")


def accepted(method: str, path: str) -> set[str] | None:
    """Lower-cased scopes any of which allows the request; None when no scope is needed."""
    parts = path.strip("/").split("/")  # crm, v8, ...
    if len(parts) < 3 or parts[0] != "crm":
        return None
    action = _ACTIONS.get(method.upper(), "READ")
    head = parts[2].lower()
    if head == "settings":
        resource = parts[3].lower() if len(parts) > 3 else ""
        service, res, action = "settings", resource, "READ"
    elif head in ("users", "org"):
        service, res, action = head, "", "READ"
    elif head == "actions" and len(parts) > 3 and parts[3] == "watch":
        service, res = "notifications", ""
    else:
        service, res = "modules", head
    out = {f"zohocrm.{service}.all", f"zohocrm.{service}.{action.lower()}"}
    if res:
        out |= {f"zohocrm.{service}.{res}.all", f"zohocrm.{service}.{res}.{action.lower()}"}
    return out


def allows(scope: str, method: str, path: str) -> bool:
    wanted = accepted(method, path)
    if wanted is None:
        return True
    have = {s.strip().lower() for s in scope.replace(" ", ",").split(",") if s.strip()}
    return bool(have & wanted)
