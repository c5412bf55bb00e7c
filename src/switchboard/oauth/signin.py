"""Sign-ins at a CRM in progress, bound to the admin's dashboard session.

    url = begin(db, box, settings, crm=name, session_id=sid)            # redirect the browser
    done = await complete(db, box, settings, query, session_id=sid)       # the callback
    tokens = claim(db, box, done.state, session_id=sid)                   # create / re-authorise

`state` is random, stored with a hash of the session that started it and single-use: a callback
whose state this session did not start (a forged or foreign link), that comes back a second time
(a replayed code), or that is older than `STATE_TTL_S` is refused with `SignInRefused` and
nothing is exchanged. A PKCE verifier is kept encrypted where the CRM supports PKCE. After the
exchange the tokens wait, encrypted, for the form that creates the connection (or for the
re-authorisation of the connection the sign-in was started for) to claim them, once.

A sign-in started from a terminal (`begin(..., terminal=True)`, `switchboard connect <crm>
--oauth`) has no browser cookie to bind to: the callback is accepted from whichever browser the
admin opened the printed URL in (the random, single-use, 10-minute `state` is then the only
binding), and only the terminal, which holds `session_id`, can claim the tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import delete

from switchboard.config import Settings
from switchboard.crm import registry
from switchboard.crypto import SecretBox
from switchboard.http import ApiError
from switchboard.logs import mask_text
from switchboard.oauth.flow import (
    Endpoints,
    TokenSet,
    authorize_url,
    endpoints_for,
    exchange_code,
    new_state,
    new_verifier,
)
from switchboard.store.db import Database
from switchboard.store.models import OAuthAuthorization

STATE_TTL_S = 600


class SignInRefused(ValueError):
    """The sign-in cannot go on; the message is safe to show to the admin."""


class OAuthNotConfigured(SignInRefused):
    pass


@dataclass(frozen=True)
class SignIn:
    state: str
    crm: str
    connection_id: str | None
    status: str
    message: str
    terminal: bool = False


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def oauth_endpoints(settings: Settings, crm: str) -> Endpoints:
    """The CRM's OAuth endpoints with this deployment's app; OAuthNotConfigured when the CRM has
    no OAuth or no client is configured for it."""
    provider = registry.get(crm)
    spec = provider.auth.oauth
    client = settings.oauth_clients.get(crm)
    if spec is None or "oauth" not in provider.auth.kinds:
        raise OAuthNotConfigured(f"{provider.display_name} does not offer sign-in with OAuth")
    if client is None:
        raise OAuthNotConfigured(
            f"no OAuth app is configured for {provider.display_name}: set "
            f'SWITCHBOARD_OAUTH_CLIENTS=\'{{"{crm}": {{"client_id": ..., "client_secret": ...}}}}\''
        )
    return endpoints_for(crm, spec, client, settings.public_url)


def oauth_available(settings: Settings, crm: str) -> bool:
    try:
        oauth_endpoints(settings, crm)
    except (OAuthNotConfigured, ValueError):
        return False
    return True


def begin(
    db: Database,
    box: SecretBox,
    settings: Settings,
    *,
    crm: str,
    session_id: str,
    connection_id: str | None = None,
    now: datetime | None = None,
    terminal: bool = False,
) -> str:
    """Record a new sign-in for this session (or terminal); returns the CRM's authorize URL."""
    endpoints = oauth_endpoints(settings, crm)
    now = now or datetime.now(UTC)
    state = new_state()
    verifier = new_verifier() if endpoints.spec.pkce else None
    with db.session() as s:
        s.execute(delete(OAuthAuthorization).where(OAuthAuthorization.expires_at < now))
        s.add(
            OAuthAuthorization(
                state=state,
                session_hash=_hash(session_id),
                crm=crm,
                connection_id=connection_id,
                redirect_uri=endpoints.redirect_uri,
                verifier_enc=None if verifier is None else box.encrypt(verifier),
                status="pending",
                message="",
                created_at=now,
                expires_at=now + timedelta(seconds=STATE_TTL_S),
                binding="terminal" if terminal else "browser",
            )
        )
    return authorize_url(endpoints, state, verifier)


