"""Spacing limiters: ≤ rate per any sliding window, in memory, SQL (SQLite + PostgreSQL), Redis."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from switchboard.http import (
    FakeClock,
    MemoryRateLimiter,
    RateLimit,
    RedisRateLimiter,
    SqlRateLimiter,
    limiter_key,
    make_limiter,
)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_memory_spacing_never_exceeds_rate_in_any_window() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(RateLimit(10, margin=0.05), clock)
    slots: list[float] = []
    for i in range(100):
        # Callers arrive in bursts of 7 at the same instant, then time moves on a little.
        if i % 7 == 0:
            clock.t += 0.3
        slots.append(clock.now() + limiter.reserve())
    assert max_in_window(slots) == 10
    # Throughput stays within the margin of the bound.
    assert max(slots) - min(slots) == pytest.approx(99 * 0.105)


def test_token_bucket_would_not_do() -> None:
    """Why spacing: a burst-10 bucket admits 20 requests inside one second."""
    burst_then_refill = [0.0] * 10 + [0.1 * i for i in range(1, 11)]
    assert max_in_window(burst_then_refill) > 10


def test_limiter_key_hides_the_credential() -> None:
    key = limiter_key("quo", "secret-api-key-value")
    assert "secret-api-key-value" not in key and key.startswith("quo:default:")
    assert key == limiter_key("quo", "secret-api-key-value")


def test_memory_shared_per_key() -> None:
    key = "k-" + uuid.uuid4().hex
    a = MemoryRateLimiter.shared(key, RateLimit(10))
    assert a is make_limiter(key, RateLimit(10))
    assert a is not MemoryRateLimiter.shared(key + "x", RateLimit(10))


async def test_sql_limiter_spaces_across_instances(db_url: str) -> None:
    clock = FakeClock()
    limit = RateLimit(10, margin=0.0)
    a = SqlRateLimiter("quo:test", limit, db_url, clock)
    b = SqlRateLimiter("quo:test", limit, db_url, clock)
    waits = []
    for lim in (a, b, a, b):
        before = clock.now()
        await lim.acquire()
        waits.append(round(clock.now() - before, 6))
    # Each instance waits for the slot after the other's: one shared budget.
    assert waits == [0.0, 0.1, 0.1, 0.1]
    await b.pause(5.0)
    before = clock.now()
    await a.acquire()
    assert clock.now() - before == pytest.approx(5.0)


async def test_redis_limiter_shared() -> None:
    redis = pytest.importorskip("redis.asyncio")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await client.ping()
    except Exception:
        pytest.skip("Redis is not reachable")
    key = "test-" + uuid.uuid4().hex
    limit = RateLimit(50, margin=0.0)
    a = RedisRateLimiter(key, limit, "redis://127.0.0.1:6379/0")
    b = RedisRateLimiter(key, limit, "redis://127.0.0.1:6379/0")
    sent: list[float] = []

    async def worker(lim: RedisRateLimiter) -> None:
        for _ in range(10):
            await lim.acquire()
            sent.append(time.monotonic())

    await asyncio.gather(worker(a), worker(b))
    span = max(sent) - min(sent)
    assert span >= 19 * 0.02 * 0.9
    assert max_in_window(sent, 0.2) <= 11
    await a.aclose()
    await b.aclose()
    await client.delete(f"switchboard:rate:{key}")
    await client.aclose()
