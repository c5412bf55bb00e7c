"""Click-to-call intents: "the user clicked person B's number, then called it".

A click on a call page's number button records (connection, person, number, Quo line, time).
An outgoing Quo call to that number from that line, starting within the window after the click,
is logged on the clicked person instead of the lookup's guess (`people`): several CRM people
sharing a number (a family, a company's main line) no longer makes the lookup pick one.

The newest click wins when there are several; a click only pins calls that start after it (a
little clock skew between Quo and us is allowed) and within `window_s`. Incoming calls,
messages and calls from another line never pin. The pin is recorded in the lookup (source
`click`) so "why did this call land on X" has an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from switchboard.store.db import Database
from switchboard.store.models import CallClick

#: Default pinning window, in seconds (per connection: setting `click_to_call_window_minutes`).
DEFAULT_WINDOW_S = 600.0
#: Quo's call timestamps and our clock may disagree a little; a call that appears to start
#: up to this long before the click still counts as following it.
CLOCK_SKEW = timedelta(seconds=30)


@dataclass(frozen=True)
class Click:
    id: int
    connection_id: str
    person_id: str
    person_name: str
    phone: str
    line_id: str
    clicked_at: datetime
    call_id: str | None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _click(row: CallClick) -> Click:
    return Click(
        id=row.id,
        connection_id=row.connection_id,
        person_id=row.person_id,
        person_name=row.person_name,
        phone=row.phone,
        line_id=row.line_id,
        clicked_at=_aware(row.clicked_at),
        call_id=row.call_id,
    )


def record_click(
    db: Database,
    connection_id: str,
    *,
    person_id: str,
    phone: str,
    line_id: str,
    person_name: str = "",
    at: datetime | None = None,
) -> Click:
    """Store one click (the caller has checked the proof, the number and the line)."""
    with db.session() as s:
        row = CallClick(
            connection_id=connection_id,
            person_id=person_id,
            person_name=person_name[:200],
            phone=phone,
            line_id=line_id,
            clicked_at=at or datetime.now(UTC),
        )
        s.add(row)
        s.flush()
        return _click(row)


def find_pin(
    db: Database,
    connection_id: str,
    *,
    phone: str,
    line_id: str,
    call_started_at: datetime,
    window_s: float = DEFAULT_WINDOW_S,
) -> Click | None:
    """The newest click that pins an outgoing call to `phone` from `line_id` starting then."""
    started = _aware(call_started_at)
    earliest = started - timedelta(seconds=window_s)
    latest = started + CLOCK_SKEW
    with db.session() as s:
        row = s.scalars(
            select(CallClick)
            .where(
                CallClick.connection_id == connection_id,
                CallClick.phone == phone,
                CallClick.line_id == line_id,
                CallClick.clicked_at >= earliest,
                CallClick.clicked_at <= latest,
            )
            .order_by(CallClick.clicked_at.desc(), CallClick.id.desc())
            .limit(1)
        ).first()
        return _click(row) if row is not None else None


def mark_pinned(db: Database, click_id: int, call_id: str) -> None:
    """Remember which call a click pinned (shown on the dashboard). Idempotent."""
    with db.session() as s:
        s.execute(update(CallClick).where(CallClick.id == click_id).values(call_id=call_id))


def recent_clicks(db: Database, connection_id: str, limit: int = 20) -> list[Click]:
    with db.session() as s:
        rows = s.scalars(
            select(CallClick)
            .where(CallClick.connection_id == connection_id)
            .order_by(CallClick.clicked_at.desc(), CallClick.id.desc())
            .limit(limit)
        ).all()
        return [_click(r) for r in rows]
