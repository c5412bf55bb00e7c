"""In-memory state of the Quo emulator: workspaces and everything in them.

Time-dependent states (bulk contacts becoming visible, recordings/voicemails/summaries/
transcripts finishing processing, fresh keys propagating) are stored as "ready at" timestamps and
evaluated against the emulator clock when read, so a fake clock or a zero delay makes them
immediate and nothing needs a background task to flip them.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Profile = Literal["current", "dev-2025-11", "2026-03-30"]
PROFILES = ("current", "dev-2025-11", "2026-03-30")
# The dated API generation served (unprefixed paths) by the "2026-03-30" profile.
DATED_VERSION = "2026-03-30"
# Quo's retry schedule of the dated webhooks as third parties report it (UNCONFIRMED, a knob):
# the wait before each of the 8 attempts — about 27.5 h in all.
DATED_RETRY_SCHEDULE_S = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
BulkMode = Literal["enabled", "forbidden", "missing"]


class QuoError(Exception):
    """An error answer: the API layer turns it into the spec's error body for the operation."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        body: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message
        self.body = body  # exact body override (e.g. the 409 on duplicate externalId)
        self.errors = errors  # the spec's optional `errors` list (validation details)


def iso(ts: float) -> str:
    """Quo's timestamp format: UTC, milliseconds, trailing Z."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------- resources


@dataclass
class User:
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    role: str = "member"
    picture_url: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "pictureUrl": self.picture_url,
            "role": self.role,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass
class PhoneNumber:
    id: str
    number: str
    name: str
    symbol: str | None
    group_id: str
    user_ids: list[str]
    forward: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def formatted(self) -> str | None:
        digits = self.number[2:] if self.number.startswith("+1") else ""
        if len(digits) == 10:
            return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        return self.number

    def to_api(self, users: dict[str, User]) -> dict[str, Any]:
        return {
            "id": self.id,
            "groupId": self.group_id,
            "portRequestId": None,
            "formattedNumber": self.formatted(),
            "forward": self.forward,
            "name": self.name,
            "number": self.number,
            "portingStatus": None,
            "symbol": self.symbol,
            "users": [
                {
                    "email": users[u].email,
                    "firstName": users[u].first_name,
                    "lastName": users[u].last_name,
                    "id": u,
                    "role": users[u].role,
                    "groupId": self.group_id,
                }
                for u in self.user_ids
                if u in users
            ],
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "restrictions": {
                "calling": {"CA": "unrestricted", "Intl": "restricted", "US": "unrestricted"},
                "messaging": {"CA": "unrestricted", "Intl": "restricted", "US": "unrestricted"},
            },
        }


@dataclass
class CustomField:
    key: str
    name: str
    type: str
    id: str

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "type": self.type}


@dataclass
class Contact:
    id: str
    external_id: str | None
    source: str | None
    source_url: str | None
    default_fields: dict[str, Any]
    custom_fields: list[dict[str, Any]]
    created_by_user_id: str
    created_at: float
    updated_at: float
    visible_at: float = 0.0

    def phones(self) -> list[str]:
        return [p["value"] for p in self.default_fields.get("phoneNumbers", []) if p.get("value")]

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "externalId": self.external_id,
            "source": self.source,
            "sourceUrl": self.source_url,
            "defaultFields": self.default_fields,
            "customFields": self.custom_fields,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "createdByUserId": self.created_by_user_id,
        }


@dataclass
class Recording:
    id: str
    duration: int
    start_time: float
    ready_at: float
    url: str
    type: str = "audio/mpeg"

    def ready(self, now: float) -> bool:
        return now >= self.ready_at

    def to_api(self, now: float) -> dict[str, Any]:
        done = self.ready(now)
        return {
            "duration": self.duration if done else None,
            "id": self.id,
            "startTime": iso(self.start_time),
            "status": "completed" if done else "processing",
            "type": self.type,
            "url": self.url if done else None,
        }

    def to_event(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "duration": self.duration,
            "startTime": iso(self.start_time),
            "type": self.type,
            "url": self.url,
        }


@dataclass
class Voicemail:
    id: str
    duration: int
    transcript: str | None
    recording_url: str
    ready_at: float

    def to_api(self, now: float) -> dict[str, Any]:
        done = now >= self.ready_at
        return {
            "duration": self.duration if done else None,
            "id": self.id,
            "transcript": self.transcript if done else None,
            "recordingUrl": self.recording_url if done else None,
            "status": "completed" if done else "in-progress",
        }


@dataclass
class Summary:
    summary: list[str]
    next_steps: list[str]
    jobs: list[dict[str, Any]] | None
    ready_at: float

    def to_api(self, call_id: str, now: float) -> dict[str, Any]:
        done = now >= self.ready_at
        return {
            "callId": call_id,
            "nextSteps": self.next_steps if done else None,
            "status": "completed" if done else "in-progress",
            "summary": self.summary if done else None,
            "jobs": self.jobs if done else None,
        }


@dataclass
class Transcript:
    dialogue: list[dict[str, Any]]
    duration: float
    created_at: float
    ready_at: float

    def to_api(self, call_id: str, now: float) -> dict[str, Any]:
        done = now >= self.ready_at
        return {
            "callId": call_id,
            "createdAt": iso(self.created_at),
            "dialogue": self.dialogue if done else None,
            "duration": self.duration if done else 0,
            "status": "completed" if done else "in-progress",
        }


@dataclass
class Call:
    id: str
    phone_number_id: str
    user_id: str
    direction: str
    status: str
    participants: list[str]
    duration: int
    created_at: float
    completed_at: float | None
    answered_at: float | None
    answered_by: str | None
    initiated_by: str | None
    forwarded_from: str | None = None
    forwarded_to: str | None = None
    ai_handled: str | None = None
    call_route: str | None = None
    conversation_id: str = ""
    recordings: list[Recording] = field(default_factory=list)
    voicemail: Voicemail | None = None
    summary: Summary | None = None
    transcript: Transcript | None = None

    @property
    def updated_at(self) -> float:
        return self.completed_at or self.created_at

    def to_api(self) -> dict[str, Any]:
        return {
            "answeredAt": iso(self.answered_at) if self.answered_at else None,
            "answeredBy": self.answered_by,
            "initiatedBy": self.initiated_by,
            "direction": self.direction,
            "status": self.status,
            "completedAt": iso(self.completed_at) if self.completed_at else None,
            "createdAt": iso(self.created_at),
            "callRoute": self.call_route,
            "duration": self.duration,
            "forwardedFrom": self.forwarded_from,
            "forwardedTo": self.forwarded_to,
            "aiHandled": self.ai_handled,
            "id": self.id,
            "phoneNumberId": self.phone_number_id,
            "participants": self.participants,
            "updatedAt": iso(self.updated_at),
            "userId": self.user_id,
        }


@dataclass
class Message:
    id: str
    phone_number_id: str
    user_id: str
    direction: str
    from_: str
    to: list[str]
    text: str
    status: str
    created_at: float
    updated_at: float
    conversation_id: str = ""

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.to,
            "from": self.from_,
            "text": self.text,
            "phoneNumberId": self.phone_number_id,
            "direction": self.direction,
            "userId": self.user_id,
            "status": self.status,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass
class Conversation:
    id: str
    phone_number_id: str
    participants: list[str]
    created_at: float
    updated_at: float
    last_activity_at: float
    last_activity_id: str | None
    assigned_to: str | None = None
    name: str | None = None

    def to_api(self) -> dict[str, Any]:
        last = self.last_activity_id
        return {
            "assignedTo": self.assigned_to,
            "createdAt": iso(self.created_at),
            "deletedAt": None,
            "id": self.id,
            "lastActivityAt": iso(self.last_activity_at),
            # The spec types lastActivityId as a call id (AC...); message ids share that prefix.
            "lastActivityId": last if last and last.startswith("AC") else None,
            "mutedUntil": None,
            "name": self.name,
            "participants": self.participants,
            "phoneNumberId": self.phone_number_id,
            "snoozedUntil": None,
            "updatedAt": iso(self.updated_at),
        }


@dataclass
class Webhook:
    id: str
    user_id: str
    org_id: str
    label: str | None
    status: str
    url: str
    key: str
    events: list[str]
    resource_ids: list[str]
    kind: str  # messages | calls | call-summaries | call-transcripts | "" (dated: any family)
    # 1 = legacy openphone-signature, 2 = Standard Webhooks (/v2), 3 = the dated generation
    # (Standard Webhooks, the new envelope, delivery history, rotate, test events).
    version: int
    created_at: float
    updated_at: float
    history: list[WebhookEvent] = field(default_factory=list)

    def matches(self, event: str, phone_number_id: str | None) -> bool:
        if self.status != "enabled" or event not in self.events:
            return False
        # contact.* events are workspace-wide: resourceIds filter message/call events only.
        return phone_number_id is None or (
            "*" in self.resource_ids or phone_number_id in self.resource_ids
        )

    def to_dated(self) -> dict[str, Any]:
        out = self.to_api()
        out.pop("userId")
        out.pop("deletedAt")
        if not any(e.startswith(("message.", "call.")) for e in self.events):
            out.pop("resourceIds")
        return out

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "userId": self.user_id,
            "orgId": self.org_id,
            "label": self.label,
            "status": self.status,
            "url": self.url,
            "key": self.key,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "deletedAt": None,
            "events": self.events,
            "resourceIds": self.resource_ids,
        }


@dataclass
class WebhookEvent:
    """One event sent (or being sent) to one dated webhook: its delivery history entry."""

    id: str
    type: str
    created_at: float
    body: bytes
    test: bool = False
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if any(a["status"] is not None and 200 <= a["status"] < 300 for a in self.attempts):
            return "delivered"
        return "failed" if self.attempts else "pending"

    def to_api(self, *, with_payload: bool = False) -> dict[str, Any]:
        import json

        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "createdAt": iso(self.created_at),
            "status": self.status,
            "test": self.test,
            "attempts": list(self.attempts),
        }
        if with_payload:
            out["payload"] = json.loads(self.body)
        return out


@dataclass
class BulkJob:
    id: str
    contacts: list[dict[str, Any]]
    received_at: float
    visible_at: float
    processed: bool = False
    created: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "size": len(self.contacts),
            "receivedAt": iso(self.received_at),
            "visibleAt": iso(self.visible_at),
            "processed": self.processed,
            "created": self.created,
            "rejected": self.rejected,
        }


@dataclass
class Workspace:
    id: str
    org_id: str
    name: str
    bulk: BulkMode = "enabled"
    phone_numbers: dict[str, PhoneNumber] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    by_external: dict[str, str] = field(default_factory=dict)  # externalId → contact id
    custom_fields: dict[str, CustomField] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    bulk_jobs: list[BulkJob] = field(default_factory=list)
    ai_agent_id: str = ""

    @property
    def owner_id(self) -> str:
        for u in self.users.values():
            if u.role == "owner":
                return u.id
        return next(iter(self.users))

    def own_numbers(self) -> set[str]:
        return {p.number for p in self.phone_numbers.values()}

    def phone_number(self, ref: str) -> PhoneNumber | None:
        """By id (PN...) or by E.164 number."""
        if ref in self.phone_numbers:
            return self.phone_numbers[ref]
        for p in self.phone_numbers.values():
            if p.number == ref:
                return p
        return None

    def summary(self, api_keys: list[str]) -> dict[str, Any]:
        return {
            "id": self.id,
            "orgId": self.org_id,
            "name": self.name,
            "apiKeys": api_keys,
            "bulk": self.bulk,
            "aiAgentId": self.ai_agent_id,
            "phoneNumbers": [p.to_api(self.users) for p in self.phone_numbers.values()],
            "users": [u.to_api() for u in self.users.values()],
            "customFields": [{**f.to_api(), "id": f.id} for f in self.custom_fields.values()],
            "counts": {
                "contacts": len(self.contacts),
                "calls": len(self.calls),
                "messages": len(self.messages),
                "webhooks": len(self.webhooks),
                "pendingBulkJobs": sum(1 for j in self.bulk_jobs if not j.processed),
            },
        }


@dataclass
class ApiKey:
    key: str
    workspace_id: str
    active_at: float


@dataclass
class Settings:
    """Behaviour knobs (all settable through `/_emulator/settings`)."""

    profile: Profile = "current"
    bulk_delay_s: float = 2.5
    # Eventual visibility: each contact of a bulk job shows up uniformly within this many
    # seconds after `bulk_delay_s`, at its creation-order position in listings — so a late
    # contact lands on a page a reader has already passed (pages shift under the reader).
    bulk_visibility_jitter_s: float = 0.0
    # Order of GET /v1/contacts (Quo documents none): "oldest" (creation order) or "newest".
    contacts_order: str = "oldest"
    key_propagation_s: float = 0.0
    rate_limit: int = 10
    rate_window_s: float = 1.0
    phase_delay_scale: float = 1.0
    message_delivery_delay_s: float = 1.0
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 1.0
    # Dated generation (profile "2026-03-30"); UNCONFIRMED points are knobs.
    webhook_retry_schedule_s: tuple[float, ...] = DATED_RETRY_SCHEDULE_S
    webhook_schedule_scale: float = 1.0  # multiplies the schedule: 0.001 in tests
    max_webhooks: int = 50
    dated_error_envelope: str = "documented"  # or "v1": the v1 {message, code, status} body
    dated_calls: str = "absent"  # or "served": calls/recordings/... on the unprefixed base
    media_url: str = "https://files.example.test"
    """Base of recording and voicemail URLs. Point it at `<emulator>/_emulator/media` to have
    the emulator serve the audio (a CRM connector that uploads recordings downloads them)."""

    def to_api(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "bulkDelayS": self.bulk_delay_s,
            "bulkVisibilityJitterS": self.bulk_visibility_jitter_s,
            "contactsOrder": self.contacts_order,
            "keyPropagationS": self.key_propagation_s,
            "rateLimit": self.rate_limit,
            "rateWindowS": self.rate_window_s,
            "phaseDelayScale": self.phase_delay_scale,
            "messageDeliveryDelayS": self.message_delivery_delay_s,
            "webhookMaxAttempts": self.webhook_max_attempts,
            "webhookBackoffS": self.webhook_backoff_s,
            "webhookRetryScheduleS": list(self.webhook_retry_schedule_s),
            "webhookScheduleScale": self.webhook_schedule_scale,
            "maxWebhooks": self.max_webhooks,
            "datedErrorEnvelope": self.dated_error_envelope,
            "datedCalls": self.dated_calls,
            "mediaUrl": self.media_url,
        }


class Ids:
    """Quo-looking ids (prefix + 20 base62-ish chars), reproducible from a seed."""

    _ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def __init__(self, seed: int = 0) -> None:
        self.random = random.Random(seed)
        self._lock = threading.Lock()

    def new(self, prefix: str, length: int = 20) -> str:
        with self._lock:
            return prefix + "".join(self.random.choice(self._ALPHABET) for _ in range(length))

    def key(self, nbytes: int = 32) -> str:
        with self._lock:
            return base64.b64encode(self.random.randbytes(nbytes)).decode()


def default_clock() -> float:
    return time.time()


Clock = Callable[[], float]
