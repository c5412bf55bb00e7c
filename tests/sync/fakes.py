"""In-memory stand-ins for the Quo contacts port and a CRM connector (unit tests only)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from switchboard.crm.base import (
    CrmChange,
    CrmConnector,
    CrmNote,
    NoteRef,
    PeoplePage,
    Person,
    PersonEdit,
    WebhookSubscriptionInfo,
)
from switchboard.quo.models import Contact, ContactInput
from switchboard.sync.ports import ContactRef, PushResult


class FakeQuo:
    """Quo's contact store with its one hard rule: externalId is unique (409 otherwise)."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    # helpers for assertions
    def by_external(self, external_id: str) -> list[dict[str, Any]]:
        return [c for c in self.contacts.values() if c.get("externalId") == external_id]

    def writes(self) -> int:
        return sum(1 for c in self.calls if c not in ("find", "get"))

    def _ref(self, cid: str) -> ContactRef:
        c = self.contacts[cid]
        return ContactRef(cid, c.get("externalId"), c.get("source"))

    def _create(self, contact: ContactInput) -> str | None:
        if self.by_external(contact.external_id):
            return None
        cid = f"CT{next(self._ids)}"
        self.contacts[cid] = {"id": cid, **contact.to_api()}
        return cid

    async def create_many(self, contacts: Sequence[ContactInput]) -> Mapping[str, PushResult]:
        self.calls.append("bulk")
        out: dict[str, PushResult] = {}
        for c in contacts:
            cid = self._create(c)
            if cid is None:
                existing = self.by_external(c.external_id)[0]
                existing.update(c.to_api())
                out[c.external_id] = PushResult(c.external_id, "updated", self._ref(existing["id"]))
            else:
                out[c.external_id] = PushResult(c.external_id, "created", self._ref(cid))
        return out

    async def update(self, contact_id: str, contact: ContactInput) -> ContactRef | None:
        self.calls.append("update")
        if contact_id not in self.contacts:
            return None
        self.contacts[contact_id].update(contact.to_api())
        return self._ref(contact_id)

    async def upsert(self, contact: ContactInput) -> PushResult:
        self.calls.append("create")
        cid = self._create(contact)
        if cid is not None:
            return PushResult(contact.external_id, "created", self._ref(cid))
        existing = self.by_external(contact.external_id)[0]
        before = self._ref(existing["id"])  # ownership is judged on what was there before
        self.calls.append("update")
        existing.update(contact.to_api())
        return PushResult(contact.external_id, "updated", before)

    async def find_by_external_ids(self, external_ids: Sequence[str]) -> Mapping[str, ContactRef]:
        self.calls.append("find")
        out = {}
        for e in external_ids:
            found = self.by_external(e)
            if found:
                out[e] = self._ref(found[0]["id"])
        return out

    async def get(self, contact_id: str) -> Contact | None:
        self.calls.append("get")
        found = self.contacts.get(contact_id)
        return Contact.model_validate(found) if found is not None else None

    async def delete(self, contact_id: str) -> None:
        self.calls.append("delete")
        self.contacts.pop(contact_id, None)


class FakeCrm(CrmConnector):
    """People in creation order; cursor = index of the next person."""

    name = "fake"

    def __init__(self, people: Sequence[Person] = ()) -> None:
        self.people: dict[str, Person] = {p.id: p for p in people}
        self.reads = 0
        self.updates: list[tuple[str, PersonEdit]] = []

    def put(self, person: Person) -> None:
        self.people[person.id] = person

    async def check_credentials(self) -> Mapping[str, str]:
        return {"workspace_id": "w"}

    async def list_people_page(self, cursor: str | None, limit: int = 500) -> PeoplePage:
        self.reads += 1
        start = int(cursor or 0)
        ordered = list(self.people.values())
        chunk = ordered[start : start + limit]
        nxt = str(start + limit) if start + limit < len(ordered) else None
        return PeoplePage(people=chunk, next_cursor=nxt)

    async def get_person(self, person_id: str) -> Person | None:
        self.reads += 1
        return self.people.get(person_id)

    async def find_people_by_phone(self, e164: str) -> list[Person]:
        return [p for p in self.people.values() if e164 in p.phones]

    async def list_people_changed_since(self, since: datetime) -> list[Person]:
        self.reads += 1
        return [
            p
            for p in self.people.values()
            if (p.updated_at or datetime(1970, 1, 1, tzinfo=UTC)) >= since
        ]

    async def create_person(self, e164: str, name: str | None = None) -> Person:
        raise NotImplementedError

    async def update_person(self, person_id: str, edit: PersonEdit) -> Person | None:
        self.updates.append((person_id, edit))
        old = self.people.get(person_id)
        if old is None:
            return None
        self.people[person_id] = replace(
            old,
            first_name=edit.first_name,
            last_name=edit.last_name,
            phones=edit.phones,
            emails=edit.emails,
        )
        return self.people[person_id]

    async def company_names(self, company_ids: set[str]) -> dict[str, str]:
        return {}

    async def write_note(self, note: CrmNote) -> NoteRef:
        raise NotImplementedError

    async def delete_note(self, note_id: str) -> None:
        raise NotImplementedError

    async def subscribe(self, target_url: str) -> WebhookSubscriptionInfo:
        raise NotImplementedError

    async def unsubscribe(self, remote_id: str) -> None:
        raise NotImplementedError

    async def list_subscriptions(self) -> list[WebhookSubscriptionInfo]:
        return []

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
        return None

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
        return []

    async def aclose(self) -> None:
        return None


def person(
    pid: str,
    *phones: str,
    first: str = "Ada",
    last: str = "Lovelace",
    raw: Sequence[str] = (),
    updated: datetime | None = None,
) -> Person:
    return Person(
        id=pid,
        first_name=first,
        last_name=last,
        phones=tuple(phones),
        raw_phones=tuple(raw),
        emails=(f"{pid}@example.com",),
        updated_at=updated,
    )
