"""The Redis store of the rate limiter (`switchboard.http.limiters` explains the two rules):
the next spacing slot is a string, the live permits a sorted set scored by expiry, each rule one
Lua script run on the Redis server's clock, so every process sharing the server agrees on time."""

from __future__ import annotations

from typing import Any

from switchboard.http.clock import SYSTEM_CLOCK, Clock
from switchboard.http.limiters import RateLimit, _Limiter

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

_REDIS_ENTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local units = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now))
if redis.call('ZCARD', KEYS[1]) + units <= tonumber(ARGV[1]) then
  local exp = string.format('%.6f', now + tonumber(ARGV[2]))
  redis.call('ZADD', KEYS[1], exp, ARGV[3])
  for n = 1, units - 1 do redis.call('ZADD', KEYS[1], exp, ARGV[3] .. '+' .. n) end
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000) + 60000)
  return '0'
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return string.format('%.6f', math.max(tonumber(first[2]) - now, 0.001))
"""

_REDIS_LAPSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local exp = string.format('%.6f', now + tonumber(ARGV[1]))
redis.call('ZADD', KEYS[1], 'XX', exp, ARGV[2])
for n = 1, tonumber(ARGV[3]) - 1 do redis.call('ZADD', KEYS[1], 'XX', exp, ARGV[2] .. '+' .. n) end
return 1
"""

_REDIS_CHARGE_DAY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local day_s = tonumber(ARGV[2])
local day = math.floor(now / day_s)
local key = KEYS[1] .. ':' .. day
local spent = tonumber(redis.call('GET', key) or '0')
if spent + tonumber(ARGV[1]) > tonumber(ARGV[3]) then
  return string.format('%.6f', (day + 1) * day_s - now)
end
redis.call('INCRBYFLOAT', key, ARGV[1])
redis.call('PEXPIRE', key, math.ceil(day_s * 1000) + 60000)
return '0'
"""


class RedisRateLimiter(_Limiter):
    """Spacing + window guard in Redis (Lua scripts; the Redis server's clock is the only clock)."""

    def __init__(self, key: str, limit: RateLimit, redis: Any, clock: Clock = SYSTEM_CLOCK) -> None:
        import redis.asyncio as aioredis

        self.key = f"switchboard:rate:{key}"
        self.permits_key = f"switchboard:permits:{key}"
        self.day_key = f"switchboard:day:{key}"
        # A permit's units, for its lapse (the store keeps one member per unit).
        self._units: dict[str, int] = {}
        self.limit = limit
        self.clock = clock
        self._start_guard()
        self.redis: Any = aioredis.Redis.from_url(redis) if isinstance(redis, str) else redis
        self._reserve_script = self.redis.register_script(_REDIS_RESERVE)
        self._enter_script = self.redis.register_script(_REDIS_ENTER)
        self._lapse_script = self.redis.register_script(_REDIS_LAPSE)
        self._charge_day_script = self.redis.register_script(_REDIS_CHARGE_DAY)

    async def _reserve(self, units: int) -> float:
        step = self.limit.interval * units
        wait = float(await self._reserve_script(keys=[self.key], args=[step, 0]))
        return self.clock.now() + wait

    async def _enter(self, permit: str, units: int) -> float:
        args: list[str | float] = [
            self.limit.max_permits, self.limit.inflight_timeout, permit, units,
        ]  # fmt: skip
        wait = float(await self._enter_script(keys=[self.permits_key], args=args))
        if wait <= 0:
            self._units[permit] = units
        return wait

    async def _lapse(self, permit: str, hold: float) -> None:
        units = self._units.pop(permit, 1)
        await self._lapse_script(keys=[self.permits_key], args=[hold, permit, units])

    async def _charge_day(self, units: int) -> float:
        args = [units, self.limit.day_s, self.limit.daily or 0]
        return float(await self._charge_day_script(keys=[self.day_key], args=args))

    async def pause(self, seconds: float) -> None:
        await self._reserve_script(keys=[self.key], args=[0, seconds])

    async def aclose(self) -> None:
        await self.redis.aclose()
