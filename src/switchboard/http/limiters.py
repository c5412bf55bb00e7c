"""Rate limiters: one small interface, three stores (process memory, SQL database, Redis).

Every limiter enforces the same rule, GCRA without burst ("spacing"): each request reserves the
next free send slot, slots are `period / rate * (1 + margin)` apart, and the caller sleeps until
its slot. Unlike a token bucket with burst N (which can put up to 2N requests into one window),
spacing guarantees at most `rate` requests in *every* sliding window of `period` as the server
sees them, as long as requests reach it at most `margin * period` late relative to each other.
With `margin > 1 / (rate - 1)` a window holds at most `rate - 1` on-time slots, so one request
delayed by *any* amount (a stalled process, a slow network hop) still cannot make `rate + 1`.
Throughput is `rate / (1 + margin)`: Quo's default margin 0.15 gives 8.7 req/s of the 10.

The state is a single number per key — the next free slot (`tat`, epoch seconds) — updated with
one atomic statement, so every process (and every machine, for SQL/Redis) that uses the same key
shares one budget:

- `MemoryRateLimiter`: one process; `MemoryRateLimiter.shared(key, ...)` gives one per key.
- `SqlRateLimiter`: the `rate_buckets` table, SQLite (one machine) or PostgreSQL (scale-out).
- `RedisRateLimiter`: a Redis key, using the Redis server's clock.

A caller that reaches its slot late (a slow database round trip, a busy event loop) by more than
`late_tolerance` does not send on the stale slot — that would squeeze it against the next
callers' slots — but takes a fresh one (at most a few times).

Use `make_limiter` to pick one from configuration, and `limiter_key` to name a bucket after a
credential without storing the credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from switchboard.http.clock import SYSTEM_CLOCK, Clock


@runtime_checkable
class RateLimiter(Protocol):
    """What ApiClient needs from a limiter."""

    async def acquire(self) -> None:
        """Wait until this caller may send one request."""

    async def pause(self, seconds: float) -> None:
        """Nobody sharing this budget sends before `seconds` from now (after a 429)."""


@dataclass(frozen=True)
class RateLimit:
    """`rate` requests per `period` seconds, kept with a safety `margin` (0.15 = 15% slower)."""

    rate: float
    period: float = 1.0
    margin: float = 0.15
    late_tolerance: float = 0.02

    @property
    def interval(self) -> float:
        return self.period / self.rate * (1.0 + self.margin)


def limiter_key(provider: str, credential: str, budget: str = "default") -> str:
    """Bucket name for a credential: a hash, so the key itself is never stored."""
    digest = hashlib.sha256(credential.encode()).hexdigest()[:24]
    return f"{provider}:{budget}:{digest}"


class _SpacingLimiter:
    """Shared acquire loop: reserve a slot, sleep until it, re-reserve when too late."""

    limit: RateLimit
    clock: Clock
    max_reservations = 4

    async def _reserve(self) -> float:
        """Take the next slot; return its time on `self.clock`."""
        raise NotImplementedError

    async def acquire(self) -> None:
        for attempt in range(self.max_reservations):
            slot = await self._reserve()
            wait = slot - self.clock.now()
            if wait > 0:
                await self.clock.sleep(wait)
            late = self.clock.now() - slot
            if late <= self.limit.late_tolerance or attempt + 1 == self.max_reservations:
                return


class MemoryRateLimiter(_SpacingLimiter):
    """Spacing limiter in process memory (tests, single-process tools)."""

    _registry: ClassVar[dict[str, MemoryRateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, limit: RateLimit, clock: Clock = SYSTEM_CLOCK) -> None:
        self.limit = limit
        self.clock = clock
        self._tat = 0.0
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, key: str, limit: RateLimit, clock: Clock = SYSTEM_CLOCK) -> MemoryRateLimiter:
        """The one limiter of this process for `key` (created on first use)."""
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None:
                limiter = cls._registry[key] = cls(limit, clock)
            return limiter

    def reserve(self) -> float:
        """Take the next slot; returns how long to wait for it."""
        with self._lock:
            now = self.clock.now()
            slot = max(now, self._tat)
            self._tat = slot + self.limit.interval
            return slot - now

    async def _reserve(self) -> float:
        return self.clock.now() + self.reserve()

    async def pause(self, seconds: float) -> None:
        with self._lock:
            self._tat = max(self._tat, self.clock.now() + seconds)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _engine_for(url: str) -> Engine:
    from switchboard.store.db import make_engine
    from switchboard.store.models import RateBucket

    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            # Another process may create it between the check and the CREATE; a table that is
            # really missing still fails loudly on first use.
            with contextlib.suppress(DBAPIError):
                RateBucket.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]
            _engines[url] = engine
        return engine


class SqlRateLimiter(_SpacingLimiter):
    """Spacing limiter whose slot lives in the `rate_buckets` table (SQLite or PostgreSQL).

    One `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` per request: atomic on both databases,
    so any number of processes share the budget. Times are the callers' wall clocks, read right
    before the statement; a caller delayed by lock waits re-reserves (see the module docstring).
    """

    def __init__(
        self, key: str, limit: RateLimit, database: str | Engine, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.key = key
        self.limit = limit
        self.clock = clock
        self.engine = _engine_for(database) if isinstance(database, str) else database
        greatest = "MAX" if self.engine.dialect.name == "sqlite" else "GREATEST"
        self._reserve_sql = text(
            "INSERT INTO rate_buckets (key, tat, updated_at) VALUES (:key, :now + :step, :now) "
            f"ON CONFLICT (key) DO UPDATE SET tat = {greatest}(rate_buckets.tat, :now) + :step, "
            "updated_at = :now RETURNING tat"
        )

    def _update(self, offset: float, step: float) -> float:
        with self.engine.begin() as conn:
            now = self.clock.now() + offset
            tat = conn.execute(
                self._reserve_sql, {"key": self.key, "now": now, "step": step}
            ).scalar_one()
        return float(tat)

    async def _reserve(self) -> float:
        step = self.limit.interval
        return await asyncio.to_thread(self._update, 0.0, step) - step

    async def pause(self, seconds: float) -> None:
        # Reserving a zero-length slot at now+seconds pushes everyone's next slot past it.
        await asyncio.to_thread(self._update, seconds, 0.0)


_REDIS_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local start = now + tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(start, tat)
local new_tat = slot + tonumber(ARGV[1])
local ttl = math.ceil((new_tat - now) * 1000) + 60000
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', ttl)
return string.format('%.6f', slot - now)
"""


