"""Per-connection clients for the sync: the CRM connector, the Quo contacts port, settings.

Workflow code is module-level, so steps reach their clients by connection id. Clients are built
once per process and event loop (HTTP connection pools and rate limiters are reused across
pages and events) by the factory: by default `switchboard.connections` (decrypted credentials
of the stored connection); tests install their own with `set_factory`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from switchboard.crm.base import CrmConnector
from switchboard.sync.ports import QuoContacts
from switchboard.sync.transform import SyncSettings


@dataclass
class SyncClients:
    connection_id: str
    crm: str
    settings: SyncSettings
    connector: CrmConnector
    quo: QuoContacts


Factory = Callable[[str], Awaitable[SyncClients]]

_factory: Factory | None = None
_cache: dict[tuple[str, int], SyncClients] = {}
_locks: dict[tuple[str, int], asyncio.Lock] = {}


def set_factory(factory: Factory | None) -> None:
    """Install the client factory (None restores the default) and drop cached clients."""
    global _factory
    _factory = factory
    _cache.clear()
    _locks.clear()


async def _default_factory(connection_id: str) -> SyncClients:
    from switchboard.sync.wiring import clients_from_connection

    return await clients_from_connection(connection_id)


async def clients_for(connection_id: str) -> SyncClients:
    key = (connection_id, id(asyncio.get_running_loop()))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        cached = _cache.get(key)
        if cached is None:
            cached = await (_factory or _default_factory)(connection_id)
            _cache[key] = cached
    return cached


def forget(connection_id: str) -> None:
    """Drop cached clients of a connection (settings or credentials changed)."""
    for key in [k for k in _cache if k[0] == connection_id]:
        _cache.pop(key, None)
