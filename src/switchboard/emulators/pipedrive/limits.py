"""Pipedrive's rate limits: a burst limit per token in a rolling 2-second window and a daily
budget of token units per company, each operation costing its documented `x-token-cost`.

Burst limits (per token, per 2 s): API token 20/40/80/120, OAuth 80/160/320/480 for the
Essential/Advanced/Professional/Enterprise plans. Whether the window counts requests or token
units is UNCONFIRMED: `burst_unit` is "requests" (default) or "cost". The daily budget is
30,000 × plan multiplier × seats; the multipliers are UNCONFIRMED (knob: `daily_budget`).

Every answered API request carries `x-ratelimit-limit`, `x-ratelimit-remaining`,
`x-ratelimit-reset` (seconds until the window frees up) and `x-daily-requests-left`; an exceeded
limit answers 429 with Pipedrive's v1 error body (the 429 body is UNCONFIRMED) and `Retry-After`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

PLANS = ("essential", "advanced", "professional", "enterprise")
BURST_API_TOKEN = {"essential": 20, "advanced": 40, "professional": 80, "enterprise": 120}
BURST_OAUTH = {"essential": 80, "advanced": 160, "professional": 320, "enterprise": 480}
# UNCONFIRMED multipliers of the 30,000-unit daily base.
DAILY_MULTIPLIER = {"essential": 1, "advanced": 2, "professional": 4, "enterprise": 7}
WINDOW_S = 2.0
DAY_S = 86_400.0


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    daily_left: int
    retry_after_s: float = 0.0

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(self.remaining, 0)),
            "x-ratelimit-reset": str(max(1, math.ceil(self.reset_s))),
            "x-daily-requests-left": str(max(self.daily_left, 0)),
        }


@dataclass
class TokenBudget:
    """Burst window per token plus a daily budget per company. 0 disables a limit."""

    plan: str = "professional"
    seats: int = 5
    burst_unit: str = "requests"  # "requests" | "cost"
    burst_api_token: int | None = None  # overrides the plan's figure
    burst_oauth: int | None = None
    daily_budget: int | None = None  # overrides 30,000 × multiplier × seats
    time_scale: float = 1.0  # scales the window and the day (tests)
    clock: Callable[[], float] = time.monotonic
    _hits: dict[str, deque[tuple[float, int]]] = field(default_factory=lambda: defaultdict(deque))
    _daily: dict[str, tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def burst_limit(self, kind: str) -> int:
        if kind == "oauth":
            return self.burst_oauth if self.burst_oauth is not None else BURST_OAUTH[self.plan]
        if self.burst_api_token is not None:
            return self.burst_api_token
        return BURST_API_TOKEN[self.plan]

    def daily_limit(self) -> int:
        if self.daily_budget is not None:
            return self.daily_budget
        return 30_000 * DAILY_MULTIPLIER[self.plan] * self.seats

    def settings(self) -> dict[str, object]:
        return {
            "plan": self.plan,
            "seats": self.seats,
            "burst_unit": self.burst_unit,
            "burst_api_token": self.burst_limit("api"),
            "burst_oauth": self.burst_limit("oauth"),
            "daily_budget": self.daily_limit(),
            "time_scale": self.time_scale,
            "window_s": WINDOW_S,
        }

    def configure(self, **changes: object) -> None:
        for key, value in changes.items():
            if value is None:
                continue
            if key == "plan" and value not in PLANS:
                raise ValueError(f"plan must be one of {', '.join(PLANS)}")
            if key == "burst_unit" and value not in ("requests", "cost"):
                raise ValueError('burst_unit must be "requests" or "cost"')
            setattr(self, key, value)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self._daily.clear()

    def hit(self, token: str, kind: str, company: str, cost: int) -> Verdict:
        """Charge one request of `cost` units; a rejected request is not charged."""
        now = self.clock()
        window = WINDOW_S * self.time_scale
        day = DAY_S * self.time_scale
        limit = self.burst_limit(kind)
        units = cost if self.burst_unit == "cost" else 1
        daily_limit = self.daily_limit()
        with self._lock:
            q = self._hits[token]
            while q and now - q[0][0] >= window:
                q.popleft()
            used = sum(u for _, u in q)
            reset = window - (now - q[0][0]) if q else window
            started, spent = self._daily.get(company, (now, 0))
            if now - started >= day:
                started, spent = now, 0
            daily_left = daily_limit - spent
            if daily_limit and cost > daily_left:
                wait = day - (now - started)
                return Verdict(False, limit, limit - used, reset, daily_left, wait)
            if limit and used + units > limit:
                # The window frees enough room once the oldest hits age out.
                need, freed, wait = used + units - limit, 0, window
                for ts, u in q:
                    freed += u
                    if freed >= need:
                        wait = window - (now - ts)
                        break
                return Verdict(False, limit, limit - used, reset, daily_left, max(wait, 0.001))
            q.append((now, units))
            self._daily[company] = (started, spent + cost)
            return Verdict(True, limit, limit - used - units, reset, daily_left - cost)
