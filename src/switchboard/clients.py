"""The provider clients of one connection: decrypted credentials, counted, shared rate limits.

    quo = quo_client_for(connection_id)          # QuoClient
    crm = crm_connector_for(connection_id)       # the CRM's connector, from its registry record
    quo, crm = await clients_of(connection_id)   # the process's shared pair (the one cache)

They read the process's runtime through `switchboard.context` (database, secret box, settings,
API call counter). `build_quo_client` / `build_crm_connector` build from explicit credentials
(the CLI's credential check, teardown of a connection whose runtime is not this process's).
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import httpx

from switchboard import context
from switchboard.connections import (
    credentials_stamp,
    get_connection,
    load_credentials,
    quo_webhooks_generation,
)
from switchboard.crm import registry
from switchboard.crm.base import ConnectorConfig, CrmConnector
from switchboard.http.bearer import FreshBearerTransport
from switchboard.http.client import shared_ssl_context
from switchboard.oauth.signin import oauth_endpoints
from switchboard.oauth.tokens import TokenKeeper, token_status
from switchboard.quo.client import QuoClient


def quo_client_for(connection_id: str, **overrides: Any) -> QuoClient:
    """The `QuoClient` for this connection: decrypted key, counted, shared rate limit."""
    ctx = context.current()
    db, box, settings, counter = ctx.db, ctx.box, ctx.settings, ctx.api_counter
    info = get_connection(db, connection_id, with_webhooks=False)
    creds = load_credentials(db, box, connection_id)
    return build_quo_client(
        creds.quo_api_key,
        info.quo_base_url,
        hook=counter.hook(connection_id) if counter else None,
        database_url=settings.resolved_database_url(),
        redis_url=settings.redis_url,
        **{
            "webhooks_version": quo_webhooks_generation(
                info.settings, settings.quo_webhooks_version
            ),
            **overrides,
        },
    )


def build_quo_client(api_key: str, base_url: str, **options: Any) -> QuoClient:
    """A `QuoClient`; `options` are its keyword arguments (hook, retry, limiter URLs, ...)."""
    return QuoClient(api_key, base_url=base_url, **options)


def crm_connector_for(connection_id: str, **overrides: Any) -> CrmConnector:
    """The CRM connector for this connection (decrypted token, counted, shared budgets).
    `overrides` replace `ConnectorConfig` fields (retry, transport, ...). A connection signed in
    with OAuth gets its access token per request from the process's `TokenKeeper`."""
    ctx = context.current()
    db, box, settings, counter = ctx.db, ctx.box, ctx.settings, ctx.api_counter
    info = get_connection(db, connection_id, with_webhooks=False)
    creds = load_credentials(db, box, connection_id)
    if token_status(db, connection_id) is not None:
        keeper = token_keeper()

        async def tokens(stale: str | None) -> str:
            return await keeper.access_token(connection_id, info.crm, stale)

        inner = overrides.get("transport") or httpx.AsyncHTTPTransport(verify=shared_ssl_context())
        overrides["transport"] = FreshBearerTransport(inner, tokens)
        overrides["bearer"] = True
    return build_crm_connector(
        info.crm,
        creds.crm_token,
        info.crm_base_url,
        hook=counter.hook(connection_id) if counter else None,
        database_url=settings.resolved_database_url(),
        redis_url=settings.redis_url,
        settings=info.settings,
        **overrides,
    )


_keeper: tuple[object, TokenKeeper] | None = None


def token_keeper() -> TokenKeeper:
    """The process's `TokenKeeper` (one per started runtime)."""
    global _keeper
    ctx = context.current()
    if _keeper is None or _keeper[0] is not ctx:
        settings = ctx.settings
        owner = settings.executor_id or f"{socket.gethostname()}-{os.getpid()}"
        keeper = TokenKeeper(
            ctx.db, ctx.box, lambda crm: oauth_endpoints(settings, crm), owner=owner
        )
        _keeper = (ctx, keeper)
    return _keeper[1]


def build_crm_connector(crm: str, token: str, base_url: str, **config: Any) -> CrmConnector:
    """The registered CRM's connector; `config` are further `ConnectorConfig` fields."""
    provider = registry.get(crm)
    return provider.connect(ConnectorConfig(token=token, base_url=base_url, **config))


# Built once per process and event loop (HTTP pools and rate limiters are bound to a loop and
# reused across pages and events); the activity pipeline and the sync share them. Each entry
# carries the connection's `credentials_stamp`: a reconnect (new token or key, in any process)
# changes it, and the next caller builds clients from the new secrets.
_cache: dict[tuple[str, int], tuple[str, QuoClient, CrmConnector]] = {}
_locks: dict[tuple[str, int], asyncio.Lock] = {}


async def clients_of(connection_id: str) -> tuple[QuoClient, CrmConnector]:
    """The connection's Quo client and CRM connector, shared in this process and loop."""
    key = (connection_id, id(asyncio.get_running_loop()))
    db = context.current().db
    stamp = await asyncio.to_thread(credentials_stamp, db, connection_id)
    cached = _cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1], cached[2]
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        cached = _cache.get(key)
        if cached is None or cached[0] != stamp:
            quo, crm = await asyncio.to_thread(
                lambda: (quo_client_for(connection_id), crm_connector_for(connection_id))
            )
            cached = _cache[key] = (stamp, quo, crm)
    return cached[1], cached[2]


def forget(connection_id: str | None = None) -> None:
    """Drop the shared clients of a connection (credentials changed), or of every connection."""
    for key in [k for k in _cache if connection_id is None or k[0] == connection_id]:
        _cache.pop(key, None)
        _locks.pop(key, None)
    if _keeper is not None:
        _keeper[1].forget(connection_id)
