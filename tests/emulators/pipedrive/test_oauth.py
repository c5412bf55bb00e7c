"""OAuth: consent page (approve / deny) → code → token (HTTP Basic client auth, `api_domain`),
refresh with rotation, expiry of access and idle refresh tokens, revocation, and the uninstall
callback."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlparse

import httpx

from tests.emulators.pipedrive.conftest import Pd

REDIRECT = "https://app.example.test/oauth/callback"


async def _consent(pd: Pd, decision: str, client_id: str = "app") -> dict[str, list[str]]:
    params = {"client_id": client_id, "redirect_uri": REDIRECT, "state": "s1"}
    page = await pd.client.get("/oauth/authorize", params=params)
    assert page.status_code == 200 and 'value="deny"' in page.text
    resp = await pd.client.post("/oauth/authorize", data={**params, "decision": decision})
    assert resp.status_code == 303
    query = parse_qs(urlparse(resp.headers["location"]).query)
    assert query["state"] == ["s1"]
    return query


async def _authorize(pd: Pd, client_id: str = "app") -> str:
    return (await _consent(pd, "approve", client_id))["code"][0]


async def test_deny_sends_access_denied(pd: Pd) -> None:
    query = await _consent(pd, "deny")
    assert query["error"] == ["access_denied"] and "code" not in query


async def _token(pd: Pd, auth: tuple[str, str] = ("app", "secret"), **form: str) -> httpx.Response:
    return await pd.client.post("/oauth/token", data=form, auth=auth)


async def test_code_exchange_and_api_domain(pd: Pd) -> None:
    pd.emu.register_oauth_client("app", "secret")
    code = await _authorize(pd)
    resp = await _token(pd, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert body["refresh_token"] and "phone-integration" in body["scope"]
    assert body["api_domain"] == "https://api.pipedrive.test"
    me = await pd.client.get(
        "/v1/users/me",
        headers={"Authorization": f"Bearer {body['access_token']}", "x-api-token": ""},
    )
    assert me.status_code == 200 and me.json()["data"]["company_id"] == pd.co.id
    # A code works once; a wrong secret or a missing Basic header is refused.
    again = await _token(pd, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    code = await _authorize(pd)
    wrong = await _token(pd, ("app", "nope"), grant_type="authorization_code", code=code)
    assert wrong.status_code == 401
    bare = await pd.client.post("/oauth/token", data={"grant_type": "authorization_code"})
    assert bare.status_code == 401


async def test_api_domain_knob(pd: Pd) -> None:
    pd.emu.api_domain = "https://acme.pipedrive.test"
    code = await _authorize(pd)
    body = (
        await _token(pd, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    ).json()
    assert body["api_domain"] == "https://acme.pipedrive.test"


async def test_refresh_rotates_and_tokens_expire(pd: Pd) -> None:
    now = [1_000_000.0]
    pd.emu.clock = lambda: now[0]
    code = await _authorize(pd)
    first = (
        await _token(pd, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    ).json()
    bearer = {"Authorization": f"Bearer {first['access_token']}", "x-api-token": ""}
    now[0] += 3600
    assert (await pd.client.get("/v1/users/me", headers=bearer)).status_code == 401

    second = await _token(pd, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    fresh = second.json()
    assert fresh["refresh_token"] != first["refresh_token"] and fresh["api_domain"]
    replay = await _token(pd, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay.status_code == 400  # rotated away
    bearer = {"Authorization": f"Bearer {fresh['access_token']}", "x-api-token": ""}
    assert (await pd.client.get("/v1/users/me", headers=bearer)).status_code == 200

    await pd.ok("PUT", "/_emulator/oauth", json={"rotate_refresh_tokens": False})
    kept = (
        await _token(pd, grant_type="refresh_token", refresh_token=fresh["refresh_token"])
    ).json()
    assert kept["refresh_token"] == fresh["refresh_token"]

    now[0] += 61 * 86_400  # unused for more than 60 days
    idle = await _token(pd, grant_type="refresh_token", refresh_token=fresh["refresh_token"])
    assert idle.status_code == 400


async def test_uninstall_callback(pd: Pd) -> None:
    await pd.ok(
        "POST",
        "/_emulator/oauth/clients",
        json={
            "client_id": "app",
            "client_secret": "secret",
            "uninstall_url": "https://app.example.test/pipedrive/uninstall",
        },
    )
    code = await _authorize(pd)
    token = (
        await _token(pd, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    ).json()
    result = await pd.ok(
        "POST", "/_emulator/companies/default/uninstall", json={"client_id": "app"}
    )
    assert result["status"] == 200
    (call,) = pd.receiver.requests
    assert call.method == "DELETE" and call.url.path == "/pipedrive/uninstall"
    assert call.headers["authorization"] == "Basic " + base64.b64encode(b"app:secret").decode()
    assert json.loads(call.content) == {
        "client_id": "app",
        "company_id": pd.co.id,
        "user_id": pd.co.admin_user_id,
    }
    bearer = {"Authorization": f"Bearer {token['access_token']}", "x-api-token": ""}
    assert (await pd.client.get("/v1/users/me", headers=bearer)).status_code == 401
    assert (await pd.ok("GET", "/_emulator/uninstalls"))["data"][0]["status"] == 200


async def test_revoked_grants_need_a_new_sign_in(pd: Pd) -> None:
    code = await _authorize(pd)
    first = (
        await _token(pd, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    ).json()
    revoked = await pd.ok("POST", "/_emulator/oauth/revoke-grants", json={"company": "default"})
    assert revoked == {"revoked": 1}
    bearer = {"Authorization": f"Bearer {first['access_token']}", "x-api-token": ""}
    assert (await pd.client.get("/v1/users/me", headers=bearer)).status_code == 401
    refused = await _token(pd, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert (await pd.ok("GET", "/_emulator/oauth"))["refresh_refused"] == 1
