"""The tiny CRM's webhook format: `X-Tiny-Signature` = hex HMAC-SHA256 of the raw body."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from switchboard.crm.base import CrmChange, WebhookVerificationError

_KINDS = {"person.created": "created", "person.updated": "updated", "person.deleted": "deleted"}


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
    presented = next((v for k, v in headers.items() if k.lower() == "x-tiny-signature"), "")
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    if not secret or not hmac.compare_digest(expected, presented.strip().lower()):
        raise WebhookVerificationError("tiny signature does not match the body")


def parse(raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
    payload = json.loads(raw_body)
    kind = _KINDS.get(payload.get("event"))
    if not isinstance(payload, dict) or kind is None:
        raise ValueError("not a tiny person event")
    return [
        CrmChange(
            kind=kind,  # type: ignore[arg-type]
            record_id=str(payload["person_id"]),
            idempotency_key=f"tiny:{payload['delivery']}",
        )
    ]
