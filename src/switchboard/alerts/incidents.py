"""Which alerts are due: incident starts and ends per connection, and the daily summary.

The last alert sent for a connection is an audit row (`alert.unhealthy` / `alert.recovered`),
so the state survives restarts and is shared by every process. A connection is unhealthy while
`failures.diagnose` reports an error-level problem; warnings alone do not page anyone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from switchboard import connections, failures
from switchboard.alerts.settings import AlertSettings
from switchboard.store.db import Database
from switchboard.store.models import AuditEntry, Event

INCIDENT_ACTIONS = ("alert.unhealthy", "alert.recovered")
SUMMARY_ACTION = "alert.summary"
INSTALLATION = "*"  # the audit rows of installation-wide alerts (the daily summary)


@dataclass(frozen=True)
class Message:
    kind: str  # unhealthy | recovered | summary | test
    subject: str
    text: str
    connection_id: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def facts(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "connection_id": self.connection_id,
            "problems": self.problems,
            **self.extra,
        }


def _label(info: connections.ConnectionInfo) -> str:
    return info.name or info.id


def _link(base_url: str, connection_id: str) -> str:
    return f"{base_url.rstrip('/')}/dashboard/connections/{connection_id}"


def _last_alerts(db: Database, ids: list[str]) -> dict[str, str]:
    """The last incident alert action per connection id."""
    out: dict[str, str] = {}
    with db.session() as s:
        rows = s.execute(
            select(AuditEntry.connection_id, AuditEntry.action)
            .where(AuditEntry.connection_id.in_(ids), AuditEntry.action.in_(INCIDENT_ACTIONS))
            .order_by(AuditEntry.id)
        )
        for cid, action in rows:
            out[str(cid)] = str(action)
    return out


def _record(db: Database, connection_id: str, action: str, detail: dict[str, Any]) -> None:
    with db.session() as s:
        s.add(AuditEntry(connection_id=connection_id, action=action, detail=detail))


def incident_messages(db: Database, base_url: str) -> list[Message]:
    """Due incident alerts (recording each as sent-to-be: one per incident edge)."""
    infos = connections.list_connections(db, include_disconnected=False)
    if not infos:
        return []
    diagnosis = failures.diagnose(db, infos)
    last = _last_alerts(db, [i.id for i in infos])
    out: list[Message] = []
    for info in infos:
        errors = [p for p in diagnosis.get(info.id, []) if p.severity == "error"]
        was_unhealthy = last.get(info.id) == "alert.unhealthy"
        if errors and not was_unhealthy:
            first = errors[0]
            fix = f" Fix: {first.action.command}" if first.action else ""
            msg = Message(
                "unhealthy",
                f"Switchboard: {_label(info)} is unhealthy",
                f":red_circle: {_label(info)}: {first.sentence}.{fix} {_link(base_url, info.id)}",
                info.id,
                [p.to_dict() for p in errors],
            )
        elif was_unhealthy and not errors:
            msg = Message(
                "recovered",
                f"Switchboard: {_label(info)} recovered",
                f":large_green_circle: {_label(info)} is healthy again. {_link(base_url, info.id)}",
                info.id,
            )
        else:
            continue
        _record(db, info.id, f"alert.{msg.kind}", {"problems": msg.problems})
        out.append(msg)
    return out


def summary_due(db: Database, settings: AlertSettings, now: datetime) -> bool:
    if now.hour < settings.summary_hour_utc:
        return False
    with db.session() as s:
        last = s.scalar(
            select(func.max(AuditEntry.at)).where(
                AuditEntry.connection_id == INSTALLATION, AuditEntry.action == SUMMARY_ACTION
            )
        )
    if last is None:
        return True
    last = last if last.tzinfo else last.replace(tzinfo=UTC)
    return last.date() < now.date()


def summary_message(db: Database, base_url: str, now: datetime) -> Message:
    """The last 24 hours per live connection: events by status, and what needs attention."""
    infos = connections.list_connections(db, include_disconnected=False)
    since = now - timedelta(hours=24)
    counts: dict[str, dict[str, int]] = {}
    if infos:
        with db.session() as s:
            for cid, status, n in s.execute(
                select(Event.connection_id, Event.status, func.count())
                .where(Event.received_at >= since)
                .group_by(Event.connection_id, Event.status)
            ):
                counts.setdefault(str(cid), {})[str(status)] = int(n)
    diagnosis = failures.diagnose(db, infos) if infos else {}
    lines = []
    per_connection = []
    for info in infos:
        c = counts.get(info.id, {})
        problems = diagnosis.get(info.id, [])
        state = problems[0].sentence if problems else "healthy"
        lines.append(
            f"• {_label(info)}: {c.get('processed', 0)} processed, {c.get('failed', 0)} failed, "
            f"{c.get('skipped', 0)} skipped — {state}"
        )
        per_connection.append(
            {"connection_id": info.id, "counts": c, "problems": [p.to_dict() for p in problems]}
        )
    text = "Switchboard daily summary (last 24 h)\n" + ("\n".join(lines) or "no connections")
    return Message(
        "summary",
        "Switchboard daily summary",
        text + f"\n{base_url.rstrip('/')}/dashboard",
        extra={"connections": per_connection, "since": since.isoformat()},
    )


def evaluate(
    db: Database,
    settings: AlertSettings,
    secret: str,
    base_url: str,
    *,
    now: datetime | None = None,
    send: Callable[[AlertSettings, Message, str], Any] | None = None,
) -> list[Message]:
    """One tick: send due incident alerts and the daily summary. Returns what was sent."""
    from switchboard.alerts.channels import deliver

    if not settings.enabled:
        return []
    now = now or datetime.now(UTC)
    post = send or deliver
    due = incident_messages(db, base_url)
    if summary_due(db, settings, now):
        due.append(summary_message(db, base_url, now))
        _record(db, INSTALLATION, SUMMARY_ACTION, {"at": now.isoformat()})
    for msg in due:
        post(settings, msg, secret)
    return due


def sample_message(base_url: str) -> Message:
    return Message(
        "test",
        "Switchboard test alert",
        f"This is a test alert from Switchboard ({base_url.rstrip('/')}/dashboard): "
        "alerts reach this channel.",
    )
