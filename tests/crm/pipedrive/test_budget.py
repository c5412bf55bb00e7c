"""Pipedrive's budgets spent by the shared limiter against the emulator's real accounting: a
full-speed sync gets no 429 whether the 2-second window counts requests or token costs, and a
request the daily token budget cannot pay for is refused before Pipedrive sees it. The emulator's
window is scaled down (×0.1) and the connector's with it, so the test takes seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from switchboard.crm.pipedrive import PipedriveConnector
from switchboard.crm.pipedrive._budget import burst_limit, pipedrive_limiters
from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
from switchboard.emulators.pipedrive.operations import BY_NAME
from switchboard.http import ApiError, RateLimit

SCALE = 0.1
WINDOW_S = 2.0 * SCALE


def _units_per_window(emu: PipedriveEmulator, weighted: bool) -> int:
    """The most units (requests, or token costs) the emulator received in any scaled window."""
    sent = sorted(
        (e.ts, BY_NAME[e.operation].cost if weighted else 1)
        for e in emu.log.entries()
        if e.operation in BY_NAME
    )
    best, lo, units = 0, 0, 0
    for ts, cost in sent:
        units += cost
        while ts - sent[lo][0] >= WINDOW_S:
            units -= sent[lo][1]
            lo += 1
        best = max(best, units)
    return best


def _rate_limited(emu: PipedriveEmulator) -> int:
    return sum(1 for e in emu.log.entries() if e.status == 429)


@contextlib.asynccontextmanager
async def _connector(
    emu: PipedriveEmulator, limit: RateLimit, key: str
) -> AsyncIterator[PipedriveConnector]:
    connector = PipedriveConnector(
        emu.default_token,
        "http://pipedrive.test",
        transport=httpx.ASGITransport(create_app(emu)),
        limiters=pipedrive_limiters(key, limit=limit),
    )
    try:
        yield connector
    finally:
        await connector.aclose()


@pytest.mark.parametrize("unit", ["requests", "tokens"])
async def test_a_full_speed_sync_gets_no_429(unit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    emu = PipedriveEmulator(plan="essential", burst_unit="cost" if unit == "tokens" else unit)
    emu.budget.time_scale = SCALE
    emu.seed(emu.default_company, persons=1500, seed=1)
    monkeypatch.setenv("SWITCHBOARD_PIPEDRIVE_BURST_LIMIT", "20")  # Essential
    monkeypatch.setenv("SWITCHBOARD_PIPEDRIVE_BURST_UNIT", unit)
    limit = replace(burst_limit(), period=WINDOW_S)
    async with _connector(emu, limit, f"sync-{unit}") as connector:
        person_ids: list[str] = []

        async def scan() -> None:
            cursor: str | None = None
            while True:
                page = await connector.list_people_page(cursor)
                companies = {p.company_id for p in page.people if p.company_id}
                await connector.company_names(companies)
                person_ids.extend(p.id for p in page.people)
                cursor = page.next_cursor
                if cursor is None:
                    return

        # Two workers scanning at once, then lookups of single persons as fast as allowed.
        await asyncio.gather(scan(), scan())
        await asyncio.gather(*(connector.get_person(pid) for pid in person_ids[:60]))
    assert len(person_ids) == 3000
    assert _rate_limited(emu) == 0
    assert _units_per_window(emu, weighted=unit == "tokens") <= 20


async def test_the_daily_budget_is_never_overspent() -> None:
    emu = PipedriveEmulator(daily_budget=150)
    emu.budget.time_scale = SCALE
    emu.seed(emu.default_company, persons=5, seed=2)
    limit = replace(burst_limit(), daily=150, period=WINDOW_S)
    async with _connector(emu, limit, "daily") as connector:
        await connector.list_people_page(None)  # 10 tokens, and users.me (2)
        with pytest.raises(ApiError) as refused:
            for _ in range(200):
                await connector.get_person("1")  # 1 token each
        assert (refused.value.status, refused.value.code) == (429, "daily_budget")
    gets = sum(1 for e in emu.log.entries() if e.operation == "getPerson")
    assert gets == 150 - 12
    assert _rate_limited(emu) == 0
