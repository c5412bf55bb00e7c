"""Per-connection clients for the sync: the CRM connector, the Quo contacts port, settings.

Workflow code is module-level, so steps reach their clients by connection id. By default they
come from `switchboard.sync.wiring` — the process's shared clients (`switchboard.clients`, the
one per-connection cache) with the connection's current settings, read on each call so a
settings change applies at once. Tests install their own factory with `set_factory` (its
results are kept per connection and event loop).
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
    if _factory is None:
        return await _default_factory(connection_id)
    key = (connection_id, id(asyncio.get_running_loop()))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        cached = _cache.get(key)
        if cached is None:
            cached = await _factory(connection_id)
            _cache[key] = cached
    return cached
