from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from switchboard.activity.facts import CallFacts, MessageFacts, facts_from_event
from switchboard.activity.render import (
    TRANSCRIPT_CUT_NOTE,
    LineInfo,
    NotRenderable,
    RenderContext,
    RenderedNote,
    format_duration,
    format_value,
    render_call_note,
    render_message_note,
    render_note,
    user_names_from_phone_numbers,
)
from tests.fixtures import QUO_WEBHOOKS

FIXTURES = QUO_WEBHOOKS

CONTACT = "+15550142231"
LINE = "📞 Front Desk +15550100100"
QUO_LINK = "[View the call activity in Quo](L)"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def workspace_lines() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = fixture("_workspace-phone-numbers")["data"]
    return lines


def make_ctx(**changes: Any) -> RenderContext:
    lines = [LineInfo.from_quo(x) for x in workspace_lines()]
    names = {**user_names_from_phone_numbers(workspace_lines()), "USuser0002": "Lee Park"}
    options: dict[str, Any] = {
        "contact_number": CONTACT,
        "lines": {line.id: line for line in lines},
        "user_names": names,
    }
    options.update(changes)
    return RenderContext(**options)


CTX = make_ctx()


def call(name: str = "call.completed.answered-incoming", **changes: Any) -> CallFacts:
    """Facts of one call from a fixture's object with `changes`, deep link `L`."""
    obj = copy.deepcopy(fixture(name)["data"]["object"])
    obj.update(changes)
    return CallFacts.empty(obj["id"]).apply_event("call.completed", obj, deep_link="L")


def summary(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "callId": "ACcall0001",
        "status": "completed",
        "summary": [],
        "nextSteps": [],
        "jobs": None,
    }
    base.update(fields)
    return base


def body(facts: CallFacts, ctx: RenderContext = CTX) -> str:
    return render_call_note(facts, ctx).body


# --- the worked examples of activity-notes.md, literally --------------------------------------


def test_example_incoming_answered_before_recording() -> None:
    note = render_call_note(call(), CTX)
    assert note == RenderedNote(
        title="☎️ Call +15550142231 → 📞 Front Desk +15550100100",
        body="Incoming answered by Sam Ortiz\n\n▶️ Recording (2:05)\n\n"
        "[View the call activity in Quo](L)",
    )


def test_example_same_call_after_summary() -> None:
    facts = call().with_recordings([{"id": "CRrec0001", "duration": 121, "url": "R"}])
    facts = facts.apply_event(
        "call.summary.completed", summary(summary=["A", "B"], nextSteps=["C"])
    )
    assert body(facts) == (
        "Incoming answered by Sam Ortiz\n\n[▶️ Recording (2:01)](R)\n\n**Summary:**\n• A\n• B\n\n"
        "**Next Steps:**\n• C\n\n[View the call activity in Quo](L)"
    )


def test_example_missed_with_voicemail() -> None:
    facts = call("call.completed.unanswered-with-voicemail")
    facts = facts.with_voicemail(
        {"status": "completed", "duration": 16, "recordingUrl": "V", "transcript": "T"}
    )
    assert body(facts) == (
        "Incoming missed\n\n**Voicemail:**\n• [Listen to voicemail](V) (0:16)\n"
        "**Transcript:**\nT\n\n[View the call activity in Quo](L)"
    )


def test_example_outgoing_sms() -> None:
    obj = fixture("message.delivered")["data"]["object"]
    facts = MessageFacts.empty("ACmsg0002").apply_event("message.delivered", obj, deep_link="L")
    assert render_message_note(facts, CTX) == RenderedNote(
        title="💬 Message 📞 Front Desk +15550100100 → +15550142231",
        body="Sam Ortiz sent: Yes - see you Tuesday at 10.\n\n"
        "[View the message activity in Quo](L)",
    )


# --- titles and the outcome table --------------------------------------------------------------


