"""API-call accounting per connection: counted in memory, flushed in batches, read for charts.

    counter = ApiCallCounter(db)          # one per process (the runtime's `api_counter`)
    client = QuoClient(key, hook=counter.hook(connection_id))
    counter.flush()                       # the runtime does this every second
    api_usage(db, connection_id)          # totals per (connection, provider)

`ApiCallCounter.hook(connection_id)` returns a `switchboard.http` request hook that counts
requests, 429s and errors per (connection, provider, minute); `flush` writes them into
`api_call_counts` (one upsert per key, not per request).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from switchboard import metrics
from switchboard.store.db import Database
from switchboard.store.models import ApiCallCount


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


class ApiCallCounter:
    """Counts external API calls per (connection, provider, minute); flushed in batches."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, datetime], list[int]] = {}

    def record(
        self, connection_id: str, provider: str, status: int | None, error: bool = False
    ) -> None:
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        with self._lock:
            c = self._pending.setdefault((connection_id, provider, minute), [0, 0, 0])
            c[0] += 1
            if status == 429:
                c[1] += 1
            if error or status is None or status >= 500:
                c[2] += 1
        metrics.API_REQUESTS.labels(provider=provider, status=str(status or "error")).inc()
        if status == 429:
            metrics.API_429.labels(provider=provider).inc()

    def hook(self, connection_id: str) -> Any:
        """A `switchboard.http.RequestHook` for clients of this connection."""

        def _hook(info: Any) -> None:
            self.record(connection_id, info.provider, info.status, error=info.error is not None)

        return _hook

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        dialect = sqlite if self.db.is_sqlite else postgresql
        with self.db.session() as s:
            for (cid, provider, minute), (req, r429, err) in pending.items():
                stmt = dialect.insert(ApiCallCount).values(
                    connection_id=cid,
                    provider=provider,
                    minute=minute,
                    requests=req,
                    http_429=r429,
                    errors=err,
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=["connection_id", "provider", "minute"],
                    set_={
                        "requests": ApiCallCount.requests + stmt.excluded.requests,
                        "http_429": ApiCallCount.http_429 + stmt.excluded.http_429,
                        "errors": ApiCallCount.errors + stmt.excluded.errors,
                    },
                )
                s.execute(stmt)
        return len(pending)


def api_usage(
    db: Database, connection_id: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Totals per (connection, provider): requests, 429s, errors."""
    q = select(
        ApiCallCount.connection_id,
        ApiCallCount.provider,
        func.sum(ApiCallCount.requests),
        func.sum(ApiCallCount.http_429),
        func.sum(ApiCallCount.errors),
    ).group_by(ApiCallCount.connection_id, ApiCallCount.provider)
    if connection_id:
        q = q.where(ApiCallCount.connection_id == connection_id)
    if since is not None:
        q = q.where(ApiCallCount.minute >= since)
    with db.session() as s:
        return [
            {
                "connection_id": cid,
                "provider": prov,
                "requests": int(req or 0),
                "http_429": int(r429 or 0),
                "errors": int(err or 0),
            }
            for cid, prov, req, r429, err in s.execute(q)
        ]


def api_usage_series(
    db: Database, connection_id: str, limit_minutes: int = 120
) -> list[dict[str, Any]]:
    """Per-minute counts (newest last) for charts."""
    q = (
        select(ApiCallCount)
        .where(ApiCallCount.connection_id == connection_id)
        .order_by(ApiCallCount.minute.desc())
        .limit(limit_minutes * 4)
    )
    with db.session() as s:
        rows = list(s.execute(q).scalars())
    return [
        {
            "minute": _iso(r.minute),
            "provider": r.provider,
            "requests": r.requests,
            "http_429": r.http_429,
            "errors": r.errors,
        }
        for r in reversed(rows)
    ]
