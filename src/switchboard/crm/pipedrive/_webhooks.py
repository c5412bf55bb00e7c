"""Pipedrive change webhooks: HTTP Basic authentication and the v2 (and v1) payloads.

Pipedrive signs nothing. The only proof a delivery comes from Pipedrive is the HTTP Basic pair
set on the subscription, so the connector creates one random pair per connection (the stored
webhook secret is `user:password`) and every delivery must present it, compared in constant
time. Basic credentials authenticate the sender, not the body: replay protection comes from the
event ledger's idempotency key (`meta.id`, stable across Pipedrive's retries).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from switchboard.crm.base import ChangeKind, CrmChange, WebhookVerificationError

_V2_KINDS: dict[str, ChangeKind] = {"create": "created", "change": "updated", "delete": "deleted"}
_V1_KINDS: dict[str, ChangeKind] = {
    "added": "created",
    "updated": "updated",
    "deleted": "deleted",
    "merged": "merged",
}


def new_credentials() -> tuple[str, str]:
    """A random Basic pair for one connection's subscription."""
    return "sb-" + secrets.token_hex(8), secrets.token_urlsafe(32)


def secret_of(user: str, password: str) -> str:
    return f"{user}:{password}"


def header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Raise WebhookVerificationError unless `Authorization: Basic` carries exactly the stored
    `user:password` (constant-time comparison of the whole pair)."""
    if not secret or ":" not in secret:
        raise WebhookVerificationError("no webhook credentials configured")
    presented = header(headers, "authorization") or ""
    scheme, _, encoded = presented.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookVerificationError("missing HTTP Basic credentials")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("malformed HTTP Basic credentials") from None
    if not hmac.compare_digest(decoded, secret.encode()):
        raise WebhookVerificationError("HTTP Basic credentials do not match")


def _key(meta: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    ident = meta.get("id") or meta.get("correlation_id")
    if isinstance(ident, str) and ident:
        return f"pipedrive:{ident}"
    # v1 carries no event id: everything but the attempt counters identifies the event.
    stable = {k: v for k, v in payload.items() if k != "retry"}
    stable["meta"] = {k: v for k, v in meta.items() if k != "attempt"}
    canonical = json.dumps(stable, sort_keys=True, separators=(",", ":"))
    return "pipedrive-event:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _int_id(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str) and str(value):
        return str(value)
    return None


def parse(raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
    """The person change one delivery announces (none for other objects).

    v2: `meta.action` create/change/delete on entity `person`; a merge is `delete` of the
    absorbed person with `meta.merged_to_id` — returned as `merged` (survivor as `record_id`,
    the absorbed person as `merged_from_id`); the survivor's own `change` follows separately.
    v1 (older subscriptions): `meta.action` added/updated/deleted/merged on object `person`.
    """
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"webhook body is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        raise ValueError("webhook body has no meta object")
    meta: dict[str, Any] = payload["meta"]
    action = str(meta.get("action") or "")
    if str(payload.get("v") or meta.get("v") or "") == "1" or "object" in meta:
        if meta.get("object") != "person":
            return []
        kind = _V1_KINDS.get(action)
        record = _int_id(meta.get("id"))
    else:
        if meta.get("entity") != "person":
            return []
        kind = _V2_KINDS.get(action)
        record = _int_id(meta.get("entity_id"))
    if kind is None:
        return []
    if record is None:
        raise ValueError(f"person {action} without an id")
    merged_to = _int_id(meta.get("merged_to_id"))
    if kind == "deleted" and merged_to is not None:
        return [CrmChange("merged", merged_to, _key(meta, payload), merged_from_id=record)]
    if kind == "merged":
        if merged_to is None:
            current = payload.get("current")
            merged_to = _int_id(current.get("id")) if isinstance(current, dict) else None
        if merged_to is None or merged_to == record:
            raise ValueError("person merge without the surviving person's id")
        return [CrmChange("merged", merged_to, _key(meta, payload), merged_from_id=record)]
    return [CrmChange(kind, record, _key(meta, payload))]
