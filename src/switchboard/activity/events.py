"""Which Quo webhook events activity logging handles, and which call or message each is about.

Every phase of one call carries the call id (`data.object.id`, or `data.object.callId` for the
summary, transcript and voicemail objects); both message events carry the message id. That id is the
resource id: the ledger dedupes on it together with the event type (Quo redelivers the same
phase under a new event id), and the activity queue is partitioned by it so the phases of one
call never run concurrently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from switchboard.quo.events import resource_id_of

ResourceType = Literal["call", "message"]

CALL_EVENTS = frozenset(
    {
        "call.completed",
        "call.recording.completed",
        "call.summary.completed",
        "call.transcript.completed",
        # Dated generation: the voicemail announces itself (no delayed fetch).
        "call.voicemail.completed",
    }
)
MESSAGE_EVENTS = frozenset({"message.received", "message.delivered", "message.failed"})
HANDLED_EVENTS = CALL_EVENTS | MESSAGE_EVENTS
#: Events whose resource is the call's sub-resource: the call id is `callId`.
_FROM_COMPLETED = "(the call is logged from call.completed, which every call gets)"
#: Acknowledged and recorded as ignored, with this reason.
IGNORED_EVENTS: Mapping[str, str] = {
    "call.ringing": "call.ringing is not logged (the call is logged when it completes)",
    "call.answered": f"call.answered is not logged {_FROM_COMPLETED}",
    "call.forwarded": f"call.forwarded is not logged {_FROM_COMPLETED}",
    "call.missed": f"call.missed is not logged {_FROM_COMPLETED}",
}


@dataclass(frozen=True)
class ClassifiedEvent:
    """What the ledger needs to know about an incoming Quo event before the 2xx."""

    event_id: str
    event_type: str
    resource_type: ResourceType | None
    resource_id: str | None
    ignored_reason: str | None

    @property
    def handled(self) -> bool:
        return self.ignored_reason is None


def classify(envelope: Mapping[str, Any]) -> ClassifiedEvent:
    """Classify a parsed Quo webhook envelope (`{"id", "type", "data": {"object", ...}}`)."""
    event_id = str(envelope.get("id") or "")
    event_type = str(envelope.get("type") or "")
    data = envelope.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    obj = obj if isinstance(obj, Mapping) else {}
    resource_id = resource_id_of(event_type, obj)
    if event_type in CALL_EVENTS or event_type in MESSAGE_EVENTS:
        rtype: ResourceType = "call" if event_type in CALL_EVENTS else "message"
        if not resource_id:
            return ClassifiedEvent(
                event_id, event_type, rtype, None, "the event names no call or message id"
            )
        return ClassifiedEvent(event_id, event_type, rtype, resource_id, None)
    reason = IGNORED_EVENTS.get(event_type) or f"event type {event_type or '(none)'} is not handled"
    rtype_guess: ResourceType | None = "call" if event_type.startswith("call.") else None
    if event_type.startswith("message."):
        rtype_guess = "message"
    return ClassifiedEvent(event_id, event_type, rtype_guess, resource_id, reason)
