"""The event ledger: every accepted webhook is a row here before its 2xx.

* `insert_event` is atomic insert-or-get on the unique key (connection, provider, idempotency
  key): `INSERT ... ON CONFLICT DO NOTHING` (SQLite and PostgreSQL), then read the row. A
  duplicate delivery returns the existing row with `created=False` — no error, no second row, no
  matter how many requests race (tests/test_ledger.py races threads on both databases).
  With `repeatable=True` (a CRM's record changes, whose deliveries carry no event id or time),
  a delivery identical to one whose processing has already started is a new event (keyed
  `<key>#<event id>`): the same edit made twice must be synced twice, while a copy arriving
  before the first was picked up still coalesces with it.
* Status machine: `accepted` → `processing` → `processed` | `ignored` | `skipped` | `failed`
  (each final status may carry a `reason` and a JSON `detail`). `attempts` counts processing
  starts. `ignored` can also be set straight from `accepted` (no handler, disabled line...).
* Failed events are reopened for a replay with `reopen_for_replay` (new workflow id
  `<event id>:replay:<n>`; `switchboard.dispatch.replay` dispatches it, `replay_many` a group,
  each event once), never on a disconnected connection.
* The workflow currently responsible for a row is `workflow_id_of(row)`: the event id, or the
  replay / re-dispatch id recorded in `detail["workflow_id"]`. The runtime's watchdog finds rows
  left `accepted`/`processing` (`stuck`) and re-dispatches those whose workflow finished without
  finishing the row (`redispatch`, new workflow id `<event id>:recover:<n>`).
* A sample of refused webhook requests is recorded in `webhook_rejections` (`record_rejection`,
  pruned by `prune_rejections`; the sampling is in `switchboard.web.rejections`).

All functions take the `Database` and return plain `EventRecord`s (safe outside a session).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from switchboard.store.db import Database
from switchboard.store.models import AuditEntry, Connection, Event, WebhookRejection

STATUSES = ("accepted", "processing", "processed", "ignored", "skipped", "failed")
FINAL_STATUSES = ("processed", "ignored", "skipped", "failed")


class EventNotFound(LookupError):
    pass


class ReplayRefused(ValueError):
    pass


@dataclass(frozen=True)
class EventRecord:
    id: str
    connection_id: str
    provider: str
    event_type: str
    idempotency_key: str
    resource_id: str | None
    status: str
    reason: str | None
    detail: dict[str, Any]
    payload: dict[str, Any]
    attempts: int
    received_at: datetime
    processed_at: datetime | None

    def to_dict(self, *, with_payload: bool = True) -> dict[str, Any]:
        out = asdict(self)
        out["received_at"] = _iso(self.received_at)
        out["processed_at"] = _iso(self.processed_at)
        if not with_payload:
            out.pop("payload")
        return out


@dataclass(frozen=True)
class Rejection:
    id: int
    connection_id: str | None
    provider: str
    status_code: int
    reason: str
    received_at: datetime

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["received_at"] = _iso(self.received_at)
        return out


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _record(row: Event) -> EventRecord:
    return EventRecord(
        id=row.id,
        connection_id=row.connection_id,
        provider=row.provider,
        event_type=row.event_type,
        idempotency_key=row.idempotency_key,
        resource_id=row.resource_id,
        status=row.status,
        reason=row.reason,
        detail=dict(row.detail or {}),
        payload=dict(row.payload or {}),
        attempts=row.attempts,
        received_at=row.received_at,
        processed_at=row.processed_at,
    )


def record_of(row: Event) -> EventRecord:
    """The plain record of a row read by another module's query."""
    return _record(row)


def new_event_id() -> str:
    return "evt_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")


