"""Pipedrive's records as the emulator stores them (users, persons, organizations, deals, leads,
activities, call logs with recordings, notes, webhook subscriptions) and their JSON shapes: v2
for persons/organizations/deals/activities, v1 for the rest (and for v1 webhook payloads).

Phones and emails are kept exactly as given: Pipedrive does not normalise what users type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from switchboard.emulators.pipedrive.errors import bad_request

if TYPE_CHECKING:
    from switchboard.emulators.pipedrive.company import Company

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def ymd_hms(at: datetime, sep: str) -> str:
    # Not strftime: it does not zero-pad years before 1000 on every platform.
    u = at.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}{sep}{u.hour:02d}:{u.minute:02d}:{u.second:02d}"


def v2_time(at: datetime) -> str:
    """v2 timestamps: RFC 3339, seconds, `Z`."""
    return ymd_hms(at, "T") + "Z"


def iso_ms(at: datetime) -> str:
    """Timestamps v1 documents as `date-time` (call logs, leads, webhooks): milliseconds, `Z`."""
    return ymd_hms(at, "T") + f".{at.microsecond // 1000:03d}Z"


def v1_time(at: datetime) -> str:
    """v1's plain timestamps (notes, users): `YYYY-MM-DD HH:MM:SS` in UTC."""
    return ymd_hms(at, " ")


