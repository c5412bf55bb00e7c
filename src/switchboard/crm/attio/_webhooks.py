"""Attio webhook verification and parsing.

Attio signs each delivery with `Attio-Signature` (and the same value in `X-Attio-Signature`):
the lowercase hex HMAC-SHA256 of the raw request body, keyed with the secret returned when the
webhook was created. The scheme has no timestamp and the `Idempotency-Key` header is not signed,
so the event ledger's idempotency key is derived from the signed body only: a captured delivery
replayed under a fresh `Idempotency-Key` is the same event. Attio's events carry no event id or
time, so the same edit made twice is byte-identical too: the ledger treats record changes as
repeatable (`ledger.insert_event(repeatable=True)`) — a copy arriving while the first still
waits is absorbed, one arriving after its processing started is a new change. Processing a
change re-reads the record, so a replay costs reads and writes nothing that is not true.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from switchboard.crm.base import ChangeKind, CrmChange, WebhookVerificationError

SIGNATURE_HEADERS = ("attio-signature", "x-attio-signature")
_KIND_BY_EVENT: dict[str, ChangeKind] = {
    "record.created": "created",
    "record.updated": "updated",
    "record.deleted": "deleted",
    "record.merged": "merged",
}
PEOPLE_EVENT_TYPES = tuple(_KIND_BY_EVENT)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that also works on a plain dict."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def sign(raw_body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Raise WebhookVerificationError unless a signature header matches the raw body."""
    if not secret:
        raise WebhookVerificationError("no webhook secret configured")
    presented = [s for name in SIGNATURE_HEADERS if (s := header(headers, name))]
    if not presented:
        raise WebhookVerificationError("missing Attio-Signature header")
    expected = sign(raw_body, secret).encode()
    # Check every presented header so timing does not depend on which one matched.
    matched = False
    for signature in presented:
        matched |= hmac.compare_digest(expected, signature.strip().lower().encode())
    if not matched:
        raise WebhookVerificationError("Attio signature does not match the body")


def _event_key(webhook_id: str, event: Mapping[str, Any]) -> str:
    canonical = json.dumps([webhook_id, event], sort_keys=True, separators=(",", ":"))
    return "attio-event:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def parse(raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
    """The record changes in one delivery, in delivery order.

    The idempotency key is a hash of the webhook id and the event as signed (stable across
    Attio's retries and across replays; the unsigned `Idempotency-Key` header plays no part).
    Event types other than record.created/updated/deleted/merged are ignored: the
    subscription never asks for them, and they carry nothing a people sync needs.
    """
    try:
        payload = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"webhook body is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise ValueError("webhook body has no events list")
    webhook_id = str(payload.get("webhook_id") or "")
    changes: list[CrmChange] = []
    for index, event in enumerate(payload["events"]):
        if not isinstance(event, dict):
            raise ValueError(f"event {index} is not an object")
        kind = _KIND_BY_EVENT.get(str(event.get("event_type")))
        if kind is None:
            continue
        ident = event.get("id")
        if not isinstance(ident, dict) or not isinstance(ident.get("record_id"), str):
            raise ValueError(f"event {index} (record.{kind}) has no id.record_id")
        merged_from = event.get("duplicate_record_id") if kind == "merged" else None
        if kind == "merged" and not isinstance(merged_from, str):
            raise ValueError(f"event {index} (record.merged) has no duplicate_record_id")
        object_id = ident.get("object_id")
        changes.append(
            CrmChange(
                kind=kind,
                record_id=ident["record_id"],
                idempotency_key=_event_key(webhook_id, event),
                object_id=object_id if isinstance(object_id, str) else None,
                merged_from_id=merged_from,
            )
        )
    return changes
