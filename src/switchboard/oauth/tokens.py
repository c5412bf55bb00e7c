"""A connection's OAuth tokens: stored encrypted, refreshed before expiry by one worker at a time.

    save_tokens(db, box, connection_id, tokens)        # after a sign-in (resets any failure)
    keeper = TokenKeeper(db, box, endpoints_of, owner="worker-1")
    token = await keeper.access_token(connection_id)   # fresh; refreshes when due
    token = await keeper.access_token(connection_id, stale=refused)  # after a 401

The refresh lock is a row (`oauth_tokens`): a worker that finds the token due takes the lock
with one conditional UPDATE (only if nobody holds it and the `generation` it read is still the
current one), refreshes, writes the new tokens with `generation + 1` and releases. The others
see the lock held, wait for the generation to move and reuse the new token — so the provider sees
one refresh per expiry whatever the number of workers, and a rotated refresh token is never
spent twice. A refresh the provider refuses for good (revoked, expired after long disuse)
records the failure and marks the connection `needs_reauth`; from then on every caller gets
`NeedsReauthorization` (counted as the CRM rejecting its credentials, so the events it fails
wait in the ledger and are replayed after the next sign-in).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import delete, or_, update

from switchboard.connections import set_status
from switchboard.crypto import SecretBox
from switchboard.http import ApiError
from switchboard.logs import get_logger, register_secret
from switchboard.oauth.flow import Endpoints, GrantRefused, TokenSet, refresh
from switchboard.store.db import Database
from switchboard.store.models import OAuthToken

log = get_logger("switchboard.oauth")

NEEDS_REAUTH = "needs_reauth"
#: Refresh this long before expiry at most (a fifth of the lifetime for short-lived tokens).
MAX_MARGIN_S = 60.0


class NeedsReauthorization(ApiError):
    """The connection's refresh failed for good: an admin must sign in at the CRM again."""


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def save_tokens(db: Database, box: SecretBox, connection_id: str, tokens: TokenSet) -> None:
    """Store (or replace, after a new sign-in) the connection's tokens; clears any failure."""
    with db.session() as s:
        row = s.get(OAuthToken, connection_id)
        if row is None:
            row = OAuthToken(connection_id=connection_id, generation=0, refreshes=0)
            s.add(row)
        row.access_token_enc = box.encrypt(tokens.access_token)
        row.refresh_token_enc = (
            None if tokens.refresh_token is None else box.encrypt(tokens.refresh_token)
        )
        row.expires_at = _ts(tokens.expires_at)
        row.lifetime_s = tokens.lifetime_s
        row.generation = (row.generation or 0) + 1
        row.lock_owner = None
        row.lock_until = None
        row.failure = None


def forget_tokens(db: Database, connection_id: str) -> None:
    """Drop the connection's OAuth tokens (disconnected, or a pasted token replaces them)."""
    with db.session() as s:
        s.execute(delete(OAuthToken).where(OAuthToken.connection_id == connection_id))


@dataclass(frozen=True)
class TokenStatus:
    """What the dashboard, the CLI and /metrics show (no secrets)."""

    expires_at: datetime | None
    refreshed_at: datetime | None
    refreshes: int
    failure: str | None


def token_status(db: Database, connection_id: str) -> TokenStatus | None:
    """None for a connection without OAuth tokens (a pasted token)."""
    with db.session() as s:
        row = s.get(OAuthToken, connection_id)
        if row is None:
            return None
        return TokenStatus(row.expires_at, row.refreshed_at, row.refreshes, row.failure)


@dataclass(frozen=True)
class _Snapshot:
    access_token: str
    has_refresh: bool
    expires_at: float | None
    lifetime_s: float | None
    generation: int
    failure: str | None

    def due(self, now: float) -> bool:
        if self.expires_at is None:
            return False
        margin = MAX_MARGIN_S if self.lifetime_s is None else min(MAX_MARGIN_S, self.lifetime_s / 5)
        return now >= self.expires_at - margin