class RedisRateLimiter(_SpacingLimiter):
    """Spacing limiter in Redis (a Lua script; the Redis server's clock is the only clock)."""

    def __init__(self, key: str, limit: RateLimit, redis: Any, clock: Clock = SYSTEM_CLOCK) -> None:
        import redis.asyncio as aioredis

        self.key = f"switchboard:rate:{key}"
        self.limit = limit
        self.clock = clock
        self.redis: Any = aioredis.Redis.from_url(redis) if isinstance(redis, str) else redis
        self._script = self.redis.register_script(_REDIS_RESERVE)

    async def _reserve(self) -> float:
        wait = float(await self._script(keys=[self.key], args=[self.limit.interval, 0]))
        return self.clock.now() + wait

    async def pause(self, seconds: float) -> None:
        await self._script(keys=[self.key], args=[0, seconds])

    async def aclose(self) -> None:
        await self.redis.aclose()


def make_limiter(
    key: str,
    limit: RateLimit,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> RateLimiter:
    """The limiter configuration asks for: Redis if `redis_url`, else SQL if `database_url`,
    else this process's memory. Processes share a budget when they use the same store and key."""
    if redis_url:
        return RedisRateLimiter(key, limit, redis_url, clock)
    if database_url:
        return SqlRateLimiter(key, limit, database_url, clock)
    return MemoryRateLimiter.shared(key, limit, clock)
