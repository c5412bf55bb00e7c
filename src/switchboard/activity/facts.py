"""Everything known about one call or one message, merged from every Quo source.

Quo tells us about a call in several phases (`call.completed`, `call.recording.completed`,
`call.summary.completed`, `call.transcript.completed`, the voicemail resource fetched later,
REST re-fetches), delivered at least once and in any order. `CallFacts` folds them together so
that **the order and the number of deliveries do not matter**: `merge` is commutative,
associative and idempotent (a join-semilattice), and `apply_event(t, p)` is
`merge(CallFacts.from_resource(t, p))`. The same holds for `MessageFacts`
(`message.received`, `message.delivered`, the REST message).

How conflicts are resolved, so that the merge stays order-independent:
- the call's own fields (`call`) are one snapshot; the "most advanced" one wins
  (terminal status over ringing/in-progress, then the later `updatedAt`, then a canonical
  JSON tie-break), never a field-by-field mix;
- `participants`, `contact_ids`, `phases` are sets (stored sorted): an empty `participants`
  from a quirky `call.completed` never erases numbers known from elsewhere;
- recordings merge by id; voicemail, summary and transcript pick their most complete version —
  for summary and transcript, of the same status the one Quo sent last (its event's
  `createdAt`): Quo can regenerate them, and the regenerated one replaces the old.

`MessageFacts` lives in `message_facts`, the shared helpers in `facts_base`; this module keeps
the call and the functions over both. Facts are immutable pydantic models; serialise with
`to_data()` (a JSON-able dict, stored by the activity pipeline in `activity_resources.data`) and
read back with `facts_from_data()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, JsonValue

from switchboard import phones
from switchboard.activity.facts_base import (
    _CALL_STATUS_RANK,
    _PART_STATUS_RANK,
    _TERMINAL_RANK,
    AI_HANDLED,
    AI_USER_PREFIX,
    CALL_EVENTS,
    MESSAGE_EVENTS,
    REST_CALL,
    REST_MESSAGE,
    REST_RECORDINGS,
    REST_SUMMARY,
    REST_TRANSCRIPT,
    REST_VOICEMAIL,
    UNANSWERED_STATUSES,
    _max_opt,
    _Model,
    _obj,
    _pick,
    _strings,
    _timestamp,
    _union,
    is_ai_user,
    resource_id,
)
from switchboard.activity.message_facts import MessageFacts, MessageInfo
from switchboard.quo.envelope import is_dated

__all__ = [
    "AI_HANDLED",
    "AI_USER_PREFIX",
    "CALL_EVENTS",
    "MESSAGE_EVENTS",
    "REST_CALL",
    "REST_MESSAGE",
    "REST_RECORDINGS",
    "REST_SUMMARY",
    "REST_TRANSCRIPT",
    "REST_VOICEMAIL",
    "UNANSWERED_STATUSES",
    "CallFacts",
    "CallInfo",
    "CallOutcome",
    "CallSummary",
    "CallTranscript",
    "Facts",
    "MessageFacts",
    "MessageInfo",
    "Recording",
    "SummaryJob",
    "TranscriptTurn",
    "Voicemail",
    "facts_from_data",
    "facts_from_event",
    "is_ai_user",
    "merge_facts",
    "resource_id",
]


class CallInfo(_Model):
    """The call resource's own fields (participants, recordings, contact ids live apart)."""

    direction: str | None = None
    status: str | None = None
    duration: float | None = None
    phone_number_id: str | None = Field(default=None, alias="phoneNumberId")
    user_id: str | None = Field(default=None, alias="userId")
    answered_at: datetime | None = Field(default=None, alias="answeredAt")
    answered_by: str | None = Field(default=None, alias="answeredBy")
    initiated_by: str | None = Field(default=None, alias="initiatedBy")
    completed_at: datetime | None = Field(default=None, alias="completedAt")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    forwarded_from: str | None = Field(default=None, alias="forwardedFrom")
    forwarded_to: str | None = Field(default=None, alias="forwardedTo")
    ai_handled: str | None = Field(default=None, alias="aiHandled")
    call_route: str | None = Field(default=None, alias="callRoute")

    def _rank(self) -> tuple[int, float]:
        status_rank = _CALL_STATUS_RANK.get(self.status or "", _TERMINAL_RANK)
        if self.status is None:
            status_rank = -1
        return status_rank, _timestamp(self.updated_at)


