"""Zoho OAuth against the emulator's accounts server: the code exchange in the redirect's data
centre, and access tokens shared by every worker through the database so the
10-per-10-minutes refresh limit is never reached."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from switchboard.crm.base import ConnectorConfig
from switchboard.crm.zoho import ZohoConnector, exchange_code
from switchboard.crm.zoho._oauth import AccessTokens, parse_credential
from switchboard.crm.zoho.provider import PROVIDER
from switchboard.emulators.zoho import ZohoEmulator, create_app
from switchboard.http import ApiError

CLIENT, SECRET, REDIRECT = "1000.CLIENT", "client-secret-123", "https://sb.example/oauth/zoho"


@pytest.fixture
def emu() -> ZohoEmulator:
    emu = ZohoEmulator(seed=2, client_id=CLIENT, client_secret=SECRET)
    emu.default_org.dc = "eu"  # the org lives in the EU data centre
    return emu


async def _grant(emu: ZohoEmulator, transport: httpx.AsyncBaseTransport) -> str:
    code = emu.issue_code(emu.default_org, client_id=CLIENT, redirect_uri=REDIRECT)
    grant = await exchange_code(
        code, client_id=CLIENT, client_secret=SECRET, redirect_uri=REDIRECT,
        location="eu", transport=transport,
    )  # fmt: skip
    assert grant.accounts_server == "https://accounts.zoho.eu"
    assert grant.api_domain == "https://www.zohoapis.eu"
    return grant.credential()


def _minted(emu: ZohoEmulator) -> int:
    (grant,) = emu.refresh_tokens.values()
    return len(grant.minted)


def _refreshes(emu: ZohoEmulator) -> int:
    return _minted(emu) - 1  # the first access token came with the code exchange


async def test_workers_share_one_access_token_per_grant(emu: ZohoEmulator, tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=create_app(emu))
    credential = await _grant(emu, transport)
    assert parse_credential(credential) is not None
    database = f"sqlite:///{tmp_path / 'sb.db'}"
    # Twelve "workers" (connectors with their own caches), one database; the connection's base
    # URL is the US default: the grant's data centre wins.
    workers = [
        PROVIDER.connect(
            ConnectorConfig(token=credential, transport=transport, database_url=database)
        )
        for _ in range(12)
    ]
    try:
        facts = await asyncio.gather(*(w.check_credentials() for w in workers))
        assert {f["api_domain"] for f in facts} == {"https://www.zohoapis.eu"}
        assert _refreshes(emu) == 1  # one refresh for everyone
        for w in workers:  # Zoho expires the token early; every worker finds out at once
            assert isinstance(w, ZohoConnector)
            w.tokens.min_refresh_interval_s = 0.5  # (60 s in production)
            w._org = None
        for token in emu.access_tokens.values():
            token.expires_at = emu.now()
        await asyncio.gather(*(w.check_credentials() for w in workers))
        assert _refreshes(emu) == 2
    finally:
        for w in workers:
            await w.aclose()


async def test_a_rejected_token_is_refreshed_once_and_refreshes_stay_spaced(
    emu: ZohoEmulator, tmp_path: Path
) -> None:
    transport = httpx.ASGITransport(app=create_app(emu))
    credential = await _grant(emu, transport)
    tokens = AccessTokens(credential, transport=transport, min_refresh_interval_s=0.3)
    first = await tokens.current()
    emu.access_tokens.pop(first)  # revoked at Zoho
    tokens.rejected(first)
    second = await tokens.current()  # waits out the spacing, then refreshes
    assert second != first and _minted(emu) == 3
    tokens.rejected(second)
    tokens.rejected(second)
    assert await tokens.current() != second and _minted(emu) == 4


async def test_a_plain_access_token_is_used_as_it_is(emu: ZohoEmulator) -> None:
    transport = httpx.ASGITransport(app=create_app(emu))
    token = emu.issue_access_token(emu.default_org).value
    eu = PROVIDER.connect(
        ConnectorConfig(token=token, transport=transport, settings={"zoho_data_centre": "eu"})
    )
    us = PROVIDER.connect(ConnectorConfig(token=token, transport=transport))
    try:
        assert (await eu.check_credentials())["api_domain"] == "https://www.zohoapis.eu"
        with pytest.raises(ApiError) as refused:  # a token works only in its data centre
            await us.check_credentials()
        assert refused.value.status == 401
    finally:
        await eu.aclose()
        await us.aclose()
