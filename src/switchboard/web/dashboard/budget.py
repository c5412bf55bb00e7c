"""API request budget per provider: what was used against what the shared rate limiters allow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from switchboard import usage
from switchboard.crm import registry
from switchboard.store.db import Database
from switchboard.store.models import (
    ApiCallCount,
)
from switchboard.web.dashboard.render import (
    _now,
)

#: Request budget per provider and second (what the shared rate limiters enforce); CRMs' from
#: their registry records.
PROVIDER_BUDGETS: dict[str, tuple[float, str]] = {
    "quo": (10.0, "10 requests/s per API key"),
    **{p.name: p.budget_summary() for p in registry.all_providers()},
}


def budget(db: Database, connection_id: str) -> list[dict[str, Any]]:
    """Per provider: requests in the last hour / 24 h / all time, 429s and errors, and the
    busiest minute of the last hour against the provider's budget."""
    now = _now()
    hour = {r["provider"]: r for r in usage.api_usage(db, connection_id, now - timedelta(hours=1))}
    day = {r["provider"]: r for r in usage.api_usage(db, connection_id, now - timedelta(days=1))}
    total = {r["provider"]: r for r in usage.api_usage(db, connection_id)}
    with db.session() as s:
        peak = {
            str(p): int(n or 0)
            for p, n in s.execute(
                select(ApiCallCount.provider, func.max(ApiCallCount.requests))
                .where(
                    ApiCallCount.connection_id == connection_id,
                    ApiCallCount.minute >= now - timedelta(hours=1),
                )
                .group_by(ApiCallCount.provider)
            )
        }
    rows = []
    for provider in sorted(set(total) | set(PROVIDER_BUDGETS)):
        per_s, label = PROVIDER_BUDGETS.get(provider, (0.0, "unknown budget"))
        busiest = peak.get(provider, 0)
        rows.append(
            {
                "provider": provider,
                "hour": hour.get(provider, {}).get("requests", 0),
                "day": day.get(provider, {}).get("requests", 0),
                "total": total.get(provider, {}).get("requests", 0),
                "http_429": total.get(provider, {}).get("http_429", 0),
                "errors": total.get(provider, {}).get("errors", 0),
                "http_429_hour": hour.get(provider, {}).get("http_429", 0),
                "peak_minute": busiest,
                "peak_rate": round(busiest / 60.0, 2),
                "budget_per_s": per_s,
                "budget_label": label,
                "peak_pct": round(100.0 * busiest / (per_s * 60.0), 1) if per_s else None,
            }
        )
    return rows
