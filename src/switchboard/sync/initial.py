"""Initial sync CRM → Quo: one durable DBOS workflow per connection and run.

Shape of the workflow (`initial_sync`, workflow id = run id = `<connection>-initial-<n>`, enqueued
on the `sync` queue partitioned by connection, so at most one runs per connection):

    fetch page 0 ─┬─ fetch page 1 ─┬─ fetch page 2 ─ ...
                  └─ push page 0   └─ push page 1   (≤ PAGES_IN_FLIGHT pushes at once)

- `fetch` (one step per page): reads one page of people with the connector's stable cursor and
  transforms it (phones normalised, skips with reasons, fingerprints). Its result is the page's
  checkpoint in DBOS: after a crash the scan continues from the last recorded page, the CRM is
  not read again for pages already fetched.
- `push` (one step per page): mapping first; unchanged fingerprints cost nothing; changes are
  PATCHed; new people go through bulk create + verification. The page's mappings, counters,
  issues and the `sync_runs.cursor` checkpoint are committed in one transaction, once.
- Pushes of several pages run concurrently and all Quo calls of the process share one rate
  limiter per Quo key, so the Quo budget (10 req/s) stays saturated while CRM reads, bulk
  processing waits and verifications of different pages overlap.

Determinism: DBOS numbers steps in the order they are *called*; the workflow calls them in a
fixed order (fetch n+1 before push n, and waits for the oldest push before calling more), so a
recovered workflow replays the same step ids whatever order the steps finished in before.

Crash safety: a step in flight at a crash is run again. `fetch` is a read. `push` marks its page
as attempted before any Quo write; a re-attempt first looks its new people up by externalId and
updates what the first attempt created instead of creating again, and `commit_page` applies a
page's counters only once.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from dbos import DBOS
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from switchboard.logs import get_logger
from switchboard.runtime import runtime
from switchboard.store.db import Database
from switchboard.store.models import Connection, Event, SyncRun
from switchboard.sync import runs
from switchboard.sync.clients import clients_for
from switchboard.sync.incremental import merged_from
from switchboard.sync.push import commit_page_results, push_page, sync_person
from switchboard.sync.transform import PreparedPage, prepare_people
from switchboard.workflows import enqueue

log = get_logger("switchboard.sync.initial")

PAGE_SIZE = int(os.environ.get("SWITCHBOARD_SYNC_PAGE_SIZE", "200"))
PAGES_IN_FLIGHT = int(os.environ.get("SWITCHBOARD_SYNC_PAGES_IN_FLIGHT", "8"))
WORKFLOW_NAME = "switchboard.sync.initial"


def _db() -> Database:

    return runtime().db


@DBOS.step(name="sync.initial.begin")
async def _begin(connection_id: str, run_id: str) -> None:
    def work() -> None:
        with _db().session() as s:
            row = runs.create(s, run_id, connection_id, "initial")
            if row.status == "queued":
                row.status = "running"

    await asyncio.to_thread(work)


@DBOS.step(name="sync.initial.fetch", retries_allowed=True, max_attempts=6, interval_seconds=1.0)
async def _fetch(connection_id: str, cursor: str | None) -> PreparedPage:
    clients = await clients_for(connection_id)
    page = await clients.connector.list_people_page(cursor, PAGE_SIZE)
    contacts, skips = await prepare_people(clients.connector, page.people, clients.settings)
    return PreparedPage(
        contacts=tuple(contacts),
        skips=tuple(skips),
        next_cursor=page.next_cursor,
        people=len(page.people),
    )


def _mark_attempt(run_id: str, page_no: int) -> tuple[bool, bool]:
    """(already committed, attempted before): recorded before any Quo write of the page."""
    with _db().session() as s:
        row = runs.locked(s, run_id)
        cursor = dict(row.cursor or {})
        if runs.page_done(s, run_id, page_no):
            return True, True
        attempted = list(cursor.get("attempted") or [])
        before = page_no in attempted
        if not before:
            attempted.append(page_no)
            cursor["attempted"] = attempted
            row.cursor = cursor
        return False, before


@DBOS.step(name="sync.initial.push", retries_allowed=True, max_attempts=6, interval_seconds=2.0)
async def _push(
    connection_id: str, run_id: str, page_no: int, page: PreparedPage
) -> dict[str, int]:
    started = time.monotonic()
    committed, resumed = await asyncio.to_thread(_mark_attempt, run_id, page_no)
    if committed:
        return {}
    clients = await clients_for(connection_id)
    marked = time.monotonic()
    results = await push_page(
        _db(), clients.quo, connection_id, page, clients.settings, resumed=resumed
    )
    pushed = time.monotonic()
    await asyncio.to_thread(
        commit_page_results, _db(), connection_id, run_id, page_no, page, results, clients.settings
    )
    log.info(
        "sync_page_pushed",
        run_id=run_id,
        page=page_no,
        resumed=resumed,
        counts=dict(results.counts),
        mark_s=round(marked - started, 3),
        push_s=round(pushed - marked, 3),
        commit_s=round(time.monotonic() - pushed, 3),
    )
    return dict(results.counts)


def _changed_during(connection_id: str, run_id: str) -> list[str]:
    """CRM records with a change event received or processed since the run started (the
    losers of merges included), in a stable order."""
    from sqlalchemy import or_

    with _db().session() as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            return []
        since = run.started_at
        rows = s.execute(
            select(Event.resource_id, Event.payload).where(
                Event.connection_id == connection_id,
                Event.provider != "quo",
                Event.resource_id.is_not(None),
                or_(Event.received_at >= since, Event.processed_at >= since),
            )
        ).all()
    ids: set[str] = set()
    for resource_id, payload in rows:
        ids.add(str(resource_id))
        loser = merged_from(payload or {})
        if loser:
            ids.add(loser)
    return sorted(ids)


@DBOS.step(name="sync.initial.catch_up", retries_allowed=True, max_attempts=6, interval_seconds=2.0)
async def _catch_up(connection_id: str, run_id: str) -> int:
    """Re-apply the CRM's current state to every person changed while the run was going.

    A page is a snapshot: a change (or delete) handled by the incremental sync between a page's
    fetch and its push would otherwise be overwritten by the older snapshot (a deleted person's
    contact created again, a rename reverted). Once every push is done, each such person is read
    again and upserted (gone → its contact removed). Idempotent, so a re-run after a crash is safe.
    """

    ids = await asyncio.to_thread(_changed_during, connection_id, run_id)
    if not ids:
        return 0
    clients = await clients_for(connection_id)
    for record_id in ids:
        person = await clients.connector.get_person(record_id)
        await sync_person(
            _db(),
            clients.quo,
            clients.connector,
            connection_id,
            record_id,
            person,
            clients.settings,
        )
    log.info("sync_caught_up", run_id=run_id, people=len(ids))
    return len(ids)


@DBOS.step(name="sync.initial.total")
async def _set_total(run_id: str, total: int) -> None:
    def work() -> None:
        with _db().session() as s:
            runs.set_total(s, run_id, total)

    await asyncio.to_thread(work)


@DBOS.step(name="sync.initial.finish")
async def _finish(connection_id: str, run_id: str, status: str, error: str | None) -> None:
    def work() -> None:
        from datetime import UTC, datetime

        with _db().session() as s:
            runs.finish(s, run_id, status, error)
            conn = s.get(Connection, connection_id)
            if conn is not None and status == "succeeded":
                conn.last_sync_at = datetime.now(UTC)

    await asyncio.to_thread(work)


@DBOS.workflow(name=WORKFLOW_NAME)
async def initial_sync(connection_id: str, run_id: str) -> dict[str, Any]:
    """The whole initial sync of one connection (see the module docstring)."""
    await _begin(connection_id, run_id)
    pushes: set[asyncio.Future[dict[str, int]]] = set()
    error: str | None = None
    try:
        fetching: asyncio.Future[PreparedPage] | None = asyncio.ensure_future(
            _fetch(connection_id, None)
        )
        page_no = 0
        scanned = 0
        while fetching is not None:
            page = await fetching
            scanned += page.people
            fetching = (
                asyncio.ensure_future(_fetch(connection_id, page.next_cursor))
                if page.next_cursor
                else None
            )
            if fetching is None:  # the scan is complete: progress gets its total (ratio, ETA)
                await _set_total(run_id, scanned)
            pushes.add(asyncio.ensure_future(_push(connection_id, run_id, page_no, page)))
            page_no += 1
            if len(pushes) >= PAGES_IN_FLIGHT:
                # Whichever push ends first frees the slot: only *when* the next steps start
                # depends on timing, never their order, so step ids stay deterministic.
                done, pushes = await asyncio.wait(pushes, return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    finished.result()
        while pushes:
            done, pushes = await asyncio.wait(pushes, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()
        await _catch_up(connection_id, run_id)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.error("initial_sync_failed", connection_id=connection_id, run_id=run_id, error=error)
        if pushes:
            await asyncio.wait(pushes)
    await _finish(connection_id, run_id, "failed" if error else "succeeded", error)
    return {"run_id": run_id, "status": "failed" if error else "succeeded", "error": error}


def _next_run_id(db: Database, connection_id: str, kind: str) -> str:
    with db.session() as s:
        n = s.scalar(
            select(func.count())
            .select_from(SyncRun)
            .where(SyncRun.connection_id == connection_id, SyncRun.kind == kind)
        )
    return f"{connection_id}-{kind}-{int(n or 0) + 1}"


def claim_run(db: Database, connection_id: str, kind: str = "initial") -> tuple[str, bool]:
    """The run to start or join: (run id, joined). At most one active run per connection and
    kind: a second request gets the running one back."""
    for _ in range(5):
        with db.session() as s:
            active = runs.active_run(s, connection_id, kind)
            if active is not None:
                return active.id, True
        run_id = _next_run_id(db, connection_id, kind)
        try:
            with db.session() as s:
                row = runs.create(s, run_id, connection_id, kind)
                row.status = "queued"
            return run_id, False
        except IntegrityError:
            continue  # someone else claimed the same number: join theirs
    raise RuntimeError(f"could not claim a {kind} sync run for {connection_id}")


def claim_live_run(db: Database, connection_id: str, kind: str) -> tuple[str, bool]:
    """`claim_run`, but a run whose workflow already ended (cancelled by an operator, or failed
    before it could record the failure) is closed as failed instead of being joined forever."""
    for _ in range(3):
        run_id, joined = claim_run(db, connection_id, kind)
        if not joined:
            return run_id, False
        status = DBOS.get_workflow_status(run_id)
        if status is None or status.status not in ("SUCCESS", "ERROR", "CANCELLED"):
            return run_id, True
        with db.session() as s:
            runs.finish(s, run_id, "failed", f"workflow ended ({status.status}) mid-run")
    raise RuntimeError(f"could not start a {kind} run for {connection_id}")


def start_initial_sync(db: Database, connection_id: str) -> tuple[str, bool]:
    """Enqueue the initial sync of a connection (or join the running one): (run id, joined).

    Needs a launched runtime (DBOS). Enqueueing again with the same workflow id is a no-op, so
    joining also heals a run whose enqueue was interrupted."""

    run_id, joined = claim_live_run(db, connection_id, "initial")
    enqueue(
        "sync", initial_sync, connection_id, run_id, partition_key=connection_id, workflow_id=run_id
    )
    return run_id, joined
