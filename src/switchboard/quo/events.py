"""A Quo webhook event's identity: the one computation of its ledger (idempotency) key.

    key, resource_id = ledger_key(payload)     # ValueError without an id or a resource id

The key is `"<type>:<resource id>:<hash of data>"` (resource id = `data.object.callId` or
`data.object.id`; the hash is over the canonical JSON of the signed `data`), so a redelivery of
the same content — under the same or a new event id — is one ledger row, while new content for
the same phase (a regenerated AI summary or transcript) is a new event. An event without a
resource id is keyed by its event id. Keys longer than the ledger column are hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MAX_KEY_CHARS = 300  # the ledger's idempotency_key column


def resource_id(payload: Mapping[str, Any]) -> str | None:
    """The call or message the event is about (`callId` for summaries and transcripts)."""
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        return None
    for key in ("callId", "id"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def content_hash(data: Any) -> str:
    """A short hash of the event's `data` (canonical JSON): same content, same key."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def ledger_key(payload: Mapping[str, Any]) -> tuple[str, str | None]:
    """(idempotency key, resource id) of a parsed Quo event envelope."""
    event_type = payload.get("type")
    event_id = payload.get("id") if isinstance(payload.get("id"), str) else None
    rid = resource_id(payload)
    if rid:
        key = f"{event_type}:{rid}:{content_hash(payload.get('data'))}"
    elif event_id:
        key = f"event:{event_id}"
    else:
        raise ValueError("Quo event without an id or a resource id")
    if len(key) > MAX_KEY_CHARS:  # an odd, very long resource id: still one key per content
        key = "h:" + hashlib.sha256(key.encode()).hexdigest()
    return key, rid
