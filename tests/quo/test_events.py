"""One rule for the call or message an event is about, shared by the ledger key, routing and the
facts: a call's parts (summary, transcript, voicemail) name the call in `callId`; everything else
in `id`. A part without `callId` is about no call we can name (never the part's own id)."""

from __future__ import annotations

import pytest

from switchboard.quo.events import ledger_key, resource_id, resource_id_of


@pytest.mark.parametrize(
    ("event_type", "obj", "want"),
    [
        ("call.completed", {"id": "AC1"}, "AC1"),
        ("message.received", {"id": "AM1"}, "AM1"),
        ("call.summary.completed", {"id": "CS1", "callId": "AC1"}, "AC1"),
        ("call.transcript.completed", {"callId": "AC1"}, "AC1"),
        ("call.voicemail.completed", {"id": "VM1", "callId": "AC1"}, "AC1"),
        ("call.summary.completed", {"id": "CS1"}, None),  # a part's own id is not the call's
        ("some.new.event", {"object": "callTranscript", "callId": "AC2", "id": "T"}, "AC2"),
        ("call.completed", {"id": ""}, None),
        ("call.completed", {"id": 7}, None),
    ],
)
def test_resource_id_of(event_type: str, obj: dict[str, object], want: str | None) -> None:
    assert resource_id_of(event_type, obj) == want
    envelope = {"id": "EV1", "type": event_type, "data": {"object": obj}}
    assert resource_id(envelope) == want
    key, rid = ledger_key(envelope)
    assert rid == want
    assert key.startswith(f"{event_type}:{want}:") if want else key == "event:EV1"


def test_the_activity_facts_use_the_same_rule() -> None:
    from switchboard.activity.facts_base import resource_id as facts_rid

    obj = {"id": "CS1", "callId": "AC1"}
    assert facts_rid("call.summary.completed", obj) == "AC1"
    with pytest.raises(ValueError):
        facts_rid("call.summary.completed", {"id": "CS1"})
