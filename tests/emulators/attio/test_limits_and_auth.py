"""Rate limits (100 reads/s, 25 writes/s per workspace; 429 + HTTP-date Retry-After + Attio's
body), fault injection, bearer auth per workspace, and the OAuth authorization-code exchange."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.emulators.attio.conftest import Attio


def _freeze(attio: Attio, now: float = 1000.0) -> None:
    """Pin the limiter's clock: every request falls into the same second."""
    attio.emu.limiter.reads.clock = lambda: now
    attio.emu.limiter.writes.clock = lambda: now


def _assert_429(resp: httpx.Response, max_wait: float = 2.5) -> None:
    assert resp.status_code == 429
    assert resp.json() == {
        "status_code": 429,
        "type": "rate_limit_error",
        "code": "rate_limit_exceeded",
        "message": resp.json()["message"],
    }
    retry_at = parsedate_to_datetime(resp.headers["Retry-After"])
    wait = (retry_at - datetime.now(UTC)).total_seconds()
    # an HTTP date ~1 s ahead (whole seconds; slack for a descheduled test process)
    assert -0.5 < wait <= max_wait


async def test_more_than_25_writes_per_second_get_429(attio: Attio) -> None:
    _freeze(attio)
    for i in range(25):
        await attio.create_person(name=f"P{i}")
    resp = await attio.api(
        "POST", "/v2/objects/people/records", json={"data": {"values": {"name": "P25"}}}
    )
    _assert_429(resp)
    assert len(attio.ws.store("people").records) == 25  # the 429 did nothing
    # reads have their own budget; a query is a read
    for _ in range(100):
        assert (await attio.api("POST", "/v2/objects/people/records/query", json={})).is_success
    _assert_429(await attio.api("GET", "/v2/objects"))
    attio.emu.limiter.writes.clock = lambda: 1001.5  # the window has moved on
    assert (await attio.api("DELETE", f"/v2/objects/people/records/{'0' * 8}")).status_code == 404
    stats = await attio.ok("GET", "/_emulator/stats")
    ws = attio.ws.id
    assert stats["perStatus"]["429"] == 2
    assert {f"{ws}:read", f"{ws}:write"} <= set(stats["maxPerSecondByKey"])


async def test_limits_are_per_workspace_and_adjustable(attio: Attio) -> None:
    _freeze(attio)
    other = attio.emu.create_workspace("Other", token="other-token")
    await attio.ok(
        "PUT", "/_emulator/rate-limits", json={"reads_per_second": 2, "writes_per_second": 1}
    )
    _freeze(attio)
    assert (await attio.api("GET", "/v2/self")).is_success
    assert (await attio.api("GET", "/v2/self")).is_success
    _assert_429(await attio.api("GET", "/v2/self"))
    theirs = await attio.api("GET", "/v2/self", headers={"Authorization": "Bearer other-token"})
    assert theirs.json()["workspace_id"] == other.id
    await attio.ok(
        "PUT", "/_emulator/rate-limits", json={"reads_per_second": 0, "writes_per_second": 0}
    )
    for _ in range(150):
        assert (await attio.api("GET", "/v2/self")).is_success


async def test_storm_and_injected_errors(attio: Attio) -> None:
    await attio.ok(
        "PUT", "/_emulator/faults", json={"storm_429": {"duration_s": 60, "retry_after": 2}}
    )
    _assert_429(await attio.api("GET", "/v2/objects"), max_wait=3.5)
    assert (await attio.api("GET", "/_emulator/health")).is_success  # control surface exempt
    await attio.ok(
        "PUT",
        "/_emulator/faults",
        json={"errors": {"queryRecords": {"rate": 1.0, "status": 503, "count": 1}}},
    )
    resp = await attio.api("POST", "/v2/objects/people/records/query", json={})
    assert resp.status_code == 503 and resp.json()["type"] == "api_error"
    assert (await attio.api("POST", "/v2/objects/people/records/query", json={})).is_success
    await attio.ok("DELETE", "/_emulator/faults")
    log = (await attio.ok("GET", "/_emulator/requests?operation=queryRecords"))["data"]
    assert [e["status"] for e in log] == [503, 200]


