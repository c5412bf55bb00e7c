"""The connector contract kit, run for AttioConnector against the Attio emulator over real HTTP."""

from __future__ import annotations

import pytest

from switchboard.crm.attio import SOURCE, AttioConnector
from switchboard.crm.attio._records import to_person
from switchboard.crm.base import PeoplePage
from switchboard.emulators.attio import AttioEmulator
from switchboard.emulators.attio.hosting import AttioKitControl
from switchboard.emulators.common import ServerThread
from tests.crm.attio.conftest import TOKEN
from tests.crm.kit import ConnectorContractKit, KitEnv


class TestAttioConnectorContract(ConnectorContractKit):
    crm = "attio"


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
                KitEnv(connector, AttioKitControl(emu), source=SOURCE)
            )
    finally:
        await connector.aclose()
