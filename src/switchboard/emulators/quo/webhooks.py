"""Quo webhook events: envelopes shaped like `fixtures/quo-webhooks/*.json`, and their signatures.

Signing is implemented here independently of `switchboard.quo.signatures` on purpose: the
emulator is the reference the client's verifier is tested against.

- Legacy (webhooks created through `/v1/webhooks/*`): header
  `openphone-signature: hmac;1;<timestamp ms>;<base64 HMAC-SHA256>` over `<timestamp>.<raw body>`,
  HMAC key = base64decode(webhook key).
- Standard Webhooks (webhooks created through `/v2/webhooks/*`, key `whsec_<base64>`): headers
  `webhook-id`, `webhook-timestamp` (seconds), `webhook-signature: v1,<base64>` over
  `<webhook-id>.<timestamp>.<raw body>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from switchboard.emulators.quo.state import Call, Message, Workspace, iso

DEEP_LINK = "https://my.quo.com/inbox/{pn}/c/{cn}?at={at}"


def _hmac(key_b64: str, data: bytes) -> str:
    key = base64.b64decode(key_b64.removeprefix("whsec_"))
    return base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode()


def legacy_headers(key: str, body: bytes, timestamp_ms: int) -> dict[str, str]:
    sig = _hmac(key, f"{timestamp_ms}.".encode() + body)
    return {"openphone-signature": f"hmac;1;{timestamp_ms};{sig}"}


def standard_headers(key: str, body: bytes, msg_id: str, timestamp_s: int) -> dict[str, str]:
    sig = _hmac(key, f"{msg_id}.{timestamp_s}.".encode() + body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": f"v1,{sig}",
    }


def deep_link(pn: str, cn: str, at: str) -> str:
    return DEEP_LINK.format(pn=pn, cn=cn, at=at)


def envelope(
    event_id: str, event_type: str, created_at: float, obj: dict[str, Any], link: str
) -> bytes:
    body = {
        "id": event_id,
        "object": "event",
        "apiVersion": "v4",
        "createdAt": iso(created_at),
        "type": event_type,
        "data": {"object": obj, "deepLink": link},
    }
    return json.dumps(body, ensure_ascii=False).encode()


def contact_ids(ws: Workspace, numbers: list[str], now: float) -> list[str]:
    wanted = set(numbers)
    return [
        c.id
        for c in ws.contacts.values()
        if c.visible_at <= now and wanted.intersection(c.phones())
    ]


def call_object(
    ws: Workspace,
    call: Call,
    now: float,
    *,
    status: str | None = None,
    with_recordings: bool = False,
    empty_participants: bool = False,
) -> dict[str, Any]:
    """The `call` object of call.ringing / call.completed / call.recording.completed."""
    external = [p for p in call.participants if p not in ws.own_numbers()]
    ringing = status == "ringing"
    return {
        "object": "call",
        "id": call.id,
        "direction": call.direction,
        "status": status or call.status,
        "duration": 0 if ringing else call.duration,
        "participants": [] if empty_participants else list(call.participants),
        "phoneNumberId": call.phone_number_id,
        "userId": call.user_id,
        "answeredAt": None if ringing or not call.answered_at else iso(call.answered_at),
        "answeredBy": None if ringing else call.answered_by,
        "initiatedBy": call.initiated_by,
        "completedAt": None if ringing or not call.completed_at else iso(call.completed_at),
        "createdAt": iso(call.created_at),
        "updatedAt": iso(call.updated_at),
        "forwardedFrom": call.forwarded_from,
        "forwardedTo": call.forwarded_to,
        "contactIds": [] if empty_participants else contact_ids(ws, external, now),
        "recordings": [r.to_event() for r in call.recordings] if with_recordings else None,
    }


def summary_object(call: Call) -> dict[str, Any]:
    assert call.summary is not None
    return {
        "object": "callSummary",
        "callId": call.id,
        "status": "completed",
        "summary": call.summary.summary,
        "nextSteps": call.summary.next_steps,
        "jobs": call.summary.jobs or [],
    }


def transcript_object(call: Call) -> dict[str, Any]:
    assert call.transcript is not None
    return {
        "object": "callTranscript",
        "callId": call.id,
        "status": "completed",
        "createdAt": iso(call.transcript.created_at),
        "duration": call.transcript.duration,
        "dialogue": call.transcript.dialogue,
    }


def message_object(ws: Workspace, msg: Message, now: float, status: str) -> dict[str, Any]:
    """In message events `to` is a single string (the REST resource has a list)."""
    external = [msg.from_] if msg.direction == "incoming" else list(msg.to)
    return {
        "object": "message",
        "id": msg.id,
        "direction": msg.direction,
        "from": msg.from_,
        "to": msg.to[0] if msg.to else "",
        "text": msg.text,
        "status": status,
        "phoneNumberId": msg.phone_number_id,
        "userId": msg.user_id,
        "contactIds": contact_ids(ws, external, now),
        "createdAt": iso(msg.created_at),
    }


# --------------------------------------------------------------------------- dated generation

# Every event a dated webhook (`/webhooks`, profile "2026-03-30") can subscribe to. Event names of
# the legacy families are unchanged; the new ones only exist on this generation.
DATED_EVENTS = (
    "message.received",
    "message.delivered",
    "message.failed",
    "call.ringing",
    "call.answered",
    "call.completed",
    "call.forwarded",
    "call.missed",
    "call.recording.completed",
    "call.summary.completed",
    "call.transcript.completed",
    "call.voicemail.completed",
    "call.menu.selected",
    "contact.updated",
    "contact.deleted",
    "task.created",
    "task.updated",
    "task.deleted",
)


def dated_envelope(
    event_id: str,
    event_type: str,
    created_at: float,
    resource: dict[str, Any],
    link: str | None,
    api_version: str,
) -> bytes:
    """`{id, apiVersion, createdAt, type, data: {resource, context, links: {quo}}}`.

    Contact matches move from the resource's `contactIds` into `context.contacts`; contact
    events (workspace-wide, no participants) carry an empty context."""
    resource = dict(resource)
    context: dict[str, Any] = {}
    if "contactIds" in resource:
        ids = resource.pop("contactIds") or []
        context["contacts"] = {"lookupStatus": "matched" if ids else "none", "ids": ids}
        participants = resource.get("participants")
        if participants is None and "from" in resource:
            participants = [resource["from"], resource.get("to")]
        context["participants"] = {
            "resolution": "complete" if participants else "unavailable",
            "numbers": [p for p in participants or [] if p],
        }
    body = {
        "id": event_id,
        "apiVersion": api_version,
        "createdAt": iso(created_at),
        "type": event_type,
        "data": {"resource": resource, "context": context, "links": {"quo": link}},
    }
    return json.dumps(body, ensure_ascii=False).encode()


def voicemail_object(call: Call) -> dict[str, Any]:
    """The resource of call.voicemail.completed: the finished voicemail, carrying `callId`."""
    assert call.voicemail is not None
    vm = call.voicemail
    return {
        "object": "callVoicemail",
        "id": vm.id,
        "callId": call.id,
        "status": "completed",
        "duration": vm.duration,
        "transcript": vm.transcript,
        "recordingUrl": vm.recording_url,
    }


def sample_resource(event_type: str, ws: Workspace, now: float) -> dict[str, Any]:
    """The resource of a test delivery (`POST /webhooks/{id}/events/test`)."""
    pn = next(iter(ws.phone_numbers.values()), None)
    family = event_type.split(".", 1)[0]
    if family == "contact":
        return {
            "id": "CTtest",
            "externalId": None,
            "source": "test",
            "defaultFields": {"firstName": "Test", "lastName": "Contact", "phoneNumbers": []},
            "customFields": [],
            "createdAt": iso(now),
            "updatedAt": iso(now),
        }
    if family == "message":
        return {
            "object": "message",
            "id": "ACtest",
            "direction": "incoming",
            "from": "+15550000000",
            "to": pn.number if pn else "",
            "text": "Test event",
            "status": event_type.split(".")[-1],
            "phoneNumberId": pn.id if pn else None,
            "contactIds": [],
            "createdAt": iso(now),
        }
    return {
        "object": family,
        "id": "ACtest",
        "callId": "ACtest",
        "status": event_type.split(".")[-1],
        "phoneNumberId": pn.id if pn else None,
        "participants": ["+15550000000", pn.number] if pn else [],
        "contactIds": [],
        "createdAt": iso(now),
    }