def parse_time(value: Any, name: str) -> datetime:
    """`YYYY-MM-DD HH:MM:SS` (what Pipedrive documents) or RFC 3339; naive means UTC."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f'"{name}" is required.')
    text = value.strip().replace("Z", "+00:00")
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise bad_request(f'"{name}" must be a valid date in format YYYY-MM-DD HH:MM:SS.') from exc
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def split_name(name: str) -> tuple[str, str | None]:
    first, _, last = name.strip().partition(" ")
    return first, (last.strip() or None)


@dataclass
class User:
    id: int
    name: str
    email: str
    is_admin: bool = True
    active: bool = True
    created: datetime = field(default_factory=utcnow)

    def to_json(self, company: Company, *, me: User | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "default_currency": "USD",
            "locale": "en_US",
            "lang": 1,
            "email": self.email,
            "phone": None,
            "activated": self.active,
            "last_login": v1_time(self.created),
            "created": v1_time(self.created),
            "modified": v1_time(self.created),
            "has_created_company": self.id == company.admin_user_id,
            "access": [{"app": "sales", "admin": self.is_admin, "permission_set_id": "1"}],
            "active_flag": self.active,
            "timezone_name": "UTC",
            "timezone_offset": "+00:00",
            "role_id": 1,
            "icon_url": None,
            "is_you": me is not None and me.id == self.id,
            "is_deleted": not self.active,
        }


ContactList = list[dict[str, Any]]


@dataclass
class Person:
    id: int
    name: str
    owner_id: int
    add_time: datetime
    update_time: datetime
    phones: ContactList = field(default_factory=list)
    emails: ContactList = field(default_factory=list)
    org_id: int | None = None
    job_title: str | None = None
    label_ids: list[int] = field(default_factory=list)
    visible_to: int = 3

    def to_v2(self) -> dict[str, Any]:
        first, last = split_name(self.name)
        return {
            "id": self.id,
            "name": self.name,
            "first_name": first,
            "last_name": last,
            "owner_id": self.owner_id,
            "org_id": self.org_id,
            "add_time": v2_time(self.add_time),
            "update_time": v2_time(self.update_time),
            "emails": [dict(e) for e in self.emails],
            "phones": [dict(p) for p in self.phones],
            "is_deleted": False,
            "visible_to": self.visible_to,
            "label_ids": list(self.label_ids),
            "picture_id": None,
            "postal_address": None,
            "notes": None,
            "im": [],
            "birthday": None,
            "job_title": self.job_title,
            "custom_fields": {},
        }

    def to_v1(self, company: Company) -> dict[str, Any]:
        """The v1 shape, used only in v1 webhook payloads."""
        first, last = split_name(self.name)
        org = company.organizations.get(self.org_id) if self.org_id else None
        return {
            "id": self.id,
            "company_id": company.id,
            "owner_id": self.owner_id,
            "org_id": self.org_id,
            "org_name": org.name if org else None,
            "name": self.name,
            "first_name": first,
            "last_name": last,
            "phone": [dict(p) for p in self.phones],
            "email": [dict(e) for e in self.emails],
            "add_time": v1_time(self.add_time),
            "update_time": v1_time(self.update_time),
            "visible_to": str(self.visible_to),
            "active_flag": True,
            "job_title": self.job_title,
        }


@dataclass
class Organization:
    id: int
    name: str
    owner_id: int
    add_time: datetime
    update_time: datetime
    website: str | None = None
    visible_to: int = 3

    def to_v2(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "owner_id": self.owner_id,
            "add_time": v2_time(self.add_time),
            "update_time": v2_time(self.update_time),
            "is_deleted": False,
            "visible_to": self.visible_to,
            "address": None,
            "label_ids": [],
            "website": self.website,
            "linkedin": None,
            "industry": None,
            "annual_revenue": None,
            "employee_count": None,
            "custom_fields": {},
        }


@dataclass
class Deal:
    id: int
    title: str
    owner_id: int
    add_time: datetime
    update_time: datetime
    person_id: int | None = None
    org_id: int | None = None
    value: float = 0.0
    currency: str = "USD"
    status: str = "open"  # open | won | lost

    def to_v2(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "owner_id": self.owner_id,
            "person_id": self.person_id,
            "org_id": self.org_id,
            "pipeline_id": 1,
            "stage_id": 1,
            "value": self.value,
            "currency": self.currency,
            "add_time": v2_time(self.add_time),
            "update_time": v2_time(self.update_time),
            "stage_change_time": None,
            "is_deleted": False,
            "is_archived": False,
            "status": self.status,
            "probability": None,
            "lost_reason": None,
            "visible_to": 3,
            "close_time": None,
            "won_time": None,
            "lost_time": None,
            "expected_close_date": None,
            "label_ids": [],
            "origin": "API",
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "source_lead_id": None,
            "arr": None,
            "mrr": None,
            "acv": None,
            "custom_fields": {},
        }


@dataclass
class Lead:
    id: str
    title: str
    owner_id: int
    add_time: datetime
    update_time: datetime
    person_id: int | None = None
    organization_id: int | None = None
    is_archived: bool = False

    def to_v1(self, company: Company) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "owner_id": self.owner_id,
            "creator_id": self.owner_id,
            "label_ids": [],
            "person_id": self.person_id,
            "organization_id": self.organization_id,
            "source_name": "API",
            "origin": "API",
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "source_deal_id": None,
            "is_archived": self.is_archived,
            "was_seen": False,
            "value": None,
            "expected_close_date": None,
            "next_activity_id": None,
            "add_time": iso_ms(self.add_time),
            "update_time": iso_ms(self.update_time),
            "visible_to": "3",
            "cc_email": f"{company.domain}+lead{self.id[:8]}@pipedrivemail.test",
        }


@dataclass
class Activity:
    id: int
    subject: str
    type: str
    owner_id: int
    add_time: datetime
    update_time: datetime
    person_id: int | None = None
    org_id: int | None = None
    deal_id: int | None = None
    lead_id: str | None = None
    due_date: str | None = None
    due_time: str | None = None
    duration: str | None = None
    done: bool = False
    note: str | None = None
    marked_as_done_time: datetime | None = None

    def to_v2(self) -> dict[str, Any]:
        participants = [{"person_id": self.person_id, "primary": True}] if self.person_id else []
        return {
            "id": self.id,
            "subject": self.subject,
            "type": self.type,
            "owner_id": self.owner_id,
            "creator_user_id": self.owner_id,
            "is_deleted": False,
            "add_time": v2_time(self.add_time),
            "update_time": v2_time(self.update_time),
            "deal_id": self.deal_id,
            "lead_id": self.lead_id,
            "person_id": self.person_id,
            "org_id": self.org_id,
            "project_id": None,
            "due_date": self.due_date,
            "due_time": self.due_time,
            "duration": self.duration,
            "busy": False,
            "done": self.done,
            "marked_as_done_time": v2_time(self.marked_as_done_time)
            if self.marked_as_done_time
            else None,
            "location": None,
            "participants": participants,
            "attendees": [],
            "conference_meeting_client": None,
            "conference_meeting_url": None,
            "conference_meeting_id": None,
            "public_description": None,
            "priority": None,
            "note": self.note,
        }


@dataclass
class Recording:
    filename: str
    content_type: str
    data: bytes


@dataclass
class CallLog:
    id: str
    user_id: int
    activity_id: int
    outcome: str
    to_phone_number: str
    start_time: datetime
    end_time: datetime
    from_phone_number: str | None = None
    subject: str | None = None
    duration: str | None = None
    person_id: int | None = None
    org_id: int | None = None
    deal_id: int | None = None
    lead_id: str | None = None
    note: str | None = None
    recording: Recording | None = None

    def to_v1(self, company: Company) -> dict[str, Any]:
        return {
            "id": self.id,
            "activity_id": self.activity_id,
            "person_id": self.person_id,
            "org_id": self.org_id,
            "deal_id": self.deal_id,
            "lead_id": self.lead_id,
            "subject": self.subject,
            "duration": self.duration,
            "outcome": self.outcome,
            "from_phone_number": self.from_phone_number,
            "to_phone_number": self.to_phone_number,
            "has_recording": self.recording is not None,
            "start_time": iso_ms(self.start_time),
            "end_time": iso_ms(self.end_time),
            "user_id": self.user_id,
            "company_id": company.id,
            "note": self.note,
        }


@dataclass
class Note:
    id: int
    content: str
    user_id: int
    add_time: datetime
    update_time: datetime
    person_id: int | None = None
    org_id: int | None = None
    deal_id: int | None = None
    lead_id: str | None = None

    def to_v1(self, company: Company, me: User | None = None) -> dict[str, Any]:
        person = company.persons.get(self.person_id) if self.person_id else None
        org = company.organizations.get(self.org_id) if self.org_id else None
        deal = company.deals.get(self.deal_id) if self.deal_id else None
        user = company.users.get(self.user_id)
        return {
            "id": self.id,
            "active_flag": True,
            "add_time": v1_time(self.add_time),
            "update_time": v1_time(self.update_time),
            "content": self.content,
            "deal": {"title": deal.title} if deal else None,
            "lead_id": self.lead_id,
            "deal_id": self.deal_id,
            "last_update_user_id": self.user_id,
            "org_id": self.org_id,
            "organization": {"name": org.name} if org else None,
            "person": {"name": person.name} if person else None,
            "person_id": self.person_id,
            "project_id": None,
            "project": None,
            "task_id": None,
            "task": None,
            "pinned_to_lead_flag": False,
            "pinned_to_deal_flag": False,
            "pinned_to_organization_flag": False,
            "pinned_to_person_flag": False,
            "pinned_to_project_flag": False,
            "pinned_to_task_flag": False,
            "user": {
                "email": user.email if user else "",
                "icon_url": None,
                "is_you": me is not None and me.id == self.user_id,
                "name": user.name if user else "",
            },
            "user_id": self.user_id,
        }


@dataclass
class Webhook:
    id: int
    user_id: int
    subscription_url: str
    event_action: str
    event_object: str
    name: str
    version: str
    add_time: datetime
    type: str = "general"  # "application" when created with an OAuth token
    http_auth_user: str | None = None
    http_auth_password: str | None = None
    last_delivery_time: datetime | None = None
    last_http_status: int | None = None
    failing_since: datetime | None = None
    removed: bool = False
    remove_time: datetime | None = None
    remove_reason: str | None = None

    def matches(self, entity: str, action: str) -> bool:
        return self.event_object in ("*", entity) and self.event_action in ("*", action)

    def to_v1(self, company: Company) -> dict[str, Any]:
        return {
            "id": self.id,
            "company_id": company.id,
            "owner_id": self.user_id,
            "user_id": self.user_id,
            "event_action": self.event_action,
            "event_object": self.event_object,
            "subscription_url": self.subscription_url,
            "version": self.version,
            "is_active": 0 if self.removed else 1,
            "add_time": iso_ms(self.add_time),
            "remove_time": iso_ms(self.remove_time) if self.remove_time else None,
            "type": self.type,
            "http_auth_user": self.http_auth_user,
            "http_auth_password": self.http_auth_password,
            "remove_reason": self.remove_reason,
            "last_delivery_time": iso_ms(self.last_delivery_time)
            if self.last_delivery_time
            else None,
            "last_http_status": self.last_http_status,
            "admin_id": company.admin_user_id,
            "name": self.name,
        }
