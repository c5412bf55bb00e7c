"""Zoho OAuth: data centres, the stored credential, the code exchange and shared access tokens.

The credential a connection stores (`switchboard connect zoho --zoho-token ...`) is either

- an access token (`1000.xxxx.yyyy`) used as it is — the emulator's long-lived tokens, or a
  quick test with a token from Zoho's API console; or
- a grant, JSON: `{"refresh_token", "client_id", "client_secret", "accounts_server",
  "api_domain"}` — what `exchange_code` returns (`ZohoGrant.credential()`); access tokens are
  then minted from the refresh token and shared (below).

Data centre: the consent redirect names it (`location=eu`, `accounts-server=https://accounts.
zoho.eu`); the token answer names the API host (`api_domain`). Both are kept in the grant, so
the connection talks to the right DC without a setting; `data_centre(...)` maps a DC code to its
hosts for a setting or the CLI.

Access tokens live one hour and Zoho mints at most 10 per 10 minutes per refresh token. Every
worker of a deployment shares one token per refresh token through the database (`zoho_access_
tokens`, created on first use next to the rate-limit tables, the token encrypted with a key
derived from the grant): a token is refreshed five minutes before it expires, by one process at
a time (a lease row), never twice within `MIN_REFRESH_INTERVAL_S`, so the 10-per-10-minutes
limit cannot be reached however many processes and connections share the grant.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Column, Engine, Float, MetaData, String, Table, Text, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from switchboard.http import SYSTEM_CLOCK, ApiClient, ApiError, Clock, RetryPolicy
from switchboard.logs import register_secret
from switchboard.threads import pool, run_on

# Data centre code → (accounts server, API domain).
DATA_CENTRES: dict[str, tuple[str, str]] = {
    "us": ("https://accounts.zoho.com", "https://www.zohoapis.com"),
    "eu": ("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    "in": ("https://accounts.zoho.in", "https://www.zohoapis.in"),
    "au": ("https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
    "cn": ("https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
    "jp": ("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    "ca": ("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    "sa": ("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
}
SCOPES = (
    "ZohoCRM.modules.contacts.ALL,ZohoCRM.modules.leads.ALL,ZohoCRM.modules.accounts.READ,"
    "ZohoCRM.modules.calls.ALL,ZohoCRM.modules.notes.ALL,ZohoCRM.notifications.ALL,"
    "ZohoCRM.settings.modules.READ,ZohoCRM.settings.fields.READ,ZohoCRM.users.READ,"
    "ZohoCRM.org.READ"
)
REFRESH_MARGIN_S = 300.0
MIN_REFRESH_INTERVAL_S = 60.0  # ≤ 10 refreshes per 10 minutes, whatever asks for them
LEASE_S = 30.0


def data_centre(code: str) -> tuple[str, str]:
    """(accounts server, API domain) of a DC code (`us`, `eu`, ...); ValueError if unknown."""
    try:
        return DATA_CENTRES[code.lower()]
    except KeyError:
        raise ValueError(
            f"unknown Zoho data centre {code!r}; known: {sorted(DATA_CENTRES)}"
        ) from None


@dataclass(frozen=True)
class ZohoGrant:
    refresh_token: str
    client_id: str
    client_secret: str
    accounts_server: str
    api_domain: str

    def credential(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @property
    def key(self) -> str:
        """The cache row's name: a digest, so the refresh token itself is never a key."""
        return "zoho:" + hashlib.sha256(self.refresh_token.encode()).hexdigest()[:32]

    def fernet(self) -> Fernet:
        material = f"{self.client_secret}\0{self.refresh_token}".encode()
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material).digest()))


