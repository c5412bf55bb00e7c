"""The generic flow expresses a CRM whose tokens expire and rotate, whose client authenticates
with HTTP Basic and whose token response names the account's own API URL (`api_domain`):
exercised against the Pipedrive emulator with Pipedrive's own registry record (its public
endpoints swapped for the emulator's, as `SWITCHBOARD_OAUTH_CLIENTS` does)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from switchboard.config import OAuthClient
from switchboard.crm import registry
from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
from switchboard.oauth import GrantRefused
from switchboard.oauth.flow import authorize_url, endpoints_for, exchange_code, refresh

BASE = "https://pipedrive-emulator.test"
RECORD = registry.get("pipedrive").auth.oauth
assert RECORD is not None
SPEC = replace(RECORD, authorize_url=f"{BASE}/oauth/authorize", token_url=f"{BASE}/oauth/token")


def test_the_record_states_pipedrives_oauth() -> None:
    assert "oauth" in registry.get("pipedrive").auth.kinds
    assert RECORD is not None
    assert RECORD.authorize_url == "https://oauth.pipedrive.com/oauth/authorize"
    assert RECORD.token_url == "https://oauth.pipedrive.com/oauth/token"
    assert (RECORD.client_auth, RECORD.expiring, RECORD.rotating_refresh) == ("basic", True, True)
    assert RECORD.base_url_field == "api_domain" and not RECORD.pkce


async def test_basic_auth_api_domain_and_rotating_refresh() -> None:
    emu = PipedriveEmulator()
    emu.register_oauth_client("pd-app", "pd-secret-0123456789")
    transport = httpx.ASGITransport(app=create_app(emu))
    client = OAuthClient(client_id="pd-app", client_secret="pd-secret-0123456789")  # type: ignore[arg-type]
    endpoints = endpoints_for("pipedrive", SPEC, client, "https://sb.example")
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as browser:
        consent = await browser.post(
            "/oauth/authorize",
            data={**_query(authorize_url(endpoints, "st", None)), "decision": "approve"},
        )
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    first = await exchange_code(endpoints, code, None, transport=transport)
    assert first.base_url and first.refresh_token and first.lifetime_s
    second = await refresh(endpoints, first.refresh_token, transport=transport)
    assert second.refresh_token and second.refresh_token != first.refresh_token
    with pytest.raises(GrantRefused):  # the rotated-out refresh token is spent
        await refresh(endpoints, first.refresh_token, transport=transport)


async def test_connector_sends_the_access_token_as_bearer_to_api_domain() -> None:
    """Built as `clients` builds a signed-in connection (`bearer=True`, the token response's
    `api_domain` as base URL): no `x-api-token`, the account's own host."""
    emu = PipedriveEmulator(rate_limits=False)
    emu.api_domain = "https://acme.pipedrive.test"
    seen: list[httpx.Request] = []
    inner = httpx.ASGITransport(app=create_app(emu))

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await inner.handle_async_request(request)

    transport = httpx.MockTransport(record)
    client = OAuthClient(client_id="pd-app", client_secret="pd-secret-0123456789")  # type: ignore[arg-type]
    endpoints = endpoints_for("pipedrive", SPEC, client, "https://sb.example")
    async with httpx.AsyncClient(transport=inner, base_url=BASE) as browser:
        consent = await browser.post(
            "/oauth/authorize",
            data={**_query(authorize_url(endpoints, "st", None)), "decision": "approve"},
        )
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    tokens = await exchange_code(endpoints, code, None, transport=inner)
    assert tokens.base_url == "https://acme.pipedrive.test"
    from switchboard.crm.base import ConnectorConfig

    connector = registry.get("pipedrive").connect(
        ConnectorConfig(
            token=tokens.access_token, base_url=tokens.base_url, bearer=True, transport=transport
        )
    )
    try:
        facts = await connector.check_credentials()
    finally:
        await connector.aclose()
    assert facts["workspace_id"] == str(emu.default_company.id)
    (request,) = seen
    assert request.url.host == "acme.pipedrive.test"
    assert request.headers["authorization"] == f"Bearer {tokens.access_token}"
    assert "x-api-token" not in request.headers


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
