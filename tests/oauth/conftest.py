"""Fixtures: a migrated database, a secret box, an Attio emulator over ASGI and the settings
naming it as Attio's OAuth app."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from switchboard import connections
from switchboard.config import OAuthClient, Settings
from switchboard.crypto import SecretBox, generate_master_key
from switchboard.emulators.attio import AttioEmulator, create_app
from switchboard.emulators.oauth import OAuthSettings
from switchboard.store import Database, migrate

EMULATOR = "https://attio-emulator.test"
CLIENT = OAuthClient(
    client_id="sb-app",
    client_secret="sb-secret-123456",  # type: ignore[arg-type]
    authorize_url=f"{EMULATOR}/authorize",
    token_url=f"{EMULATOR}/oauth/token",
)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    migrate(sqlite_url)
    database = Database(sqlite_url)
    yield database
    database.dispose()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(base64.urlsafe_b64decode(generate_master_key()))


@pytest.fixture
def settings() -> Settings:
    return Settings(public_url="https://sb.example", oauth_clients={"attio": CLIENT})


@pytest.fixture
def emu() -> AttioEmulator:
    emulator = AttioEmulator(
        oauth_settings=OAuthSettings(access_token_lifetime_s=3600, refresh_tokens=True)
    )
    emulator.register_oauth_client("sb-app", "sb-secret-123456")
    return emulator


@pytest.fixture
def transport(emu: AttioEmulator) -> httpx.AsyncBaseTransport:
    return httpx.ASGITransport(app=create_app(emu))


async def consent(transport: httpx.AsyncBaseTransport, url: str, decision: str) -> dict[str, str]:
    """Press Approve or Deny on the emulator's consent page; the callback's query."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    async with httpx.AsyncClient(transport=transport, base_url=EMULATOR) as client:
        resp = await client.post("/authorize", data={**query, "decision": decision})
    assert resp.status_code == 303, resp.text
    return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["location"]).query).items()}


def new_connection(db: Database, box: SecretBox, token: str) -> str:
    info = connections.create_connection(
        db,
        box,
        crm="attio",
        quo_api_key="quo-key-1234",
        crm_token=token,
        quo_base_url="http://quo.test",
        crm_base_url=EMULATOR,
    )
    return info.id
