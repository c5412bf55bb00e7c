"""Call-log owners: the Quo user's email matched to a Pipedrive user.

One `GET /v1/users` (20 tokens) lists every user of the company with their email; the connector
keeps the active ones by lower-cased email for as long as it lives (one per connection and
process). An email it does not know triggers one refresh, at most every `refresh_s` — a user
added in Pipedrive since is found, and a Quo user Pipedrive never had costs nothing more. No
match means no `user_id` on the call log: Pipedrive then makes the token's user the owner. A
token user without account-settings access may not create call logs for others: the first 403
switches matching off (`disable`) and the call log is written as the token user's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from switchboard.http import Clock

ListUsers = Callable[[], Awaitable[list[dict[str, Any]]]]


class OwnerDirectory:
    """Pipedrive user ids by email, cached, refreshed on a miss at most every `refresh_s`."""

    def __init__(self, list_users: ListUsers, clock: Clock, refresh_s: float = 600.0) -> None:
        self._list_users = list_users
        self._clock = clock
        self._refresh_s = refresh_s
        self._by_email: dict[str, int] | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._disabled = False

    def disable(self) -> None:
        """Pipedrive refused a call log for another user: every call log is the token user's
        from now on (for this connector's life: a restart tries again)."""
        self._disabled = True

    async def user_id(self, email: str | None) -> int | None:
        """The active Pipedrive user with this email (case-insensitive), or None."""
        if self._disabled or not email or "@" not in email:
            return None
        key = email.strip().lower()
        if self._by_email is not None and key in self._by_email:
            return self._by_email[key]
        async with self._lock:
            stale = self._clock.now() - self._fetched_at >= self._refresh_s
            if self._by_email is None or (key not in self._by_email and stale):
                await self._refresh()
            return (self._by_email or {}).get(key)

    async def _refresh(self) -> None:
        users = await self._list_users()
        self._fetched_at = self._clock.now()
        self._by_email = {
            str(u["email"]).strip().lower(): int(u["id"])
            for u in users
            if isinstance(u, dict)
            and u.get("email")
            and isinstance(u.get("id"), int)
            and u.get("active_flag", u.get("activated", True))
            and not u.get("is_deleted")
        }