class Recording(_Model):
    id: str | None = None
    duration: float | None = None
    url: str | None = None
    start_time: datetime | None = Field(default=None, alias="startTime")
    status: str | None = None
    type: str | None = None

    def key(self) -> str:
        return self.id or self.url or self.canonical()

    def _rank(self) -> tuple[int, int]:
        return (self.url is not None, _PART_STATUS_RANK.get(self.status or "", 0))


class Voicemail(_Model):
    """`GET /v1/call-voicemails/{callId}` (fields are null while Quo still processes it)."""

    id: str | None = None
    status: str | None = None
    duration: float | None = None
    url: str | None = Field(default=None, alias="recordingUrl")
    transcript: str | None = None

    def _rank(self) -> tuple[int, int]:
        filled = sum(v is not None for v in (self.duration, self.url, self.transcript))
        return _PART_STATUS_RANK.get(self.status or "", 0), filled

    @property
    def has_content(self) -> bool:
        return self.url is not None or bool(self.duration) or bool(self.transcript)


class SummaryJob(_Model):
    """One AI job result (e.g. "Message taking"). `result` is kept as Quo sent it."""

    icon: str | None = None
    name: str | None = None
    result: JsonValue = None

    def fields(self) -> list[tuple[str, JsonValue]]:
        """(name, value) pairs: Quo's `result.data` list, or a plain object's items."""
        result = self.result
        if isinstance(result, dict):
            data = result.get("data")
            if isinstance(data, list):
                pairs: list[tuple[str, JsonValue]] = []
                for item in data:
                    if isinstance(item, dict) and "name" in item:
                        pairs.append((str(item["name"]), item.get("value")))
                    else:
                        pairs.append(("", item))
                return pairs
            return [(str(k), v) for k, v in result.items()]
        if result is None:
            return []
        return [("", result)]


class CallSummary(_Model):
    status: str | None = None
    summary: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = Field(default=(), alias="nextSteps")
    jobs: tuple[SummaryJob, ...] = ()
    # When Quo sent this version (its webhook event's `createdAt`; None from REST). Quo can
    # regenerate a summary: the later delivery of the same status wins, whatever its size.
    delivered_at: datetime | None = None

    def _rank(self) -> tuple[int, float, int]:
        size = len(self.summary) + len(self.next_steps) + len(self.jobs)
        status = _PART_STATUS_RANK.get(self.status or "", 0)
        return status, _timestamp(self.delivered_at), size


class TranscriptTurn(_Model):
    start: float | None = None
    end: float | None = None
    content: str = ""
    identifier: str | None = None
    user_id: str | None = Field(default=None, alias="userId")


class CallTranscript(_Model):
    status: str | None = None
    duration: float | None = None
    created_at: datetime | None = Field(default=None, alias="createdAt")
    dialogue: tuple[TranscriptTurn, ...] = ()
    delivered_at: datetime | None = None  # as CallSummary.delivered_at

    def _rank(self) -> tuple[int, float, int]:
        status = _PART_STATUS_RANK.get(self.status or "", 0)
        return status, _timestamp(self.delivered_at), len(self.dialogue)


# --- outcome ---------------------------------------------------------------------------------

OutcomeKind = Literal[
    "ai",  # handled by the AI agent
    "answered",  # incoming answered (user_id = who answered)
    "initiated",  # outgoing answered (user_id = who placed it)
    "missed",  # incoming, nobody answered (voicemail calls included)
    "not_answered",  # outgoing, nobody answered (user_id = who placed it)
    "forwarded",  # incoming, forwarded (forwarded_to = user id, number, or None = phone menu)
    "other",  # anything else: rendered with the raw status
]


class CallOutcome(_Model):
    kind: OutcomeKind
    direction: str
    status: str | None = None
    user_id: str | None = None
    forwarded_to: str | None = None


# --- call facts ------------------------------------------------------------------------------


