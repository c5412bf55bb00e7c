"""Rate limiters: one small interface, three stores (process memory, SQL database, Redis).

Quo counts requests per key in a sliding one-second window, as *its* server sees them. Every
limiter here combines two rules, both kept atomically in a store all processes share:

1. **Spacing** (GCRA without burst) for a smooth flow: each request reserves the next free send
   slot, slots are `period / rate * (1 + margin)` apart, the caller sleeps until its slot, and a
   caller that reaches its slot more than `late_tolerance` late takes a fresh one. (A token bucket
   with burst N would put up to 2N requests into one window.)
2. **Window guard** for the guarantee: a request holds a *permit* from just before it is sent
   (its send time S) until one `period` after its lapse point; at most `rate` permits exist per
   key. In-flight permits of a process that died expire after `inflight_timeout`.

   Why no window of server arrival times can hold `rate + 1` requests: if it did (arrivals in
   [t, t + period)), every one of them took its permit before t + period, and if each permit
   lasts until at least its arrival + `period`, all `rate + 1` permits were live together just
   before t + period — more than exist. So the lapse point must not come before the arrival.
   The arrival A lies between S and the response R, so *lapse point = R* is always safe; that
   costs the round trip per permit and caps a key at `rate / (period + RTT)` (≈ 8.5/s at
   150-200 ms). With `lapse_from_send`, the lapse point is the *estimated arrival*, every
   arrival shifted back by the smallest outbound delay d₀ (the window moves, the count does
   not): R − F + m, F = the fastest recent round trip — of the last `jitter_samples` of the
   same operation and the last `all_samples` of any — m = `jitter_margin` (never past R). A
   request's A − d₀ = R − b − d₀, b = what came after Quo counted it (Quo's processing, the
   way back, our event loop); so A − d₀ ≤ R − F + m holds whenever F ≤ d₀ + b + m — the
   fastest round trip was no slower on the way out than the fastest outbound leg, nor after
   the count than this request, by more than m together. A request delayed on the way out
   (counted later) has a longer round trip and holds its permit longer by as much; one
   delayed after the count holds it longer than it needs. Why both minima: within one
   operation b still varies (a bulk create of 3 contacts is answered sooner after the count
   than one of 50, and more so on a loaded machine), and the quickest kind of request bounds
   F by the smallest b there is; the operation's own minimum keeps F low when the other
   kinds fell out of the samples. Lapse point R until `min_jitter_samples` of its kind.

   S is when the request went on the wire: the grant plus the `send_delay` the caller reports
   on `release` (ApiClient: httpcore's trace event "request headers written"), else the grant.
   Round trips are counted from S too, so a local stall between permit and send (a connect, a
   pooled connection, a stalled process) moves S instead of entering F — F is each process's
   own, and a process whose every request waited 0.3 s would let its permits lapse 0.3 s early
   (`test_limiters.py::test_a_process_that_stalls_before_sending_keeps_the_window`).

Order within a process (`switchboard.http.waiting_line`): callers wait for the window guard in
line, first come first served; `first_in_line()` requests go first (see there), and the
caller already polling the store steps aside for them (otherwise such a request waited for that
caller's permit as well as its own: 37 ms of a 224 ms read-back link on average, measured with
150 ± 50 ms of latency).

Weights and a daily budget (for providers that price each operation in units of a budget):
`acquire(units)` makes one request count as `units` in both rules — its spacing slot is `units`
slots long and its permit counts `units` times against `rate` (stores keep `units` rows or
members per permit; `weighted_window=False` counts every request as 1 there). With
`RateLimit.daily`, every acquire first charges its units to the key's counter for the current
UTC day (`day_s`), atomically in the shared store; a request that would overspend it is not
sent: `DailyBudgetExhausted` says how long until the budget resets.

Spacing alone is only as good as the timing; the guard alone would send bursts. Together:
~`rate / (1 + margin)` per second, never more than `rate` in any window.

Stores (state per key: the next slot `tat` and the live permits):

- `MemoryRateLimiter`: one process; `MemoryRateLimiter.shared(key, ...)` gives one per key.
- `SqlRateLimiter`: tables `rate_buckets` and `rate_permits`, SQLite (one machine; in the
  sibling file `switchboard.config.rate_limit_database_url` names, away from the application
  file's write lock) or PostgreSQL (scale-out); created if missing.
- `RedisRateLimiter` (`switchboard.http.redis_limiter`): a string and a sorted set, Lua scripts
  on the Redis server's clock.

`acquire()` returns a permit that the caller hands back with `release(permit)` once the
response (or the failure) is in; `ApiClient` does both. Use `make_limiter` to pick a store from
configuration, and `limiter_key` to name a bucket after a credential without storing it.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from switchboard.http.clock import SYSTEM_CLOCK, Clock
from switchboard.http.waiting_line import Lines, is_first_in_line
from switchboard.threads import pool, run_on

Permit = str | None


@runtime_checkable
class RateLimiter(Protocol):
    """What ApiClient needs from a limiter."""

    async def acquire(self, units: int = 1) -> Permit:
        """Wait until this caller may send one request weighing `units`; returns the permit it
        holds. Raises DailyBudgetExhausted when the key's daily budget cannot pay for it."""

    async def release(
        self, permit: Permit, *, send_delay: float | None = None, kind: str | None = None
    ) -> None:
        """The request's response (or failure) arrived: its permit lapses one period after its
        lapse point. `send_delay`: seconds from the grant until the request went on the wire,
        when the HTTP client could tell; `kind`: the operation, whose round trips are compared
        only with each other's."""

    async def pause(self, seconds: float) -> None:
        """Nobody sharing this budget sends before `seconds` from now (after a 429)."""


