"""Events told in words (`activity.story`) from the recorded Quo webhook fixtures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from switchboard.activity.story import story
from switchboard.ledger import EventRecord

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quo-webhooks"


def _event(name: str, status: str, detail: dict[str, Any], reason: str | None = None) -> Any:
    payload = json.loads((FIXTURES / name).read_text())
    return EventRecord(
        id="evt_1", connection_id="c1", provider="quo", event_type=payload["type"],
        idempotency_key="k", resource_id="AC1", status=status, reason=reason, detail=detail,
        payload=payload, attempts=1, received_at=datetime.now(UTC), processed_at=None,
    )  # fmt: skip


def test_a_logged_text_says_who_what_and_the_note_written() -> None:
    ev = _event(
        "message.received.json",
        "processed",
        {
            "participants": ["+15550142231"],
            "lookups": [{"phone": "+15550142231", "person_id": "rec_dana", "source": "mapping"}],
            "notes": [{"person_id": "rec_dana", "action": "created", "note_id": "note_9"}],
        },
    )
    st = story(ev)
    assert st.who == "+15550142231 → CRM person rec_dana"
    assert st.what == "Incoming text: “Is Tuesday still OK for the install?”"
    assert st.result == "note written (note_9) on CRM person rec_dana"
    assert st.people == ("rec_dana",)


def test_call_outcomes_and_unknown_callers_in_words() -> None:
    answered = story(_event("call.completed.answered-incoming.json", "accepted", {}))
    assert answered.who == "+15550142231"
    assert answered.what == "Incoming call, answered, 2:05"
    assert answered.result == "waiting to be processed"
    ai = story(_event("call.completed.ai-handled.json", "processed", {}))
    assert ai.what == "Incoming call, handled by the AI agent, 1:16"
    missed = _event(
        "call.completed.unanswered-with-voicemail.json",
        "skipped",
        {
            "participants": ["+15550142231"],
            "lookups": [{"phone": "+15550142231", "person_id": None, "source": "none"}],
        },
        reason="unknown caller: no CRM person has +15550142231",
    )
    st = story(missed)
    assert st.what == "Incoming call, missed, 0:18"
    assert st.who == "+15550142231 (no CRM person)"
    assert st.result == "not logged" and st.reason.startswith("unknown caller")
    summary = story(_event("call.summary.completed.json", "processed", {}))
    assert summary.what == "AI summary of call ACcall0001"


def test_links_to_the_crm_person_and_the_call_in_quo() -> None:
    ev = _event(
        "message.received.json",
        "processed",
        {
            "lookups": [{"phone": "+15550142231", "person_id": "rec_dana", "source": "mapping"}],
            "notes": [{"person_id": "rec_dana", "action": "created", "note_id": "note_9"}],
        },
    )
    ev.payload["data"]["deepLink"] = "https://my.quo.com/inbox/PN1/c/CN1?at=AC1"
    st = story(ev, lambda pid: f"https://crm.example/person/{pid}")
    assert st.person_links == (("rec_dana", "https://crm.example/person/rec_dana"),)
    assert st.quo_link == "https://my.quo.com/inbox/PN1/c/CN1?at=AC1"
    assert story(ev).person_links == ()  # no way to link: no links, the words unchanged
    ev.payload["data"]["deepLink"] = "javascript:alert(1)"
    assert story(ev).quo_link is None