class TokenKeeper:
    """Fresh access tokens for a process's OAuth connections (see the module docstring).

    `endpoints_of(crm)` gives the CRM's OAuth endpoints and this deployment's client; `owner`
    names this process in the lock row; `lock_s` is how long a lock holds before another worker
    may take it over (a refresher that died)."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        endpoints_of: Callable[[str], Endpoints],
        *,
        owner: str,
        clock: Callable[[], float] = time.time,
        lock_s: float = 30.0,
        poll_s: float = 0.05,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.endpoints_of = endpoints_of
        self.owner = owner
        self.clock = clock
        self.lock_s = lock_s
        self.poll_s = poll_s
        self.transport = transport
        self._cache: dict[str, _Snapshot] = {}

    async def access_token(self, connection_id: str, crm: str, stale: str | None = None) -> str:
        """The current access token, refreshed first when due (or when `stale` — a token the
        provider just refused — is still the stored one)."""
        cached = self._cache.get(connection_id)
        if (
            cached is not None
            and stale is None
            and cached.failure is None
            and not cached.due(self.clock())
        ):
            return cached.access_token
        deadline = self.clock() + self.lock_s + 5
        while True:
            snap = await asyncio.to_thread(self._read, connection_id)
            self._cache[connection_id] = snap
            if snap.failure is not None:
                raise self._needs_reauth(crm, snap.failure)
            wanted = snap.due(self.clock()) or (stale is not None and snap.access_token == stale)
            if not wanted or not snap.has_refresh:
                return snap.access_token
            if await asyncio.to_thread(self._take_lock, connection_id, snap.generation):
                return await self._refresh(connection_id, crm, snap)
            if self.clock() > deadline:
                raise ApiError(
                    provider=crm,
                    operation="oauth.refresh",
                    status=None,
                    message="another worker's token refresh did not finish in time",
                )
            await asyncio.sleep(self.poll_s)

    def forget(self, connection_id: str | None = None) -> None:
        for key in [k for k in self._cache if connection_id is None or k == connection_id]:
            self._cache.pop(key, None)

    # ------------------------------------------------------------------ internals

    def _read(self, connection_id: str) -> _Snapshot:
        with self.db.session() as s:
            row = s.get(OAuthToken, connection_id)
            if row is None:
                raise ApiError(
                    provider="oauth",
                    operation="oauth.token",
                    status=None,
                    message=f"{connection_id} has no OAuth tokens",
                )
            access = self.box.decrypt(row.access_token_enc)
            register_secret(access)
            return _Snapshot(
                access,
                row.refresh_token_enc is not None,
                _epoch(row.expires_at),
                row.lifetime_s,
                row.generation,
                row.failure,
            )

    def _take_lock(self, connection_id: str, generation: int) -> bool:
        now = datetime.fromtimestamp(self.clock(), UTC)
        with self.db.session() as s:
            result = s.execute(
                update(OAuthToken)
                .where(
                    OAuthToken.connection_id == connection_id,
                    OAuthToken.generation == generation,
                    or_(OAuthToken.lock_until.is_(None), OAuthToken.lock_until < now),
                )
                .values(lock_owner=self.owner, lock_until=now + timedelta(seconds=self.lock_s))
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    def _refresh_token(self, connection_id: str) -> str:
        with self.db.session() as s:
            row = s.get(OAuthToken, connection_id)
            assert row is not None and row.refresh_token_enc is not None
            value = self.box.decrypt(row.refresh_token_enc)
        register_secret(value)
        return value

    async def _refresh(self, connection_id: str, crm: str, snap: _Snapshot) -> str:
        try:
            refresh_token = await asyncio.to_thread(self._refresh_token, connection_id)
            tokens = await refresh(
                self.endpoints_of(crm), refresh_token, transport=self.transport, clock=self.clock
            )
        except GrantRefused as exc:
            reason = f"{exc.code or 'refused'}: {exc.message}"[:500]
            await asyncio.to_thread(self._fail, connection_id, reason)
            log.warning("oauth.needs_reauth", connection_id=connection_id, crm=crm, reason=reason)
            raise self._needs_reauth(crm, reason) from None
        except BaseException:
            await asyncio.to_thread(self._release, connection_id)
            raise
        await asyncio.to_thread(self._store_refreshed, connection_id, tokens)
        log.info("oauth.refreshed", connection_id=connection_id, crm=crm)
        self._cache.pop(connection_id, None)
        return tokens.access_token

    def _store_refreshed(self, connection_id: str, tokens: TokenSet) -> None:
        with self.db.session() as s:
            row = s.get(OAuthToken, connection_id)
            assert row is not None
            row.access_token_enc = self.box.encrypt(tokens.access_token)
            if tokens.refresh_token is not None:
                row.refresh_token_enc = self.box.encrypt(tokens.refresh_token)
            row.expires_at = _ts(tokens.expires_at)
            row.lifetime_s = tokens.lifetime_s or row.lifetime_s
            row.generation += 1
            row.refreshes += 1
            row.refreshed_at = datetime.now(UTC)
            row.lock_owner = None
            row.lock_until = None

    def _release(self, connection_id: str) -> None:
        with self.db.session() as s:
            s.execute(
                update(OAuthToken)
                .where(OAuthToken.connection_id == connection_id)
                .where(OAuthToken.lock_owner == self.owner)
                .values(lock_owner=None, lock_until=None)
            )

    def _fail(self, connection_id: str, reason: str) -> None:
        with self.db.session() as s:
            row = s.get(OAuthToken, connection_id)
            if row is not None:
                row.failure = reason
                row.lock_owner = None
                row.lock_until = None
        set_status(
            self.db,
            connection_id,
            NEEDS_REAUTH,
            "the CRM refused to refresh the sign-in; sign in again to resume",
        )

    def _needs_reauth(self, crm: str, reason: str) -> NeedsReauthorization:
        return NeedsReauthorization(
            provider=crm,
            operation="oauth.refresh",
            status=401,
            code="needs_reauth",
            message=f"needs re-authorisation ({reason})",
        )