@dataclass(frozen=True)
class RateLimit:
    """`rate` requests per `period` seconds.

    Attributes:
        margin: slots are spaced `1 + margin` times wider than `period / rate`.
        late_tolerance: a caller this late for its slot takes a fresh one.
        window_guard: also enforce the permit rule (see the module docstring).
        inflight_timeout: how long a permit that was never released stays valid.
        daily: units per day (days of `day_s` seconds from the epoch: UTC days), or None.
        weighted_window: spacing and window count a request's units; False: each request
            counts 1 there (a provider that prices operations only against its daily budget).
        lapse_from_send: a permit's lapse point is the response less the fastest recent round
            trip (+ jitter_margin; over the last jitter_samples of its kind and all_samples of
            any, once min_jitter_samples of its kind are known), not the response (see the
            module docstring).
    """

    rate: float
    period: float = 1.0
    margin: float = 0.05
    late_tolerance: float = 0.02
    window_guard: bool = True
    inflight_timeout: float = 60.0
    daily: float | None = None
    day_s: float = 86_400.0
    weighted_window: bool = True
    lapse_from_send: bool = True
    jitter_margin: float = 0.01
    jitter_samples: int = 50
    all_samples: int = 200
    min_jitter_samples: int = 10

    @property
    def interval(self) -> float:
        return self.period / self.rate * (1.0 + self.margin)

    @property
    def max_permits(self) -> int:
        return max(1, int(self.rate))

    def units_of(self, units: float) -> int:
        """Whole units, at least 1 and at most a full window (a request that weighs more than
        the window still goes out, alone)."""
        return max(1, min(math.ceil(units), self.max_permits))


class DailyBudgetExhausted(Exception):
    """The key's daily budget cannot pay for this request; nothing was sent."""

    def __init__(self, daily: float, retry_after: float) -> None:
        super().__init__(f"daily budget of {daily:g} units spent; it resets in {retry_after:.0f} s")
        self.daily = daily
        self.retry_after = retry_after


