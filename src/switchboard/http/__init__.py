"""Shared HTTP plumbing for every provider: one retry policy, rate limiters, errors, a client.

    from switchboard.http import ApiClient, ApiError, RateLimit, make_limiter, limiter_key

- `ApiClient` (client.py): httpx.AsyncClient + limiter(s) + RetryPolicy + per-request hook.
- `ApiError` (errors.py): the one exception; provider, status, provider code, message, body.
- `RetryPolicy`, `parse_retry_after` (retry.py): what is retried and for how long.
- `RateLimiter` and its stores (limiters.py): memory, SQL (SQLite/PostgreSQL), Redis; weighted
  requests and daily budgets (`RateLimit.daily`, `DailyBudgetExhausted`).
- `first_in_line()` (waiting_line.py): callers wait for a limiter's window guard in line;
  requests on a critical path go first.
- `Clock`, `FakeClock` (clock.py): time, swappable in tests.
- `token_pages`, `offset_pages` (paging.py): the two pagination shapes, walked once.
"""

from switchboard.http.client import ApiClient, RequestHook, RequestInfo, default_error_parser
from switchboard.http.clock import SYSTEM_CLOCK, Clock, FakeClock, SystemClock
from switchboard.http.errors import ApiError
from switchboard.http.limiters import (
    DailyBudgetExhausted,
    MemoryRateLimiter,
    RateLimit,
    RateLimiter,
    SqlRateLimiter,
    limiter_key,
    make_limiter,
)
from switchboard.http.paging import offset_pages, token_pages
from switchboard.http.redis_limiter import RedisRateLimiter
from switchboard.http.retry import (
    NO_RETRY,
    RETRYABLE_STATUSES,
    RetryPolicy,
    http_date,
    parse_retry_after,
)
from switchboard.http.waiting_line import first_in_line

__all__ = [
    "NO_RETRY",
    "RETRYABLE_STATUSES",
    "SYSTEM_CLOCK",
    "ApiClient",
    "ApiError",
    "Clock",
    "DailyBudgetExhausted",
    "FakeClock",
    "MemoryRateLimiter",
    "RateLimit",
    "RateLimiter",
    "RedisRateLimiter",
    "RequestHook",
    "RequestInfo",
    "RetryPolicy",
    "SqlRateLimiter",
    "SystemClock",
    "default_error_parser",
    "first_in_line",
    "http_date",
    "limiter_key",
    "make_limiter",
    "offset_pages",
    "parse_retry_after",
    "token_pages",
]
