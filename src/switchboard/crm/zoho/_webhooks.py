"""Zoho change notifications (the watch API): the echoed channel token and the payload.

Zoho signs nothing. Each channel is created with a random `token` (≤ 50 characters) that Zoho
echoes in every notification body; it is the stored webhook secret and the only proof a
delivery comes from Zoho, compared in constant time. A notification names a module, an
operation (insert, update, delete) and the ids of one API call's records; it carries no event
id, so the idempotency key is a digest of the channel, the server time and the operation per id
(Zoho's redeliveries repeat the body unchanged).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from switchboard.crm.base import ChangeKind, CrmChange, WebhookVerificationError
from switchboard.crm.zoho._records import PEOPLE_MODULES, person_id_of

_KINDS: dict[str, ChangeKind] = {"insert": "created", "update": "updated", "delete": "deleted"}
TOKEN_BYTES = 30  # 40 url-safe characters: inside Zoho's 50


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _payload(raw_body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"notification body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError("notification body is not an object")
    return payload


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Raise WebhookVerificationError unless the body's `token` equals the channel's."""
    if not secret:
        raise WebhookVerificationError("no channel token configured")
    try:
        token = _payload(raw_body).get("token")
    except ValueError:
        raise WebhookVerificationError("notification without a readable token") from None
    if not isinstance(token, str) or not token:
        raise WebhookVerificationError("notification without a token")
    if not hmac.compare_digest(token.encode(), secret.encode()):
        raise WebhookVerificationError("notification token does not match")


def parse(raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
    """One change per id of a Contacts or Leads notification (none for other modules)."""
    payload = _payload(raw_body)
    module = payload.get("module")
    kind = _KINDS.get(str(payload.get("operation") or ""))
    if module not in PEOPLE_MODULES or kind is None:
        return []
    ids = payload.get("ids")
    if not isinstance(ids, list):
        raise ValueError("notification without ids")
    stamp = f"{payload.get('channel_id')}:{payload.get('server_time')}:{kind}"
    changes: list[CrmChange] = []
    for raw in ids:
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
            raise ValueError(f"notification with a malformed id {raw!r}")
        pid = person_id_of(str(module), str(raw))
        digest = hashlib.sha256(f"{stamp}:{pid}".encode()).hexdigest()[:40]
        changes.append(CrmChange(kind, pid, f"zoho:{digest}"))
    return changes