def _take_pending(
    db: Database, box: SecretBox, state: str, session_id: str, now: datetime
) -> tuple[SignIn, str | None]:
    """Move a pending sign-in of this session to `exchanging` (so a replay finds it used)."""
    with db.session() as s:
        row = s.get(OAuthAuthorization, state) if state else None
        terminal = row is not None and row.binding == "terminal"
        if row is None or (not terminal and row.session_hash != _hash(session_id)):
            raise SignInRefused("this sign-in was not started from your session; start again")
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        if row.status != "pending":
            raise SignInRefused("this sign-in has already been used; start again")
        if expires < now:
            row.status = "failed"
            raise SignInRefused("this sign-in took too long; start again")
        row.status = "exchanging"
        verifier = None if row.verifier_enc is None else box.decrypt(row.verifier_enc)
        sign_in = SignIn(row.state, row.crm, row.connection_id, row.status, "", terminal)
        return sign_in, verifier


def _finish(
    db: Database, state: str, status: str, message: str, tokens_enc: str | None = None
) -> None:
    with db.session() as s:
        row = s.get(OAuthAuthorization, state)
        if row is not None:
            row.status = status
            row.message = message
            row.tokens_enc = tokens_enc


async def complete(
    db: Database,
    box: SecretBox,
    settings: Settings,
    query: Mapping[str, str],
    *,
    session_id: str,
    transport: httpx.AsyncBaseTransport | None = None,
    now: datetime | None = None,
) -> SignIn:
    """The callback: check `state`, then exchange the code. Raises SignInRefused with a message
    for the admin (denied consent, refused code, foreign or replayed state)."""
    sign_in, verifier = _take_pending(
        db, box, query.get("state", ""), session_id, now or datetime.now(UTC)
    )
    name = registry.get(sign_in.crm).display_name
    if query.get("error"):
        message = (
            f"{name} sign-in was cancelled: access was denied"
            if query["error"] == "access_denied"
            else f"{name} sign-in failed: {mask_text(query['error'])[:100]}"
        )
        _finish(db, sign_in.state, "failed", message)
        raise SignInRefused(message)
    code = query.get("code", "")
    if not code:
        _finish(db, sign_in.state, "failed", "no code")
        raise SignInRefused(f"{name} did not send an authorization code")
    try:
        tokens = await exchange_code(
            oauth_endpoints(settings, sign_in.crm), code, verifier, transport=transport
        )
    except ApiError as exc:
        message = f"{name} refused the sign-in: {mask_text(exc.message)[:200]}"
        _finish(db, sign_in.state, "failed", message)
        raise SignInRefused(message) from None
    _finish(db, sign_in.state, "authorized", "", box.encrypt(tokens.to_json()))
    return replace(sign_in, status="authorized")


def claim(db: Database, box: SecretBox, state: str, *, session_id: str, crm: str) -> TokenSet:
    """The tokens of a completed sign-in of this session for `crm`, once."""
    with db.session() as s:
        row = s.get(OAuthAuthorization, state) if state else None
        if (
            row is None
            or row.session_hash != _hash(session_id)
            or row.crm != crm
            or row.status != "authorized"
            or row.tokens_enc is None
        ):
            raise SignInRefused("sign in with the CRM first (or again)")
        row.status = "used"
        tokens = TokenSet.from_json(box.decrypt(row.tokens_enc))
        row.tokens_enc = None
    return tokens


def peek(db: Database, state: str, *, session_id: str) -> SignIn | None:
    """A sign-in of this session, without its secrets (the form shows whether it is done)."""
    with db.session() as s:
        row = s.get(OAuthAuthorization, state) if state else None
        if row is None or row.session_hash != _hash(session_id):
            return None
        return SignIn(
            row.state,
            row.crm,
            row.connection_id,
            row.status,
            row.message,
            row.binding == "terminal",
        )