def _event_time(payload: Mapping[str, Any]) -> datetime | None:
    """The webhook envelope's `createdAt` (None for a bare resource or an unreadable value)."""
    value = payload.get("createdAt") if payload.get("object") == "event" else None
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class CallFacts(_Model):
    """Everything known about one call. Build with `CallFacts.empty(call_id)` or
    `from_event(envelope)`, extend with `apply_event`/`with_*`/`merge` (all return new facts)."""

    kind: Literal["call"] = "call"
    call_id: str
    call: CallInfo | None = None
    participants: tuple[str, ...] = ()
    contact_ids: tuple[str, ...] = ()
    recordings: tuple[Recording, ...] = ()
    voicemail: Voicemail | None = None
    summary: CallSummary | None = None
    transcript: CallTranscript | None = None
    deep_link: str | None = None
    phases: tuple[str, ...] = ()
    # Seen an event of Quo's dated webhook generation, which sends call.voicemail.completed
    # itself: no delayed voicemail fetch is needed for this call.
    voicemail_announced: bool = False

    # construction

    @classmethod
    def empty(cls, call_id: str) -> CallFacts:
        return cls(call_id=call_id)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> CallFacts:
        """Facts from one webhook envelope (`{"type", "data": {"object", "deepLink"}}`)."""
        event_type = event.get("type")
        if not isinstance(event_type, str):
            raise ValueError("webhook event without type")
        return cls.empty(resource_id(event_type, event)).apply_event(event_type, event)

    def apply_event(
        self, event_type: str, payload: Mapping[str, Any], deep_link: str | None = None
    ) -> CallFacts:
        """Fold one webhook in. `payload` is the envelope or its `data.object`; `deep_link`
        overrides the envelope's. `call.ringing` is accepted (it only adds what it knows)."""
        facts = self._apply_event(event_type, payload, deep_link)
        if is_dated(payload) and not facts.voicemail_announced:
            facts = facts.merge(CallFacts(call_id=self.call_id, voicemail_announced=True))
        return facts

    def _apply_event(
        self, event_type: str, payload: Mapping[str, Any], deep_link: str | None
    ) -> CallFacts:
        obj, link = _obj(payload)
        link = deep_link or link
        if event_type in ("call.completed", "call.ringing", "call.recording.completed"):
            return self.with_call(obj, deep_link=link, phase=event_type)
        sent = _event_time(payload)
        if event_type == "call.summary.completed":
            return self.with_summary(obj, deep_link=link, phase=event_type, delivered_at=sent)
        if event_type == "call.transcript.completed":
            return self.with_transcript(obj, deep_link=link, phase=event_type, delivered_at=sent)
        if event_type == "call.voicemail.completed":
            self._check_id(obj.get("callId"))
            return self.with_voicemail(obj, phase=event_type).merge(
                CallFacts(call_id=self.call_id, deep_link=link)
            )
        raise ValueError(f"not a call event: {event_type}")

    def with_call(
        self, resource: Mapping[str, Any], *, deep_link: str | None = None, phase: str = REST_CALL
    ) -> CallFacts:
        """Fold a call resource in (webhook `data.object` or `GET /v1/calls/{id}` `data`).
        Its `recordings` (webhooks) and `voicemail` (if Quo includes one) are taken too."""
        self._check_id(resource.get("id"))
        recordings = resource.get("recordings") or []
        voicemail = resource.get("voicemail")
        part = CallFacts(
            call_id=self.call_id,
            call=CallInfo.model_validate(dict(resource)),
            participants=_strings(resource.get("participants")),
            contact_ids=_strings(resource.get("contactIds")),
            recordings=_merge_recordings((), [Recording.model_validate(r) for r in recordings]),
            voicemail=Voicemail.model_validate(_voicemail_dict(voicemail))
            if isinstance(voicemail, Mapping)
            else None,
            deep_link=deep_link,
            phases=(phase,),
        )
        return self.merge(part)

    def with_recordings(
        self, recordings: Iterable[Mapping[str, Any]], *, phase: str = REST_RECORDINGS
    ) -> CallFacts:
        """Fold `GET /v1/call-recordings/{callId}` `data` in."""
        items = [Recording.model_validate(dict(r)) for r in recordings]
        return self.merge(
            CallFacts(
                call_id=self.call_id, recordings=_merge_recordings((), items), phases=(phase,)
            )
        )

    def with_voicemail(
        self, resource: Mapping[str, Any] | None, *, phase: str = REST_VOICEMAIL
    ) -> CallFacts:
        """Fold `GET /v1/call-voicemails/{callId}` `data` in (None = Quo answered 404)."""
        voicemail = (
            Voicemail.model_validate(_voicemail_dict(resource)) if resource is not None else None
        )
        return self.merge(CallFacts(call_id=self.call_id, voicemail=voicemail, phases=(phase,)))

    def with_summary(
        self,
        resource: Mapping[str, Any],
        *,
        deep_link: str | None = None,
        phase: str = REST_SUMMARY,
        delivered_at: datetime | None = None,
    ) -> CallFacts:
        """Fold a call summary in (`call.summary.completed` object or the REST resource)."""
        self._check_id(resource.get("callId"))
        summary = CallSummary.model_validate(
            _nulls_to_empty(resource, ("summary", "nextSteps", "jobs"))
        ).model_copy(update={"delivered_at": delivered_at})
        return self.merge(
            CallFacts(call_id=self.call_id, summary=summary, deep_link=deep_link, phases=(phase,))
        )

    def with_transcript(
        self,
        resource: Mapping[str, Any],
        *,
        deep_link: str | None = None,
        phase: str = REST_TRANSCRIPT,
        delivered_at: datetime | None = None,
    ) -> CallFacts:
        """Fold a call transcript in (`call.transcript.completed` object or the REST resource)."""
        self._check_id(resource.get("callId"))
        transcript = CallTranscript.model_validate(
            _nulls_to_empty(resource, ("dialogue",))
        ).model_copy(update={"delivered_at": delivered_at})
        return self.merge(
            CallFacts(
                call_id=self.call_id, transcript=transcript, deep_link=deep_link, phases=(phase,)
            )
        )

    def merge(self, other: CallFacts) -> CallFacts:
        """Join two views of the same call. Commutative, associative, idempotent."""
        if other.call_id != self.call_id:
            raise ValueError(f"cannot merge facts of {other.call_id} into {self.call_id}")
        return CallFacts(
            call_id=self.call_id,
            call=_pick(self.call, other.call, CallInfo._rank),
            participants=_union(self.participants, other.participants),
            contact_ids=_union(self.contact_ids, other.contact_ids),
            recordings=_merge_recordings(self.recordings, other.recordings),
            voicemail=_pick(self.voicemail, other.voicemail, Voicemail._rank),
            summary=_pick(self.summary, other.summary, CallSummary._rank),
            transcript=_pick(self.transcript, other.transcript, CallTranscript._rank),
            deep_link=_max_opt(self.deep_link, other.deep_link),
            phases=_union(self.phases, other.phases),
            voicemail_announced=self.voicemail_announced or other.voicemail_announced,
        )

    def _check_id(self, value: object) -> None:
        if value is not None and value != self.call_id:
            raise ValueError(f"resource of call {value} applied to facts of {self.call_id}")

    # reading

    @property
    def has_call(self) -> bool:
        """True once the call resource itself is known (needed to render a note)."""
        return self.call is not None and self.call.direction is not None

    @property
    def direction(self) -> str | None:
        return self.call.direction if self.call else None

    @property
    def phone_number_id(self) -> str | None:
        return self.call.phone_number_id if self.call else None

    @property
    def created_at(self) -> datetime | None:
        """When the call started: the note is back-dated to this."""
        return self.call.created_at if self.call else None

    @property
    def needs_participants(self) -> bool:
        """The call is known but its participants are not (Quo's empty-participants quirk):
        fetch `GET /v1/calls/{id}` and fold it in with `with_call`."""
        return self.has_call and not self.participants

    @property
    def is_ai_handled(self) -> bool:
        call = self.call
        return call is not None and (call.ai_handled == AI_HANDLED or is_ai_user(call.answered_by))

    @property
    def was_answered(self) -> bool:
        call = self.call
        return (
            call is not None
            and call.answered_at is not None
            and call.status not in UNANSWERED_STATUSES
        )

    @property
    def is_forwarded(self) -> bool:
        call = self.call
        return (
            call is not None
            and call.direction == "incoming"
            and (call.forwarded_to is not None or call.status == "forwarded")
        )

    @property
    def is_unanswered(self) -> bool:
        """Nobody picked up: `completed` with `answeredAt` null, or (older) `no-answer`/`missed`.
        These are the calls that may have a voicemail."""
        call = self.call
        if call is None or self.is_ai_handled or self.is_forwarded:
            return False
        if call.status in UNANSWERED_STATUSES:
            return True
        return call.status == "completed" and call.answered_at is None

    @property
    def expects_voicemail(self) -> bool:
        """An incoming unanswered call whose voicemail has not been seen complete yet."""
        if not (self.direction == "incoming" and self.is_unanswered):
            return False
        return self.voicemail is None or self.voicemail.status != "completed"

    @property
    def needs_voicemail_fetch(self) -> bool:
        """A voicemail is expected and only polling will bring it (legacy webhooks)."""
        return self.expects_voicemail and not self.voicemail_announced

    def attributed_user_id(self) -> str | None:
        """Who the call belongs to: `answeredBy` first (production lesson 9), then the
        initiator of an outgoing call, then the line's `userId`."""
        call = self.call
        if call is None:
            return None
        if call.direction == "outgoing":
            return call.initiated_by or call.answered_by or call.user_id
        return call.answered_by or call.user_id

    def user_ids(self) -> tuple[str, ...]:
        """The Quo user ids a note of this call may name (answeredBy, initiatedBy, userId, a
        forwardedTo user, transcript speakers), AI agent ids excluded: resolve these into
        `RenderContext.user_names`."""
        ids: set[str] = set()
        if self.call is not None:
            call = self.call
            ids.update(u for u in (call.answered_by, call.initiated_by, call.user_id) if u)
            if call.forwarded_to and call.forwarded_to.startswith("US"):
                ids.add(call.forwarded_to)
        if self.transcript is not None:
            ids.update(t.user_id for t in self.transcript.dialogue if t.user_id)
        return tuple(sorted(u for u in ids if not is_ai_user(u)))

    def outcome(self) -> CallOutcome:
        """The first line of the note, as data. Raises ValueError before the call is known."""
        call = self.call
        if call is None or call.direction is None:
            raise ValueError(f"call {self.call_id}: call resource not known yet")
        direction = call.direction
        if self.is_ai_handled:
            return CallOutcome(kind="ai", direction=direction, status=call.status)
        if self.is_forwarded:
            return CallOutcome(
                kind="forwarded",
                direction=direction,
                status=call.status,
                forwarded_to=call.forwarded_to,
            )
        user = self.attributed_user_id()
        if self.was_answered and call.status in ("completed", "answered", "in-progress"):
            kind: OutcomeKind = "answered" if direction == "incoming" else "initiated"
            return CallOutcome(kind=kind, direction=direction, status=call.status, user_id=user)
        if self.is_unanswered:
            kind = "missed" if direction == "incoming" else "not_answered"
            return CallOutcome(kind=kind, direction=direction, status=call.status, user_id=user)
        return CallOutcome(kind="other", direction=direction, status=call.status, user_id=user)

    def external_numbers(
        self, own_numbers: Iterable[str | None], region: str | None = phones.DEFAULT_REGION
    ) -> list[str]:
        """Participants minus the workspace's own numbers, E.164, sorted. Empty when Quo sent
        no participants (see `needs_participants`); more than one for group calls."""
        return phones.external_numbers(self.participants, own_numbers, region)

    # storage

    def to_data(self) -> dict[str, Any]:
        """JSON-able dict for storage; `facts_from_data` reads it back."""
        return self.model_dump(mode="json")

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CallFacts:
        return cls.model_validate(dict(data))


