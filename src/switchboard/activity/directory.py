"""The workspace's own lines and users, cached per connection.

One `GET /v1/phone-numbers` answers both questions activity logging asks on every event — which
participant numbers are the workspace's own, and what the line and its users are called — so it
is fetched once per connection and kept (in memory, and in `cache_entries` so a restarted worker
does not fetch it again). It is refreshed when an event names a line we do not know (a line added
since), at most once per `refresh_interval_s`. Users that are on no line are fetched one by one
(`GET /v1/users/{id}`) and cached too. Emails are kept beside the names (a CRM that gives call
records an owner matches the Quo user by email). The AI agent (`SY...` ids) is "Sona" without a
request: Quo answers 400 for those ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from switchboard.activity.ports import QuoNotFound, QuoReader, QuoRequestRefused
from switchboard.logs import get_logger
from switchboard.store.db import Database
from switchboard.store.models import CacheEntry, utcnow

AI_AGENT_NAME = "Sona"
_PHONE_NUMBERS = "quo_phone_numbers"
_USERS = "quo_users"

log = get_logger(__name__)


def is_ai_agent(user_id: str | None) -> bool:
    return bool(user_id) and str(user_id).startswith("SY")


def user_display_name(user: dict[str, Any]) -> str | None:
    name = " ".join(p for p in (user.get("firstName"), user.get("lastName")) if p).strip()
    return name or user.get("email") or None


@dataclass
class _Workspace:
    lines: dict[str, dict[str, Any]] | None = None
    users: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    unknown_users: set[str] = field(default_factory=set)
    refreshed_at: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_WORKSPACES: dict[tuple[str, str], _Workspace] = {}


def forget_cached_workspaces() -> None:
    """Drop the in-memory caches (tests; the database copy stays)."""
    _WORKSPACES.clear()


class Directory:
    """Lines and user names of one connection's Quo workspace."""

    def __init__(
        self,
        db: Database,
        connection_id: str,
        quo: QuoReader,
        *,
        refresh_interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._connection_id = connection_id
        self._quo = quo
        self._refresh_interval_s = refresh_interval_s
        self._clock = clock
        self._ws = _WORKSPACES.setdefault((db.url, connection_id), _Workspace())

    async def lines(self) -> dict[str, dict[str, Any]]:
        if self._ws.lines is None:
            async with self._ws.lock:
                if self._ws.lines is None and not self._load_from_db():
                    await self._refresh()
        return self._ws.lines or {}

    async def line(self, phone_number_id: str | None) -> dict[str, Any] | None:
        """The line (`id`, `name`, `symbol`, `number`), refreshing once if it is unknown."""
        lines = await self.lines()
        if not phone_number_id or phone_number_id in lines:
            return lines.get(phone_number_id or "")
        await self.refresh_if_stale()
        return (self._ws.lines or {}).get(phone_number_id)

    async def own_numbers(self) -> set[str]:
        return {str(line["number"]) for line in (await self.lines()).values() if line.get("number")}

    async def refresh_if_stale(self) -> bool:
        """Re-fetch the lines unless that happened within `refresh_interval_s`."""
        async with self._ws.lock:
            if self._clock() - self._ws.refreshed_at < self._refresh_interval_s:
                return False
            await self._refresh()
            return True

    async def user_name(self, user_id: str | None) -> str | None:
        if not user_id:
            return None
        if is_ai_agent(user_id):
            return AI_AGENT_NAME
        await self.lines()
        if user_id in self._ws.users:
            return self._ws.users[user_id]
        if user_id in self._ws.unknown_users:
            return None
        cached = self._cached(_USERS, user_id)
        if cached is not None:
            name, email = cached.get("name"), cached.get("email")
        else:
            try:
                user = await self._quo.get_user(user_id)
            except (QuoNotFound, QuoRequestRefused) as exc:
                log.info("quo_user_unresolved", user_id=user_id, error=str(exc))
                user = {}
            name, email = user_display_name(user), user.get("email")
            self._store(_USERS, user_id, {"name": name, "email": email})
        if isinstance(email, str) and email:
            self._ws.emails[user_id] = email
        if name:
            self._ws.users[user_id] = name
        else:
            self._ws.unknown_users.add(user_id)
        return name

    async def user_email(self, user_id: str | None) -> str | None:
        """The Quo user's email (None for the AI agent and users Quo does not know)."""
        if not user_id or is_ai_agent(user_id):
            return None
        if user_id not in self._ws.emails:
            await self.user_name(user_id)
        return self._ws.emails.get(user_id)

    def user_names_known(self) -> dict[str, str]:
        return dict(self._ws.users)

    async def _refresh(self) -> None:
        numbers = await self._quo.list_phone_numbers()
        self._apply(numbers)
        self._store(_PHONE_NUMBERS, "all", {"data": numbers})

    def _apply(self, numbers: list[dict[str, Any]]) -> None:
        lines: dict[str, dict[str, Any]] = {}
        for pn in numbers:
            if not pn.get("id"):
                continue
            lines[str(pn["id"])] = {
                "id": pn["id"],
                "name": pn.get("name"),
                "symbol": pn.get("symbol"),
                "number": pn.get("number"),
            }
            for user in pn.get("users") or []:
                name = user_display_name(user)
                if user.get("id") and user.get("email"):
                    self._ws.emails[str(user["id"])] = str(user["email"])
                if user.get("id") and name:
                    self._ws.users[str(user["id"])] = name
                    self._ws.unknown_users.discard(str(user["id"]))
        self._ws.lines = lines
        self._ws.refreshed_at = self._clock()

    def _load_from_db(self) -> bool:
        cached = self._cached(_PHONE_NUMBERS, "all")
        if cached is None:
            return False
        self._apply(list(cached.get("data") or []))
        return True

    def _cached(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._db.session() as s:
            row = s.scalars(
                select(CacheEntry).where(
                    CacheEntry.connection_id == self._connection_id,
                    CacheEntry.kind == kind,
                    CacheEntry.key == key,
                )
            ).first()
            return dict(row.data) if row is not None else None

    def _store(self, kind: str, key: str, data: dict[str, Any]) -> None:
        # IntegrityError: another worker stored it a moment ago, and theirs is as good.
        with contextlib.suppress(IntegrityError):
            self._upsert(kind, key, data)

    def _upsert(self, kind: str, key: str, data: dict[str, Any]) -> None:
        with self._db.session() as s:
            row = s.scalars(
                select(CacheEntry).where(
                    CacheEntry.connection_id == self._connection_id,
                    CacheEntry.kind == kind,
                    CacheEntry.key == key,
                )
            ).first()
            if row is None:
                s.add(CacheEntry(connection_id=self._connection_id, kind=kind, key=key, data=data))
            else:
                row.data = data
                row.fetched_at = utcnow()
