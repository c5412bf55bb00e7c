"""The generic flow expresses a CRM whose tokens expire and rotate, whose client authenticates
with HTTP Basic and whose token response names the account's own API URL (`api_domain`):
exercised against the Pipedrive emulator with an `OAuthSpec` defined here (Pipedrive's registry
record still connects with an API token)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from switchboard.config import OAuthClient
from switchboard.crm.registry import OAuthSpec
from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
from switchboard.oauth import GrantRefused
from switchboard.oauth.flow import authorize_url, endpoints_for, exchange_code, refresh

BASE = "https://pipedrive-emulator.test"
SPEC = OAuthSpec(
    authorize_url=f"{BASE}/oauth/authorize",
    token_url=f"{BASE}/oauth/token",
    client_auth="basic",
    expiring=True,
    rotating_refresh=True,
    base_url_field="api_domain",
)


async def test_basic_auth_api_domain_and_rotating_refresh() -> None:
    emu = PipedriveEmulator()
    emu.register_oauth_client("pd-app", "pd-secret-0123456789")
    transport = httpx.ASGITransport(app=create_app(emu))
    client = OAuthClient(client_id="pd-app", client_secret="pd-secret-0123456789")  # type: ignore[arg-type]
    endpoints = endpoints_for("pipedrive", SPEC, client, "https://sb.example")
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as browser:
        consent = await browser.get(authorize_url(endpoints, "st", None))
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    first = await exchange_code(endpoints, code, None, transport=transport)
    assert first.base_url and first.refresh_token and first.lifetime_s
    second = await refresh(endpoints, first.refresh_token, transport=transport)
    assert second.refresh_token and second.refresh_token != first.refresh_token
    with pytest.raises(GrantRefused):  # the rotated-out refresh token is spent
        await refresh(endpoints, first.refresh_token, transport=transport)
