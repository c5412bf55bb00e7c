"""A Quo webhook event's identity: the one computation of its ledger (idempotency) key.

    key, resource_id = ledger_key(payload)     # ValueError without an id or a resource id

The key is `"<type>:<resource id>:<hash of data>"` (resource id: `data.object.callId` for a
call's summary, transcript and voicemail, `data.object.id` otherwise; the hash is over the
canonical JSON of the signed `data`), so a redelivery of the same content — under the same or a
new event id — is one ledger row, while new content for the same phase (a regenerated AI summary
or transcript) is a new event. An event without a resource id is keyed by its event id. Keys
longer than the ledger column are hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MAX_KEY_CHARS = 300  # the ledger's idempotency_key column


#: Events about a part of a call (its summary, transcript, voicemail): their object's `id` is
#: the part's own, and the call is `callId`.
CALL_ID_EVENTS = frozenset(
    {"call.summary.completed", "call.transcript.completed", "call.voicemail.completed"}
)
_CALL_PARTS = frozenset({"callSummary", "callTranscript", "callVoicemail"})


def resource_id_of(event_type: str, obj: Mapping[str, Any]) -> str | None:
    """The call or message an event's object is about: `callId` for the parts of a call, `id`
    otherwise — the one rule for the ledger key, routing and the facts."""
    part = event_type in CALL_ID_EVENTS or obj.get("object") in _CALL_PARTS
    value = obj.get("callId" if part else "id")
    return value if isinstance(value, str) and value else None


def resource_id(payload: Mapping[str, Any]) -> str | None:
    """`resource_id_of` for a whole envelope (`{"type", "data": {"object"}}`)."""
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        return None
    return resource_id_of(str(payload.get("type") or ""), obj)


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