def test_call_titles_by_direction() -> None:
    assert render_call_note(call(), CTX).title == f"☎️ Call {CONTACT} → {LINE}"
    outgoing = call("call.completed.answered-outgoing")
    assert render_call_note(outgoing, CTX).title == f"☎️ Call {LINE} → {CONTACT}"
    other_person = make_ctx(contact_number="+15550142299")
    assert render_call_note(call(), other_person).title == f"☎️ Call +15550142299 → {LINE}"


def test_line_label_without_symbol_or_unknown() -> None:
    plain = make_ctx(
        lines={"PNline0001": LineInfo(id="PNline0001", name="Sales", number="+15550100100")}
    )
    assert render_call_note(call(), plain).title == f"☎️ Call {CONTACT} → Sales +15550100100"
    unknown = make_ctx(lines={})
    assert render_call_note(call(), unknown).title == f"☎️ Call {CONTACT} → PNline0001"
    assert (
        render_call_note(call(), make_ctx(contact_number=None)).title
        == f"☎️ Call Unknown number → {LINE}"
    )


@pytest.mark.parametrize(
    ("changes", "first_line"),
    [
        # handled by the AI agent: either flag
        ({"aiHandled": "ai-agent"}, "Handled by Sona"),
        ({"answeredBy": "SYsona0001"}, "Handled by Sona"),
        # incoming answered: answeredBy first, not the line owner
        ({}, "Incoming answered by Sam Ortiz"),
        ({"answeredBy": "USuser0002"}, "Incoming answered by Lee Park"),
        ({"answeredBy": "USnobody"}, "Incoming answered by Unknown user"),
        # outgoing answered
        (
            {"direction": "outgoing", "answeredBy": None, "initiatedBy": "USuser0002"},
            "Outgoing initiated by Lee Park",
        ),
        # incoming not answered: all three spellings
        ({"answeredAt": None, "answeredBy": None}, "Incoming missed"),
        ({"status": "no-answer", "answeredAt": None, "answeredBy": None}, "Incoming missed"),
        ({"status": "missed", "answeredAt": None, "answeredBy": None}, "Incoming missed"),
        # outgoing not answered (fixed: never "Incoming missed")
        (
            {
                "direction": "outgoing",
                "answeredAt": None,
                "answeredBy": None,
                "initiatedBy": "USuser0002",
            },
            "Outgoing initiated by Lee Park (not answered)",
        ),
        (
            {
                "direction": "outgoing",
                "status": "no-answer",
                "answeredAt": None,
                "answeredBy": None,
            },
            "Outgoing initiated by Sam Ortiz (not answered)",
        ),
        # forwarded (fixed: user ids resolved; phone menu when no target)
        ({"status": "forwarded", "forwardedTo": "USuser0002"}, "Incoming forwarded to Lee Park"),
        ({"forwardedTo": "+15550177777"}, "Incoming forwarded to +15550177777"),
        (
            {
                "status": "forwarded",
                "forwardedTo": None,
                "answeredAt": None,
                "callRoute": "phone-menu",
            },
            "Incoming forwarded by phone menu",
        ),
        # anything else
        ({"status": "busy", "answeredAt": None, "answeredBy": None}, "Incoming busy"),
        ({"direction": "outgoing", "status": "failed", "answeredAt": None}, "Outgoing failed"),
        ({"direction": "outgoing", "status": "canceled", "answeredAt": None}, "Outgoing canceled"),
    ],
)
def test_outcome_rows(changes: dict[str, Any], first_line: str) -> None:
    text = body(call(**changes))
    assert text.split("\n")[0] == first_line


def test_missing_user_drops_the_by() -> None:
    facts = call(answeredBy=None, userId=None)
    assert body(facts).startswith("Incoming answered\n\n")


# --- recording ---------------------------------------------------------------------------------


def test_one_recording() -> None:
    facts = call().apply_event("call.recording.completed", fixture("call.recording.completed"))
    assert (
        "\n\n[▶️ Recording (2:01)](https://files.example.test/recordings/ACcall0001.mp3)\n\n"
        in body(facts)
    )


