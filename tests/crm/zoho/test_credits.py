"""When Zoho reports few credits left (`X-API-CREDITS-REMAINING`), sync reads take turns on the
slow budget while activity writes keep their pace."""

from __future__ import annotations

import httpx

from switchboard.crm.base import ActivityFacts, CrmNote
from switchboard.crm.zoho import ZohoConnector
from switchboard.crm.zoho._connector import BUDGET, SLOW_BUDGET
from switchboard.emulators.zoho import ZohoEmulator, create_app
from switchboard.http import MemoryRateLimiter, RateLimit
from switchboard.http.limiters import Permit

TOKEN = "1000.credits-test"


class CountingLimiter:
    def __init__(self) -> None:
        self.acquired = 0

    async def acquire(self) -> Permit:
        self.acquired += 1
        return None

    async def release(self, permit: Permit) -> None:
        return None

    async def pause(self, seconds: float) -> None:
        return None


async def test_sync_slows_before_activity_when_credits_run_low() -> None:
    emu = ZohoEmulator(token=TOKEN, seed=4, credits_per_day=100)
    (contact,) = emu.seed(emu.default_org, contacts=1).contacts
    slow = CountingLimiter()
    connector = ZohoConnector(
        TOKEN,
        "https://www.zohoapis.com",
        limiters={BUDGET: MemoryRateLimiter(RateLimit(rate=10, period=0.01)), SLOW_BUDGET: slow},
        transport=httpx.ASGITransport(app=create_app(emu)),
        sync_reserve_credits=30,
    )
    try:
        await connector.list_people_page(None)
        assert connector.credits_left is None and slow.acquired == 0  # plenty: no header yet
        for _ in range(50):
            await connector.get_person(contact)
        assert connector.credits_left is not None and connector.credits_left > 30
        await connector.list_people_page(None)
        assert slow.acquired == 0  # under half used up, but above the reserve
        for _ in range(20):
            await connector.get_person(contact)
        assert connector.credits_left is not None and connector.credits_left <= 30
        call = CrmNote(
            person_id=contact,
            title="Call",
            content="x",
            activity=ActivityFacts(kind="call", direction="incoming", answered=True),
        )
        await connector.write_note(call)
        assert slow.acquired == 0  # activity keeps its pace
        await connector.list_people_page(None)
        await connector.company_names({"1"})
        assert slow.acquired == 2  # sync reads take turns
    finally:
        await connector.aclose()
