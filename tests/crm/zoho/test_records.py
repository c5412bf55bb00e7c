"""Calls records, notes and notifications as Zoho takes them (pure functions)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from switchboard.crm.base import ActivityFacts, CrmNote, WebhookVerificationError
from switchboard.crm.zoho import _records, _webhooks

START = datetime(2026, 3, 2, 14, 5, 9, 450000, tzinfo=timezone(timedelta(hours=-5)))


def _call(person: str = "4876876000000000123", **facts: object) -> CrmNote:
    return CrmNote(
        person_id=person,
        title="☎️ Call +16502530001 → 📞 Front Desk +15550100100",
        content="Incoming answered by Sam Ortiz\r\n\r\nView the call activity in Quo: https://q",
        activity=ActivityFacts(kind="call", started_at=START, **facts),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("facts", "call_type"),
    [
        ({"direction": "incoming", "status": "completed", "answered": True}, "Inbound"),
        ({"direction": "incoming", "status": "completed", "answered": False}, "Missed"),
        ({"direction": "incoming", "status": "missed"}, "Missed"),
        ({"direction": "incoming", "status": "completed", "has_voicemail": True}, "Missed"),
        ({"direction": "outgoing", "status": "completed", "answered": False}, "Outbound"),
    ],
)
def test_call_type(facts: dict[str, object], call_type: str) -> None:
    assert _records.call_type(ActivityFacts(kind="call", **facts)) == call_type  # type: ignore[arg-type]


def test_a_contact_call_record() -> None:
    note = _call(duration_s=125.4, media_urls=("https://m/r1.mp3", "https://m/vm.mp3"))
    assert note.activity is not None
    body = _records.call_body(note, note.activity, datetime.now(UTC))
    assert body["Subject"] == "Call +16502530001 → Front Desk +15550100100"  # no emoji
    assert body["Call_Start_Time"] == "2026-03-02T14:05:09-05:00"  # with its offset
    assert body["Call_Duration"] == "02:05"
    assert body["Description"] == note.content  # the plain note, as rendered
    assert body["Voice_Recording__s"] == "https://m/r1.mp3"
    assert body["Who_Id"] == {"id": "4876876000000000123"} and "What_Id" not in body


def test_a_lead_is_the_related_record() -> None:
    note = _call(person="Leads:4876876000000000456")
    assert note.activity is not None
    body = _records.call_body(note, note.activity, datetime.now(UTC))
    assert body["What_Id"] == {"id": "4876876000000000456"} and body["$se_module"] == "Leads"
    assert "Who_Id" not in body and body["Call_Duration"] == "00:00"
    assert body["Voice_Recording__s"] is None


def test_long_calls_keep_their_minutes() -> None:
    assert _records.duration_text(3725) == "62:05"


def test_text_note_on_a_lead() -> None:
    note = CrmNote(person_id="Leads:42", title="💬 Message", content="hi")
    assert _records.note_body(note) == {
        "Note_Title": "Message",
        "Note_Content": "hi",
        "Parent_Id": {"module": {"api_name": "Leads"}, "id": "42"},
    }


def test_every_phone_field_and_the_company() -> None:
    record = {
        "id": "7",
        "First_Name": "Ada",
        "Last_Name": "Lovelace",
        "Phone": "(415) 555-0101",
        "Assistant_Phone": "+14155550105",
        "Home_Phone": "",
        "Account_Name": {"id": "99", "name": "Analytical"},
    }
    person, company = _records.to_person("Contacts", record, "US", None)
    assert person.phones == ("+14155550101", "+14155550105")
    assert (person.company_id, company) == ("99", "Analytical")
    lead, lead_company = _records.to_person("Leads", {"id": "8", "Company": "Acme"}, "US", None)
    assert lead.id == "Leads:8" and lead.company_id == "Leads:8" and lead_company == "Acme"


def _notification(**extra: object) -> bytes:
    body = {
        "server_time": 1767225600000,
        "module": "Contacts",
        "resource_uri": "https://www.zohoapis.com/crm/v8/Contacts",
        "ids": ["11", "12"],
        "operation": "update",
        "channel_id": 4611686018427387904,
        "token": "the-channel-token",
        **extra,
    }
    return json.dumps(body).encode()


def test_notifications_need_the_channel_token() -> None:
    _webhooks.verify(_notification(), {}, "the-channel-token")
    for body in (_notification(token="forged"), _notification(token=None), b"", b"{"):
        with pytest.raises(WebhookVerificationError):
            _webhooks.verify(body, {}, "the-channel-token")


def test_one_change_per_id_with_stable_keys() -> None:
    changes = _webhooks.parse(_notification(), {})
    assert [(c.kind, c.record_id) for c in changes] == [("updated", "11"), ("updated", "12")]
    assert changes[0].idempotency_key == _webhooks.parse(_notification(), {})[0].idempotency_key
    leads = _webhooks.parse(_notification(module="Leads", operation="delete"), {})
    assert [(c.kind, c.record_id) for c in leads] == [
        ("deleted", "Leads:11"),
        ("deleted", "Leads:12"),
    ]
    assert _webhooks.parse(_notification(module="Calls"), {}) == []