def test_several_recordings_in_start_order() -> None:
    facts = call().with_recordings(
        [
            {"id": "CR2", "duration": 30, "url": "u2", "startTime": "2026-03-02T15:05:00Z"},
            {"id": "CR1", "duration": 45, "url": "u1", "startTime": "2026-03-02T15:04:07Z"},
        ]
    )
    assert body(facts).split("\n\n")[1] == "▶️ Recordings: [Part 1 (0:45)](u1) | [Part 2 (0:30)](u2)"


def test_recording_placeholder_only_for_answered_calls_with_duration() -> None:
    assert body(call(duration=125)).split("\n\n")[1] == "▶️ Recording (2:05)"
    assert body(call(duration=0)) == f"Incoming answered by Sam Ortiz\n\n{QUO_LINK}"
    assert body(call(answeredAt=None, answeredBy=None)) == f"Incoming missed\n\n{QUO_LINK}"
    # A recording still processing (no url, no duration) keeps the placeholder.
    pending = call().with_recordings(
        [{"id": "CR1", "duration": None, "url": None, "status": "processing"}]
    )
    assert body(pending).split("\n\n")[1] == "▶️ Recording (2:05)"


# --- voicemail ---------------------------------------------------------------------------------


def missed() -> CallFacts:
    return call("call.completed.unanswered-with-voicemail")


def test_voicemail_without_url_or_transcript() -> None:
    facts = missed().with_voicemail(
        {"status": "completed", "duration": 16, "recordingUrl": None, "transcript": None}
    )
    assert body(facts) == f"Incoming missed\n\n**Voicemail:**\n• ➿ Voicemail (0:16)\n\n{QUO_LINK}"


def test_voicemail_with_url_no_transcript() -> None:
    facts = missed().with_voicemail(
        {"status": "completed", "duration": 7, "recordingUrl": "V", "transcript": None}
    )
    assert (
        body(facts)
        == f"Incoming missed\n\n**Voicemail:**\n• [Listen to voicemail](V) (0:07)\n\n{QUO_LINK}"
    )


def test_voicemail_still_processing_is_not_shown() -> None:
    facts = missed().with_voicemail(
        {"status": "in-progress", "duration": None, "recordingUrl": None}
    )
    assert body(facts) == f"Incoming missed\n\n{QUO_LINK}"


# --- summary -----------------------------------------------------------------------------------


def test_summary_fixture_with_job() -> None:
    facts = call().apply_event("call.summary.completed", fixture("call.summary.completed"))
    blocks = body(facts).split("\n\n")
    assert blocks[2:5] == [
        "**Summary:**\n• Caller asked about moving the installation date to next week.\n"
        "• Agent confirmed Tuesday 10am is available.",
        "**Next Steps:**\n• Send the updated installation confirmation by email.",
        "**✍️ Message taking:**\n• **First and last name:** Dana Whitfield\n"
        "• **Callback number:** +15550142231",
    ]


def test_job_values_that_are_objects_or_lists_are_readable() -> None:
    job = {
        "icon": "📋",
        "name": "Intake",
        "result": {
            "data": [
                {"name": "Times", "value": ["Tue 10am", "Wed 2pm"]},
                {"name": "Address", "value": {"street": "1 Main St", "city": "Springfield"}},
                {"name": "Urgent", "value": True},
                {"name": "Units", "value": 3},
                {"name": "Notes", "value": None},
                {"name": "People", "value": [{"name": "Dana", "value": "owner"}, {"first": "Lee"}]},
            ]
        },
    }
    facts = call().apply_event("call.summary.completed", summary(jobs=[job]))
    text = body(facts)
    assert "[object Object]" not in text
    assert (
        "**📋 Intake:**\n• **Times:** Tue 10am, Wed 2pm\n"
        "• **Address:** street: 1 Main St; city: Springfield\n"
        "• **Urgent:** Yes\n• **Units:** 3\n• **Notes:** —\n• **People:** Dana: owner, first: Lee"
    ) in text


def test_job_result_as_plain_object_and_without_icon() -> None:
    job = {"name": "Lead score", "result": {"score": 8.0, "reasons": ["budget", "timeline"]}}
    facts = call().apply_event("call.summary.completed", summary(jobs=[job]))
    assert "**Lead score:**\n• **score:** 8\n• **reasons:** budget, timeline" in body(facts)


