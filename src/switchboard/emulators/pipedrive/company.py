"""One Pipedrive company (an account): users, persons, organizations, deals, leads, activities,
call logs (with recordings), notes and webhook subscriptions, with Pipedrive's JSON shapes.

Every change to a person, organization, deal, lead, activity or note is announced to
`listeners` as a `ChangeEvent` (the emulator turns those into webhook deliveries). Phones and
emails are stored exactly as given: Pipedrive does not normalise what users type.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from switchboard.emulators.pipedrive.errors import PipedriveError, bad_request, not_found

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ymd_hms(at: datetime, sep: str) -> str:
    # Not strftime: it does not zero-pad years before 1000 on every platform.
    u = at.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}{sep}{u.hour:02d}:{u.minute:02d}:{u.second:02d}"


def v2_time(at: datetime) -> str:
    """v2 timestamps: RFC 3339, seconds, `Z`."""
    return _ymd_hms(at, "T") + "Z"


def iso_ms(at: datetime) -> str:
    """Timestamps v1 documents as `date-time` (call logs, leads, webhooks): milliseconds, `Z`."""
    return _ymd_hms(at, "T") + f".{at.microsecond // 1000:03d}Z"


def v1_time(at: datetime) -> str:
    """v1's plain timestamps (notes, users): `YYYY-MM-DD HH:MM:SS` in UTC."""
    return _ymd_hms(at, " ")


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


@dataclass
class ChangeEvent:
    """One change a webhook may announce. `data` / `previous` are v2 shapes (None on create's
    previous and delete's data); `v1_current` / `v1_previous` feed v1 subscriptions."""

    entity: str  # person | organization | deal | lead | activity | note
    action: str  # create | change | delete
    entity_id: int | str
    user_id: int
    source: str  # "api" | "app"
    data: dict[str, Any] | None
    previous: dict[str, Any] | None
    v1_current: dict[str, Any] | None = None
    v1_previous: dict[str, Any] | None = None
    merged_to_id: int | None = None
    at: datetime = field(default_factory=utcnow)


Listener = Callable[["Company", ChangeEvent], None]


