"""Sign-in bound to the session: approve, deny, foreign state, replayed callback, claim once."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from switchboard.config import Settings
from switchboard.crypto import SecretBox
from switchboard.oauth import signin
from switchboard.store import Database
from tests.oauth.conftest import consent


async def test_approve_exchange_and_claim_once(
    db: Database, box: SecretBox, settings: Settings, transport: httpx.AsyncBaseTransport
) -> None:
    url = signin.begin(db, box, settings, crm="attio", session_id="sess-a")
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == ["https://sb.example/oauth/callback"]
    assert query["client_id"] == ["sb-app"] and "note:read-write" in query["scope"][0]
    callback = await consent(transport, url, "approve")
    done = await signin.complete(
        db, box, settings, callback, session_id="sess-a", transport=transport
    )
    assert done.status == "authorized" and done.crm == "attio"
    tokens = signin.claim(db, box, done.state, session_id="sess-a", crm="attio")
    assert tokens.access_token and tokens.refresh_token and tokens.expires_at
    with pytest.raises(signin.SignInRefused):
        signin.claim(db, box, done.state, session_id="sess-a", crm="attio")
    with pytest.raises(signin.SignInRefused, match="already been used"):  # a replayed callback
        await signin.complete(db, box, settings, callback, session_id="sess-a", transport=transport)


async def test_foreign_state_and_denied_consent_are_refused(
    db: Database, box: SecretBox, settings: Settings, transport: httpx.AsyncBaseTransport
) -> None:
    url = signin.begin(db, box, settings, crm="attio", session_id="sess-a")
    callback = await consent(transport, url, "approve")
    with pytest.raises(signin.SignInRefused, match="not started from your session"):
        await signin.complete(db, box, settings, callback, session_id="sess-b", transport=transport)
    forged = {**callback, "state": "made-up"}
    with pytest.raises(signin.SignInRefused, match="not started from your session"):
        await signin.complete(db, box, settings, forged, session_id="sess-a", transport=transport)
    denied_url = signin.begin(db, box, settings, crm="attio", session_id="sess-a")
    denied = await consent(transport, denied_url, "deny")
    with pytest.raises(signin.SignInRefused, match="denied"):
        await signin.complete(db, box, settings, denied, session_id="sess-a", transport=transport)


async def test_a_replayed_code_with_a_fresh_state_is_refused_by_the_provider(
    db: Database, box: SecretBox, settings: Settings, transport: httpx.AsyncBaseTransport
) -> None:
    first = await consent(
        transport, signin.begin(db, box, settings, crm="attio", session_id="s"), "approve"
    )
    await signin.complete(db, box, settings, first, session_id="s", transport=transport)
    second_url = signin.begin(db, box, settings, crm="attio", session_id="s")
    replay = {"state": parse_qs(urlsplit(second_url).query)["state"][0], "code": first["code"]}
    with pytest.raises(signin.SignInRefused, match="refused the sign-in"):
        await signin.complete(db, box, settings, replay, session_id="s", transport=transport)


def test_without_a_configured_app_oauth_is_not_offered(db: Database, box: SecretBox) -> None:
    bare = Settings(public_url="https://sb.example")
    assert not signin.oauth_available(bare, "attio")
    with pytest.raises(signin.OAuthNotConfigured, match="SWITCHBOARD_OAUTH_CLIENTS"):
        signin.begin(db, box, bare, crm="attio", session_id="s")