def test_format_value() -> None:
    assert format_value([]) == "—"
    assert format_value({}) == "—"
    assert format_value("  ") == "—"
    assert format_value(False) == "No"
    assert format_value(2.5) == "2.5"
    assert format_value([[1, 2], {"a": [3]}]) == "1, 2, a: 3"


def test_empty_summary_sections_are_skipped_and_summary_can_be_disabled() -> None:
    empty = call().apply_event(
        "call.summary.completed", summary(status="in-progress", summary=None, nextSteps=None)
    )
    assert body(empty) == body(call())
    only_steps = call().apply_event("call.summary.completed", summary(nextSteps=["C"]))
    assert body(only_steps).split("\n\n")[2] == "**Next Steps:**\n• C"
    assert body(only_steps, make_ctx(include_summary=False)) == body(call())


# --- transcript --------------------------------------------------------------------------------


def test_transcript_speakers() -> None:
    transcript = fixture("call.transcript.completed")["data"]["object"]
    facts = call().apply_event("call.transcript.completed", transcript)
    assert body(facts).split("\n\n")[2] == (
        "**Transcript:**\n**Sam Ortiz:** Thanks for calling, this is Sam.\n"
        "**+15550142231:** Hi, I need to move my installation date."
    )
    assert body(facts, make_ctx(include_transcript=False)) == body(call())


def turns(n: int, text: str = "word " * 9) -> dict[str, Any]:
    dialogue = [
        {
            "start": i,
            "end": i + 1,
            "content": f"{i} {text}".strip(),
            "identifier": "+15550142231" if i % 2 else "+15550100100",
            "userId": None if i % 2 else "SYsona0001",
        }
        for i in range(n)
    ]
    return {
        "callId": "ACcall0001",
        "status": "completed",
        "createdAt": "2026-03-02T15:07:00Z",
        "dialogue": dialogue,
    }


def test_transcript_is_cut_at_a_turn_with_a_note() -> None:
    facts = call().apply_event("call.transcript.completed", turns(50))
    ctx = make_ctx(transcript_max_chars=200)
    block = body(facts, ctx).split("\n\n")[2]
    lines = block.split("\n")
    assert lines[0] == "**Transcript:**"
    assert lines[1].startswith("**Sona:** 0 word")
    assert lines[2].startswith("**+15550142231:** 1 word")
    assert lines[-1] == TRANSCRIPT_CUT_NOTE
    assert len("\n".join(lines[1:-1])) <= 200
    full = body(facts, make_ctx(transcript_max_chars=100_000))
    assert TRANSCRIPT_CUT_NOTE not in full and "49 word" in full


def test_transcript_first_turn_longer_than_the_limit() -> None:
    facts = call().apply_event("call.transcript.completed", turns(1, "x" * 500))
    block = body(facts, make_ctx(transcript_max_chars=50)).split("\n\n")[2]
    first, note = block.split("\n")[1:]
    assert first.endswith("…") and len(first) == 51
    assert note == TRANSCRIPT_CUT_NOTE


def test_multiline_turns_stay_on_one_line() -> None:
    data = turns(1)
    data["dialogue"][0]["content"] = "first\n  second"
    facts = call().apply_event("call.transcript.completed", data)
    assert "**Sona:** first second" in body(facts)


# --- all blocks, in order ----------------------------------------------------------------------


def test_every_block_in_order() -> None:
    facts = call("call.completed.unanswered-with-voicemail", duration=40)
    facts = facts.with_voicemail(
        {"status": "completed", "duration": 16, "recordingUrl": "V", "transcript": "T"}
    )
    facts = facts.with_recordings([{"id": "CR1", "duration": 20, "url": "R"}])
    facts = facts.apply_event(
        "call.summary.completed", summary(callId="ACcall0002", summary=["A"], nextSteps=["C"])
    )
    facts = facts.apply_event(
        "call.transcript.completed", {**turns(2, "hi"), "callId": "ACcall0002"}
    )
    assert body(facts) == (
        "Incoming missed\n\n[▶️ Recording (0:20)](R)\n\n"
        "**Voicemail:**\n• [Listen to voicemail](V) (0:16)\n**Transcript:**\nT\n\n"
        "**Summary:**\n• A\n\n**Next Steps:**\n• C\n\n"
        "**Transcript:**\n**Sona:** 0 hi\n**+15550142231:** 1 hi\n\n"
        f"{QUO_LINK}"
    )


