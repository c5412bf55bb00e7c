"""The event pipeline with fakes: merge, participants, lookups, render, one note per person."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from switchboard.activity.processor import (
    Services,
    fetch_voicemail,
    plan_event,
    plan_refresh,
    write_note,
)
from switchboard.activity.settings import ActivitySettings
from switchboard.store.db import Database
from tests.activity.conftest import make_services
from tests.activity.fakes import FakeCrm, FakeQuo, fixture

CALLER = "+15550142231"
TITLE_IN = "☎️ Call +15550142231 → 📞 Front Desk +15550100100"
LINK1 = "https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACcall0001"


async def run(svc: Services, event: dict[str, Any]) -> dict[str, Any]:
    plan = await plan_event(svc, event["type"], event)
    plan["results"] = [
        (await write_note(svc, plan["resource_type"], plan["resource_id"], n)).to_json()
        for n in plan["notes"]
    ]
    return plan


async def test_answered_incoming_call_worked_example(
    svc: Services, crm: FakeCrm, quo: FakeQuo
) -> None:
    crm.add_person("dana", CALLER)
    plan = await run(svc, fixture("call.completed.answered-incoming"))
    assert plan["status"] == "write"
    [note] = crm.notes_for("dana")
    assert note["title"] == TITLE_IN
    assert note["content"] == (
        "Incoming answered by Sam Ortiz\n\n▶️ Recording (2:05)\n\n"
        f"[View the call activity in Quo]({LINK1})"
    )
    assert note["created_at"].isoformat() == "2026-03-02T15:04:02.120000+00:00"
    assert quo.requests == ["phone_numbers.list"]  # cold cache; users come with the lines
    assert crm.requests == ["people.search", "notes.create"]
    lookups = plan["detail"]["lookups"]
    assert lookups == [
        {
            "phone": CALLER,
            "person_id": "dana",
            "source": "crm_search",
            "candidates": ["dana"],
            "reason": None,
        }
    ]


async def test_phases_in_every_order_and_repeated_give_one_complete_note(
    db: Database, quo: FakeQuo
) -> None:
    events = [
        fixture("call.completed.answered-incoming"),
        fixture("call.recording.completed"),
        fixture("call.summary.completed"),
    ]
    # Summary jobs are not in the worked example; keep to its inputs.
    events[2]["data"]["object"]["jobs"] = []
    events[2]["data"]["object"]["summary"] = ["A", "B"]
    events[2]["data"]["object"]["nextSteps"] = ["C"]
    events[1]["data"]["object"]["recordings"][0]["url"] = "R"
    expected = (
        "Incoming answered by Sam Ortiz\n\n[▶️ Recording (2:01)](R)\n\n**Summary:**\n• A\n• B\n\n"
        f"**Next Steps:**\n• C\n\n[View the call activity in Quo]({LINK1})"
    )
    for n, order in enumerate(itertools.permutations(events)):
        crm = FakeCrm()
        crm.add_person("dana", CALLER)
        svc = make_services(db, quo, crm)
        call_id = f"ACperm{n}"
        for ev in [*order, *order]:  # every webhook twice
            ev = copy.deepcopy(ev)
            ev["data"]["object"]["id" if "id" in ev["data"]["object"] else "callId"] = call_id
            await run(svc, ev)
        notes = crm.notes_for("dana")
        assert len(notes) == 1, order
        assert notes[0]["content"] == expected


async def test_a_plan_recovered_behind_a_later_phase_does_not_undo_it(
    svc: Services, crm: FakeCrm
) -> None:
    """A workflow checkpoints its plan, dies, and is re-enqueued behind the summary's workflow,
    which writes the note with the summary; the recovered workflow then writes its old plan.
    The note must keep the summary (the plan is re-rendered from the facts as stored now)."""
    crm.add_person("dana", CALLER)
    completed = fixture("call.completed.answered-incoming")
    summary = fixture("call.summary.completed")
    summary["data"]["object"].update(summary=["Asked to move the date."], nextSteps=[], jobs=[])
    stale = await plan_event(svc, completed["type"], completed)  # checkpointed, then killed
    await run(svc, summary)
    [note] = crm.notes_for("dana")
    assert "Asked to move the date." in note["content"]
    [result] = [
        (await write_note(svc, stale["resource_type"], stale["resource_id"], n)).to_json()
        for n in stale["notes"]
    ]
    [note] = crm.notes_for("dana")
    assert "Asked to move the date." in note["content"]
    assert result["action"] == "unchanged"
    assert crm.requests.count("notes.create") == 1


async def test_regenerated_summary_updates_the_one_note(
    svc: Services, crm: FakeCrm, quo: FakeQuo
) -> None:
    crm.add_person("dana", CALLER)
    await run(svc, fixture("call.completed.answered-incoming"))
    first = fixture("call.summary.completed")
    first["data"]["object"].update(summary=["Old A.", "Old B."], nextSteps=["Old C."], jobs=[])
    regenerated = copy.deepcopy(first)
    regenerated["id"] = "EVregenerated"
    regenerated["createdAt"] = "2026-03-02T15:30:00.000Z"  # later than the first one
    regenerated["data"]["object"].update(summary=["New A."], nextSteps=[])
    for ev in (first, regenerated, first):  # the old one redelivered late changes nothing
        await run(svc, copy.deepcopy(ev))
    [note] = crm.notes_for("dana")
    assert "**Summary:**\n• New A.\n\n[View the call" in note["content"]
    assert "Old" not in note["content"]


async def test_missed_call_with_voicemail_worked_example(
    svc: Services, crm: FakeCrm, quo: FakeQuo
) -> None:
    crm.add_person("dana", CALLER)
    plan = await run(svc, fixture("call.completed.unanswered-with-voicemail"))
    assert plan["voicemail_followup"] is True
    quo.voicemails["ACcall0002"] = {
        "id": "VM1",
        "status": "in-progress",
        "duration": None,
        "recordingUrl": None,
        "transcript": None,
    }
    assert await fetch_voicemail(svc, "ACcall0002") == "processing"
    quo.voicemails["ACcall0002"] = {
        "id": "VM1",
        "status": "completed",
        "duration": 16,
        "recordingUrl": "V",
        "transcript": "T",
    }
    assert await fetch_voicemail(svc, "ACcall0002") == "ready"
    plan = await plan_refresh(svc, "call", "ACcall0002", trigger="voicemail")
    assert plan["voicemail_followup"] is False
    for n in plan["notes"]:
        await write_note(svc, "call", "ACcall0002", n)
    [note] = crm.notes_for("dana")
    link = "https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACcall0002"
    assert note["content"] == (
        "Incoming missed\n\n**Voicemail:**\n• [Listen to voicemail](V) (0:16)\n"
        "**Transcript:**\nT\n\n"
        f"[View the call activity in Quo]({link})"
    )


async def test_outgoing_message_worked_example_and_one_note_per_message(
    svc: Services, crm: FakeCrm
) -> None:
    crm.add_person("dana", CALLER)
    delivered = fixture("message.delivered")
    await run(svc, delivered)
    again = copy.deepcopy(delivered)
    again["id"] = "EVother"
    again["type"] = "message.received"  # both events of one message map to one note
    await run(svc, again)
    [note] = crm.notes_for("dana")
    assert note["title"] == "💬 Message 📞 Front Desk +15550100100 → +15550142231"
    assert note["content"] == (
        "Sam Ortiz sent: Yes - see you Tuesday at 10.\n\n"
        "[View the message activity in Quo](https://my.quo.com/inbox/PNline0001/c/CNconv0001?at=ACmsg0002)"
    )


async def test_ai_agent_is_sona_without_a_user_request(
    svc: Services, crm: FakeCrm, quo: FakeQuo
) -> None:
    crm.add_person("dana", CALLER)
    await run(svc, fixture("call.completed.ai-handled"))
    [note] = crm.notes_for("dana")
    assert note["content"].startswith("Handled by Sona\n")
    assert not [r for r in quo.requests if r.startswith("users.get")]


async def test_empty_participants_fetches_the_call(
    svc: Services, crm: FakeCrm, quo: FakeQuo
) -> None:
    crm.add_person("dana", CALLER)
    ev = fixture("call.completed.empty-participants")
    call = copy.deepcopy(ev["data"]["object"])
    call["participants"] = [CALLER, "+15550100100"]
    quo.calls["ACcall0003"] = call
    plan = await run(svc, ev)
    assert plan["detail"]["fetched_call"] is True and plan["detail"]["participants"] == [CALLER]
    assert "calls.get:ACcall0003" in quo.requests
    assert len(crm.notes_for("dana")) == 1


async def test_group_call_logs_every_resolvable_participant(svc: Services, crm: FakeCrm) -> None:
    crm.add_person("dana", CALLER)
    crm.add_person("lee", "+15550142299")
    ev = fixture("call.completed.answered-incoming")
    ev["data"]["object"]["participants"] = [CALLER, "+15550100100", "+15550142299", "+15550142300"]
    plan = await run(svc, ev)
    assert plan["detail"]["participants"] == [CALLER, "+15550142299", "+15550142300"]
    assert len(crm.notes_for("dana")) == 1 and len(crm.notes_for("lee")) == 1
    assert crm.notes_for("lee")[0]["title"] == "☎️ Call +15550142299 → 📞 Front Desk +15550100100"
    assert [lk["source"] for lk in plan["detail"]["lookups"]] == [
        "crm_search",
        "crm_search",
        "none",
    ]


async def test_person_looked_up_once_per_call(svc: Services, crm: FakeCrm) -> None:
    crm.add_person("dana", CALLER)
    await run(svc, fixture("call.completed.answered-incoming"))
    await run(svc, fixture("call.recording.completed"))
    assert crm.requests.count("people.search") == 1
    # enrichment: create the new note, then delete the old one
    assert crm.requests == ["people.search", "notes.create", "notes.create", "notes.delete"]


async def test_unknown_caller_recorded_with_reason(svc: Services, crm: FakeCrm) -> None:
    plan = await run(svc, fixture("call.completed.answered-incoming"))
    assert plan["status"] == "skipped"
    assert plan["reason"] == "unknown caller: no CRM person has +15550142231"
    assert plan["detail"]["lookups"][0]["source"] == "none"


async def test_auto_create_setting(db: Database, quo: FakeQuo, crm: FakeCrm) -> None:
    svc = make_services(db, quo, crm, ActivitySettings(auto_create=True))
    plan = await run(svc, fixture("call.completed.answered-incoming"))
    assert plan["status"] == "write" and plan["detail"]["lookups"][0]["source"] == "created"
    assert len(crm.notes) == 1


async def test_disabled_line_and_kinds_are_ignored_with_reason(
    db: Database, quo: FakeQuo, crm: FakeCrm
) -> None:
    crm.add_person("dana", CALLER)
    svc = make_services(db, quo, crm, ActivitySettings(enabled_lines=("PNother",)))
    plan = await run(svc, fixture("call.completed.answered-incoming"))
    assert plan["status"] == "ignored" and "line PNline0001 is not enabled" in plan["reason"]
    settings = ActivitySettings.from_connection_settings({"event_kinds": ["calls"]})
    svc = make_services(db, quo, crm, settings)
    plan = await run(svc, fixture("call.summary.completed"))
    assert plan["status"] == "ignored" and "log_summaries off" in plan["reason"]
    plan = await run(svc, fixture("message.received"))
    assert plan["status"] == "ignored" and "log_messages off" in plan["reason"]
    assert crm.notes == {}


async def test_unknown_line_refreshes_the_line_list(
    svc: Services, crm: FakeCrm, quo: FakeQuo
) -> None:
    crm.add_person("dana", CALLER)
    await run(svc, fixture("call.completed.answered-incoming"))  # caches the one line
    quo.phone_numbers.append(
        {"id": "PNnew", "name": "Sales", "symbol": "💼", "number": "+15550100200", "users": []}
    )
    ev = fixture("call.completed.answered-outgoing")
    ev["data"]["object"].update(
        id="ACnew", phoneNumberId="PNnew", participants=["+15550100200", CALLER]
    )
    svc.directory._ws.refreshed_at = float("-inf")  # the refresh interval has passed
    plan = await run(svc, ev)
    assert plan["detail"]["participants"] == [CALLER]
    assert quo.requests.count("phone_numbers.list") == 2
    assert crm.notes_for("dana")[-1]["title"] == "☎️ Call 💼 Sales +15550100200 → +15550142231"


async def test_the_call_owners_email_and_the_connection_settings_reach_the_crm(
    db: Database, quo: FakeQuo, crm: FakeCrm
) -> None:
    svc = make_services(db, quo, crm)
    svc.connection_settings = {"call_log_link": "deal"}
    crm.add_person("dana", CALLER)
    await run(svc, fixture("call.completed.answered-incoming"))
    [note] = crm.notes_for("dana")
    assert note["activity"].user_email == "sam@example.test"  # answeredBy, from the lines
    assert note["settings"] == {"call_log_link": "deal"}
    assert quo.requests == ["phone_numbers.list"]  # no request of its own


async def test_an_owner_on_no_line_is_fetched_once_with_the_name(
    db: Database, crm: FakeCrm
) -> None:
    quo = FakeQuo(phone_numbers=[{**fixture("_workspace-phone-numbers")["data"][0], "users": []}])
    quo.users["USuser0001"] = {"id": "USuser0001", "firstName": "Sam", "email": "sam@q.test"}
    crm.add_person("dana", CALLER)
    for _ in range(2):
        svc = make_services(db, quo, crm)
        await run(svc, fixture("call.completed.answered-incoming"))
    assert [n["activity"].user_email for n in crm.notes_for("dana")] == ["sam@q.test"]
    assert quo.requests.count("users.get:USuser0001") == 1