def parse_credential(credential: str) -> ZohoGrant | None:
    """The grant a stored credential holds, or None for a plain access token."""
    text = credential.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
        grant = ZohoGrant(
            refresh_token=str(data["refresh_token"]),
            client_id=str(data["client_id"]),
            client_secret=str(data["client_secret"]),
            accounts_server=str(data.get("accounts_server") or DATA_CENTRES["us"][0]).rstrip("/"),
            api_domain=str(data.get("api_domain") or DATA_CENTRES["us"][1]).rstrip("/"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("the Zoho credential is neither an access token nor a grant") from exc
    for secret in (grant.refresh_token, grant.client_secret):
        register_secret(secret)
    return grant


def authorize_url(
    client_id: str, redirect_uri: str, state: str, *, accounts_server: str = DATA_CENTRES["us"][0]
) -> str:
    """Consent page; Zoho sends the user back with `code`, `location`, `accounts-server`."""
    query = urlencode(
        {
            "scope": SCOPES,
            "client_id": client_id,
            "response_type": "code",
            "access_type": "offline",
            "redirect_uri": redirect_uri,
            "state": state,
            "prompt": "consent",
        }
    )
    return f"{accounts_server.rstrip('/')}/oauth/v2/auth?{query}"


def _oauth_error(body: object) -> tuple[str | None, str | None]:
    if isinstance(body, dict) and "error" in body:
        return str(body["error"]), str(body.get("error_description") or body["error"])
    return None, None


# A code or refresh token spent by a request whose answer was lost cannot be retried blindly.
_TOKEN_RETRY = RetryPolicy(max_attempts=3, statuses=frozenset({429}), retry_network=False)


async def _token_request(
    accounts_server: str,
    form: dict[str, str],
    secrets: list[str],
    transport: httpx.AsyncBaseTransport | None,
    timeout: float,
) -> dict[str, Any]:
    async with ApiClient(
        provider="zoho",
        base_url=accounts_server,
        secrets=secrets,
        retry=_TOKEN_RETRY,
        timeout=timeout,
        transport=transport,
        error_parser=_oauth_error,
    ) as client:
        response = await client.request(
            "POST",
            "/oauth/v2/token",
            operation="oauth.token",
            content=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    payload = response.json() if response.content else {}
    # Zoho's accounts server answers most OAuth errors with 200 and an `error` member.
    if not isinstance(payload, dict) or "error" in payload or "access_token" not in payload:
        code, message = _oauth_error(payload)
        raise ApiError(
            provider="zoho",
            operation="oauth.token",
            status=response.status_code,
            code=code,
            message=message or "token answer without an access_token",
            method="POST",
            path="/oauth/v2/token",
        )
    register_secret(str(payload["access_token"]))
    return payload


async def exchange_code(
    code: str,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    accounts_server: str | None = None,
    location: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 30.0,
) -> ZohoGrant:
    """Trade the consent redirect's `code` for a grant, at the redirect's `accounts-server`
    (or the accounts server of its `location`, US when neither is given)."""
    server = (accounts_server or data_centre(location or "us")[0]).rstrip("/")
    payload = await _token_request(
        server,
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
        },
        [code, client_secret],
        transport,
        timeout,
    )
    if "refresh_token" not in payload:
        raise ApiError(
            provider="zoho",
            operation="oauth.token",
            status=200,
            message="no refresh token (ask for access_type=offline)",
            method="POST",
            path="/oauth/v2/token",
        )
    api_domain = str(payload.get("api_domain") or "").rstrip("/")
    if not api_domain:
        api_domain = next((a for s, a in DATA_CENTRES.values() if s == server), server)
    return ZohoGrant(
        refresh_token=str(payload["refresh_token"]),
        client_id=client_id,
        client_secret=client_secret,
        accounts_server=server,
        api_domain=api_domain,
    )


# ------------------------------------------------------------------------ the shared cache

_metadata = MetaData()
TOKENS = Table(
    "zoho_access_tokens",
    _metadata,
    Column("key", String(64), primary_key=True),
    Column("sealed", Text, nullable=True),
    Column("expires_at", Float, nullable=False, default=0.0),
    Column("refreshed_at", Float, nullable=False, default=0.0),
    Column("lease_until", Float, nullable=False, default=0.0),
)
_THREADS = pool("zoho-tokens", 4)
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _engine_for(database_url: str) -> Engine:
    from switchboard.config import rate_limit_database_url
    from switchboard.store.db import make_engine

    url = rate_limit_database_url(database_url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            with contextlib.suppress(DBAPIError):  # another process created it meanwhile
                TOKENS.create(engine, checkfirst=True)
            _engines[url] = engine
        return engine


@dataclass
class _Row:
    sealed: str | None = None
    expires_at: float = 0.0
    refreshed_at: float = 0.0
    lease_until: float = 0.0


class _MemoryStore:
    """One process: rows in a dict (tests, single-process tools)."""

    _rows: ClassVar[dict[str, _Row]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def read(self, key: str) -> _Row:
        with self._lock:
            row = self._rows.setdefault(key, _Row())
            return _Row(**row.__dict__)

    def lease(self, key: str, now: float, spacing: float) -> bool:
        with self._lock:
            row = self._rows.setdefault(key, _Row())
            if row.lease_until > now or row.refreshed_at > now - spacing:
                return False
            row.lease_until = now + LEASE_S
            return True

    def store(self, key: str, sealed: str, expires_at: float, now: float) -> None:
        with self._lock:
            self._rows[key] = _Row(sealed, expires_at, now, 0.0)

    def release(self, key: str) -> None:
        with self._lock:
            self._rows.setdefault(key, _Row()).lease_until = 0.0


class _SqlStore:
    """Every process of a deployment: one row per grant in `zoho_access_tokens`."""

    def __init__(self, database_url: str) -> None:
        self.engine = _engine_for(database_url)

    def _ensure(self, key: str) -> None:
        with contextlib.suppress(IntegrityError), self.engine.begin() as conn:
            if conn.execute(select(TOKENS.c.key).where(TOKENS.c.key == key)).first() is None:
                conn.execute(TOKENS.insert().values(key=key, expires_at=0.0, refreshed_at=0.0,
                                                    lease_until=0.0))  # fmt: skip

    def read(self, key: str) -> _Row:
        with self.engine.connect() as conn:
            found = conn.execute(select(TOKENS).where(TOKENS.c.key == key)).first()
        if found is None:
            return _Row()
        return _Row(found.sealed, found.expires_at, found.refreshed_at, found.lease_until)

    def lease(self, key: str, now: float, spacing: float) -> bool:
        """Taken atomically, and only if nobody refreshed within `spacing` (a caller that read
        the row before someone else's refresh landed must not refresh again)."""
        self._ensure(key)
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(TOKENS)
                .where(
                    TOKENS.c.key == key,
                    TOKENS.c.lease_until <= now,
                    TOKENS.c.refreshed_at <= now - spacing,
                )
                .values(lease_until=now + LEASE_S)
            ).rowcount
        return bool(taken)

    def store(self, key: str, sealed: str, expires_at: float, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(TOKENS)
                .where(TOKENS.c.key == key)
                .values(sealed=sealed, expires_at=expires_at, refreshed_at=now, lease_until=0.0)
            )

    def release(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(TOKENS).where(TOKENS.c.key == key).values(lease_until=0.0))


class AccessTokens:
    """The current access token of one credential (see the module docstring).

    `current()` returns a token valid for at least `REFRESH_MARGIN_S` more (refreshing when
    needed); `rejected(token)` after Zoho answered INVALID_TOKEN with it forces a refresh
    (still at most one per `MIN_REFRESH_INTERVAL_S`)."""

    def __init__(
        self,
        credential: str,
        *,
        database_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
        timeout: float = 30.0,
        min_refresh_interval_s: float = MIN_REFRESH_INTERVAL_S,
    ) -> None:
        self.grant = parse_credential(credential)
        self.min_refresh_interval_s = min_refresh_interval_s
        self._static = None if self.grant else credential.strip()
        self._store: _MemoryStore | _SqlStore = (
            _SqlStore(database_url) if database_url and self.grant else _MemoryStore()
        )
        self._transport = transport
        self._clock = clock
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._cached: tuple[str, float] | None = None
        self._rejected: str | None = None

    @property
    def refreshable(self) -> bool:
        return self.grant is not None

    def _wall(self) -> float:
        return time.time()

    async def current(self) -> str:
        if self._static is not None:
            return self._static
        cached = self._cached
        if cached and cached[0] != self._rejected and cached[1] - self._wall() > REFRESH_MARGIN_S:
            return cached[0]
        async with self._lock:
            return await self._obtain()

    def rejected(self, token: str) -> None:
        self._rejected = token

    async def _obtain(self) -> str:
        assert self.grant is not None
        key, fernet = self.grant.key, self.grant.fernet()
        interval = self.min_refresh_interval_s
        deadline = self._wall() + interval + LEASE_S + 5
        while True:
            row = await run_on(_THREADS, self._store.read, key)
            token = self._unseal(fernet, row.sealed)
            now = self._wall()
            live = token is not None and token != self._rejected and row.expires_at > now
            since_refresh = now - row.refreshed_at
            # Fresh, or refreshed a moment ago (by anyone): use it rather than spend a refresh.
            if live and (row.expires_at - now > REFRESH_MARGIN_S or since_refresh < interval):
                assert token is not None
                self._cached = (token, row.expires_at)
                return token
            wait = interval - since_refresh
            if wait <= 0 and await run_on(_THREADS, self._store.lease, key, now, interval):
                return await self._refresh(key, fernet)
            if self._wall() > deadline:
                raise ApiError(
                    provider="zoho",
                    operation="oauth.token",
                    status=None,
                    message="no Zoho access token: refreshes are spaced and another process "
                    "holds the refresh lease",
                )
            await self._clock.sleep(min(1.0, max(0.05, wait)))

    async def _refresh(self, key: str, fernet: Fernet) -> str:
        assert self.grant is not None
        grant = self.grant
        try:
            payload = await _token_request(
                grant.accounts_server,
                {
                    "grant_type": "refresh_token",
                    "refresh_token": grant.refresh_token,
                    "client_id": grant.client_id,
                    "client_secret": grant.client_secret,
                },
                [grant.refresh_token, grant.client_secret],
                self._transport,
                self._timeout,
            )
        except BaseException:
            await run_on(_THREADS, self._store.release, key)
            raise
        token = str(payload["access_token"])
        now = self._wall()
        expires_at = now + float(payload.get("expires_in") or 3600)
        sealed = fernet.encrypt(token.encode()).decode()
        await run_on(_THREADS, self._store.store, key, sealed, expires_at, now)
        self._cached = (token, expires_at)
        self._rejected = None
        return token

    @staticmethod
    def _unseal(fernet: Fernet, sealed: str | None) -> str | None:
        if not sealed:
            return None
        try:
            token = fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None
        register_secret(token)
        return token
