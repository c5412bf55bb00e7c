"""In-memory Quo and CRM fakes for the activity unit tests (no network, no DBOS)."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from switchboard.activity.ports import QuoNotFound, QuoRequestRefused
from switchboard.crm.base import (
    CrmChange,
    CrmConnector,
    CrmNote,
    NoteRef,
    PeoplePage,
    Person,
    WebhookSubscriptionInfo,
)
from tests.fixtures import QUO_WEBHOOKS

FIXTURES = QUO_WEBHOOKS


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


class Crash(BaseException):
    """Simulates the process dying at a precise point (BaseException: nothing catches it)."""


class FakeQuo:
    def __init__(self, phone_numbers: list[dict[str, Any]] | None = None) -> None:
        self.phone_numbers = (
            phone_numbers
            if phone_numbers is not None
            else fixture("_workspace-phone-numbers")["data"]
        )
        self.calls: dict[str, dict[str, Any]] = {}
        self.voicemails: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []

    async def list_phone_numbers(self) -> list[dict[str, Any]]:
        self.requests.append("phone_numbers.list")
        return copy.deepcopy(self.phone_numbers)

    async def get_user(self, user_id: str) -> dict[str, Any]:
        self.requests.append(f"users.get:{user_id}")
        if user_id.startswith("SY"):
            raise QuoRequestRefused("400 AI agent id")
        if user_id not in self.users:
            raise QuoNotFound(user_id)
        return copy.deepcopy(self.users[user_id])

    async def get_call(self, call_id: str) -> dict[str, Any]:
        self.requests.append(f"calls.get:{call_id}")
        if call_id not in self.calls:
            raise QuoNotFound(call_id)
        call = self.calls[call_id]
        if len(call.get("participants") or []) > 2:
            raise QuoRequestRefused("0101400 Too Many Participants")
        return copy.deepcopy(call)

    async def get_call_voicemail(self, call_id: str) -> dict[str, Any]:
        self.requests.append(f"voicemails.get:{call_id}")
        if call_id not in self.voicemails:
            raise QuoNotFound(call_id)
        return copy.deepcopy(self.voicemails[call_id])


class FakeCrm(CrmConnector):
    """Notes and people in memory. `crash_after_write` / `crash_before_delete` inject a death."""

    name = "fake"

    def __init__(self, *, can_list_notes: bool = True) -> None:
        self.people: dict[str, Person] = {}
        self.notes: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self._ids = itertools.count(1)
        self.crash_after_write = 0
        self.crash_before_delete = 0
        self.can_list_notes = can_list_notes
        if can_list_notes:
            self.list_notes = self._list_notes  # type: ignore[method-assign]

    def add_person(
        self, pid: str, phone: str, updated: datetime | None = None, **kw: Any
    ) -> Person:
        person = Person(id=pid, phones=(phone,), updated_at=updated, **kw)
        self.people[pid] = person
        return person

    def notes_for(self, person_id: str) -> list[dict[str, Any]]:
        return [n for n in self.notes.values() if n["person_id"] == person_id]

    async def _list_notes(self, person_id: str) -> list[dict[str, Any]]:
        self.requests.append("notes.list")
        return [
            {"id": nid, "title": n["title"], "content": n["content"], "created_at": n["created_at"]}
            for nid, n in self.notes.items()
            if n["person_id"] == person_id
        ]

    async def find_people_by_phone(self, e164: str) -> list[Person]:
        self.requests.append("people.search")
        return [p for p in self.people.values() if e164 in p.phones]

    async def create_person(self, e164: str, name: str | None = None) -> Person:
        self.requests.append("people.create")
        pid = f"auto{next(self._ids)}"
        return self.add_person(pid, e164, datetime.now(UTC))

    async def write_note(self, note: CrmNote) -> NoteRef:
        self.requests.append("notes.create")
        nid = f"note{next(self._ids)}"
        self.notes[nid] = {
            "person_id": note.person_id,
            "title": note.title,
            "content": note.content,
            "created_at": note.created_at,
            "activity": note.activity,
            "settings": dict(note.settings),
        }
        if self.crash_after_write:
            self.crash_after_write -= 1
            raise Crash("killed after the CRM created the note")
        return NoteRef(nid)

    async def delete_note(self, note_id: str) -> None:
        if self.crash_before_delete:
            self.crash_before_delete -= 1
            raise Crash("killed before the delete")
        self.requests.append("notes.delete")
        self.notes.pop(note_id, None)

    # unused parts of the contract
    async def check_credentials(self) -> Mapping[str, str]:
        return {}

    async def list_people_page(self, cursor: str | None, limit: int = 500) -> PeoplePage:
        return PeoplePage(list(self.people.values()), None)

    async def get_person(self, person_id: str) -> Person | None:
        return self.people.get(person_id)

    async def list_people_changed_since(self, since: datetime) -> list[Person]:
        return []

    async def company_names(self, company_ids: set[str]) -> dict[str, str]:
        return {}

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
