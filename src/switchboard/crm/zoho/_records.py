"""Zoho records → `Person`, and calls and texts → Calls records and Notes.

Person ids: a contact is its record id; a lead is `Leads:<record id>` (ids are unique per org,
but the module is needed to read the record back and to link a call to it). Every phone-type
field counts (`PHONE_FIELDS`); Zoho stores numbers as typed, so `Person.phones` holds their
E.164 forms in the connection's default region.

Calls follow Zoho's Calls module: a contact is the call's `Who_Id`; a lead is its "related to"
record (`What_Id` with `$se_module: "Leads"`), as the Calls field metadata documents `Who_Id` as
a lookup to Contacts only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from switchboard import phones
from switchboard.crm.base import ActivityFacts, CrmNote, Person

PHONE_FIELDS = ("Phone", "Mobile", "Home_Phone", "Other_Phone", "Assistant_Phone")
_COMMON_FIELDS = ("First_Name", "Last_Name", "Full_Name", "Email", "Created_Time", "Modified_Time")
# What a list or search asks for (`fields` is required in v8 and must name the module's fields).
PERSON_FIELDS: dict[str, tuple[str, ...]] = {
    "Contacts": (*_COMMON_FIELDS, "Secondary_Email", "Title", "Account_Name", *PHONE_FIELDS),
    "Leads": (*_COMMON_FIELDS, "Designation", "Company", *PHONE_FIELDS),
}
PEOPLE_MODULES = ("Contacts", "Leads")
LEAD_PREFIX = "Leads:"
CALL_PREFIX = "call:"
NOTE_PREFIX = "note:"
SUBJECT_MAX = 255
# Zoho shows characters outside the Basic Multilingual Plane (emoji) as "?" in subjects.
_ASTRAL = re.compile(r"[\U00010000-\U0010FFFF\u2600-\u27BF\uFE0F\u200D]")


def split_person_id(person_id: str) -> tuple[str, str]:
    """(module, record id) of a person id."""
    if person_id.startswith(LEAD_PREFIX):
        return "Leads", person_id.removeprefix(LEAD_PREFIX)
    return "Contacts", person_id


def person_id_of(module: str, record_id: str) -> str:
    return f"{LEAD_PREFIX}{record_id}" if module == "Leads" else record_id


def parse_time(value: object) -> datetime | None:
    """Zoho's `2024-05-01T09:30:15+02:00` (always with an offset)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def zoho_time(at: datetime) -> str:
    """ISO 8601 to the second with an explicit offset (`Call_Start_Time`, `If-Modified-Since`)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.replace(microsecond=0).isoformat()


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def to_person(
    module: str, record: Mapping[str, Any], region: str | None, web_base: str | None
) -> tuple[Person, str | None]:
    """(the person, its company name when the record carries one)."""
    raw = tuple(t for f in PHONE_FIELDS if (t := _text(record.get(f))))
    numbers = tuple(dict.fromkeys(n for r in raw if (n := phones.normalise(r, region=region))))
    emails = tuple(
        dict.fromkeys(e for f in ("Email", "Secondary_Email") if (e := _text(record.get(f))))
    )
    record_id = str(record["id"])
    pid = person_id_of(module, record_id)
    company_id: str | None = None
    company_name: str | None = None
    account = record.get("Account_Name")
    if module == "Contacts" and isinstance(account, Mapping) and account.get("id"):
        company_id = str(account["id"])
        company_name = _text(account.get("name"))
    elif module == "Leads" and (company_name := _text(record.get("Company"))):
        company_id = pid  # a lead's company is text on the lead itself
    person = Person(
        id=pid,
        first_name=_text(record.get("First_Name")),
        last_name=_text(record.get("Last_Name")),
        full_name=_text(record.get("Full_Name")),
        emails=emails,
        phones=numbers,
        raw_phones=raw,
        job_title=_text(record.get("Title")) or _text(record.get("Designation")),
        company_id=company_id,
        web_url=f"{web_base}/tab/{module}/{record_id}" if web_base else None,
        created_at=parse_time(record.get("Created_Time")),
        updated_at=parse_time(record.get("Modified_Time")),
    )
    return person, company_name


def plain_subject(title: str) -> str:
    """The title without emoji (Zoho would show "?"), collapsed and cut to the field's length."""
    text = " ".join(_ASTRAL.sub("", title).split())
    return (text or "Call")[:SUBJECT_MAX]


def call_type(facts: ActivityFacts) -> str:
    """Inbound | Outbound | Missed (an incoming call nobody answered is Missed)."""
    if facts.direction == "outgoing":
        return "Outbound"
    status = (facts.status or "").lower()
    answered = facts.answered
    if answered is None:
        answered = status in ("completed", "answered", "in-progress") and not facts.has_voicemail
    return "Inbound" if answered else "Missed"


def duration_text(seconds: float | None) -> str:
    """`MM:SS` (minutes may exceed 59, as Zoho's field holds them)."""
    total = max(0, round(seconds or 0))
    return f"{total // 60:02d}:{total % 60:02d}"


def call_body(note: CrmNote, facts: ActivityFacts, now: datetime) -> dict[str, Any]:
    """A Calls record for `note` (create or update in place)."""
    start = facts.started_at or note.created_at or now
    duration = facts.duration_s
    if duration is None and facts.ended_at is not None:
        duration = max(0.0, (facts.ended_at - start).total_seconds())
    body: dict[str, Any] = {
        "Subject": plain_subject(note.title),
        "Call_Type": call_type(facts),
        "Call_Start_Time": zoho_time(start),
        "Call_Duration": duration_text(duration),
        "Description": note.content,
        "Voice_Recording__s": facts.media_urls[0] if facts.media_urls else None,
    }
    module, record_id = split_person_id(note.person_id)
    if module == "Contacts":
        body["Who_Id"] = {"id": record_id}
    else:
        body["What_Id"] = {"id": record_id}
        body["$se_module"] = module
    return body


def note_body(note: CrmNote) -> dict[str, Any]:
    module, record_id = split_person_id(note.person_id)
    return {
        "Note_Title": plain_subject(note.title),
        "Note_Content": note.content,
        "Parent_Id": {"module": {"api_name": module}, "id": record_id},
    }
