"""The call page's own provider clients, per connection and event loop.

The web server's event loop is not the workers' one, and HTTP clients (pools, rate-limit locks)
belong to the loop that made them; so the page does not borrow the activity workers' clients.
Tests install a factory with `set_factory`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from switchboard.crm.base import CrmConnector

#: Seconds the workspace's line list is reused.
LINES_TTL_S = 60.0


@dataclass
class PageClients:
    crm: CrmConnector
    quo: Any  # `list_phone_numbers()`, like `switchboard.activity.ports.QuoReader`
    lines: list[dict[str, Any]] | None = None
    lines_at: float = 0.0

    async def phone_numbers(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        if self.lines is None or now - self.lines_at > LINES_TTL_S:
            self.lines = list(await self.quo.list_phone_numbers())
            self.lines_at = now
        return self.lines


Factory = Callable[[str], Awaitable[PageClients]]
_factory: Factory | None = None
_cache: dict[tuple[str, int], PageClients] = {}


def set_factory(factory: Factory | None) -> None:
    global _factory
    _factory = factory
    _cache.clear()


async def _default(connection_id: str) -> PageClients:
    from switchboard import clients
    from switchboard.activity.quo_reader import QuoClientReader

    quo = QuoClientReader(clients.quo_client_for(connection_id))
    return PageClients(crm=clients.crm_connector_for(connection_id), quo=quo)


async def clients_for(connection_id: str) -> PageClients:
    key = (connection_id, id(asyncio.get_running_loop()))
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = await (_factory or _default)(connection_id)
    return found