def test_no_deep_link_no_last_line() -> None:
    obj = fixture("call.completed.answered-incoming")["data"]["object"]
    facts = CallFacts.empty("ACcall0001").apply_event("call.completed", obj)
    assert body(facts) == "Incoming answered by Sam Ortiz\n\n▶️ Recording (2:05)"


def test_not_renderable_before_the_call_is_known() -> None:
    facts = CallFacts.from_event(fixture("call.summary.completed"))
    with pytest.raises(NotRenderable):
        render_call_note(facts, CTX)
    with pytest.raises(NotRenderable):
        render_message_note(MessageFacts.empty("ACmsg0001"), CTX)


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00"),
        (None, "0:00"),
        (7, "0:07"),
        (59.5, "1:00"),
        (121.4, "2:01"),
        (125, "2:05"),
        (3665, "61:05"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


# --- messages ----------------------------------------------------------------------------------


def message(name: str, **changes: Any) -> MessageFacts:
    obj = copy.deepcopy(fixture(name)["data"]["object"])
    obj.update(changes)
    return MessageFacts.empty(obj["id"]).apply_event(name, obj, deep_link="L")


MSG_LINK = "[View the message activity in Quo](L)"


def test_incoming_message() -> None:
    note = render_message_note(message("message.received"), CTX)
    assert note.title == f"💬 Message {CONTACT} → {LINE}"
    assert note.body == f"Received: Is Tuesday still OK for the install?\n\n{MSG_LINK}"


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_message_text(text: str | None) -> None:
    assert (
        render_message_note(message("message.received", text=text), CTX).body
        == f"Received: (no text)\n\n{MSG_LINK}"
    )
    outgoing = render_message_note(message("message.delivered", text=text), CTX)
    assert outgoing.body == f"Sam Ortiz sent: (no text)\n\n{MSG_LINK}"


def test_outgoing_message_sender_resolution() -> None:
    assert render_message_note(
        message("message.delivered", userId="USuser0002"), CTX
    ).body.startswith("Lee Park sent: ")
    assert render_message_note(
        message("message.delivered", userId="SYsona0001"), CTX
    ).body.startswith("Sona sent: ")
    assert render_message_note(message("message.delivered", userId=None), CTX).body.startswith(
        "Sent: "
    )


def test_multiline_message_text_is_kept() -> None:
    note = render_message_note(message("message.received", text="line 1\nline 2"), CTX)
    assert note.body == f"Received: line 1\nline 2\n\n{MSG_LINK}"


# --- every fixture, parsed and rendered ---------------------------------------------------------

FIXTURE_NOTES = {
    "call.completed.answered-incoming": (
        f"☎️ Call {CONTACT} → {LINE}",
        "Incoming answered by Sam Ortiz\n\n▶️ Recording (2:05)\n\n"
        "[View the call activity in Quo](https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACcall0001)",
    ),
    "call.completed.ai-handled": (
        f"☎️ Call {CONTACT} → {LINE}",
        "Handled by Sona\n\n▶️ Recording (1:16)\n\n"
        "[View the call activity in Quo](https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACcall0005)",
    ),
    "call.completed.answered-outgoing": (
        f"☎️ Call {LINE} → {CONTACT}",
        "Outgoing initiated by Sam Ortiz\n\n▶️ Recording (1:04)\n\n"
        "[View the call activity in Quo](https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACcall0004)",
    ),
    "call.completed.empty-participants": (
        f"☎️ Call {CONTACT} → {LINE}",
        "Incoming missed\n\n"
        "[View the call activity in Quo](https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACcall0003)",
    ),
    "call.completed.unanswered-with-voicemail": (
        f"☎️ Call {CONTACT} → {LINE}",
        "Incoming missed\n\n"
        "[View the call activity in Quo](https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACcall0002)",
    ),
    "message.received": (
        f"💬 Message {CONTACT} → {LINE}",
        "Received: Is Tuesday still OK for the install?\n\n"
        "[View the message activity in Quo](https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACmsg0001)",
    ),
    "message.delivered": (
        f"💬 Message {LINE} → {CONTACT}",
        "Sam Ortiz sent: Yes - see you Tuesday at 10.\n\n"
        "[View the message activity in Quo](https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACmsg0002)",
    ),
}


@pytest.mark.parametrize("name", sorted(FIXTURE_NOTES))
def test_fixture_renders(name: str) -> None:
    assert render_note(facts_from_event(fixture(name)), CTX) == RenderedNote(*FIXTURE_NOTES[name])


def test_fixture_call_with_every_phase_in_any_order() -> None:
    names = [
        "call.transcript.completed",
        "call.summary.completed",
        "call.recording.completed",
        "call.completed.answered-incoming",
        "call.recording.completed",
    ]
    forward = CallFacts.empty("ACcall0001")
    backward = CallFacts.empty("ACcall0001")
    for name in names:
        forward = forward.apply_event(fixture(name)["type"], fixture(name))
    for name in reversed(names):
        backward = backward.apply_event(fixture(name)["type"], fixture(name))
    note = render_call_note(forward, CTX)
    assert note == render_call_note(backward, CTX)
    assert note.body == (
        "Incoming answered by Sam Ortiz\n\n"
        "[▶️ Recording (2:01)](https://files.example.test/recordings/ACcall0001.mp3)\n\n"
        "**Summary:**\n• Caller asked about moving the installation date to next week.\n"
        "• Agent confirmed Tuesday 10am is available.\n\n"
        "**Next Steps:**\n• Send the updated installation confirmation by email.\n\n"
        "**✍️ Message taking:**\n• **First and last name:** Dana Whitfield\n"
        "• **Callback number:** +15550142231\n\n"
        "**Transcript:**\n**Sam Ortiz:** Thanks for calling, this is Sam.\n"
        "**+15550142231:** Hi, I need to move my installation date.\n\n"
        "[View the call activity in Quo](https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACcall0001)"
    )


def test_rendering_survives_storage() -> None:
    facts = call().apply_event("call.summary.completed", fixture("call.summary.completed"))
    from switchboard.activity.facts import facts_from_data

    stored = json.loads(json.dumps(facts.to_data()))
    assert render_note(facts_from_data(stored), CTX) == render_call_note(facts, CTX)


def test_plain_text_variant() -> None:
    facts = call().with_recordings([{"id": "CR1", "duration": 121, "url": "R"}])
    facts = facts.apply_event(
        "call.summary.completed", fixture("call.summary.completed")["data"]["object"]
    )
    plain = render_call_note(facts, make_ctx(note_format="plain"))
    assert plain.title == "Call +15550142231 → Front Desk +15550100100"
    assert plain.body == (
        "Incoming answered by Sam Ortiz\r\n\r\nRecording (2:01): R\r\n\r\n"
        "Summary:\r\n• Caller asked about moving the installation date to next week.\r\n"
        "• Agent confirmed Tuesday 10am is available.\r\n\r\n"
        "Next Steps:\r\n• Send the updated installation confirmation by email.\r\n\r\n"
        "Message taking:\r\n• First and last name: Dana Whitfield\r\n"
        "• Callback number: +15550142231\r\n\r\n"
        "View the call activity in Quo: L"
    )
    sms = render_message_note(
        message("message.delivered"), make_ctx(note_format="plain", plain_strip_emoji=False)
    )
    assert sms.title == f"💬 Message {LINE} → {CONTACT}"
    cut = call().apply_event("call.transcript.completed", turns(40))
    text = render_call_note(
        cut, make_ctx(transcript_max_chars=100, note_format="plain", plain_newline="\n")
    ).body
    assert "… transcript shortened; the full transcript is in Quo." in text
    assert "_" not in text and "Sona: 0 word" in text
