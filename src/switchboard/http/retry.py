"""The one retry policy: which failures are retried, and how long to wait before the next try."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; `Retry-After` wins when the server sends one.

    Attributes:
        max_attempts: total HTTP attempts per call (1 = no retries).
        base_delay: first backoff ceiling; attempt n waits uniform(0, min(max_delay, base*2^n)).
        max_delay: cap of the exponential ceiling.
        max_retry_after: a longer `Retry-After` is not waited for; the call fails instead.
        statuses: HTTP statuses that are retried (429, 5xx, 408, 425). Other 4xx fail at once.
        retry_network: retry connection errors, dropped connections and timeouts.
        unauthorized_grace: seconds from the first attempt during which a 401 is retried —
            a Quo key made a moment ago answers 401 for ~30 s. 0 = a 401 fails at once.
    """

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 120.0
    statuses: frozenset[int] = field(default=RETRYABLE_STATUSES)
    retry_network: bool = True
    unauthorized_grace: float = 0.0

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Full-jitter delay before retry `retry_number` (0 = the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry_number))
        return (rng or random).uniform(0.0, ceiling)

    def should_retry_status(self, status: int, elapsed: float) -> bool:
        if status == 401:
            return elapsed < self.unauthorized_grace
        return status in self.statuses


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date.

    Returns None when absent or unparseable; never negative.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def http_date(epoch: float) -> str:
    """Format epoch seconds as an HTTP date (for emulators and tests)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
