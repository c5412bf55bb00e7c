"""Activity on Quo's dated (2026-03-30) webhooks: the envelope normalised to the legacy shape,
voicemails from call.voicemail.completed with no delayed fetch, failed texts, ignored events."""

from __future__ import annotations

import copy
from typing import Any

from switchboard.activity.events import classify
from switchboard.activity.facts import CallFacts, MessageFacts
from switchboard.activity.render import FAILED_TEXT, render_message_note
from switchboard.quo.envelope import normalize
from tests.activity.test_render import CTX, fixture


def dated(legacy: dict[str, Any], event_type: str | None = None) -> dict[str, Any]:
    """The same event as a dated webhook sends it."""
    obj = copy.deepcopy(legacy["data"]["object"])
    ids = obj.pop("contactIds", [])
    return {
        "id": legacy["id"],
        "apiVersion": "2026-03-30",
        "createdAt": legacy["createdAt"],
        "type": event_type or legacy["type"],
        "data": {
            "resource": obj,
            "context": {"contacts": {"lookupStatus": "matched" if ids else "none", "ids": ids}},
            "links": {"quo": legacy["data"].get("deepLink")},
        },
    }


def test_normalised_envelope_reads_like_the_legacy_one() -> None:
    legacy = fixture("call.completed.unanswered-with-voicemail")
    got = normalize(dated(legacy))
    assert got["data"] == legacy["data"]
    assert got["object"] == "event" and got["apiVersion"] == "2026-03-30"
    assert normalize(legacy) is legacy  # legacy envelopes pass unchanged


def test_voicemail_event_completes_the_call_without_a_fetch() -> None:
    legacy = fixture("call.completed.unanswered-with-voicemail")
    call_id = legacy["data"]["object"]["id"]
    facts = CallFacts.empty(call_id).apply_event("call.completed", normalize(dated(legacy)))
    assert facts.expects_voicemail and not facts.needs_voicemail_fetch  # announced by Quo
    legacy_only = CallFacts.empty(call_id).apply_event("call.completed", legacy)
    assert legacy_only.needs_voicemail_fetch  # v1: the delayed fetch brings it
    voicemail = {
        "id": "EVvm",
        "apiVersion": "2026-03-30",
        "createdAt": legacy["createdAt"],
        "type": "call.voicemail.completed",
        "data": {
            "resource": {
                "object": "callVoicemail",
                "id": "VM1",
                "callId": call_id,
                "status": "completed",
                "duration": 16,
                "transcript": "T",
                "recordingUrl": "V",
            },
            "context": {},
            "links": {"quo": legacy["data"]["deepLink"]},
        },
    }
    event = normalize(voicemail)
    assert classify(event).resource_id == call_id and classify(event).handled
    done = facts.apply_event("call.voicemail.completed", event)
    assert done.voicemail is not None and done.voicemail.url == "V"
    assert not done.expects_voicemail


def test_failed_text_is_noted_as_failed_and_the_rest_is_unchanged() -> None:
    legacy = fixture("message.delivered")
    failed = dated(legacy, "message.failed")
    failed["data"]["resource"]["status"] = "failed"
    facts = MessageFacts.empty(legacy["data"]["object"]["id"]).apply_event(
        "message.failed", normalize(failed)
    )
    note = render_message_note(facts, CTX)
    link = legacy["data"]["deepLink"]
    assert note.body == (
        f"Sam Ortiz sent: Yes - see you Tuesday at 10.\n\n{FAILED_TEXT}\n\n"
        f"[View the message activity in Quo]({link})"
    )


def test_call_missed_answered_forwarded_are_recorded_ignored() -> None:
    legacy = fixture("call.completed.unanswered-with-voicemail")
    for event_type in ("call.missed", "call.answered", "call.forwarded"):
        got = classify(normalize(dated(legacy, event_type)))
        assert not got.handled and "call.completed" in (got.ignored_reason or "")
