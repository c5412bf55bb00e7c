"""A ledger event told in words: who (the caller's number and the CRM people it matched), what
(the call's outcome, a text's first words), the result (the note written, or why not) and the
reason — for the dashboard's event rows and `switchboard events`. The raw JSON stays one click
away; this only reads what the webhook payload and the processor's detail already hold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from switchboard.ledger import EventRecord

PREVIEW = 60


#: A CRM person id → their page in the CRM's web app, or None (`CrmProvider.person_url` bound
#: to a connection's account facts).
PersonUrl = Callable[[str], str | None]


@dataclass(frozen=True)
class Story:
    who: str
    what: str
    result: str
    reason: str
    people: tuple[str, ...] = ()  # CRM record ids the event was matched to
    person_links: tuple[tuple[str, str], ...] = ()
    """(CRM person id, their page in the CRM) for the people with a known page — where the
    note or call log was written, too."""
    quo_link: str | None = None
    """The call or conversation in Quo's app (the webhook's deep link)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _obj(event: EventRecord) -> dict[str, Any]:
    data = event.payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


def _duration(seconds: Any) -> str:
    try:
        s = int(float(seconds))
    except (TypeError, ValueError):
        return ""
    return f"{s // 60}:{s % 60:02d}"


def _preview(text: Any) -> str:
    t = " ".join(str(text or "").split())
    return t if len(t) <= PREVIEW else t[: PREVIEW - 1] + "…"


def _call_outcome(obj: dict[str, Any]) -> str:
    answered_by = str(obj.get("answeredBy") or "")
    if obj.get("answeredAt") and answered_by.startswith("SY"):
        return "handled by the AI agent"
    if obj.get("answeredAt") or obj.get("direction") == "outgoing":
        return "answered" if obj.get("direction") == "incoming" else "placed"
    if obj.get("forwardedTo"):
        return "forwarded"
    return "missed"


def _what(event: EventRecord, obj: dict[str, Any]) -> str:
    etype = event.event_type
    direction = str(obj.get("direction") or "").capitalize()
    if etype.startswith("message."):
        return f"{direction} text: “{_preview(obj.get('text'))}”".strip()
    if etype == "call.ringing":
        return f"{direction} call ringing".strip()
    if etype in ("call.completed", "call.recording.completed"):
        what = f"{direction} call, {_call_outcome(obj)}".strip(", ")
        length = _duration(obj.get("duration"))
        extra = " (recording ready)" if etype == "call.recording.completed" else ""
        return f"{what}, {length}{extra}" if length and length != "0:00" else what + extra
    if etype == "call.summary.completed":
        return f"AI summary of call {obj.get('callId') or event.resource_id or ''}".strip()
    if etype == "call.transcript.completed":
        return f"Transcript of call {obj.get('callId') or event.resource_id or ''}".strip()
    if event.provider != "quo":
        return f"CRM record {event.resource_id or ''} changed ({etype})".strip()
    return etype


def _who(event: EventRecord, obj: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    lookups = [lk for lk in event.detail.get("lookups") or [] if isinstance(lk, dict)]
    phones = [str(p) for p in event.detail.get("participants") or []]
    if not phones:
        if obj.get("object") == "message":
            phones = [str(obj.get("from") if obj.get("direction") == "incoming" else obj.get("to"))]
        elif isinstance(obj.get("participants"), list) and obj["participants"]:
            parts = [str(p) for p in obj["participants"]]
            phones = [parts[0] if obj.get("direction") == "incoming" else parts[-1]]
    people = tuple(str(lk["person_id"]) for lk in lookups if lk.get("person_id"))
    if not phones and not lookups:
        return ("", people)
    parts = []
    for phone in phones or [str(lk.get("phone")) for lk in lookups]:
        match = next((lk for lk in lookups if lk.get("phone") == phone), None)
        if match is None:
            parts.append(phone)
        elif match.get("person_id"):
            parts.append(f"{phone} → CRM person {match['person_id']}")
        else:
            parts.append(f"{phone} (no CRM person)")
    return ", ".join(parts), people


_NOTE_ACTIONS = {
    "created": "note written",
    "replaced": "note updated",
    "unchanged": "note already up to date",
    "adopted": "note already written",
    "superseded": "nothing written (a later phase re-planned the call)",
}


def _result(event: EventRecord) -> str:
    notes = [n for n in event.detail.get("notes") or [] if isinstance(n, dict)]
    if event.status == "processed" and notes:
        done = []
        for n in notes:
            action = _NOTE_ACTIONS.get(str(n.get("action")), f"note {n.get('action')}")
            note = f" ({n['note_id']})" if n.get("note_id") else ""
            done.append(f"{action}{note} on CRM person {n.get('person_id')}")
        return "; ".join(done)
    return {
        "accepted": "waiting to be processed",
        "processing": "being processed",
        "processed": "done, nothing to write",
        "ignored": "ignored",
        "skipped": "not logged",
        "failed": "failed",
    }.get(event.status, event.status)


def _web_url(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def _quo_link(event: EventRecord) -> str | None:
    data = event.payload.get("data")
    return _web_url(data.get("deepLink")) if isinstance(data, dict) else None


def _person_links(
    event: EventRecord, people: tuple[str, ...], person_url: PersonUrl | None
) -> tuple[tuple[str, str], ...]:
    if person_url is None:
        return ()
    notes = [n for n in event.detail.get("notes") or [] if isinstance(n, dict)]
    ids = dict.fromkeys([*people, *(str(n["person_id"]) for n in notes if n.get("person_id"))])
    return tuple((pid, url) for pid in ids if (url := person_url(pid)))


def story(event: EventRecord, person_url: PersonUrl | None = None) -> Story:
    obj = _obj(event)
    who, people = _who(event, obj)
    return Story(
        who=who,
        what=_what(event, obj),
        result=_result(event),
        reason=event.reason or "",
        people=people,
        person_links=_person_links(event, people, person_url),
        quo_link=_quo_link(event) if event.provider == "quo" else None,
    )
