"""Pipedrive's rate budgets for one API token, shared by every process through the database or
Redis (`switchboard.http.make_limiter`).

- **Burst**: a rolling 2-second window per token — 80 requests on the Professional plan with an
  API token (Essential 20, Advanced 40, Power 100, Enterprise 120; OAuth tokens four times as
  many). Pipedrive's documentation counts requests there; whether the window is really spent in
  token units is UNCONFIRMED, so `SWITCHBOARD_PIPEDRIVE_BURST_UNIT=tokens` spends it in each
  operation's `x-token-cost` instead (always safe, slower: a call log costs 10).
- **Daily**: every operation's token cost (`TOKEN_COSTS`, the `x-token-cost` of Pipedrive's
  documents) against the company's budget per UTC day, 30,000 × plan multiplier × seats
  (Professional, 5 seats by default). A request the day's budget cannot pay for is not sent.

Knobs (environment, read when a connector is built): `SWITCHBOARD_PIPEDRIVE_BURST_LIMIT`,
`SWITCHBOARD_PIPEDRIVE_BURST_UNIT` (`requests` or `tokens`), `SWITCHBOARD_PIPEDRIVE_DAILY_TOKENS`.
"""

from __future__ import annotations

import os
from dataclasses import replace

from switchboard.http import SYSTEM_CLOCK, Clock, RateLimit, RateLimiter, limiter_key, make_limiter

BUDGET = "burst"
DAILY_TOKENS = 30_000 * 4 * 5
BURST_LIMIT = RateLimit(rate=80, period=2.0, daily=DAILY_TOKENS, weighted_window=False)

# Token costs (`x-token-cost` in Pipedrive's documents) of the operations the connector sends.
TOKEN_COSTS = {
    "persons.list": 10,
    "persons.changed_since": 10,
    "persons.get": 1,
    "deals.get": 1,
    "deals.open_for_person": 10,
    "leads.open_for_person": 20,
    "persons.search": 20,
    "persons.update": 5,
    "persons.create": 5,
    "organizations.batch": 10,
    "call_logs.create": 10,
    "call_logs.recording": 10,
    "call_logs.delete": 6,
    "call_logs.get": 2,
    "call_logs.list": 20,
    "notes.create": 10,
    "notes.delete": 6,
    "notes.list": 20,
    "users.me": 2,
    "users.list": 20,
    "webhooks.create": 10,
    "webhooks.delete": 6,
    "webhooks.list": 10,
}


def burst_limit() -> RateLimit:
    """`BURST_LIMIT` with the environment's knobs applied."""
    limit = BURST_LIMIT
    rate = os.environ.get("SWITCHBOARD_PIPEDRIVE_BURST_LIMIT")
    if rate:
        limit = replace(limit, rate=float(rate))
    daily = os.environ.get("SWITCHBOARD_PIPEDRIVE_DAILY_TOKENS")
    if daily:
        limit = replace(limit, daily=float(daily))
    unit = os.environ.get("SWITCHBOARD_PIPEDRIVE_BURST_UNIT", "requests")
    if unit not in ("requests", "tokens"):
        raise ValueError("SWITCHBOARD_PIPEDRIVE_BURST_UNIT must be requests or tokens")
    return replace(limit, weighted_window=unit == "tokens")


def pipedrive_limiters(
    token: str,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
    limit: RateLimit | None = None,
) -> dict[str, RateLimiter]:
    """The token's burst window and daily budget (one limiter), shared across processes through
    a database or Redis URL; this process's memory without either."""
    key = limiter_key("pipedrive", token, BUDGET)
    limiter = make_limiter(
        key, limit or burst_limit(), database_url=database_url, redis_url=redis_url, clock=clock
    )
    return {BUDGET: limiter}
