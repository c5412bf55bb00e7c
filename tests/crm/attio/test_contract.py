"""The connector contract kit, run for AttioConnector against the Attio emulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from switchboard.crm.attio import SOURCE, AttioConnector
from switchboard.crm.attio._records import to_person
from switchboard.crm.base import PeoplePage
from switchboard.emulators.attio import AttioEmulator, Workspace
from switchboard.emulators.common import ServerThread
from switchboard.http import RequestInfo
from tests.crm.attio.conftest import TOKEN
from tests.crm.kit import Budget, ConnectorContractKit, KitEnv, KitNote


class AttioControl:
    """`EmulatorControl` over the emulator's in-process Python API (thread-safe; direct changes
    fire webhooks like edits in Attio's app)."""

    def __init__(self, emu: AttioEmulator) -> None:
        self.emu = emu
        self.rate_limits: dict[Budget, int] = {
            "read": emu.reads_per_second,
            "write": emu.writes_per_second,
        }

    @property
    def ws(self) -> Workspace:
        return self.emu.default_workspace

    async def seed_people(self, count: int) -> list[str]:
        before = await self.person_ids()
        self.emu.seed(self.ws, people=count, seed=count)
        return sorted(await self.person_ids() - before)

    async def add_person(self, phones: Sequence[str], name: str | None = None) -> str:
        values: dict[str, object] = {"phone_numbers": list(phones)}
        if name:
            values["name"] = name
        return self.emu.create_record(self.ws, "people", values).id

    async def delete_person(self, person_id: str) -> None:
        self.emu.delete_record(self.ws, "people", person_id)

    async def set_phones(self, person_id: str, phones: Sequence[str]) -> None:
        self.emu.update_record(self.ws, "people", person_id, {"phone_numbers": list(phones)})

    async def person_ids(self) -> set[str]:
        with self.ws.lock:
            return set(self.ws.store("people").records)

    async def company_name_of(self, person_id: str) -> str | None:
        with self.ws.lock:
            person = self.ws.store("people").records[person_id]
            refs = person.current("company")
            if not refs:
                return None
            company = self.ws.store("companies").records.get(refs[0].data["target_record_id"])
            names = company.current("name") if company else []
            return str(names[0].data["value"]) if names else None

    async def note(self, note_id: str) -> KitNote | None:
        with self.ws.lock:
            found = self.ws.notes.get(note_id)
        if found is None:
            return None
        return KitNote(
            person_id=found.parent_record_id,
            title=found.title,
            content=found.content_markdown or found.content_plaintext,
            created_at=found.created_at,
        )

    async def clear_request_log(self) -> None:
        self.emu.log.clear()

    async def company_lookups(self) -> int:
        return sum(1 for e in self.emu.log.entries() if "/objects/companies/" in e.path)

    async def rate_limited_responses(self) -> int:
        return sum(1 for e in self.emu.log.entries() if e.status == 429)

    async def max_requests_per_second(self, budget: Budget) -> int:
        return self.emu.log.max_per_second(key=f"{self.ws.id}:{budget}")


class TestAttioConnectorContract(ConnectorContractKit):
    @pytest.fixture
    async def kit(self, attio_server: tuple[AttioEmulator, ServerThread]) -> AsyncIterator[KitEnv]:
        emu, server = attio_server
        emu.reset()
        calls: list[RequestInfo] = []
        connector = AttioConnector(TOKEN, server.url, hook=calls.append)
        try:
            yield KitEnv(connector, AttioControl(emu), source=SOURCE, extras={"calls": calls})
        finally:
            await connector.aclose()
        # The connector itself never saw a 429 either (nothing needed a retry).
        assert not [c for c in calls if c.status == 429]


class OffsetPagingConnector(AttioConnector):
    """What the kit must reject: the obvious offset-paginated scan."""

    async def list_people_page(self, cursor: str | None, limit: int = 500) -> PeoplePage:
        offset = int(cursor or 0)
        records = await self._query(
            "people",
            {"sorts": [{"attribute": "created_at", "direction": "asc"}], "limit": limit,
             "offset": offset},
            "people.scan",
        )  # fmt: skip
        people = [to_person(r) for r in records]
        done = len(records) < limit
        return PeoplePage(people, None if done else str(offset + len(records)))


async def test_the_kit_rejects_an_offset_paginated_scan(
    attio_server: tuple[AttioEmulator, ServerThread],
) -> None:
    emu, server = attio_server
    emu.reset()
    connector = OffsetPagingConnector(TOKEN, server.url)
    kit = ConnectorContractKit()
    kit.scan_size, kit.page_size = 1_000, 200
    try:
        with pytest.raises(AssertionError, match=r"skipped|more than once"):
            await kit.test_full_scan_is_stable_under_concurrent_creates_and_deletes(
                KitEnv(connector, AttioControl(emu), source=SOURCE)
            )
    finally:
        await connector.aclose()
