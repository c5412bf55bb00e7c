"""API credits per rolling 24 h and concurrent requests per org: 429 TOO_MANY_REQUESTS without
Retry-After, X-API-CREDITS-REMAINING once half the credits are used."""

from __future__ import annotations

import asyncio

from switchboard.emulators.zoho.org import EDITIONS
from tests.emulators.zoho.conftest import Zoho, make_emulator


async def test_credits_exhaust_then_roll_over(zoho: Zoho) -> None:
    zoho.org.credits_override = 10
    statuses = []
    remaining = []
    for _ in range(12):
        resp = await zoho.api("GET", "/crm/v8/org")
        statuses.append(resp.status_code)
        remaining.append(resp.headers.get("x-api-credits-remaining"))
    assert statuses == [200] * 10 + [429, 429]
    # The header appears once half the credits are used, and counts down.
    assert remaining[:5] == [None] * 5
    assert remaining[5:10] == ["4", "3", "2", "1", "0"]
    denied = await zoho.api("GET", "/crm/v8/Contacts?fields=Last_Name")
    assert denied.status_code == 429
    assert denied.json()["code"] == "TOO_MANY_REQUESTS"
    assert denied.json()["status"] == "error"
    assert "retry-after" not in denied.headers
    # Rolling window: credits spent more than 24 h ago come back.
    zoho.emu.advance(24 * 3600 + 1)
    assert (await zoho.api("GET", "/crm/v8/org")).status_code == 200


async def test_credits_are_per_org_and_by_edition() -> None:
    emu = make_emulator(edition="professional")
    assert emu.default_org.credits_per_day == 50_000 + 500
    free = emu.create_org("Free", edition="free", users=3)
    assert free.credits_per_day == EDITIONS["free"][0]
    assert free.max_concurrency == 5
    ultimate = emu.create_org("Big", edition="ultimate", users=4)
    assert ultimate.credits_per_day == 50_000 + 4 * 2_000
    assert ultimate.max_concurrency == 25
    free.credits_override = 1
    emu.charge(free)
    emu.charge(emu.default_org)  # another org's budget is untouched
    assert emu.credits_used(free) == 1 and emu.credits_used(emu.default_org) == 1


async def test_concurrency_limit_per_org(zoho: Zoho) -> None:
    zoho.org.concurrency_override = 3
    zoho.emu.faults.update({"processing_ms": 300})
    results = await asyncio.gather(*(zoho.api("GET", "/crm/v8/org") for _ in range(5)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 200, 200, 429, 429]
    rejected = next(r for r in results if r.status_code == 429)
    assert rejected.json()["code"] == "TOO_MANY_REQUESTS"
    assert "retry-after" not in rejected.headers
    zoho.emu.faults.clear()
    assert (await zoho.api("GET", "/crm/v8/org")).status_code == 200
    assert zoho.emu.in_flight[zoho.org.id] == 0


async def test_heavy_calls_have_a_sub_concurrency_of_ten(zoho: Zoho) -> None:
    zoho.org.concurrency_override = 25
    zoho.emu.faults.update({"processing_ms": 300})
    searches = [zoho.api("GET", "/crm/v8/Contacts/search?phone=1") for _ in range(12)]
    light = [zoho.api("GET", "/crm/v8/org") for _ in range(5)]
    results = await asyncio.gather(*searches, *light)
    search_statuses = sorted(r.status_code for r in results[:12])
    assert search_statuses == [204] * 10 + [429, 429]
    assert [r.status_code for r in results[12:]] == [200] * 5
    assert zoho.emu.in_flight[f"{zoho.org.id}:heavy"] == 0


async def test_credit_costs_knob(zoho: Zoho) -> None:
    zoho.org.credits_override = 10
    zoho.emu.faults.update({"credit_costs": {"Search Records": 4}})
    await zoho.api("GET", "/crm/v8/Contacts/search?phone=1")
    await zoho.api("GET", "/crm/v8/org")
    assert zoho.emu.credits_used(zoho.org) == 5
