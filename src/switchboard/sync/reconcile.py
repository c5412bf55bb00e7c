"""Reconciliation: a scheduled delta pass per connection that repairs missed webhooks.

Choice: **changed-since with a safety overlap** (`CrmConnector.list_people_changed_since`),
not a full resync and not a per-record fingerprint scan on our side.

- Each pass asks the CRM for people changed since the *start* of the previous successful pass
  minus `OVERLAP` (5 minutes): a change made while the last pass was running, or stamped by a
  CRM clock a little behind ours, is still inside the window. The first pass after the initial
  sync starts from the initial sync's start.
- Everything returned goes through the same upsert as webhooks — mapping first, fingerprint
  equal → no Quo call. Re-seeing a person costs CRM reads only, so the overlap is free on the Quo
  side (the budget that matters: 10 req/s) and a person whose webhook never arrived is created or
  updated.
- A CRM whose query API has no updated-at filter implements the delta as a read-only keyset
  scan keeping people whose latest change is inside the window: one read per 500 people, i.e.
  ~0.2 s of a 100 reads/s budget for 10,000 people, and no Quo traffic for unchanged people.
  CRMs with a real updated-since query make it cheaper still, with no change here.
- Not covered by a delta: a delete whose webhook was lost (a deleted record is simply absent).
  `reconcile(..., deep=True)` also checks every mapped person that the delta did not return
  with `get_person`, and removes the contacts of people that are gone (one CRM read per mapped
  person; run it rarely).

Passes run on the `sync` queue, partitioned by connection, so a pass never overlaps the initial
sync or another pass of the same connection. `install_schedule()` registers a DBOS cron schedule
(`SWITCHBOARD_RECONCILE_CRON`, default every 10 minutes) whose tick enqueues one pass per active
connection with a workflow id derived from the tick, so N processes schedule one pass.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from dbos import DBOS
from sqlalchemy import select

from switchboard.logs import get_logger
from switchboard.runtime import runtime
from switchboard.store.db import Database
from switchboard.store.models import Connection, ContactMapping, SyncRun
from switchboard.sync import runs
from switchboard.sync.clients import clients_for
from switchboard.sync.initial import claim_live_run, claim_run
from switchboard.sync.push import drop_unqualified, remove_person, upsert_prepared
from switchboard.sync.transform import prepare_people
from switchboard.workflows import enqueue, enqueue_async

log = get_logger("switchboard.sync.reconcile")

OVERLAP = timedelta(minutes=5)
CHUNK = 50
WORKFLOW_NAME = "switchboard.sync.reconcile"
SCHEDULE_CRON = os.environ.get("SWITCHBOARD_RECONCILE_CRON", "0 */10 * * * *")


def _db() -> Database:

    return runtime().db


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def window_start(db: Database, connection_id: str) -> datetime:
    """Start of the delta: last successful pass (or sync) start − OVERLAP; epoch if none."""
    with db.session() as s:
        last = s.scalar(
            select(SyncRun.started_at)
            .where(SyncRun.connection_id == connection_id, SyncRun.status == "succeeded")
            .order_by(SyncRun.started_at.desc())
            .limit(1)
        )
    if last is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return _aware(last) - OVERLAP


@DBOS.step(name="sync.reconcile.begin")
async def _begin(connection_id: str, run_id: str) -> str:
    def work() -> str:
        since = window_start(_db(), connection_id)
        with _db().session() as s:
            row = runs.create(s, run_id, connection_id, "reconcile")
            row.status = "running"
        return since.isoformat()

    return await asyncio.to_thread(work)


@DBOS.step(name="sync.reconcile.delta", retries_allowed=True, max_attempts=5, interval_seconds=2)
async def _delta(connection_id: str, since_iso: str) -> list[Any]:
    clients = await clients_for(connection_id)
    since = datetime.fromisoformat(since_iso)
    return list(await clients.connector.list_people_changed_since(since))


@DBOS.step(name="sync.reconcile.apply", retries_allowed=True, max_attempts=5, interval_seconds=2)
async def _apply(connection_id: str, run_id: str, chunk_no: int, people: list[Any]) -> None:
    db = _db()
    if await asyncio.to_thread(_page_done, db, run_id, chunk_no):
        return
    clients = await clients_for(connection_id)
    contacts, skips = await prepare_people(clients.connector, people, clients.settings)
    counts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    issues: list[tuple[str, str, str]] = []
    for skip in skips:
        await drop_unqualified(db, clients.quo, connection_id, skip.external_id, skip.reason)
        counts["skipped"] = counts.get("skipped", 0) + 1
        reasons[skip.reason] = reasons.get(skip.reason, 0) + 1
    for c in contacts:
        result = await upsert_prepared(db, clients.quo, connection_id, c, clients.settings)
        name = result.outcome if result.outcome in runs.COUNTERS else "updated"
        counts[name] = counts.get(name, 0) + 1
        if result.outcome == "failed":
            issues.append((c.external_id, "failed", result.reason or "failed"))
    await asyncio.to_thread(_commit, db, run_id, chunk_no, counts, reasons, issues)


def _page_done(db: Database, run_id: str, chunk_no: int) -> bool:
    with db.session() as s:
        return runs.page_done(s, run_id, chunk_no)


def _commit(
    db: Database,
    run_id: str,
    chunk_no: int,
    counts: dict[str, int],
    reasons: dict[str, int],
    issues: list[tuple[str, str, str]],
) -> None:
    with db.session() as s:
        runs.commit_page(s, run_id, chunk_no, None, counts, reasons, issues)


@DBOS.step(name="sync.reconcile.gone", retries_allowed=True, max_attempts=5, interval_seconds=2)
async def _sweep_gone(connection_id: str, seen: list[str]) -> int:
    """Deep pass: mapped people the delta did not return, checked one by one."""
    db = _db()
    clients = await clients_for(connection_id)

    def mapped() -> list[str]:
        with db.session() as s:
            return list(
                s.scalars(
                    select(ContactMapping.external_id).where(
                        ContactMapping.connection_id == connection_id
                    )
                )
            )

    removed = 0
    seen_set = set(seen)
    for external_id in await asyncio.to_thread(mapped):
        if external_id in seen_set:
            continue
        if await clients.connector.get_person(external_id) is None:
            await remove_person(db, clients.quo, connection_id, external_id)
            removed += 1
    return removed


@DBOS.step(name="sync.reconcile.finish")
async def _finish(connection_id: str, run_id: str, status: str, message: str | None) -> None:
    def work() -> None:
        with _db().session() as s:
            runs.finish(s, run_id, status, message if status != "succeeded" else None)
            conn = s.get(Connection, connection_id)
            if conn is not None:
                conn.last_reconcile_at = datetime.now(UTC)
                conn.last_reconcile_status = message or status

    await asyncio.to_thread(work)


@DBOS.workflow(name=WORKFLOW_NAME)
async def reconcile(connection_id: str, run_id: str, deep: bool = False) -> dict[str, Any]:
    """One delta pass (see the module docstring)."""
    since_iso = await _begin(connection_id, run_id)
    try:
        people = await _delta(connection_id, since_iso)
        for n in range(0, len(people), CHUNK):
            await _apply(connection_id, run_id, n // CHUNK, people[n : n + CHUNK])
        removed = await _sweep_gone(connection_id, [p.id for p in people]) if deep else 0
        message = f"{len(people)} changed since {since_iso}" + (
            f", {removed} gone removed" if deep else ""
        )
        await _finish(connection_id, run_id, "succeeded", message)
        return {"run_id": run_id, "status": "succeeded", "changed": len(people), "removed": removed}
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.error("reconcile_failed", connection_id=connection_id, error=error)
        await _finish(connection_id, run_id, "failed", error)
        return {"run_id": run_id, "status": "failed", "error": error}


def start_reconcile(db: Database, connection_id: str, *, deep: bool = False) -> tuple[str, bool]:
    """Enqueue a pass for one connection (or join the one queued/running): (run id, joined)."""

    run_id, joined = claim_live_run(db, connection_id, "reconcile")
    enqueue(
        "sync",
        reconcile,
        connection_id,
        run_id,
        deep,
        partition_key=connection_id,
        workflow_id=run_id,
    )
    return run_id, joined


@DBOS.workflow(name="switchboard.sync.reconcile_tick")
async def reconcile_tick(scheduled: datetime, context: Any) -> None:
    """Cron tick: one pass per active connection (a pass already queued or running is joined)."""

    for connection_id in await _active_connections():
        run_id = await _claim(connection_id)
        await enqueue_async(
            "sync", reconcile, connection_id, run_id, False,
            partition_key=connection_id, workflow_id=run_id,
        )  # fmt: skip


@DBOS.step(name="sync.reconcile.active_connections")
async def _active_connections() -> list[str]:
    def work() -> list[str]:
        with _db().session() as s:
            return list(
                s.scalars(
                    select(Connection.id).where(
                        Connection.disconnected_at.is_(None),
                        Connection.status.in_(("active", "degraded")),
                    )
                )
            )

    return await asyncio.to_thread(work)


@DBOS.step(name="sync.reconcile.claim")
async def _claim(connection_id: str) -> str:
    run_id, _ = await asyncio.to_thread(claim_run, _db(), connection_id, "reconcile")
    return run_id


def install_schedule(cron: str = SCHEDULE_CRON) -> None:
    """Register the reconcile cron with DBOS (after launch; idempotent)."""
    DBOS.apply_schedules(
        [
            {
                "schedule_name": "switchboard-sync-reconcile",
                "workflow_fn": reconcile_tick,
                "schedule": cron,
            }
        ]
    )
