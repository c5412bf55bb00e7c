from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from functools import reduce
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.activity.facts import (
    CallFacts,
    MessageFacts,
    facts_from_data,
    facts_from_event,
    is_ai_user,
    merge_facts,
    resource_id,
)
from tests.fixtures import QUO_WEBHOOKS

FIXTURES = QUO_WEBHOOKS
OWN = ["+15550100100"]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def call_obj(name: str = "call.completed.answered-incoming", **changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(fixture(name)["data"]["object"])
    obj.update(changes)
    return obj


def test_answered_incoming_fixture() -> None:
    facts = CallFacts.from_event(fixture("call.completed.answered-incoming"))
    assert facts.call_id == "ACcall0001"
    assert facts.direction == "incoming"
    assert facts.phone_number_id == "PNline0001"
    assert (
        facts.created_at is not None
        and facts.created_at.isoformat() == "2026-03-02T15:04:02.120000+00:00"
    )
    assert facts.participants == ("+15550100100", "+15550142231")
    assert facts.external_numbers(OWN) == ["+15550142231"]
    assert facts.contact_ids == ("CTcontact001",)
    assert facts.deep_link == "https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACcall0001"
    assert facts.phases == ("call.completed",)
    assert facts.recordings == ()
    assert facts.was_answered and not facts.is_unanswered and not facts.expects_voicemail
    assert facts.outcome().kind == "answered"
    assert facts.outcome().user_id == "USuser0001"


def test_all_phases_fold_into_one() -> None:
    facts = CallFacts.from_event(fixture("call.completed.answered-incoming"))
    for name in ("call.recording.completed", "call.summary.completed", "call.transcript.completed"):
        event = fixture(name)
        facts = facts.apply_event(event["type"], event)
    assert [r.url for r in facts.recordings] == [
        "https://files.example.test/recordings/ACcall0001.mp3"
    ]
    assert facts.recordings[0].duration == 121
    assert facts.summary is not None and len(facts.summary.summary) == 2
    assert facts.summary.next_steps == ("Send the updated installation confirmation by email.",)
    assert facts.summary.jobs[0].fields() == [
        ("First and last name", "Dana Whitfield"),
        ("Callback number", "+15550142231"),
    ]
    assert facts.transcript is not None and len(facts.transcript.dialogue) == 2
    assert facts.transcript.dialogue[0].user_id == "USuser0001"
    assert facts.phases == (
        "call.completed",
        "call.recording.completed",
        "call.summary.completed",
        "call.transcript.completed",
    )


def test_summary_and_transcript_carry_call_id_not_id() -> None:
    summary = fixture("call.summary.completed")
    assert resource_id("call.summary.completed", summary) == "ACcall0001"
    assert (
        resource_id("call.transcript.completed", fixture("call.transcript.completed"))
        == "ACcall0001"
    )
    assert resource_id("call.completed", fixture("call.completed.ai-handled")) == "ACcall0005"
    assert resource_id("message.received", fixture("message.received")) == "ACmsg0001"
    # A summary first: facts exist but cannot be rendered until the call is known.
    facts = CallFacts.from_event(summary)
    assert facts.call_id == "ACcall0001"
    assert not facts.has_call
    assert facts.summary is not None
    with pytest.raises(ValueError, match="not known yet"):
        facts.outcome()
    with pytest.raises(ValueError, match="no call/message id"):
        resource_id("call.summary.completed", {"summary": []})


def test_payload_may_be_envelope_or_object() -> None:
    event = fixture("call.completed.answered-incoming")
    a = CallFacts.empty("ACcall0001").apply_event("call.completed", event)
    b = CallFacts.empty("ACcall0001").apply_event(
        "call.completed", event["data"]["object"], deep_link=event["data"]["deepLink"]
    )
    assert a == b


def test_wrong_ids_and_types_are_rejected() -> None:
    facts = CallFacts.empty("ACother")
    with pytest.raises(ValueError):
        facts.apply_event("call.completed", fixture("call.completed.answered-incoming"))
    with pytest.raises(ValueError):
        facts.apply_event("call.summary.completed", fixture("call.summary.completed"))
    with pytest.raises(ValueError):
        facts.merge(CallFacts.empty("ACcall0001"))
    with pytest.raises(ValueError, match="not a call event"):
        facts.apply_event("message.received", fixture("message.received"))
    with pytest.raises(ValueError, match="not a message event"):
        MessageFacts.empty("ACmsg0001").apply_event("call.completed", {})


def test_empty_participants_then_rest_fetch() -> None:
    facts = CallFacts.from_event(fixture("call.completed.empty-participants"))
    assert facts.participants == ()
    assert facts.needs_participants
    assert facts.external_numbers(OWN) == []
    rest = call_obj(
        "call.completed.empty-participants", participants=["+15550100100", "+15550142231"]
    )
    rest.pop("recordings")
    rest.pop("contactIds")
    fetched = facts.with_call(rest)
    assert not fetched.needs_participants
    assert fetched.external_numbers(OWN) == ["+15550142231"]
    # A later redelivery of the empty-participants event does not erase them.
    again = fetched.apply_event("call.completed", fixture("call.completed.empty-participants"))
    assert again == fetched


def test_more_than_two_participants() -> None:
    obj = call_obj(participants=["+15550142231", "+15550100100", "+15550142299"])
    facts = CallFacts.empty("ACcall0001").apply_event("call.completed", obj)
    assert facts.external_numbers(OWN) == ["+15550142231", "+15550142299"]
    # Own numbers in other formats are recognised too.
    assert facts.external_numbers(["(555) 010-0100"]) == ["+15550142231", "+15550142299"]


def test_ai_handled_either_flag() -> None:
    ai = CallFacts.from_event(fixture("call.completed.ai-handled"))
    assert ai.is_ai_handled and ai.outcome().kind == "ai"
    flagged = CallFacts.empty("ACcall0001").apply_event(
        "call.completed", call_obj(aiHandled="ai-agent", answeredBy=None)
    )
    assert flagged.is_ai_handled and flagged.outcome().kind == "ai"
    assert is_ai_user("SYsona0001") and not is_ai_user("USuser0001") and not is_ai_user(None)


@pytest.mark.parametrize(
    ("changes", "kind", "user"),
    [
        ({}, "answered", "USuser0001"),
        (
            {"answeredBy": "USuser0002"},
            "answered",
            "USuser0002",
        ),  # answeredBy beats the line's userId
        ({"answeredBy": None}, "answered", "USuser0001"),
        ({"answeredAt": None, "answeredBy": None}, "missed", "USuser0001"),
        ({"status": "no-answer", "answeredAt": None, "answeredBy": None}, "missed", "USuser0001"),
        ({"status": "missed", "answeredAt": None, "answeredBy": None}, "missed", "USuser0001"),
        ({"status": "busy", "answeredAt": None, "answeredBy": None}, "other", "USuser0001"),
        ({"status": "forwarded", "forwardedTo": "USuser0002"}, "forwarded", None),
        ({"forwardedTo": "+15550177777"}, "forwarded", None),
        ({"status": "forwarded", "answeredAt": None, "answeredBy": None}, "forwarded", None),
        (
            {"direction": "outgoing", "answeredBy": None, "initiatedBy": "USuser0003"},
            "initiated",
            "USuser0003",
        ),
        (
            {
                "direction": "outgoing",
                "answeredAt": None,
                "answeredBy": None,
                "initiatedBy": "USuser0003",
            },
            "not_answered",
            "USuser0003",
        ),
        (
            {"direction": "outgoing", "status": "no-answer", "answeredAt": None},
            "not_answered",
            "USuser0001",
        ),
        (
            {"direction": "outgoing", "status": "canceled", "answeredAt": None},
            "other",
            "USuser0001",
        ),
    ],
)
def test_outcome(changes: dict[str, Any], kind: str, user: str | None) -> None:
    facts = CallFacts.empty("ACcall0001").apply_event("call.completed", call_obj(**changes))
    outcome = facts.outcome()
    assert outcome.kind == kind
    assert outcome.user_id == user
    if kind == "forwarded":
        assert outcome.forwarded_to == changes.get("forwardedTo")


def test_voicemail_lifecycle() -> None:
    facts = CallFacts.from_event(fixture("call.completed.unanswered-with-voicemail"))
    assert facts.is_unanswered and not facts.was_answered
    assert facts.expects_voicemail
    assert facts.with_voicemail(None).expects_voicemail  # 404: not there yet
    processing = {
        "id": "VM1",
        "status": "in-progress",
        "duration": None,
        "transcript": None,
        "recordingUrl": None,
    }
    done = {
        "id": "VM1",
        "status": "completed",
        "duration": 16,
        "transcript": "T",
        "recordingUrl": "V",
    }
    facts = facts.with_voicemail(processing)
    assert (
        facts.expects_voicemail and facts.voicemail is not None and not facts.voicemail.has_content
    )
    facts = facts.with_voicemail(done)
    assert not facts.expects_voicemail
    assert facts.voicemail is not None
    assert (facts.voicemail.url, facts.voicemail.duration, facts.voicemail.transcript) == (
        "V",
        16,
        "T",
    )
    # A stale "processing" read arriving late does not win over the completed one.
    assert facts.with_voicemail(processing) == facts
    # Older payloads: no-answer / missed are voicemail candidates too; answered calls are not.
    for status in ("no-answer", "missed"):
        old = CallFacts.empty("ACcall0001").apply_event(
            "call.completed", call_obj(status=status, answeredAt=None, answeredBy=None)
        )
        assert old.expects_voicemail
    assert not CallFacts.from_event(fixture("call.completed.answered-incoming")).expects_voicemail


def test_voicemail_embedded_in_call_object() -> None:
    obj = call_obj(answeredAt=None, answeredBy=None, voicemail={"url": "V", "duration": 16})
    facts = CallFacts.empty("ACcall0001").apply_event("call.completed", obj)
    assert facts.voicemail is not None and facts.voicemail.url == "V"


def test_recordings_rest_and_webhook_merge_by_id() -> None:
    facts = CallFacts.from_event(fixture("call.completed.answered-incoming"))
    pending = [
        {
            "id": "CRrec0001",
            "duration": None,
            "url": None,
            "startTime": None,
            "status": "processing",
            "type": None,
        }
    ]
    facts = facts.with_recordings(pending)
    assert facts.recordings[0].url is None
    facts = facts.apply_event("call.recording.completed", fixture("call.recording.completed"))
    assert len(facts.recordings) == 1 and facts.recordings[0].url is not None
    assert facts.with_recordings(pending) == facts
    second = {"id": "CRrec0002", "duration": 30, "url": "u2", "startTime": "2026-03-02T15:06:00Z"}
    assert [r.id for r in facts.with_recordings([second]).recordings] == ["CRrec0001", "CRrec0002"]


def test_ringing_never_overrides_completed() -> None:
    completed = CallFacts.from_event(fixture("call.completed.answered-incoming"))
    ringing = CallFacts.from_event(fixture("call.ringing"))
    assert ringing.call is not None and ringing.call.status == "ringing"
    assert completed.merge(ringing).call == completed.call
    assert ringing.merge(completed).call == completed.call


def test_later_rest_snapshot_wins() -> None:
    first = CallFacts.from_event(fixture("call.completed.answered-incoming"))
    later = first.with_call(call_obj(updatedAt="2026-03-02T15:09:00.000Z", answeredBy="USuser0002"))
    assert later.attributed_user_id() == "USuser0002"
    assert first.merge(later) == later.merge(first) == later


def test_messages_to_string_or_list() -> None:
    event = fixture("message.delivered")
    from_event = MessageFacts.from_event(event)
    assert from_event.to == ("+15550142231",)
    rest = copy.deepcopy(event["data"]["object"])
    rest["to"] = ["+15550142231"]
    rest["updatedAt"] = None
    from_rest = MessageFacts.empty("ACmsg0002").with_message(rest)
    assert from_rest.to == from_event.to
    assert from_event.direction == "outgoing" and from_event.text == "Yes - see you Tuesday at 10."
    assert from_event.external_numbers(OWN) == ["+15550142231"]
    received = MessageFacts.from_event(fixture("message.received"))
    assert received.external_numbers(OWN) == ["+15550142231"]
    assert received.direction == "incoming"
    # Redelivery and the REST read change nothing but the recorded phases.
    merged = from_event.merge(from_rest).merge(from_event)
    assert merged.message == from_event.merge(from_rest).message
    assert merged.phases == ("message.delivered", "rest.message")


def test_message_status_progression_is_order_independent() -> None:
    obj = copy.deepcopy(fixture("message.delivered")["data"]["object"])
    sent = dict(obj, status="sent")
    a = MessageFacts.empty("ACmsg0002").with_message(sent).apply_event("message.delivered", obj)
    b = MessageFacts.empty("ACmsg0002").apply_event("message.delivered", obj).with_message(sent)
    assert a == b
    assert a.message is not None and a.message.status == "delivered"


@pytest.mark.parametrize(
    "name",
    [
        "call.completed.answered-incoming",
        "call.completed.ai-handled",
        "call.completed.empty-participants",
        "call.summary.completed",
        "call.transcript.completed",
        "message.received",
    ],
)
def test_json_round_trip(name: str) -> None:
    facts = facts_from_event(fixture(name))
    stored = json.loads(json.dumps(facts.to_data()))
    assert facts_from_data(stored) == facts


def test_full_call_round_trip() -> None:
    facts = reduce(
        lambda f, e: f.apply_event(e["type"], e),
        [
            fixture(n)
            for n in (
                "call.recording.completed",
                "call.summary.completed",
                "call.transcript.completed",
            )
        ],
        CallFacts.from_event(fixture("call.completed.answered-incoming")),
    ).with_voicemail(
        {"status": "completed", "duration": 3, "recordingUrl": "V", "transcript": None}
    )
    stored = json.loads(json.dumps(facts.to_data()))
    back = facts_from_data(stored)
    assert back == facts
    assert isinstance(back, CallFacts) and back.to_data() == stored


# --- order independence ----------------------------------------------------------------------

Update = Callable[[CallFacts], CallFacts]


def _event(name: str, **changes: Any) -> Update:
    event = copy.deepcopy(fixture(name))
    event["data"]["object"].update(changes)
    return lambda f: f.apply_event(event["type"], event)


_REC_PENDING = {
    "id": "CRrec0001",
    "duration": None,
    "url": None,
    "startTime": None,
    "status": "processing",
}
_REC_2 = {
    "id": "CRrec0002",
    "duration": 30,
    "url": "u2",
    "startTime": "2026-03-02T15:06:00Z",
    "status": "completed",
}

UPDATES: list[Update] = [
    _event("call.completed.answered-incoming"),
    _event("call.completed.answered-incoming", participants=[]),
    _event(
        "call.completed.answered-incoming",
        participants=["+15550100100", "+15550142231", "+15550142299"],
    ),
    _event("call.recording.completed"),
    _event("call.ringing"),
    _event("call.summary.completed"),
    _event("call.summary.completed", status="in-progress", summary=None, nextSteps=None, jobs=None),
    _event("call.transcript.completed"),
    _event("call.transcript.completed", dialogue=[]),
    lambda f: f.with_call(call_obj(updatedAt="2026-03-02T15:10:00.000Z", answeredBy="USuser0002")),
    lambda f: f.with_recordings([_REC_PENDING]),
    lambda f: f.with_recordings([_REC_2]),
    lambda f: f.with_voicemail(None),
    lambda f: f.with_voicemail({"status": "in-progress", "duration": None, "recordingUrl": None}),
    lambda f: f.with_voicemail(
        {"status": "completed", "duration": 16, "recordingUrl": "V", "transcript": "T"}
    ),
    lambda f: f.with_voicemail(
        {"status": "completed", "duration": 16, "recordingUrl": "V2", "transcript": None}
    ),
]


def fold(indices: list[int]) -> CallFacts:
    return reduce(lambda f, i: UPDATES[i](f), indices, CallFacts.empty("ACcall0001"))


indices = st.lists(st.integers(0, len(UPDATES) - 1), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), picked=indices)
def test_any_order_any_repetition_same_facts(data: st.DataObject, picked: list[int]) -> None:
    shuffled = data.draw(st.permutations(picked))
    canonical = fold(sorted(set(picked)))
    assert fold(picked) == canonical
    assert fold(list(shuffled)) == canonical
    assert fold(picked + picked[::-1]) == canonical


