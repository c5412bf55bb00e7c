"""The Pipedrive emulator as an `EmulatedCrm` (demo, contract kit): in-process handles on its
state. Call logs and notes both count as "notes" here: what Switchboard writes for a call or a
text (ids `calllog:<id>` and `note:<id>`, as the connector hands them out)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from switchboard.emulators.hosting import Budget, EmulatedNote, HostedEmulator, LoggedControl
from switchboard.emulators.pipedrive.app import create_app
from switchboard.emulators.pipedrive.company import Company
from switchboard.emulators.pipedrive.emulator import PipedriveEmulator
from switchboard.emulators.pipedrive.entities import CallLog, Note

_TITLE = re.compile(r"^<p><strong>(?P<title>.*?)</strong></p>(?P<body>.*)$", re.DOTALL)


def _from_call_log(log: CallLog) -> EmulatedNote:
    return EmulatedNote(
        id=f"calllog:{log.id}",
        person_id=str(log.person_id),
        title=log.subject or "",
        content=log.note or "",
        created_at=log.start_time,
    )


def _from_note(note: Note) -> EmulatedNote:
    found = _TITLE.match(note.content)
    title = html.unescape(found.group("title")) if found else ""
    return EmulatedNote(
        id=f"note:{note.id}",
        person_id=str(note.person_id),
        title=title,
        content=found.group("body") if found else note.content,
        created_at=note.add_time,
    )


class PipedriveKitControl(LoggedControl):
    """The contract kit's `KitControl` over the emulator's Python API (direct changes fire
    webhooks like edits in Pipedrive's app)."""

    emu: PipedriveEmulator

    def __init__(self, emu: PipedriveEmulator) -> None:
        self.emu = emu
        limit = emu.budget.burst_limit("api") // 2
        self.rate_limits: dict[Budget, int] = {"read": limit, "write": limit}

    @property
    def co(self) -> Company:
        return self.emu.default_company

    async def seed_people(self, count: int) -> list[str]:
        result = self.emu.seed(self.co, persons=count, seed=count)
        return [str(i) for i in result.persons]

    async def add_person(self, phones: Sequence[str], name: str | None = None) -> str:
        body = {"name": name or "Someone", "phones": list(phones)}
        return str(self.co.create_person(body, self.co.admin_user_id, "app").id)

    async def delete_person(self, person_id: str) -> None:
        self.co.delete_person(int(person_id), self.co.admin_user_id, "app")

    async def set_phones(self, person_id: str, phones: Sequence[str]) -> None:
        self.co.update_person(
            int(person_id), {"phones": list(phones)}, self.co.admin_user_id, "app"
        )

    async def person_ids(self) -> set[str]:
        with self.co.lock:
            return {str(i) for i in self.co.persons}

    async def company_name_of(self, person_id: str) -> str | None:
        with self.co.lock:
            person = self.co.persons[int(person_id)]
            org = self.co.organizations.get(person.org_id) if person.org_id else None
            return org.name if org else None

    async def note(self, note_id: str) -> EmulatedNote | None:
        kind, _, raw = note_id.partition(":")
        with self.co.lock:
            if kind == "calllog":
                log = self.co.call_logs.get(raw)
                return _from_call_log(log) if log else None
            note = self.co.notes.get(int(raw)) if raw.isdigit() else None
            return _from_note(note) if note else None

    async def company_lookups(self) -> int:
        return sum(1 for e in self.emu.log.entries() if "/organizations" in e.path)


class HostedPipedrive(HostedEmulator):
    """`EmulatedCrm` for Pipedrive."""

    emu: PipedriveEmulator
    control = PipedriveKitControl

    def __init__(self, emu: PipedriveEmulator) -> None:
        super().__init__(emu, create_app)

    def seed_people(self, count: int, seed: int = 0) -> None:
        self.emu.seed(self.emu.default_company, persons=count, seed=seed)

    def people_with_phones(self, limit: int) -> list[tuple[str, str]]:
        from switchboard import phones

        co = self.emu.default_company
        out: list[tuple[str, str]] = []
        with co.lock:
            for person in co.persons.values():
                numbers = [phones.normalise(p["value"]) for p in person.phones]
                if numbers and numbers[0]:
                    out.append((str(person.id), numbers[0]))
                if len(out) >= limit:
                    break
        return out

    def notes(self) -> list[EmulatedNote]:
        co = self.emu.default_company
        with co.lock:
            found = [_from_call_log(log) for log in co.call_logs.values()]
            found += [_from_note(note) for note in co.notes.values()]
        return sorted(found, key=lambda n: (n.created_at, n.id))


def host(
    *, token: str, seed: int = 0, allow_http_targets: bool = True, fast: bool = False
) -> HostedPipedrive:
    """A Pipedrive emulator at Pipedrive's limits whose default company answers to `token`.
    (`allow_http_targets` is accepted for the common signature: Pipedrive delivers to any URL.)"""
    emu = PipedriveEmulator(token=token, seed_value=seed)
    if fast:
        emu.set_webhook_delivery(time_scale=0.001)
    return HostedPipedrive(emu)
