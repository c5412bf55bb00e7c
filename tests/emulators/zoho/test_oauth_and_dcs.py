"""OAuth (authorization code, refresh with at most 10 access tokens per 10 minutes per refresh
token, revoke) and data centres (DC hosts or DC path prefixes; a token works only in its DC)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from switchboard.emulators.zoho import create_app
from tests.emulators.zoho.conftest import Zoho, make_emulator

CLIENT = {"client_id": "1000.CLIENT", "client_secret": "s3cret"}
REDIRECT = "https://app.test/oauth/zoho/callback"


async def _authorize(client: httpx.AsyncClient, prefix: str = "") -> dict[str, list[str]]:
    resp = await client.get(
        f"{prefix}/oauth/v2/auth",
        params={
            "response_type": "code",
            "client_id": CLIENT["client_id"],
            "scope": "ZohoCRM.modules.ALL,ZohoCRM.notifications.ALL,ZohoCRM.org.READ",
            "redirect_uri": REDIRECT,
            "access_type": "offline",
            "state": "xyz",
        },
    )
    assert resp.status_code == 302, resp.text
    location = resp.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


async def test_code_flow_refresh_limit_and_expiry() -> None:
    emu = make_emulator(**CLIENT)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(emu)), base_url="http://emu.test"
    ) as client:
        query = await _authorize(client)
        assert query["location"] == ["us"] and query["state"] == ["xyz"]
        assert query["accounts-server"] == ["http://emu.test"]
        bad = await client.post(
            "/oauth/v2/token",
            params={**CLIENT, "grant_type": "authorization_code", "code": "nope"},
        )
        assert bad.status_code == 200 and bad.json() == {"error": "invalid_code"}
        token = await client.post(
            "/oauth/v2/token",
            params={
                **CLIENT,
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": REDIRECT,
            },
        )
        body = token.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        assert body["api_domain"] == "http://emu.test"
        refresh = body["refresh_token"]
        reused = await client.post(
            "/oauth/v2/token",
            params={**CLIENT, "grant_type": "authorization_code", "code": query["code"][0]},
        )
        assert reused.json() == {"error": "invalid_code"}

        headers = {"Authorization": f"Zoho-oauthtoken {body['access_token']}"}
        assert (await client.get("/crm/v8/org", headers=headers)).status_code == 200

        # The code exchange minted one access token; nine refreshes fill the 10 per 10 minutes.
        form = {**CLIENT, "grant_type": "refresh_token", "refresh_token": refresh}
        for _ in range(9):
            ok = await client.post("/oauth/v2/token", data=form)
            assert "access_token" in ok.json(), ok.text
        denied = await client.post("/oauth/v2/token", data=form)
        assert denied.status_code == 400
        assert denied.json()["error"] == "Access Denied"
        emu.advance(601)
        again = await client.post("/oauth/v2/token", data=form)
        assert "access_token" in again.json()

        # Access tokens die after an hour (emulator clock).
        expired = await client.get("/crm/v8/org", headers=headers)
        assert expired.status_code == 200  # issued 601 s ago
        emu.advance(3000)
        expired = await client.get("/crm/v8/org", headers=headers)
        assert expired.status_code == 401 and expired.json()["code"] == "INVALID_TOKEN"

        wrong = await client.post("/oauth/v2/token", data={**form, "client_secret": "wrong"})
        assert wrong.json() == {"error": "invalid_client"}
        await client.post("/oauth/v2/token/revoke", params={"token": refresh})
        revoked = await client.post("/oauth/v2/token", data=form)
        assert revoked.json() == {"error": "invalid_code"}


async def test_token_works_only_in_its_data_centre() -> None:
    emu = make_emulator(**CLIENT)
    eu = emu.create_org("Euro", dc="eu")
    eu_token = emu.issue_access_token(eu).value
    us_token = emu.default_token
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(emu)), base_url="http://emu.test"
    ) as client:

        def auth(token: str) -> dict[str, str]:
            return {"Authorization": f"Zoho-oauthtoken {token}"}

        # Path prefixes
        assert (await client.get("/eu/crm/v8/org", headers=auth(eu_token))).status_code == 200
        wrong = await client.get("/crm/v8/org", headers=auth(eu_token))
        assert wrong.status_code == 401 and wrong.json()["code"] == "INVALID_TOKEN"
        assert (await client.get("/eu/crm/v8/org", headers=auth(us_token))).status_code == 401
        assert (await client.get("/us/crm/v8/org", headers=auth(us_token))).status_code == 200
        # DC host names
        eu_host = {**auth(eu_token), "Host": "www.zohoapis.eu"}
        assert (await client.get("/crm/v8/org", headers=eu_host)).status_code == 200
        jp_host = {**auth(eu_token), "Host": "www.zohoapis.jp"}
        assert (await client.get("/crm/v8/org", headers=jp_host)).status_code == 401

        # The consent redirect names the org's DC and accounts server; the code only
        # exchanges there, and the token answer points at that DC's API.
        query = await _authorize(client, "/eu")
        assert query["location"] == ["eu"]
        assert query["accounts-server"] == ["http://emu.test/eu"]
        params = {**CLIENT, "grant_type": "authorization_code", "code": query["code"][0]}
        elsewhere = await client.post("/oauth/v2/token", params=params)
        assert elsewhere.json() == {"error": "invalid_code"}
        query = await _authorize(client, "/eu")
        params["code"] = query["code"][0]
        token = (await client.post("/eu/oauth/v2/token", params=params)).json()
        assert token["api_domain"] == "http://emu.test/eu"
        assert (await client.get("/eu/crm/v8/org", headers=auth(token["access_token"]))).json()[
            "org"
        ][0]["id"] == eu.id
        real = await client.post(
            "/oauth/v2/token",
            params={**params, "code": (await _authorize(client, "/eu"))["code"][0]},
            headers={"Host": "accounts.zoho.eu"},
        )
        assert real.json()["api_domain"] == "https://www.zohoapis.eu"


async def test_missing_or_foreign_auth(zoho: Zoho) -> None:
    none = await zoho.api("GET", "/crm/v8/org", headers={"Authorization": ""})
    assert none.status_code == 401 and none.json()["code"] == "AUTHENTICATION_FAILURE"
    bearer = await zoho.api("GET", "/crm/v8/org", headers={"Authorization": "Bearer 1000.x"})
    assert bearer.status_code == 401


async def test_scopes_limit_what_a_token_reaches(zoho: Zoho) -> None:
    narrow = zoho.emu.issue_access_token(
        zoho.org, scope="ZohoCRM.modules.contacts.READ,ZohoCRM.users.READ"
    ).value
    headers = {"Authorization": f"Zoho-oauthtoken {narrow}"}
    allowed = [
        ("GET", "/crm/v8/Contacts?fields=Last_Name"),
        ("GET", "/crm/v8/contacts/search?phone=1"),
        ("GET", "/crm/v8/users"),
    ]
    for method, path in allowed:
        assert (await zoho.api(method, path, headers=headers)).status_code < 400, path
    refused = [
        ("POST", "/crm/v8/Contacts"),
        ("GET", "/crm/v8/Leads?fields=Last_Name"),
        ("GET", "/crm/v8/org"),
        ("GET", "/crm/v8/settings/fields?module=Contacts"),
        ("GET", "/crm/v8/actions/watch"),
        ("POST", "/crm/v8/Notes"),
    ]
    for method, path in refused:
        resp = await zoho.api(method, path, headers=headers, json={"data": [{}]})
        assert resp.status_code == 401, path
        assert resp.json()["code"] == "OAUTH_SCOPE_MISMATCH"
    calls_only = zoho.emu.issue_access_token(
        zoho.org, scope="ZohoCRM.modules.calls.ALL,ZohoCRM.notifications.ALL"
    ).value
    headers = {"Authorization": f"Zoho-oauthtoken {calls_only}"}
    assert (await zoho.api("GET", "/crm/v8/actions/watch", headers=headers)).status_code == 204
    assert (
        await zoho.api("GET", "/crm/v8/Calls?fields=Subject", headers=headers)
    ).status_code == 204
