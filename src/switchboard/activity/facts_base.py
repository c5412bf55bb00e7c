"""What both kinds of facts share: the Quo event types, the merge helpers, the base model."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from switchboard.quo.events import resource_id_of

CALL_EVENTS = (
    "call.ringing",
    "call.completed",
    "call.recording.completed",
    "call.summary.completed",
    "call.transcript.completed",
)
MESSAGE_EVENTS = ("message.received", "message.delivered", "message.failed")

# Phase names for resources fetched over REST (recorded in `phases` like event types).
REST_CALL = "rest.call"
REST_RECORDINGS = "rest.call-recordings"
REST_VOICEMAIL = "rest.call-voicemail"
REST_SUMMARY = "rest.call-summary"
REST_TRANSCRIPT = "rest.call-transcript"
REST_MESSAGE = "rest.message"

AI_HANDLED = "ai-agent"
AI_USER_PREFIX = "SY"

# Statuses meaning "nobody picked up" (a `completed` call with `answeredAt` null is one too).
UNANSWERED_STATUSES = frozenset({"no-answer", "missed"})
_CALL_STATUS_RANK = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "answered": 3,
}
_TERMINAL_RANK = 4
_PART_STATUS_RANK = {"absent": 0, "in-progress": 1, "processing": 1, "failed": 2, "completed": 3}
_MESSAGE_STATUS_RANK = {
    "queued": 0,
    "sent": 1,
    "undelivered": 2,
    "received": 2,
    "delivered": 2,
    "failed": 2,
}


def is_ai_user(user_id: str | None) -> bool:
    """True for the AI agent's user ids (`SY...`), which `GET /v1/users/{id}` rejects."""
    return user_id is not None and user_id.startswith(AI_USER_PREFIX)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    def canonical(self) -> str:
        """Deterministic JSON of the model: the last-resort tie-break of every merge."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


_M = TypeVar("_M", bound=_Model)


def _pick(a: _M | None, b: _M | None, rank: Callable[[_M], Any]) -> _M | None:
    """The greater of two versions under a total order (rank, canonical JSON)."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b, key=lambda m: (rank(m), m.canonical()))


def _union(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(a) | set(b)))


def _timestamp(value: datetime | None) -> float:
    return value.timestamp() if value is not None else float("-inf")


def _max_opt(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


# --- parts of a call -------------------------------------------------------------------------


def _obj(payload: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """Accept a webhook envelope or the bare resource; return (resource, deepLink)."""
    data = payload.get("data")
    if payload.get("object") == "event" and isinstance(data, Mapping):
        obj = data.get("object")
        if not isinstance(obj, Mapping):
            raise ValueError("webhook event without data.object")
        link = data.get("deepLink")
        return obj, link if isinstance(link, str) else None
    return payload, None


def resource_id(event_type: str, payload: Mapping[str, Any]) -> str:
    """The call or message id an event is about (`callId` for summaries and transcripts, `id`
    otherwise). Accepts the envelope or the resource. Raises ValueError when missing."""
    obj, _ = _obj(payload)
    value = resource_id_of(event_type, obj)
    if value is None:
        raise ValueError(f"{event_type}: no call/message id in payload")
    return value


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(sorted({v for v in value if isinstance(v, str) and v}))