def _fit(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()
    return value[: limit - 65] + ":" + digest


def insert_event(
    db: Database,
    *,
    connection_id: str,
    provider: str,
    event_type: str,
    idempotency_key: str,
    payload: dict[str, Any],
    resource_id: str | None = None,
    detail: dict[str, Any] | None = None,
    event_id: str | None = None,
    repeatable: bool = False,
) -> tuple[EventRecord, bool]:
    """Insert the event unless (connection, provider, key) exists. Returns (row, created).

    `repeatable`: an existing row only absorbs the delivery while it is still `accepted`; once
    its processing has started, the delivery is a new row (see the module's docstring)."""
    record, created = _insert_event(
        db, connection_id=connection_id, provider=provider, event_type=event_type,
        idempotency_key=idempotency_key, payload=payload, resource_id=resource_id,
        detail=detail, event_id=event_id,
    )  # fmt: skip
    if created or not repeatable:
        return record, created
    base = _fit(idempotency_key, 240)
    with db.session() as s:
        latest = s.execute(
            select(Event)
            .where(
                Event.connection_id == connection_id,
                Event.provider == provider,
                Event.idempotency_key.startswith(base + "#", autoescape=True),
            )
            .order_by(Event.received_at.desc(), Event.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        newest = _record(latest) if latest is not None else record
    if newest.status == "accepted":
        return newest, False
    # The suffix names the row it follows, so two copies racing here still make one new row.
    return _insert_event(
        db, connection_id=connection_id, provider=provider, event_type=event_type,
        idempotency_key=f"{base}#{newest.id}", payload=payload, resource_id=resource_id,
        detail=detail, event_id=event_id,
    )  # fmt: skip


def _insert_event(
    db: Database,
    *,
    connection_id: str,
    provider: str,
    event_type: str,
    idempotency_key: str,
    payload: dict[str, Any],
    resource_id: str | None,
    detail: dict[str, Any] | None,
    event_id: str | None,
) -> tuple[EventRecord, bool]:
    key = _fit(idempotency_key, 300)
    new_id = event_id or new_event_id()
    etype = event_type[:64]
    rid = resource_id[:200] if resource_id else None
    received_at = datetime.now(UTC)
    values = {
        "id": new_id,
        "connection_id": connection_id,
        "provider": provider,
        "event_type": etype,
        "idempotency_key": key,
        "resource_id": rid,
        "status": "accepted",
        "reason": None,
        "detail": detail or {},
        "payload": payload,
        "attempts": 0,
        "received_at": received_at,
    }
    dialect = postgresql if not db.is_sqlite else sqlite
    stmt = (
        dialect.insert(Event)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["connection_id", "provider", "idempotency_key"])
        .returning(Event.id)
    )
    with db.session() as s:
        if s.execute(stmt).first() is not None:
            # Created: the row is exactly `values`; no read-back inside the write transaction
            # (on SQLite the webhook ack holds the database's one write lock until commit).
            return EventRecord(
                id=new_id,
                connection_id=connection_id,
                provider=provider,
                event_type=etype,
                idempotency_key=key,
                resource_id=rid,
                status="accepted",
                reason=None,
                detail=dict(detail or {}),
                payload=dict(payload),
                attempts=0,
                received_at=received_at,
                processed_at=None,
            ), True
        row = s.execute(
            select(Event).where(
                Event.connection_id == connection_id,
                Event.provider == provider,
                Event.idempotency_key == key,
            )
        ).scalar_one()
        return _record(row), False


def get_event(db: Database, event_id: str) -> EventRecord | None:
    with db.session() as s:
        row = s.get(Event, event_id)
        return _record(row) if row is not None else None


def mark_processing(db: Database, event_id: str) -> None:
    """accepted/failed/... → processing, attempts + 1."""
    with db.session() as s:
        s.execute(
            update(Event)
            .where(Event.id == event_id)
            .values(status="processing", attempts=Event.attempts + 1)
        )


def finish(
    db: Database,
    event_id: str,
    status: str,
    *,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    only_from: Sequence[str] | None = None,
) -> bool:
    """Record a final status (merging `detail` into the stored detail). With `only_from`, only
    rows currently in one of those statuses change. Returns whether the row changed."""
    if status not in STATUSES:
        raise ValueError(f"unknown event status {status!r}")
    with db.session() as s:
        q = select(Event).where(Event.id == event_id)
        if not db.is_sqlite:
            q = q.with_for_update()
        row = s.execute(q).scalar_one_or_none()
        if row is None:
            return False
        if only_from is not None and row.status not in only_from:
            return False
        row.status = status
        row.reason = reason
        if detail:
            row.detail = {**(row.detail or {}), **detail}
        row.processed_at = datetime.now(UTC) if status in FINAL_STATUSES else None
        return True


def list_events(
    db: Database,
    *,
    connection_id: str | None = None,
    status: str | Iterable[str] | None = None,
    provider: str | None = None,
    event_type: str | None = None,
    resource_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[EventRecord]:
    """Newest first."""
    q = select(Event)
    if connection_id:
        q = q.where(Event.connection_id == connection_id)
    if status:
        statuses = [status] if isinstance(status, str) else list(status)
        q = q.where(Event.status.in_(statuses))
    if provider:
        q = q.where(Event.provider == provider)
    if event_type:
        q = q.where(Event.event_type == event_type)
    if resource_id:
        q = q.where(Event.resource_id == resource_id)
    if since is not None:
        q = q.where(Event.received_at >= since)
    q = q.order_by(Event.received_at.desc(), Event.id).limit(max(1, min(limit, 1000)))
    q = q.offset(max(0, offset))
    with db.session() as s:
        return [_record(r) for r in s.execute(q).scalars()]


def count_by_status(db: Database, connection_id: str | None = None) -> dict[str, int]:
    q = select(Event.status, func.count()).group_by(Event.status)
    if connection_id:
        q = q.where(Event.connection_id == connection_id)
    with db.session() as s:
        return {str(st): int(n) for st, n in s.execute(q)}


def undispatched(db: Database, older_than_s: float = 10.0, limit: int = 200) -> list[EventRecord]:
    """Events still `accepted` after `older_than_s`: the process died between the ledger insert
    and the enqueue. Re-dispatching is safe (workflow id = event id)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    q = (
        select(Event)
        .where(Event.status == "accepted", Event.received_at < cutoff)
        .order_by(Event.received_at)
        .limit(limit)
    )
    with db.session() as s:
        return [_record(r) for r in s.execute(q).scalars()]


def stuck(db: Database, older_than_s: float, limit: int = 200) -> list[EventRecord]:
    """Events still `accepted` or `processing` `older_than_s` after they were received, oldest
    first: candidates for the watchdog, which checks their workflow before touching them."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    q = (
        select(Event)
        .where(Event.status.in_(("accepted", "processing")), Event.received_at < cutoff)
        .order_by(Event.received_at)
        .limit(limit)
    )
    with db.session() as s:
        return [_record(r) for r in s.execute(q).scalars()]


def workflow_id_of(event: EventRecord) -> str:
    """The id of the workflow currently responsible for the event."""
    return str(event.detail.get("workflow_id") or event.id)


def redispatch(db: Database, event_id: str, *, expected_workflow_id: str) -> tuple[str, int] | None:
    """Hand a stuck row to a new workflow id `<event id>:recover:<n>` (its previous workflow
    finished without finishing the row). Returns (workflow id, n), or None when the row is
    final or already handed on (another watchdog won): the id is derived from the row, so two
    watchdogs racing enqueue the same workflow id, which DBOS starts once."""
    with db.session() as s:
        q = select(Event).where(Event.id == event_id)
        if not db.is_sqlite:
            q = q.with_for_update()
        row = s.execute(q).scalar_one_or_none()
        if row is None or row.status not in ("accepted", "processing"):
            return None
        detail = dict(row.detail or {})
        if str(detail.get("workflow_id") or row.id) != expected_workflow_id:
            return None
        n = int(detail.get("redispatches", 0)) + 1
        workflow_id = f"{event_id}:recover:{n}"
        row.detail = {**detail, "redispatches": n, "workflow_id": workflow_id}
        return workflow_id, n


def reopen_for_replay(
    db: Database, event_id: str, *, force: bool = False
) -> tuple[EventRecord, str]:
    """Put a failed event (any final status with `force`) back to `accepted` for a replay and
    audit it. Returns the row and the replay's workflow id; `switchboard.dispatch.replay`
    dispatches it. Raises EventNotFound / ReplayRefused.
    """

    with db.session() as s:
        q = select(Event).where(Event.id == event_id)
        if not db.is_sqlite:
            q = q.with_for_update()
        row = s.execute(q).scalar_one_or_none()
        if row is None:
            raise EventNotFound(event_id)
        conn = s.get(Connection, row.connection_id)
        if conn is not None and (conn.disconnected_at is not None or conn.status == "disconnected"):
            raise ReplayRefused(f"connection {row.connection_id} is disconnected")
        allowed = FINAL_STATUSES if force else ("failed",)
        if row.status not in allowed:
            raise ReplayRefused(
                f"event {event_id} is {row.status}; only "
                + ("finished" if force else "failed")
                + " events can be replayed"
            )
        replays = int((row.detail or {}).get("replays", 0)) + 1
        previous = {"status": row.status, "reason": row.reason}
        workflow_id = f"{event_id}:replay:{replays}"
        row.detail = {**(row.detail or {}), "replays": replays, "workflow_id": workflow_id}
        row.status = "accepted"
        row.reason = None
        row.processed_at = None
        record = _record(row)
        s.add(
            AuditEntry(
                connection_id=row.connection_id,
                action="replay",
                detail={"event_id": event_id, "replay": replays, "previous": previous},
            )
        )
    return record, workflow_id


def failed_events(
    db: Database,
    *,
    connection_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 10_000,
) -> list[EventRecord]:
    """The connection's failed events received in [since, until), oldest first."""
    q = select(Event).where(Event.connection_id == connection_id, Event.status == "failed")
    if since is not None:
        q = q.where(Event.received_at >= since)
    if until is not None:
        q = q.where(Event.received_at < until)
    q = q.order_by(Event.received_at, Event.id).limit(limit)
    with db.session() as s:
        return [_record(r) for r in s.execute(q).scalars()]


def record_rejection(
    db: Database, *, connection_id: str | None, provider: str, status_code: int, reason: str
) -> None:
    with db.session() as s:
        s.add(
            WebhookRejection(
                connection_id=connection_id,
                provider=provider[:16],
                status_code=status_code,
                reason=reason[:2000],
            )
        )


def prune_rejections(db: Database, *, older_than: timedelta, keep: int) -> None:
    """Delete rejection samples older than `older_than` and all but the newest `keep`."""
    cutoff = datetime.now(UTC) - older_than
    with db.session() as s:
        s.execute(delete(WebhookRejection).where(WebhookRejection.received_at < cutoff))
        floor = s.execute(
            select(WebhookRejection.id).order_by(WebhookRejection.id.desc()).offset(keep).limit(1)
        ).scalar()
        if floor is not None:
            s.execute(delete(WebhookRejection).where(WebhookRejection.id <= floor))


def list_rejections(
    db: Database, *, connection_id: str | None = None, limit: int = 100
) -> list[Rejection]:
    q = select(WebhookRejection).order_by(WebhookRejection.id.desc()).limit(limit)
    if connection_id:
        q = q.where(WebhookRejection.connection_id == connection_id)
    with db.session() as s:
        return [
            Rejection(
                id=r.id,
                connection_id=r.connection_id,
                provider=r.provider,
                status_code=r.status_code,
                reason=r.reason,
                received_at=r.received_at,
            )
            for r in s.execute(q).scalars()
        ]