def limiter_key(provider: str, credential: str, budget: str = "default") -> str:
    """Bucket name for a credential: a hash, so the key itself is never stored."""
    digest = hashlib.sha256(credential.encode()).hexdigest()[:24]
    return f"{provider}:{budget}:{digest}"


class _Limiter:
    """The acquire loop shared by every store; stores implement the four primitives."""

    limit: RateLimit
    clock: Clock
    max_reservations = 4
    _sent: dict[str, float]  # permit → when it was granted (this process)
    _rtts: dict[str | None, deque[float]]  # kind → its last `jitter_samples` round trips here
    _rtts_all: deque[float]  # the last `all_samples` round trips of any kind

    def _start_guard(self) -> None:
        self._sent = {}
        self._rtts = {}
        self._rtts_all = deque(maxlen=self.limit.all_samples)
        self._lines = Lines()

    async def _reserve(self, units: int) -> float:
        """Take the next spacing slot, `units` slots long; return its time on `self.clock`."""
        raise NotImplementedError

    async def _enter(self, permit: str, units: int) -> float:
        """Take a permit of `units` if live permits leave room for it within `rate`: 0.0,
        else seconds to wait and retry."""
        raise NotImplementedError

    async def _lapse(self, permit: str, hold: float) -> None:
        """Let `permit` expire `hold` seconds from now."""
        raise NotImplementedError

    def _hold(self, permit: str, send_delay: float | None = None, kind: str | None = None) -> float:
        """How long `permit` stays live after its response: one period after its lapse point,
        the response less the fastest recent round trip of its `kind` — see the module
        docstring. The send time S is the grant plus `send_delay` when the HTTP client reported
        when the request went on the wire, so a local stall between the two moves S instead of
        having to be covered by the estimate."""
        sent = self._sent.pop(permit, None)
        period = self.limit.period
        if sent is None or not self.limit.lapse_from_send:
            return period
        if send_delay is not None:
            sent += max(0.0, send_delay)
        rtt = max(0.0, self.clock.now() - sent)
        rtts = self._rtts.get(kind)
        if rtts is None:
            rtts = self._rtts[kind] = deque(maxlen=self.limit.jitter_samples)
        rtts.append(rtt)
        self._rtts_all.append(rtt)
        if len(rtts) < self.limit.min_jitter_samples:
            return period
        # Lapse point R - F + m: this response less the fastest recent round trip (F) of the
        # same kind and of any kind, plus the margin; never past R (F <= m), never before S
        # (F <= this one). Why both: see the module docstring.
        fastest = min(min(rtts), min(self._rtts_all))
        return period - max(0.0, fastest - self.limit.jitter_margin)

    async def _charge_day(self, units: int) -> float:
        """Charge `units` to today's budget: 0.0, or (nothing charged) seconds until it resets."""
        raise NotImplementedError

    def _day(self) -> tuple[int, float]:
        """(today's number, seconds until tomorrow) on `self.clock`, days of `limit.day_s`."""
        now = self.clock.now()
        day = int(now // self.limit.day_s)
        return day, (day + 1) * self.limit.day_s - now

    async def acquire(self, units: int = 1) -> Permit:
        cost = max(1, math.ceil(units))
        if self.limit.daily is not None:
            refused = await self._charge_day(cost)
            if refused > 0:
                raise DailyBudgetExhausted(self.limit.daily, refused)
        units = self.limit.units_of(cost) if self.limit.weighted_window else 1
        urgent = is_first_in_line()
        if urgent and self.limit.window_guard:
            # The guard keeps the rate; the slot still counts, the callers behind move back.
            # (Without a guard the spacing is all there is: wait for the slot like anyone.)
            await self._reserve(units)
        else:
            for attempt in range(self.max_reservations):
                slot = await self._reserve(units)
                wait = slot - self.clock.now()
                if wait > 0:
                    await self.clock.sleep(wait)
                late = self.clock.now() - slot
                if late <= self.limit.late_tolerance or attempt + 1 == self.max_reservations:
                    break
        if not self.limit.window_guard:
            return None
        permit = uuid.uuid4().hex[:_PERMIT_ID_LEN]
        line, rank = self._lines.current(), 0 if urgent else 1
        place = await line.enter(rank)
        holding = True
        try:
            while True:
                wait = await self._enter(permit, units)
                if wait <= 0:
                    self._sent[permit] = self.clock.now()
                    return permit
                if line.outranked(rank):  # a first_in_line request came: it polls next
                    holding = False
                    line.leave()
                    place = await line.enter(rank, place)
                    holding = True
                    continue
                # In-flight permits lapse when their response arrives, which may be any moment.
                nap = min(wait, self.limit.period / self.limit.rate / 4)
                await line.nap(rank, self.clock.sleep(nap))
        finally:
            if holding:
                line.leave()

    async def release(
        self, permit: Permit, *, send_delay: float | None = None, kind: str | None = None
    ) -> None:
        if permit is not None:
            await self._lapse(permit, self._hold(permit, send_delay, kind))


# A permit of n units is stored as n rows or members: its id, then id+1 ... id+(n-1).
_PERMIT_ID_LEN = 26


def _unit_ids(permit: str, units: int) -> list[str]:
    return [permit] + [f"{permit}+{n}" for n in range(1, units)]


class MemoryRateLimiter(_Limiter):
    """Spacing + window guard in process memory (tests, single-process tools)."""

    _registry: ClassVar[dict[str, MemoryRateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, limit: RateLimit, clock: Clock = SYSTEM_CLOCK) -> None:
        self.limit = limit
        self.clock = clock
        self._start_guard()
        self._tat = 0.0
        self._permits: dict[str, tuple[float, int]] = {}  # permit -> (expires at, units)
        self._spent: tuple[int, float] = (0, 0.0)  # (day, units charged that day)
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, key: str, limit: RateLimit, clock: Clock = SYSTEM_CLOCK) -> MemoryRateLimiter:
        """The one limiter of this process for `key` (created on first use)."""
        with cls._registry_lock:
            limiter = cls._registry.get(key)
            if limiter is None:
                limiter = cls._registry[key] = cls(limit, clock)
            return limiter

    def reserve(self, units: int = 1) -> float:
        """Take the next spacing slot; returns how long to wait for it."""
        with self._lock:
            now = self.clock.now()
            slot = max(now, self._tat)
            self._tat = slot + self.limit.interval * units
            return slot - now

    async def _reserve(self, units: int) -> float:
        return self.clock.now() + self.reserve(units)

    async def _enter(self, permit: str, units: int) -> float:
        with self._lock:
            now = self.clock.now()
            self._permits = {p: v for p, v in self._permits.items() if v[0] > now}
            live = sum(u for _, u in self._permits.values())
            if live + units <= self.limit.max_permits:
                self._permits[permit] = (now + self.limit.inflight_timeout, units)
                return 0.0
            return min(exp for exp, _ in self._permits.values()) - now

    async def _lapse(self, permit: str, hold: float) -> None:
        with self._lock:
            if permit in self._permits:
                self._permits[permit] = (self.clock.now() + hold, self._permits[permit][1])

    async def _charge_day(self, units: int) -> float:
        day, until_tomorrow = self._day()
        with self._lock:
            spent = self._spent[1] if self._spent[0] == day else 0.0
            if self.limit.daily is not None and spent + units > self.limit.daily:
                return until_tomorrow
            self._spent = (day, spent + units)
            return 0.0

    async def pause(self, seconds: float) -> None:
        with self._lock:
            self._tat = max(self._tat, self.clock.now() + seconds)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()

# The SQL limiter's blocking database calls run on threads of its own, never on the caller
# loop's default executor (whose size depends on who owns the loop: DBOS, uvicorn, a CLI).
# Hand-backs get a separate pool: when they queued behind acquires that were waiting for the
# database, permits came back only when they expired and every caller stalled for a minute.
_ACQUIRE_THREADS = pool("limiter", 32)
_RELEASE_THREADS = pool("limiter-release", 4)


def _engine_for(database_url: str) -> Engine:
    from switchboard.config import rate_limit_database_url
    from switchboard.store.db import make_engine
    from switchboard.store.models import RateBucket, RatePermit

    url = rate_limit_database_url(database_url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            # Another process may create them between the check and the CREATE; a table that
            # is really missing still fails loudly on first use.
            for table in (RateBucket.__table__, RatePermit.__table__):
                with contextlib.suppress(DBAPIError):
                    table.create(engine, checkfirst=True)  # type: ignore[attr-defined]
            _engines[url] = engine
        return engine


_LOCK_BUCKET = text("SELECT 1 FROM rate_buckets WHERE key = :key FOR UPDATE")
_DELETE_LAPSED = text("DELETE FROM rate_permits WHERE key = :key AND expires_at <= :now")
_COUNT_LIVE = text(
    "SELECT count(*), min(expires_at) FROM rate_permits WHERE key = :key AND expires_at > :now"
)
_INSERT_PERMIT = text(
    "INSERT INTO rate_permits (key, permit, expires_at) VALUES (:key, :permit, :exp)"
)
_LAPSE_PERMIT = text(
    "UPDATE rate_permits SET expires_at = :exp WHERE key = :key "
    "AND (permit = :permit OR permit LIKE :units)"
)
# PostgreSQL, after `_LOCK_BUCKET`: drop the lapsed permits, count the live ones and take the
# permit's units if they fit — one round trip. The count does not see the DELETE (one snapshot),
# which does not matter: it counts only unexpired permits, and the DELETE only removes expired.
_TAKE_PERMIT_PG = text(
    "WITH lapsed AS (DELETE FROM rate_permits WHERE key = :key AND expires_at <= :now), "
    "live AS (SELECT count(*) AS n, min(expires_at) AS soonest FROM rate_permits "
    "WHERE key = :key AND expires_at > :now), "
    "taken AS (INSERT INTO rate_permits (key, permit, expires_at) "
    "SELECT :key, unit, :exp FROM live, unnest(CAST(:units AS text[])) AS unit "
    "WHERE live.n <= :room RETURNING 1) "
    "SELECT live.n, live.soonest, (SELECT count(*) FROM taken) > 0 FROM live"
)


class SqlRateLimiter(_Limiter):
    """Spacing + window guard in `rate_buckets` / `rate_permits` (SQLite or PostgreSQL).

    The slot is one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`. A permit is taken in one
    short transaction serialised per key — by the bucket row's `FOR UPDATE` lock on PostgreSQL,
    by the database write lock (the transaction starts with its DELETE) on SQLite. Times are the
    callers' wall clocks, read inside the transaction. The daily budget is a `rate_buckets` row
    of its own (`<key>:day`: `tat` holds the units spent, `updated_at` the day's number),
    charged and checked in one transaction.
    """

    def __init__(
        self, key: str, limit: RateLimit, database: str | Engine, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.key = key
        self.limit = limit
        self.clock = clock
        self._start_guard()
        self.engine = _engine_for(database) if isinstance(database, str) else database
        self._sqlite = self.engine.dialect.name == "sqlite"
        greatest = "MAX" if self._sqlite else "GREATEST"
        self._reserve_sql = text(
            "INSERT INTO rate_buckets (key, tat, updated_at) VALUES (:key, :now + :step, :now) "
            f"ON CONFLICT (key) DO UPDATE SET tat = {greatest}(rate_buckets.tat, :now) + :step, "
            "updated_at = :now RETURNING tat"
        )
        self._charge_sql = text(
            "INSERT INTO rate_buckets (key, tat, updated_at) VALUES (:key, :units, :day) "
            "ON CONFLICT (key) DO UPDATE SET tat = CASE WHEN rate_buckets.updated_at = :day "
            "THEN rate_buckets.tat + :units ELSE :units END, updated_at = :day RETURNING tat"
        )

    def _update(self, offset: float, step: float) -> float:
        with self.engine.begin() as conn:
            now = self.clock.now() + offset
            tat = conn.execute(
                self._reserve_sql, {"key": self.key, "now": now, "step": step}
            ).scalar_one()
        return float(tat)

    async def _reserve(self, units: int) -> float:
        step = self.limit.interval * units
        return await run_on(_ACQUIRE_THREADS, self._update, 0.0, step) - step

    def _enter_sync(self, permit: str, units: int) -> float:
        if not self._sqlite:
            return self._enter_pg(permit, units)
        with self.engine.begin() as conn:
            now = self.clock.now()
            conn.execute(_DELETE_LAPSED, {"key": self.key, "now": now})
            now = self.clock.now()  # after any wait for the lock
            live, soonest = conn.execute(_COUNT_LIVE, {"key": self.key, "now": now}).one()
            if int(live) + units <= self.limit.max_permits:
                exp = now + self.limit.inflight_timeout
                conn.execute(
                    _INSERT_PERMIT,
                    [
                        {"key": self.key, "permit": unit, "exp": exp}
                        for unit in _unit_ids(permit, units)
                    ],
                )
                return 0.0
            return max(float(soonest) - now, 0.001)

    def _enter_pg(self, permit: str, units: int) -> float:
        # Two statements: the lock first, so the second one's snapshot (READ COMMITTED takes one
        # per statement) sees every permit committed before the lock was ours. In one
        # statement, a permit committed after its snapshot but before its lock would not be
        # counted, and the key could hold rate + 1.
        with self.engine.begin() as conn:
            conn.execute(_LOCK_BUCKET, {"key": self.key})
            now = self.clock.now()  # after any wait for the lock
            _live, soonest, taken = conn.execute(
                _TAKE_PERMIT_PG,
                {
                    "key": self.key,
                    "now": now,
                    "exp": now + self.limit.inflight_timeout,
                    "units": _unit_ids(permit, units),
                    "room": self.limit.max_permits - units,
                },
            ).one()
            if taken:
                return 0.0
            return max(float(soonest) - now, 0.001)

    async def _enter(self, permit: str, units: int) -> float:
        return await run_on(_ACQUIRE_THREADS, self._enter_sync, permit, units)

    def _lapse_sync(self, permit: str, hold: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                _LAPSE_PERMIT,
                {
                    "key": self.key,
                    "permit": permit,
                    "units": permit + "+%",
                    "exp": self.clock.now() + hold,
                },
            )

    async def _lapse(self, permit: str, hold: float) -> None:
        await run_on(_RELEASE_THREADS, self._lapse_sync, permit, hold)

    async def pause(self, seconds: float) -> None:
        # Reserving a zero-length slot at now+seconds pushes everyone's next slot past it.
        await run_on(_RELEASE_THREADS, self._update, seconds, 0.0)

    def _charge_day_sync(self, units: int) -> float:
        day, until_tomorrow = self._day()
        with self.engine.begin() as conn:
            args = {"key": f"{self.key}:day", "units": units, "day": day}
            spent = float(conn.execute(self._charge_sql, args).scalar_one())
            if self.limit.daily is not None and spent > self.limit.daily:
                # Still inside the transaction (the row stays locked): take the charge back.
                conn.execute(
                    text("UPDATE rate_buckets SET tat = tat - :units WHERE key = :key"), args
                )
                return until_tomorrow
        return 0.0

    async def _charge_day(self, units: int) -> float:
        return await run_on(_ACQUIRE_THREADS, self._charge_day_sync, units)


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
        from switchboard.http.redis_limiter import RedisRateLimiter

        return RedisRateLimiter(key, limit, redis_url, clock)
    if database_url:
        return SqlRateLimiter(key, limit, database_url, clock)
    return MemoryRateLimiter.shared(key, limit, clock)
