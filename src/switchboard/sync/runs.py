"""Sync runs: the checkpoint, the live counters and the progress everyone reads.

A `sync_runs` row is written by the sync workflow and read by the CLI, the admin API and the
dashboard (`progress(...)`). Counters move only in `commit_page`, in the same transaction as the
page's mappings, and only once per page: a page step re-run after a crash finds its page already
recorded and changes nothing, so counts after a resume equal those of an uninterrupted run.

`cursor` holds the checkpoint: `{"through": n, "next": <CRM cursor after page n>, "done": [...]}`
— pages complete out of order when several are in flight, and the checkpoint advances over the
longest completed prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from switchboard.store.models import SyncIssue, SyncRun

COUNTERS = ("created", "updated", "unchanged", "skipped", "failed")
ACTIVE = ("queued", "running")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Progress:
    """What a user sees of one run. `total` is None until the CRM scan reaches its end (not every
    CRM can count); `eta_s` is None when it cannot be estimated."""

    run_id: str
    connection_id: str
    kind: str
    status: str
    done: int
    total: int | None
    created: int
    updated: int
    unchanged: int
    skipped: int
    failed: int
    skip_reasons: dict[str, int]
    rate_per_s: float
    eta_s: float | None
    elapsed_s: float
    started_at: str
    finished_at: str | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def create(
    session: Session, run_id: str, connection_id: str, kind: str, total: int | None = None
) -> SyncRun:
    """Create the run row if it does not exist yet (idempotent for a re-run workflow step)."""
    row = session.get(SyncRun, run_id)
    if row is None:
        row = SyncRun(
            id=run_id,
            connection_id=connection_id,
            kind=kind,
            status="running",
            cursor={"through": -1, "next": None, "done": {}},
            total=total,
            skip_reasons={},
        )
        session.add(row)
        session.flush()
    return row


def active_run(session: Session, connection_id: str, kind: str = "initial") -> SyncRun | None:
    return session.scalar(
        select(SyncRun)
        .where(
            SyncRun.connection_id == connection_id,
            SyncRun.kind == kind,
            SyncRun.status.in_(ACTIVE),
        )
        .order_by(SyncRun.started_at.desc())
        .limit(1)
    )


def latest_run(session: Session, connection_id: str, kind: str | None = None) -> SyncRun | None:
    query = select(SyncRun).where(SyncRun.connection_id == connection_id)
    if kind:
        query = query.where(SyncRun.kind == kind)
    return session.scalar(query.order_by(SyncRun.started_at.desc()).limit(1))


def locked(session: Session, run_id: str) -> SyncRun:
    """The run row, write-locked for the rest of the transaction. The UPDATE comes first so that
    SQLite takes its write lock *before* the read (a plain SELECT there runs outside any
    transaction, and a read-modify-write of `cursor` would lose concurrent page commits)."""
    session.execute(update(SyncRun).where(SyncRun.id == run_id).values(updated_at=_now()))
    row = session.scalar(select(SyncRun).where(SyncRun.id == run_id).with_for_update())
    if row is None:
        raise LookupError(f"sync run {run_id} does not exist")
    return row


def _recorded(cursor: Mapping[str, Any] | None, page_no: int) -> bool:
    cursor = cursor or {}
    return page_no <= int(cursor.get("through", -1)) or str(page_no) in (cursor.get("done") or {})


def page_done(session: Session, run_id: str, page_no: int) -> bool:
    row = session.get(SyncRun, run_id)
    return row is not None and _recorded(row.cursor, page_no)


def commit_page(
    session: Session,
    run_id: str,
    page_no: int,
    next_cursor: str | None,
    counts: Mapping[str, int],
    reasons: Mapping[str, int],
    issues: Sequence[tuple[str, str, str]],
) -> bool:
    """Record one finished page: counters, reasons, issues and the checkpoint. Returns False (and
    changes nothing) when the page was already recorded."""
    row = locked(session, run_id)
    if _recorded(row.cursor, page_no):
        return False
    cursor = dict(row.cursor or {})
    done = dict(cursor.get("done") or {})
    done[str(page_no)] = next_cursor
    through = int(cursor.get("through", -1))
    nxt = cursor.get("next")
    while str(through + 1) in done:
        through += 1
        nxt = done.pop(str(through))
    row.cursor = {**cursor, "through": through, "next": nxt, "done": done}
    for name in COUNTERS:
        setattr(row, name, getattr(row, name) + int(counts.get(name, 0)))
    row.done = sum(getattr(row, name) for name in COUNTERS)
    merged = dict(row.skip_reasons or {})
    for reason, n in reasons.items():
        merged[reason] = int(merged.get(reason, 0)) + int(n)
    row.skip_reasons = merged
    for external_id, outcome, reason in issues:
        session.add(
            SyncIssue(sync_run_id=run_id, external_id=external_id, outcome=outcome, reason=reason)
        )
    row.updated_at = _now()
    return True


def set_total(session: Session, run_id: str, total: int) -> None:
    row = locked(session, run_id)
    row.total = total


def finish(session: Session, run_id: str, status: str, error: str | None = None) -> None:
    row = locked(session, run_id)
    if row.status in ACTIVE:
        row.status = status
        row.error = error
        row.finished_at = _now()
        if status == "succeeded":
            row.total = row.done


def to_progress(row: SyncRun, now: datetime | None = None) -> Progress:
    now = now or _now()
    started = _aware(row.started_at)
    end = _aware(row.finished_at) if row.finished_at else now
    elapsed = max((end - started).total_seconds(), 1e-6)
    rate = row.done / elapsed if row.done else 0.0
    eta: float | None = None
    if row.finished_at is not None:
        eta = 0.0
    elif row.total is not None and rate > 0:
        eta = max(row.total - row.done, 0) / rate
    return Progress(
        run_id=row.id,
        connection_id=row.connection_id,
        kind=row.kind,
        status=row.status,
        done=row.done,
        total=row.total,
        created=row.created,
        updated=row.updated,
        unchanged=row.unchanged,
        skipped=row.skipped,
        failed=row.failed,
        skip_reasons={str(k): int(v) for k, v in (row.skip_reasons or {}).items()},
        rate_per_s=round(rate, 2),
        eta_s=round(eta, 1) if eta is not None else None,
        elapsed_s=round(elapsed, 2),
        started_at=started.isoformat(),
        finished_at=_aware(row.finished_at).isoformat() if row.finished_at else None,
        error=row.error,
    )


def issues(session: Session, run_id: str, limit: int = 1000) -> list[dict[str, str]]:
    rows = session.scalars(
        select(SyncIssue).where(SyncIssue.sync_run_id == run_id).order_by(SyncIssue.id).limit(limit)
    )
    return [{"external_id": r.external_id, "outcome": r.outcome, "reason": r.reason} for r in rows]
