"""Refused webhook requests: counted in memory, sampled into `webhook_rejections`.

Anyone who can reach the port can send refused requests, so a refusal must cost (almost)
nothing: every one is counted in Prometheus (`switchboard_webhook_rejections_total` by provider
and status code), and only a sample is stored for the dashboard and the admin API — at most
`PER_KEY_PER_MINUTE` rows per (connection, provider, status) and `TOTAL_PER_MINUTE` rows in all
per process per minute. Requests for unknown connections share one key (the connection column
is empty), so made-up connection ids cannot open new buckets.

Stored samples are written by one dedicated thread, after the answer and never on the ack
threads, with a bounded backlog (a sample that cannot be queued is dropped and counted). The
same thread prunes the table about once a minute: rows older than `RETENTION_DAYS` go, and at
most `MAX_ROWS` newest rows are kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

from switchboard import ledger, metrics
from switchboard.logs import get_logger
from switchboard.threads import pool

log = get_logger("switchboard.web.rejections")

PER_KEY_PER_MINUTE = 5
TOTAL_PER_MINUTE = 60
MAX_BACKLOG = 100
RETENTION_DAYS = 7
MAX_ROWS = 10_000
PRUNE_EVERY_S = 60.0

_WRITER = pool("rejections", 1)


class Sampler:
    """Fixed one-minute windows: `admit(key)` is True for the first few requests per key and
    for the first `total` overall in the current window."""

    def __init__(
        self,
        per_key: int = PER_KEY_PER_MINUTE,
        total: int = TOTAL_PER_MINUTE,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_key = per_key
        self.total = total
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._window = float("-inf")
        self._counts: dict[tuple[str, str, int], int] = {}
        self._admitted = 0

    def admit(self, key: tuple[str, str, int]) -> bool:
        now = self.clock()
        with self._lock:
            if now - self._window >= self.window_s:
                self._window = now
                self._counts.clear()
                self._admitted = 0
            if self._admitted >= self.total:
                return False
            seen = self._counts.get(key, 0)
            if seen >= self.per_key:
                return False
            self._counts[key] = seen + 1
            self._admitted += 1
            return True


class Recorder:
    """Counts every refusal; stores the sampled ones off the request path."""

    def __init__(self, sampler: Sampler | None = None) -> None:
        self.sampler = sampler or Sampler()
        self._backlog = 0
        self._lock = threading.Lock()
        self._last_prune = float("-inf")

    def refused(
        self, db: Any, *, connection_id: str | None, provider: str, status: int, reason: str
    ) -> Future[None] | None:
        """Count the refusal; queue a stored sample when admitted. Never raises, never blocks."""
        metrics.WEBHOOK_REJECTIONS.labels(provider=provider, code=str(status)).inc()
        if not self.sampler.admit((connection_id or "", provider, status)):
            metrics.WEBHOOK_REJECTIONS_UNSTORED.labels(provider=provider).inc()
            return None
        with self._lock:
            if self._backlog >= MAX_BACKLOG:
                metrics.WEBHOOK_REJECTIONS_UNSTORED.labels(provider=provider).inc()
                return None
            self._backlog += 1
        try:
            return _WRITER.submit(self._store, db, connection_id, provider, status, reason)
        except RuntimeError:  # interpreter shutting down
            with self._lock:
                self._backlog -= 1
            return None

    def _store(
        self, db: Any, connection_id: str | None, provider: str, status: int, reason: str
    ) -> None:
        try:
            ledger.record_rejection(
                db,
                connection_id=connection_id,
                provider=provider,
                status_code=status,
                reason=reason,
            )
            now = time.monotonic()
            if now - self._last_prune >= PRUNE_EVERY_S:
                self._last_prune = now
                ledger.prune_rejections(
                    db, older_than=timedelta(days=RETENTION_DAYS), keep=MAX_ROWS
                )
        except Exception as exc:  # a sample must never change anything else
            log.warning("rejection_not_recorded", error=repr(exc))
        finally:
            with self._lock:
                self._backlog -= 1


RECORDER = Recorder()