def _nulls_to_empty(resource: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    data = dict(resource)
    for key in keys:
        if data.get(key) is None:
            data[key] = ()
    return data


def _voicemail_dict(resource: Mapping[str, Any]) -> dict[str, Any]:
    # The REST resource calls the link `recordingUrl`; a voicemail embedded in a call says `url`.
    data = dict(resource)
    if "recordingUrl" not in data and "url" in data:
        data["recordingUrl"] = data.pop("url")
    return data


def _merge_recordings(a: Iterable[Recording], b: Iterable[Recording]) -> tuple[Recording, ...]:
    by_key: dict[str, Recording] = {}
    for rec in (*a, *b):
        key = rec.key()
        by_key[key] = _pick(by_key.get(key), rec, Recording._rank) or rec
    return tuple(
        sorted(
            by_key.values(),
            key=lambda r: (_timestamp(r.start_time), r.key()),
        )
    )


# --- message facts ---------------------------------------------------------------------------


Facts = CallFacts | MessageFacts


def facts_from_data(data: Mapping[str, Any]) -> Facts:
    """Read back what `to_data()` stored (dispatches on its `kind`)."""
    if data.get("kind") == "message":
        return MessageFacts.from_data(data)
    return CallFacts.from_data(data)


def merge_facts(a: Facts, b: Facts) -> Facts:
    """`a.merge(b)` for facts of either kind; ValueError when kinds or ids differ."""
    if isinstance(a, CallFacts) and isinstance(b, CallFacts):
        return a.merge(b)
    if isinstance(a, MessageFacts) and isinstance(b, MessageFacts):
        return a.merge(b)
    raise ValueError(f"cannot merge {b.kind} facts into {a.kind} facts")


def facts_from_event(event: Mapping[str, Any]) -> Facts:
    """Facts from one webhook envelope, call or message by its `type`."""
    event_type = event.get("type")
    if isinstance(event_type, str) and event_type in MESSAGE_EVENTS:
        return MessageFacts.from_event(event)
    return CallFacts.from_event(event)
