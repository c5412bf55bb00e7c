"""Calls as Pipedrive call logs: outcome, exact times, short durations, numbers by direction."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from switchboard.crm.base import ActivityFacts, CrmNote
from switchboard.crm.pipedrive import PipedriveConnector
from switchboard.crm.pipedrive._activity import call_log_body, outcome, split_title
from switchboard.emulators.pipedrive import PipedriveEmulator, create_app

START = datetime(2026, 3, 2, 15, 4, 2, 700000, tzinfo=UTC)
END = datetime(2026, 3, 2, 15, 4, 44, 100000, tzinfo=UTC)
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _call(**facts: object) -> CrmNote:
    values: dict[str, object] = {
        "kind": "call", "phone": "+14155550134", "line_number": "+15550100100",
        "direction": "incoming", "status": "completed", "duration_s": 42.0,
        "started_at": START, "ended_at": END, "answered": True,
    }  # fmt: skip
    values.update(facts)
    return CrmNote(
        person_id="7",
        title="☎️ Call",
        content="<p>Incoming answered</p>",
        created_at=START,
        content_format="html",
        activity=ActivityFacts(**values),  # type: ignore[arg-type]
    )


def test_a_short_call_keeps_its_exact_times_and_duration() -> None:
    note = _call()
    assert note.activity is not None
    body = call_log_body(note, note.activity, NOW)
    assert body["start_time"] == "2026-03-02 15:04:02"
    assert body["end_time"] == "2026-03-02 15:04:44"
    assert body["duration"] == "42"
    assert (body["from_phone_number"], body["to_phone_number"]) == ("+14155550134", "+15550100100")
    assert (body["subject"], body["note"], body["person_id"]) == ("☎️ Call", note.content, 7)


def test_outgoing_calls_go_to_the_contact() -> None:
    note = _call(direction="outgoing")
    assert note.activity is not None
    body = call_log_body(note, note.activity, NOW)
    assert (body["from_phone_number"], body["to_phone_number"]) == ("+15550100100", "+14155550134")


def test_outcomes() -> None:
    def of(**facts: object) -> str:
        note = _call(**facts)
        assert note.activity is not None
        return outcome(note.activity)

    assert of() == "connected"
    assert of(answered=False) == "no_answer"
    assert of(answered=False, has_voicemail=True) == "left_voicemail"
    assert of(status="busy", answered=False) == "busy"


def test_note_titles_round_trip() -> None:
    assert split_title("<p><strong>💬 A &amp; B</strong></p><p>hi</p>") == ("💬 A & B", "<p>hi</p>")
    assert split_title("<p>someone else's note</p>") == (None, "<p>someone else's note</p>")


async def test_a_call_becomes_one_call_log_and_a_text_a_note() -> None:
    emu = PipedriveEmulator(token="unit-token")
    person = emu.default_company.create_person(
        {"name": "Ada", "phones": ["(415) 555-0134"]}, emu.default_company.admin_user_id, "app"
    )
    connector = PipedriveConnector(
        "unit-token", "http://pipedrive.test", transport=httpx.ASGITransport(create_app(emu))
    )
    try:
        note = _call()
        note.person_id = str(person.id)
        ref = await connector.write_note(note)
        assert ref.id.startswith("calllog:")
        (log,) = emu.default_company.call_logs.values()
        assert (log.duration, log.start_time.replace(microsecond=0)) == (
            "42",
            START.replace(microsecond=0),
        )
        assert log.person_id == person.id and log.outcome == "connected"
        text = CrmNote(str(person.id), "💬 Message", "<p>hi</p>", created_at=START)
        note_ref = await connector.write_note(text)
        listed = {n.id: n for n in await connector.list_notes(str(person.id))}
        assert set(listed) == {ref.id, note_ref.id}
        assert listed[note_ref.id].title == "💬 Message"
        assert listed[note_ref.id].content == "<p>hi</p>"
        await connector.delete_note(ref.id)
        await connector.delete_note(ref.id)  # gone already: fine
        assert not emu.default_company.call_logs
    finally:
        await connector.aclose()