@settings(max_examples=100, deadline=None)
@given(data=st.data(), picked=indices)
def test_merge_is_a_semilattice(data: st.DataObject, picked: list[int]) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(picked)), max_size=3)))
    bounds = [0, *cuts, len(picked)]
    parts = [fold(picked[a:b]) for a, b in itertools.pairwise(bounds)]
    order = data.draw(st.permutations(range(len(parts))))
    merged = reduce(lambda acc, i: acc.merge(parts[i]), order, CallFacts.empty("ACcall0001"))
    assert merged == fold(picked)
    a, b = parts[0], parts[-1]
    assert a.merge(b) == b.merge(a)
    assert a.merge(a) == a


def test_user_ids_to_resolve() -> None:
    facts = CallFacts.from_event(fixture("call.completed.ai-handled"))
    assert facts.user_ids() == ("USuser0001",)  # SY... never looked up
    facts = CallFacts.empty("ACcall0001").apply_event(
        "call.completed", call_obj(answeredBy="USuser0002", forwardedTo="USuser0003")
    )
    facts = facts.apply_event("call.transcript.completed", fixture("call.transcript.completed"))
    assert facts.user_ids() == ("USuser0001", "USuser0002", "USuser0003")
    assert CallFacts.empty("ACx").user_ids() == ()
    assert MessageFacts.from_event(fixture("message.delivered")).user_ids() == ("USuser0001",)
    assert MessageFacts.from_event(fixture("message.received")).user_ids() == ("USuser0001",)


def test_merge_facts_of_either_kind() -> None:
    call = facts_from_event(fixture("call.completed.answered-incoming"))
    summary = facts_from_event(fixture("call.summary.completed"))
    message = facts_from_event(fixture("message.received"))
    assert merge_facts(call, summary) == merge_facts(summary, call)
    assert merge_facts(message, message) == message
    with pytest.raises(ValueError, match="cannot merge"):
        merge_facts(call, message)
