"""Rate limits: the burst window per token (requests or token units), the daily budget of token
units, the `x-ratelimit-*` headers and 429s with Pipedrive's body. A fake clock moves time."""

from __future__ import annotations

from tests.emulators.pipedrive.conftest import Pd
from tests.emulators.pipedrive.spec import validate


def _fake_clock(pd: Pd) -> list[float]:
    now = [1000.0]
    pd.emu.budget.clock = lambda: now[0]
    return now


async def test_headers_on_every_answer(pd: Pd) -> None:
    _fake_clock(pd)
    pd.emu.budget.configure(plan="essential")
    first = await pd.client.get("/api/v2/persons")
    second = await pd.client.get("/api/v2/persons")
    assert first.headers["x-ratelimit-limit"] == "20"
    assert first.headers["x-ratelimit-remaining"] == "19"
    assert second.headers["x-ratelimit-remaining"] == "18"
    assert first.headers["x-ratelimit-reset"] == "2"
    daily = 30_000 * 1 * pd.emu.budget.seats
    assert int(first.headers["x-daily-requests-left"]) == daily - 10  # getPersons costs 10
    assert int(second.headers["x-daily-requests-left"]) == daily - 20


async def test_burst_window_of_two_seconds(pd: Pd) -> None:
    now = _fake_clock(pd)
    pd.emu.budget.configure(burst_api_token=3)
    for _ in range(3):
        assert (await pd.client.get("/v1/users/me")).status_code == 200
    limited = await pd.client.get("/v1/users/me")
    assert limited.status_code == 429
    validate("GET", "/v1/users/me", 429, limited.json())  # Pipedrive's generic error shape
    assert limited.headers["retry-after"] == "2" and limited.headers["x-ratelimit-remaining"] == "0"
    now[0] += 1.0
    assert (await pd.client.get("/v1/users/me")).status_code == 429  # rolling, not calendar
    now[0] += 1.0
    assert (await pd.client.get("/v1/users/me")).status_code == 200
    stats = await pd.ok("GET", "/_emulator/stats")
    assert stats["perStatus"]["429"] == 2 and stats["perOperation"]["getCurrentUser"] == 6


async def test_burst_counted_in_token_units(pd: Pd) -> None:
    _fake_clock(pd)
    await pd.ok("PUT", "/_emulator/rate-limits", json={"burst_unit": "cost", "burst_api_token": 25})
    assert (await pd.client.get("/api/v2/persons")).status_code == 200  # 10
    assert (await pd.client.get("/api/v2/persons")).status_code == 200  # 20
    assert (await pd.client.get("/api/v2/persons")).status_code == 429  # 30 > 25
    assert (await pd.client.get("/api/v2/persons/1")).status_code == 404  # cost 1 still fits


async def test_daily_budget(pd: Pd) -> None:
    now = _fake_clock(pd)
    pd.emu.budget.configure(daily_budget=85)
    for _ in range(2):  # findUsersByName costs 40
        assert (await pd.client.get("/v1/users/find", params={"term": "x"})).status_code == 200
    over = await pd.client.get("/v1/users/find", params={"term": "x"})  # 120 > 85
    assert over.status_code == 429 and int(over.headers["retry-after"]) > 80_000
    assert over.headers["x-daily-requests-left"] == "5"
    assert (await pd.client.get("/v1/users/me")).status_code == 200  # costs 2: still fits
    now[0] += 86_400
    assert (await pd.client.get("/v1/users/find", params={"term": "x"})).status_code == 200


async def test_oauth_tokens_have_their_own_burst_limit(pd: Pd) -> None:
    _fake_clock(pd)
    pd.emu.budget.configure(plan="essential")
    code = (await pd.ok("POST", "/_emulator/companies/default/oauth/codes", json={}))["code"]
    token = await pd.client.post(
        "/oauth/token", data={"grant_type": "authorization_code", "code": code}, auth=("a", "b")
    )
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}", "x-api-token": ""}
    resp = await pd.client.get("/v1/users/me", headers=bearer)
    assert resp.status_code == 200 and resp.headers["x-ratelimit-limit"] == "80"


async def test_limits_can_be_switched_off(pd: Pd) -> None:
    _fake_clock(pd)
    await pd.ok("PUT", "/_emulator/rate-limits", json={"enabled": False, "burst_api_token": 1})
    for _ in range(3):
        resp = await pd.client.get("/v1/users/me")
        assert resp.status_code == 200 and "x-ratelimit-limit" not in resp.headers
    bad = await pd.client.put("/_emulator/rate-limits", json={"plan": "platinum"})
    assert bad.status_code == 400
