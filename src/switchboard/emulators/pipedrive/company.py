"""One Pipedrive company (an account) and every change to its data.

Every change to a person, organization, deal, lead, activity or note is announced to
`listeners` as a `ChangeEvent` (the emulator turns those into webhook deliveries).

Over 600 lines on purpose: emulator state — one company's records, token budget and the
events its changes fire live together, under one lock.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from switchboard.emulators.pipedrive.entities import (
    Activity,
    CallLog,
    Clock,
    ContactList,
    Deal,
    Lead,
    Note,
    Organization,
    Person,
    Recording,
    User,
    Webhook,
    parse_time,
    utcnow,
    ymd_hms,
)
from switchboard.emulators.pipedrive.errors import PipedriveError, bad_request, not_found


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
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


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

    def deal(self, deal_id: int) -> Deal:
        found = self.deals.get(deal_id)
        if found is None:
            raise not_found("Deal not found")
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
        if owner != user_id and not self.users[user_id].is_admin:
            # Pipedrive: "a user without account settings access cannot create call logs for
            # other users" (the status and message are UNCONFIRMED).
            raise PipedriveError(403, "You are not allowed to create call logs for other users.")
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
                    "due_date": ymd_hms(start, " ")[:10],
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
        # `add_time` back-dates the note (the documents: "can be set in the past").
        added = parse_time(body["add_time"], "add_time") if body.get("add_time") else now
        with self.lock:
            note = Note(
                self._id(),
                content,
                refs.user_id or user_id,
                added,
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