def _contact_list(value: Any, name: str) -> ContactList:
    """Phones/emails as `{value, primary, label}` objects, stored verbatim (plain strings are
    accepted as a convenience and become work entries; the first is primary)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f'"{name}" must be an array.')
    out: ContactList = []
    for n, item in enumerate(value):
        if isinstance(item, str):
            item = {"value": item}
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise bad_request(f'"{name}[{n}].value" must be a string.')
        primary = item.get("primary", n == 0)
        label = item.get("label", "work")
        if not isinstance(primary, bool) or not isinstance(label, str):
            raise bad_request(f'"{name}[{n}]" has an invalid "primary" or "label".')
        out.append({"value": item["value"], "primary": primary, "label": label})
    if out and not any(e["primary"] for e in out):
        out[0]["primary"] = True
    return out


def _opt_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f'"{name}" must be an integer.')
    return value


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f'"{name}" must be a string.')
    return value


@dataclass
class _Refs:
    """The references a call log or note may carry."""

    person_id: int | None
    org_id: int | None
    deal_id: int | None
    user_id: int | None
    lead_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Company:
    """A Pipedrive company's data. Methods raise `PipedriveError` for invalid input."""

    def __init__(self, company_id: int, name: str, domain: str, clock: Clock = utcnow) -> None:
        self.id = company_id
        self.name = name
        self.domain = domain
        self.clock = clock
        self.lock = threading.RLock()
        self.listeners: list[Listener] = []
        self.users: dict[int, User] = {}
        self.persons: dict[int, Person] = {}
        self.organizations: dict[int, Organization] = {}
        self.deals: dict[int, Deal] = {}
        self.leads: dict[str, Lead] = {}
        self.activities: dict[int, Activity] = {}
        self.call_logs: dict[str, CallLog] = {}
        self.deleted_call_logs: set[str] = set()
        self.notes: dict[int, Note] = {}
        self.webhooks: dict[int, Webhook] = {}
        self._next = 0
        # Users get ids of their own range, as Pipedrive's user ids are unrelated to data ids.
        self._next_user = 10_000_000 + (company_id % 1000) * 1000
        admin = self.add_user("Admin", f"admin@{domain}.test")
        self.admin_user_id = admin.id

    # ------------------------------------------------------------------ plumbing

    def _id(self) -> int:
        with self.lock:
            self._next += 1
            return self._next

    def _emit(self, event: ChangeEvent) -> None:
        for listener in list(self.listeners):
            listener(self, event)

    def add_user(self, name: str, email: str, *, is_admin: bool = False) -> User:
        with self.lock:
            self._next_user += 1
            user = User(
                self._next_user, name, email, is_admin or not self.users, created=self.clock()
            )
            self.users[user.id] = user
            return user

    def find_users(self, term: str, by_email: bool) -> list[User]:
        needle = term.strip().lower()
        return [
            u
            for u in self.users.values()
            if (u.email.lower() == needle if by_email else needle in u.name.lower())
        ]

    def _check_refs(self, body: dict[str, Any]) -> None:
        """Referenced org/person/deal/lead/owner must exist (Pipedrive answers 400 otherwise)."""
        checks: list[tuple[str, dict[Any, Any]]] = [
            ("org_id", self.organizations),
            ("person_id", self.persons),
            ("deal_id", self.deals),
            ("owner_id", self.users),
            ("user_id", self.users),
        ]
        for key, table in checks:
            value = body.get(key)
            if value is not None and value not in table:
                raise bad_request(f'"{key}" {value} does not exist.')
        lead = body.get("lead_id")
        if lead is not None and lead not in self.leads:
            raise bad_request(f'"lead_id" {lead} does not exist.')

    # ------------------------------------------------------------------ persons

    def create_person(self, body: dict[str, Any], user_id: int, source: str) -> Person:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request('"name" is required.')
        org_id = _opt_int(body, "org_id")
        owner_id = _opt_int(body, "owner_id") or user_id
        self._check_refs({"org_id": org_id, "owner_id": owner_id})
        now = self.clock()
        with self.lock:
            person = Person(
                self._id(),
                name,
                owner_id,
                now,
                now,
                phones=_contact_list(body.get("phones"), "phones"),
                emails=_contact_list(body.get("emails"), "emails"),
                org_id=org_id,
                job_title=_opt_str(body, "job_title"),
            )
            self.persons[person.id] = person
            snapshot = person.to_v2()
        self._emit(
            ChangeEvent(
                "person", "create", person.id, user_id, source, snapshot, None, person.to_v1(self)
            )
        )
        return person

    def person(self, person_id: int) -> Person:
        found = self.persons.get(person_id)
        if found is None:
            raise not_found("Person not found")
        return found

    def update_person(
        self, person_id: int, body: dict[str, Any], user_id: int, source: str
    ) -> Person:
        with self.lock:
            person = self.person(person_id)
            before, before_v1 = person.to_v2(), person.to_v1(self)
            if "name" in body:
                name = body["name"]
                if not isinstance(name, str) or not name.strip():
                    raise bad_request('"name" must be a non-empty string.')
                person.name = name
            if "phones" in body:
                person.phones = _contact_list(body["phones"], "phones")
            if "emails" in body:
                person.emails = _contact_list(body["emails"], "emails")
            if "org_id" in body:
                org_id = _opt_int(body, "org_id")
                self._check_refs({"org_id": org_id})
                person.org_id = org_id
            if "owner_id" in body:
                owner = _opt_int(body, "owner_id")
                self._check_refs({"owner_id": owner})
                person.owner_id = owner or person.owner_id
            if "job_title" in body:
                person.job_title = _opt_str(body, "job_title")
            person.update_time = self.clock()
            after = person.to_v2()
        previous = {k: v for k, v in before.items() if after.get(k) != v and k != "update_time"}
        self._emit(
            ChangeEvent(
                "person",
                "change",
                person.id,
                user_id,
                source,
                after,
                previous,
                person.to_v1(self),
                before_v1,
            )
        )
        return person

    def delete_person(
        self, person_id: int, user_id: int, source: str, *, merged_to_id: int | None = None
    ) -> None:
        with self.lock:
            person = self.person(person_id)
            snapshot, snapshot_v1 = person.to_v2(), person.to_v1(self)
            del self.persons[person_id]
        self._emit(
            ChangeEvent(
                "person",
                "delete",
                person_id,
                user_id,
                source,
                None,
                snapshot,
                None,
                snapshot_v1,
                merged_to_id=merged_to_id,
            )
        )

    def merge_persons(self, absorbed_id: int, survivor_id: int, user_id: int) -> Person:
        """`absorbed_id` is merged into `survivor_id` (as Pipedrive's merge does: phones and
        emails the survivor lacks are appended; deals, notes, activities and call logs move).
        Announced as `delete` of the absorbed person (with `merged_to_id`) then `change` of the
        survivor."""
        if absorbed_id == survivor_id:
            raise bad_request("Cannot merge a person with itself.")
        with self.lock:
            absorbed, survivor = self.person(absorbed_id), self.person(survivor_id)
            phones = survivor.phones + [
                {**p, "primary": False}
                for p in absorbed.phones
                if p["value"] not in {q["value"] for q in survivor.phones}
            ]
            emails = survivor.emails + [
                {**e, "primary": False}
                for e in absorbed.emails
                if e["value"] not in {f["value"] for f in survivor.emails}
            ]
            for table in (self.deals, self.activities, self.notes, self.call_logs):
                for item in table.values():
                    if getattr(item, "person_id", None) == absorbed_id:
                        item.person_id = survivor_id
            for lead in self.leads.values():
                if lead.person_id == absorbed_id:
                    lead.person_id = survivor_id
        self.delete_person(absorbed_id, user_id, "app", merged_to_id=survivor_id)
        return self.update_person(survivor_id, {"phones": phones, "emails": emails}, user_id, "app")

    # ------------------------------------------------------------------ organizations

    def create_organization(self, body: dict[str, Any], user_id: int, source: str) -> Organization:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request('"name" is required.')
        owner_id = _opt_int(body, "owner_id") or user_id
        self._check_refs({"owner_id": owner_id})
        now = self.clock()
        with self.lock:
            org = Organization(
                self._id(), name, owner_id, now, now, website=_opt_str(body, "website")
            )
            self.organizations[org.id] = org
        self._emit(
            ChangeEvent("organization", "create", org.id, user_id, source, org.to_v2(), None)
        )
        return org

    def organization(self, org_id: int) -> Organization:
        found = self.organizations.get(org_id)
        if found is None:
            raise not_found("Organization not found")
        return found

    def update_organization(
        self, org_id: int, body: dict[str, Any], user_id: int, source: str
    ) -> Organization:
        with self.lock:
            org = self.organization(org_id)
            before = org.to_v2()
            if "name" in body:
                name = body["name"]
                if not isinstance(name, str) or not name.strip():
                    raise bad_request('"name" must be a non-empty string.')
                org.name = name
            if "website" in body:
                org.website = _opt_str(body, "website")
            if "owner_id" in body:
                owner = _opt_int(body, "owner_id")
                self._check_refs({"owner_id": owner})
                org.owner_id = owner or org.owner_id
            org.update_time = self.clock()
            after = org.to_v2()
        previous = {k: v for k, v in before.items() if after.get(k) != v and k != "update_time"}
        self._emit(ChangeEvent("organization", "change", org.id, user_id, source, after, previous))
        return org

    def delete_organization(self, org_id: int, user_id: int, source: str) -> None:
        with self.lock:
            org = self.organization(org_id)
            del self.organizations[org_id]
            for person in self.persons.values():
                if person.org_id == org_id:
                    person.org_id = None
        self._emit(
            ChangeEvent("organization", "delete", org_id, user_id, source, None, org.to_v2())
        )

    # ------------------------------------------------------------------ deals & leads

    def create_deal(self, body: dict[str, Any], user_id: int, source: str) -> Deal:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise bad_request('"title" is required.')
        status = body.get("status", "open")
        if status not in ("open", "won", "lost"):
            raise bad_request('"status" must be open, won or lost.')
        refs = {k: _opt_int(body, k) for k in ("person_id", "org_id", "owner_id")}
        self._check_refs(refs)
        now = self.clock()
        with self.lock:
            deal = Deal(
                self._id(),
                title,
                refs["owner_id"] or user_id,
                now,
                now,
                person_id=refs["person_id"],
                org_id=refs["org_id"],
                value=float(body.get("value") or 0),
                status=status,
            )
            self.deals[deal.id] = deal
        self._emit(ChangeEvent("deal", "create", deal.id, user_id, source, deal.to_v2(), None))
        return deal

    def create_lead(self, body: dict[str, Any], user_id: int, source: str) -> Lead:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise bad_request('"title" is required.')
        person_id, org_id = _opt_int(body, "person_id"), _opt_int(body, "organization_id")
        if person_id is None and org_id is None:
            raise bad_request("A lead must be linked to a person or an organization.")
        self._check_refs({"person_id": person_id, "org_id": org_id})
        now = self.clock()
        with self.lock:
            lead = Lead(str(uuid.uuid4()), title, user_id, now, now, person_id, org_id)
            self.leads[lead.id] = lead
        self._emit(ChangeEvent("lead", "create", lead.id, user_id, source, lead.to_v1(self), None))
        return lead

    # ------------------------------------------------------------------ activities

    def _activity_fields(self, activity: Activity, body: dict[str, Any]) -> None:
        for key in ("subject", "type", "due_date", "due_time", "duration", "note"):
            if key in body:
                setattr(activity, key, _opt_str(body, key))
        for key in ("person_id", "org_id", "deal_id", "owner_id"):
            if key in body:
                value = _opt_int(body, key)
                self._check_refs({key: value})
                setattr(activity, key, value if key != "owner_id" else value or activity.owner_id)
        if "lead_id" in body:
            lead = _opt_str(body, "lead_id")
            self._check_refs({"lead_id": lead})
            activity.lead_id = lead
        if "done" in body:
            done = body["done"]
            if not isinstance(done, bool):
                raise bad_request('"done" must be a boolean.')
            if done and not activity.done:
                activity.marked_as_done_time = self.clock()
            activity.done = done

    def create_activity(self, body: dict[str, Any], user_id: int, source: str) -> Activity:
        now = self.clock()
        activity = Activity(0, "Call", "call", user_id, now, now)
        self._activity_fields(activity, body)
        with self.lock:
            activity.id = self._id()
            if not activity.subject:
                activity.subject = activity.type.capitalize()
            self.activities[activity.id] = activity
        self._emit(
            ChangeEvent("activity", "create", activity.id, user_id, source, activity.to_v2(), None)
        )
        return activity

    def activity(self, activity_id: int) -> Activity:
        found = self.activities.get(activity_id)
        if found is None:
            raise not_found("Activity not found")
        return found

    def update_activity(
        self, activity_id: int, body: dict[str, Any], user_id: int, source: str
    ) -> Activity:
        with self.lock:
            activity = self.activity(activity_id)
            before = activity.to_v2()
            self._activity_fields(activity, body)
            activity.update_time = self.clock()
            after = activity.to_v2()
        previous = {k: v for k, v in before.items() if after.get(k) != v and k != "update_time"}
        self._emit(ChangeEvent("activity", "change", activity.id, user_id, source, after, previous))
        return activity

    def delete_activity(self, activity_id: int, user_id: int, source: str) -> None:
        with self.lock:
            activity = self.activity(activity_id)
            del self.activities[activity_id]
        self._emit(
            ChangeEvent("activity", "delete", activity_id, user_id, source, None, activity.to_v2())
        )

    # ------------------------------------------------------------------ call logs

    def create_call_log(self, body: dict[str, Any], user_id: int, source: str) -> CallLog:
        for key in ("to_phone_number", "outcome", "start_time", "end_time"):
            if body.get(key) in (None, ""):
                raise bad_request(f'"{key}" is required.')
        outcome = body["outcome"]
        outcomes = ("connected", "no_answer", "left_message", "left_voicemail")
        if outcome not in (*outcomes, "wrong_number", "busy"):
            raise bad_request(
                '"outcome" must be one of [connected, no_answer, left_message, left_voicemail, '
                "wrong_number, busy]"
            )
        start = parse_time(body["start_time"], "start_time")
        end = parse_time(body["end_time"], "end_time")
        if end < start:
            raise bad_request('"end_time" must be later than "start_time".')
        if body.get("deal_id") is not None and body.get("lead_id") is not None:
            raise bad_request("A call log can be associated with either a deal or a lead.")
        duration = body.get("duration")
        if duration is not None:
            if not isinstance(duration, str | int) or isinstance(duration, bool):
                raise bad_request('"duration" must be a string of seconds.')
            duration = str(duration)
            if not duration.isdigit():
                raise bad_request('"duration" must be a string of seconds.')
        refs = _Refs(
            _opt_int(body, "person_id"),
            _opt_int(body, "org_id"),
            _opt_int(body, "deal_id"),
            _opt_int(body, "user_id"),
            _opt_str(body, "lead_id"),
        )
        self._check_refs(refs.as_dict())
        activity_id = _opt_int(body, "activity_id")
        if activity_id is not None and activity_id not in self.activities:
            raise not_found("Activity not found")
        owner = refs.user_id or user_id
        to_number = _opt_str(body, "to_phone_number") or ""
        subject = _opt_str(body, "subject")
        note = _opt_str(body, "note")
        if activity_id is None:
            # A call log is an activity in Pipedrive's UI: one is created alongside.
            secs = int(duration or 0)
            activity = self.create_activity(
                {
                    "subject": subject or f"Call to {to_number}",
                    "type": "call",
                    "owner_id": owner,
                    "person_id": refs.person_id,
                    "org_id": refs.org_id,
                    "deal_id": refs.deal_id,
                    "lead_id": refs.lead_id,
                    "due_date": _ymd_hms(start, " ")[:10],
                    "due_time": f"{start.hour:02d}:{start.minute:02d}",
                    "duration": f"{secs // 3600:02d}:{secs % 3600 // 60:02d}",
                    "done": True,
                    "note": note,
                },
                user_id,
                source,
            )
            activity_id = activity.id
        with self.lock:
            log = CallLog(
                "CA" + secrets.token_hex(14)[:27],
                owner,
                activity_id,
                outcome,
                to_number,
                start,
                end,
                from_phone_number=_opt_str(body, "from_phone_number"),
                subject=subject,
                duration=duration,
                person_id=refs.person_id,
                org_id=refs.org_id,
                deal_id=refs.deal_id,
                lead_id=refs.lead_id,
                note=note,
            )
            self.call_logs[log.id] = log
        return log

    def call_log(self, log_id: str) -> CallLog:
        found = self.call_logs.get(log_id)
        if found is None:
            if log_id in self.deleted_call_logs:
                raise not_found("Call log has been deleted")
            raise not_found("Call log not found")
        return found

    def delete_call_log(self, log_id: str, user_id: int, source: str) -> None:
        with self.lock:
            if log_id in self.deleted_call_logs:
                raise PipedriveError(410, "Call log has already been deleted")
            log = self.call_log(log_id)
            del self.call_logs[log_id]
            self.deleted_call_logs.add(log_id)
        if log.activity_id in self.activities:
            self.delete_activity(log.activity_id, user_id, source)

    def attach_recording(self, log_id: str, recording: Recording) -> CallLog:
        with self.lock:
            log = self.call_log(log_id)
            if log.recording is not None:
                raise PipedriveError(409, "A recording is already attached to this call log.")
            log.recording = recording
            return log

    # ------------------------------------------------------------------ notes

    def create_note(self, body: dict[str, Any], user_id: int, source: str) -> Note:
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            raise bad_request('"content" is required.')
        refs = _Refs(
            _opt_int(body, "person_id"),
            _opt_int(body, "org_id"),
            _opt_int(body, "deal_id"),
            _opt_int(body, "user_id"),
            _opt_str(body, "lead_id"),
        )
        if all(v is None for v in (refs.person_id, refs.org_id, refs.deal_id, refs.lead_id)):
            raise bad_request("A note must be attached to a deal, person, organization or lead.")
        self._check_refs(refs.as_dict())
        now = self.clock()
        with self.lock:
            note = Note(
                self._id(),
                content,
                refs.user_id or user_id,
                now,
                now,
                person_id=refs.person_id,
                org_id=refs.org_id,
                deal_id=refs.deal_id,
                lead_id=refs.lead_id,
            )
            self.notes[note.id] = note
        self._emit(ChangeEvent("note", "create", note.id, user_id, source, note.to_v1(self), None))
        return note

    def note(self, note_id: int) -> Note:
        found = self.notes.get(note_id)
        if found is None:
            raise not_found("Note not found")
        return found

    def update_note(self, note_id: int, body: dict[str, Any], user_id: int, source: str) -> Note:
        with self.lock:
            note = self.note(note_id)
            before = note.to_v1(self)
            if "content" in body:
                content = body["content"]
                if not isinstance(content, str) or not content.strip():
                    raise bad_request('"content" must be a non-empty string.')
                note.content = content
            for key in ("person_id", "org_id", "deal_id"):
                if key in body:
                    value = _opt_int(body, key)
                    self._check_refs({key: value})
                    setattr(note, key, value)
            note.update_time = self.clock()
            after = note.to_v1(self)
        self._emit(ChangeEvent("note", "change", note.id, user_id, source, after, before))
        return note

    def delete_note(self, note_id: int, user_id: int, source: str) -> None:
        with self.lock:
            note = self.note(note_id)
            snapshot = note.to_v1(self)
            del self.notes[note_id]
        self._emit(ChangeEvent("note", "delete", note_id, user_id, source, None, snapshot))

    # ------------------------------------------------------------------ webhooks

    def add_webhook(self, hook: Webhook) -> Webhook:
        with self.lock:
            hook.id = self._id()
            self.webhooks[hook.id] = hook
        return hook

    def counts(self) -> dict[str, int]:
        return {
            "users": len(self.users),
            "persons": len(self.persons),
            "organizations": len(self.organizations),
            "deals": len(self.deals),
            "leads": len(self.leads),
            "activities": len(self.activities),
            "call_logs": len(self.call_logs),
            "notes": len(self.notes),
            "webhooks": len([h for h in self.webhooks.values() if not h.removed]),
        }
