"""The request-path router (pure): what is dispatched, what is ignored and why."""

from __future__ import annotations

from typing import Any

from switchboard.activity.events import classify
from switchboard.activity.settings import ActivitySettings
from switchboard.activity.workflows import PROCESSOR, QUEUE, route_quo
from switchboard.dispatch import Dispatch, Ignore, InboundEvent
from switchboard.quo.events import ledger_key
from tests.activity.fakes import fixture


def inbound(event: dict[str, Any], **settings: Any) -> InboundEvent:
    return InboundEvent(
        id="ev1",
        connection_id="conn1",
        provider="quo",
        event_type=event["type"],
        resource_id=None,
        payload=event,
        settings=settings,
    )


def test_call_phases_share_one_partition() -> None:
    keys = set()
    for name in (
        "call.completed.answered-incoming",
        "call.recording.completed",
        "call.summary.completed",
        "call.transcript.completed",
    ):
        decision = route_quo(inbound(fixture(name)))
        assert isinstance(decision, Dispatch)
        assert (decision.processor, decision.queue) == (PROCESSOR, QUEUE)
        keys.add(decision.partition_key)
    assert keys == {"conn1:ACcall0001"}


def test_both_message_events_map_to_the_message_id() -> None:
    for name in ("message.received", "message.delivered"):
        c = classify(fixture(name))
        assert c.handled and c.resource_type == "message"
        key, rid = ledger_key(fixture(name))
        assert rid == c.resource_id and key.startswith(f"{c.event_type}:{c.resource_id}:")


def test_ignored_with_reasons() -> None:
    ringing = route_quo(inbound(fixture("call.ringing")))
    assert isinstance(ringing, Ignore) and "call.ringing is not logged" in ringing.reason
    unknown = route_quo(inbound({"id": "EV9", "type": "contact.updated", "data": {"object": {}}}))
    assert isinstance(unknown, Ignore) and "contact.updated is not handled" in unknown.reason
    off = route_quo(inbound(fixture("call.summary.completed"), event_kinds=["calls"]))
    assert isinstance(off, Ignore) and "log_summaries off" in off.reason
    line = route_quo(
        inbound(fixture("call.completed.answered-incoming"), enabled_lines=["PNother"])
    )
    assert isinstance(line, Ignore) and "line PNline0001 is not enabled" in line.reason


def test_settings_from_connection() -> None:
    s = ActivitySettings.from_connection_settings(
        {"event_kinds": ["calls", "messages"], "auto_create_people": True, "enabled_lines": ["PN1"]}
    )
    assert (s.log_calls, s.log_messages, s.log_summaries, s.log_transcripts) == (
        True,
        True,
        False,
        False,
    )
    assert s.auto_create and s.line_enabled("PN1") and not s.line_enabled("PN2")
    assert ActivitySettings.from_connection_settings(None).line_enabled(None)
