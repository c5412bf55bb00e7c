"""Calls and texts as Pipedrive records: call logs (`POST /v1/callLogs`) and notes.

A call becomes a call log: the outcome from Quo's status, the exact start and end (UTC, to the
second), the duration as given (also under 60 s), both numbers, the rendered note (HTML) and,
uploaded afterwards, the recording or voicemail. A text, or a note without call facts, becomes a
person note whose first paragraph is the title (notes have no title field; `split_title` reads
it back so crash recovery can compare).
"""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard.crm.base import ActivityFacts, CrmNote

CALL_LOG_PREFIX = "calllog:"
NOTE_PREFIX = "note:"
_TITLE = re.compile(r"^<p><strong>(?P<title>.*?)</strong></p>(?P<body>.*)$", re.DOTALL)


def utc_text(at: datetime) -> str:
    """Pipedrive's `YYYY-MM-DD HH:MM:SS` (UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def outcome(facts: ActivityFacts) -> str:
    """Pipedrive's call outcome from what Quo says about the call."""
    status = (facts.status or "").lower()
    if status == "busy":
        return "busy"
    if facts.answered or (facts.answered is None and status in ("answered", "in-progress")):
        return "connected"
    if facts.has_voicemail:
        return "left_voicemail"
    return "no_answer"


def call_log_body(note: CrmNote, facts: ActivityFacts, now: datetime) -> dict[str, Any]:
    start = facts.started_at or note.created_at or now
    if facts.ended_at is not None:
        end = facts.ended_at
    elif facts.duration_s is not None:
        end = start + timedelta(seconds=facts.duration_s)
    else:
        end = start
    end = max(end, start)
    contact, line = facts.phone, facts.line_number
    outgoing = facts.direction == "outgoing"
    to_number, from_number = (contact, line) if outgoing else (line, contact)
    body: dict[str, Any] = {
        "to_phone_number": to_number or contact or line or "unknown",
        "outcome": outcome(facts),
        "start_time": utc_text(start),
        "end_time": utc_text(end),
        "subject": note.title,
        "note": note.content,
        "person_id": int(note.person_id),
    }
    if from_number:
        body["from_phone_number"] = from_number
    if facts.duration_s is not None:
        body["duration"] = str(max(0, round(facts.duration_s)))
    return body


def note_body(note: CrmNote) -> dict[str, Any]:
    content = f"<p><strong>{html.escape(note.title, quote=False)}</strong></p>{note.content}"
    body: dict[str, Any] = {"content": content, "person_id": int(note.person_id)}
    if note.created_at is not None:
        body["add_time"] = utc_text(note.created_at)
    return body


def split_title(content: str | None) -> tuple[str | None, str | None]:
    """(title, body) of a note this connector wrote; (None, content) for any other note."""
    if content is None:
        return None, None
    found = _TITLE.match(content)
    if found is None:
        return None, content
    return html.unescape(found.group("title")), found.group("body")


def multipart(data: bytes, filename: str, content_type: str) -> tuple[bytes, str]:
    """A `multipart/form-data` body with one `file` part; returns (body, content type)."""
    boundary = uuid.uuid4().hex
    safe_name = filename.replace('"', "")
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )
