"""Fresh tokens: one refresh per expiry across workers, 401 → refresh → resend, revoked."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from switchboard import connections
from switchboard.config import Settings
from switchboard.crypto import SecretBox
from switchboard.emulators.attio import AttioEmulator
from switchboard.http.bearer import FreshBearerTransport
from switchboard.oauth import NEEDS_REAUTH, NeedsReauthorization, TokenKeeper, signin, token_status
from switchboard.oauth.tokens import save_tokens
from switchboard.store import Database
from tests.oauth.conftest import EMULATOR, consent, new_connection


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _signed_in(
    db: Database, box: SecretBox, settings: Settings, transport: httpx.AsyncBaseTransport
) -> str:
    callback = await consent(
        transport, signin.begin(db, box, settings, crm="attio", session_id="s"), "approve"
    )
    done = await signin.complete(db, box, settings, callback, session_id="s", transport=transport)
    tokens = signin.claim(db, box, done.state, session_id="s", crm="attio")
    connection_id = new_connection(db, box, tokens.access_token)
    save_tokens(db, box, connection_id, tokens)
    return connection_id


def _keepers(
    db: Database,
    box: SecretBox,
    settings: Settings,
    transport: httpx.AsyncBaseTransport,
    clock: Clock,
) -> list[TokenKeeper]:
    return [
        TokenKeeper(
            db,
            box,
            lambda crm: signin.oauth_endpoints(settings, crm),
            owner=f"worker-{n}",
            clock=clock,
            poll_s=0.005,
            transport=transport,
        )
        for n in (1, 2)
    ]


async def test_two_workers_refresh_once_per_expiry(
    db: Database,
    box: SecretBox,
    settings: Settings,
    transport: httpx.AsyncBaseTransport,
    emu: AttioEmulator,
) -> None:
    import time

    cid = await _signed_in(db, box, settings, transport)
    clock = Clock(time.time())
    keepers = _keepers(db, box, settings, transport, clock)
    first = await keepers[0].access_token(cid, "attio")
    assert emu.oauth.stats.refreshes == 0
    for expiry in (1, 2, 3):
        clock.now += 3600  # past the token's expiry for the keepers: every caller finds it due
        got = await asyncio.gather(*(keepers[i % 2].access_token(cid, "attio") for i in range(20)))
        assert len(set(got)) == 1 and got[0] != first
        assert emu.oauth.stats.refreshes == expiry
        first = got[0]
    status = token_status(db, cid)
    assert status is not None and status.refreshes == 3 and status.failure is None


async def test_a_refused_token_is_refreshed_and_the_request_resent(
    db: Database,
    box: SecretBox,
    settings: Settings,
    transport: httpx.AsyncBaseTransport,
    emu: AttioEmulator,
) -> None:
    cid = await _signed_in(db, box, settings, transport)
    keeper = _keepers(db, box, settings, transport, Clock(0.0))[0]
    current = await keeper.access_token(cid, "attio")
    emu.revoke_token(current)  # the provider dropped the access token early

    async def tokens(stale: str | None) -> str:
        return await keeper.access_token(cid, "attio", stale)

    fresh = FreshBearerTransport(transport, tokens)
    async with httpx.AsyncClient(transport=fresh, base_url=EMULATOR) as client:
        resp = await client.get("/v2/self", headers={"Authorization": "Bearer built-in"})
    assert resp.status_code == 200 and emu.oauth.stats.refreshes == 1


async def test_a_revoked_refresh_token_needs_reauthorisation(
    db: Database,
    box: SecretBox,
    settings: Settings,
    transport: httpx.AsyncBaseTransport,
    emu: AttioEmulator,
) -> None:
    import time

    cid = await _signed_in(db, box, settings, transport)
    clock = Clock(time.time() + 7200)
    keepers = _keepers(db, box, settings, transport, clock)
    emu.oauth.revoke_subject()
    with pytest.raises(NeedsReauthorization) as refused:
        await keepers[0].access_token(cid, "attio")
    assert refused.value.status == 401 and refused.value.provider == "attio"
    with pytest.raises(NeedsReauthorization):  # the other worker does not try again
        await keepers[1].access_token(cid, "attio")
    assert emu.oauth.stats.refresh_refused == 1
    assert connections.get_connection(db, cid).status == NEEDS_REAUTH
    status = token_status(db, cid)
    assert status is not None and status.failure and "invalid_grant" in status.failure
    # Signing in again clears the failure.
    callback = await consent(
        transport, signin.begin(db, box, settings, crm="attio", session_id="s"), "approve"
    )
    done = await signin.complete(db, box, settings, callback, session_id="s", transport=transport)
    save_tokens(db, box, cid, signin.claim(db, box, done.state, session_id="s", crm="attio"))
    clock.now = time.time()
    assert await keepers[1].access_token(cid, "attio")