async def test_bearer_auth(attio: Attio) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}, {}):
        attio.client.headers.pop("Authorization", None)
        resp = await attio.client.get("/v2/objects", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["type"] == "auth_error"
    token = (await attio.ok("POST", "/_emulator/workspaces/default/tokens", json={}))["token"]
    me = await attio.client.get("/v2/self", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["workspace_id"] == attio.ws.id


async def test_oauth_code_exchange(attio: Attio) -> None:
    code = (
        await attio.ok(
            "POST",
            "/_emulator/workspaces/default/oauth/codes",
            json={"client_id": "cid", "redirect_uri": "https://app.test/cb"},
        )
    )["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "cid",
        "client_secret": "anything",
        "redirect_uri": "https://app.test/wrong",
    }
    bad = await attio.client.post("/oauth/token", data=form)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    form["redirect_uri"] = "https://app.test/cb"
    good = await attio.client.post("/oauth/token", data=form)
    assert good.status_code == 200, good.text
    token = good.json()
    assert token["token_type"] == "Bearer"
    me = await attio.client.get(
        "/v2/self", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert me.json()["workspace_id"] == attio.ws.id and me.json()["client_id"] == "cid"
    reused = await attio.client.post("/oauth/token", data=form)
    assert reused.status_code == 400  # codes are single-use
    wrong_grant = await attio.client.post("/oauth/token", json={"grant_type": "password"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


async def test_registered_oauth_client_must_authenticate(attio: Attio) -> None:
    await attio.ok(
        "POST", "/_emulator/oauth/clients", json={"client_id": "cid", "client_secret": "s3cret"}
    )
    code = (await attio.ok("POST", "/_emulator/workspaces/default/oauth/codes", json={}))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "cid",
        "client_secret": "wrong",
        "redirect_uri": "https://app.test/cb",
    }
    denied = await attio.client.post("/oauth/token", data=form)
    assert denied.status_code == 401 and denied.json()["error"] == "invalid_client"
    form["client_secret"] = "s3cret"
    assert (await attio.client.post("/oauth/token", data=form)).status_code == 200


async def test_oauth_consent_page_approve_and_deny(attio: Attio) -> None:
    query = {
        "client_id": "cid",
        "redirect_uri": "https://app.test/cb?x=1",
        "state": "s1",
        "response_type": "code",
    }
    page = await attio.client.get("/authorize", params=query)
    assert page.status_code == 200 and "Approve" in page.text and "Deny" in page.text
    denied = await attio.client.post("/authorize", data={**query, "decision": "deny"})
    assert denied.status_code == 303
    refused = parse_qs(urlsplit(denied.headers["location"]).query)
    assert refused["error"] == ["access_denied"] and refused["state"] == ["s1"]
    approved = await attio.client.post("/oauth/authorize", data={**query, "decision": "approve"})
    granted = parse_qs(urlsplit(approved.headers["location"]).query)
    assert granted["state"] == ["s1"] and granted["x"] == ["1"]
    token = await attio.client.post(
        "/oauth/token",
        json={
            "grant_type": "authorization_code",
            "code": granted["code"][0],
            "client_id": "cid",
            "redirect_uri": "https://app.test/cb?x=1",
        },
    )
    assert token.status_code == 200 and "refresh_token" not in token.json()


async def test_expiring_tokens_refresh_rotate_and_revoke(attio: Attio) -> None:
    await attio.ok(
        "PUT", "/_emulator/oauth", json={"access_token_lifetime_s": 60, "refresh_tokens": True}
    )
    code = (await attio.ok("POST", "/_emulator/workspaces/default/oauth/codes", json={}))["code"]
    first = await attio.ok(
        "POST", "/oauth/token", data={"grant_type": "authorization_code", "code": code}
    )
    assert first["expires_in"] == 60 and first["refresh_token"]
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = await attio.ok("POST", "/oauth/token", data=refresh)
    assert second["refresh_token"] != first["refresh_token"]  # rotated: the old one is spent
    assert (await attio.client.post("/oauth/token", data=refresh)).status_code == 400
    me = await attio.client.get(
        "/v2/self", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 200
    assert (await attio.ok("POST", "/_emulator/oauth/revoke-grants", json={}))["revoked"] == 1
    again = {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
    gone = await attio.client.post("/oauth/token", data=again)
    assert gone.status_code == 400 and gone.json()["error"] == "invalid_grant"
    counters = await attio.ok("GET", "/_emulator/oauth")
    assert counters["refreshes"] == 1 and counters["refresh_refused"] == 2


async def test_an_expired_access_token_is_refused(attio: Attio) -> None:
    ws = attio.emu.default_workspace
    token = attio.emu.issue_token(ws, kind="oauth", expires_at=time.time() - 1)
    resp = await attio.client.get("/v2/self", headers={"Authorization": f"Bearer {token.value}"})
    assert resp.status_code == 401 and resp.json()["type"] == "auth_error"


async def test_latency_fault_is_applied_and_logged(attio: Attio) -> None:
    await attio.ok(
        "PATCH", "/_emulator/faults", json={"latency_ms": 30, "latency_operations": ["getSelf"]}
    )
    started = time.monotonic()
    assert (await attio.api("GET", "/v2/self")).is_success
    assert time.monotonic() - started >= 0.03
    assert (await attio.api("GET", "/v2/objects")).is_success
    log = (await attio.ok("GET", "/_emulator/requests"))["data"]
    assert [(e["operation"], e["fault"]) for e in log] == [
        ("getSelf", "latency"),
        ("listObjects", None),
    ]
