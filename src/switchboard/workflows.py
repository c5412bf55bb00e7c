"""DBOS wiring: the queues, the processors and the one workflow every ledger event runs through.

Queues (declared here, registered by `Runtime.start` once DBOS is launched — DBOS 3.4 persists
queue configuration in the system database, so `DBOS.register_queue` needs a launched DBOS and the
`Queue(...)` constructor is refused):

- `activity`   — partition: Quo call / message id; every phase of one call runs one at a time.
- `crm_events` — partition: CRM record id; changes of one CRM person are serialised.
- `sync`       — partition: connection id; one initial sync / reconcile per connection.
- `setup`      — partition: connection id; setup, re-subscribe, teardown.

Each has `partition_concurrency=1` and a per-process `worker_concurrency`.

Fairness between connections: a sync is one workflow on `sync`, whose pages run as steps inside
it, so however many pages one connection has, it occupies one `sync` slot and never a slot of
`activity` or `crm_events`; `sync` admits `SYNC_CONCURRENCY` connections per process, enough for
every connection to sync at once (each at its own Quo key's limit, kept by that key's limiter).
Calls and texts are on `activity`, a queue no sync work enters, so a connection's calls are
logged while any connection syncs. When a queue's slots are all taken, DBOS sweeps the waiting
partitions in random order, so no partition waits behind another's backlog.
Every queue is partitioned, so every enqueue names a partition key (DBOS rejects an enqueue on
a partitioned queue without one). Deduplication ids are not supported on partitioned queues;
exactly-once starts come from the workflow id instead: enqueueing twice with the same workflow id
runs the workflow once (the second enqueue returns a handle to the first).

Processors (routing lives in `switchboard.dispatch`)::

    from switchboard.dispatch import Dispatch, Ignore, InboundEvent, register_handler
    from switchboard.workflows import Outcome, processor

    @processor("activity.quo")                # a name stored with the queued workflow
    async def process_quo_event(event_id: str) -> Outcome | None:
        ...                                   # runs inside the `run_event` DBOS workflow

    def route_quo(event: InboundEvent) -> Dispatch | Ignore:
        if event.event_type == "call.ringing":
            return Ignore("call.ringing is not logged")
        return Dispatch("activity.quo", queue="activity", partition_key=event.resource_id)

    register_handler("quo", "call.", route_quo)     # exact type, "prefix." or "*"

* `Dispatch(processor, queue, partition_key)` enqueues the generic workflow
  `run_event(event_id, processor)` with workflow id = ledger event id (exactly-once start).
  `run_event` marks the event `processing` (attempts + 1), awaits the processor and records the
  outcome: `None` → `processed`; an `Outcome(status, reason, detail)` → that status
  (`processed`, `ignored`, `skipped`, `failed`); an exception → `failed` with the exception
  text (secrets masked). Exceptions are not retried by the wrapper, except a transient
  database error (`is_transient_db_error`), for which the processor runs again for up to
  `TRANSIENT_DB_RETRY_S` and is then left to the runtime's watchdog (never recorded as the
  event's failure) — retry other transient errors inside the processor (the HTTP client
  does) and let `switchboard events replay` handle the rest.
* Processors are `async def fn(event_id: str)`; load the event with
  `switchboard.ledger.get_event(runtime().db, event_id)` and the connection with
  `switchboard.connections`. Do the external work in `@DBOS.step()` functions (checkpointed;
  the step in flight at a crash is re-run, so make each step idempotent). Prefer a plain async
  function over a `@DBOS.workflow` (a child workflow would be recovered on DBOS's internal queue,
  which web-only processes also drain).
* Handler modules must be imported in every process (web to route, workers to run): the
  runtime imports `switchboard.setup`, `switchboard.sync` and `switchboard.activity` at start
  (`WORKFLOW_MODULES` in `switchboard.runtime`); make your package `__init__` import the modules
  that register handlers and define workflows.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

from switchboard import context, ledger
from switchboard.config import Settings, workflow_database_url
from switchboard.logs import get_logger, mask_text

log = get_logger("switchboard.workflows")


# --------------------------------------------------------------------------------------- queues
@dataclass(frozen=True)
class QueueSpec:
    """A DBOS queue as Switchboard declares it. All queues are partitioned (key required)."""

    name: str
    worker_concurrency: int
    partition_concurrency: int = 1
    polling_interval_sec: float = 0.1
    limiter: Mapping[str, float] | None = None


#: `activity` runs 16 workflows at a time per process by default. DBOS dequeues at most
#: `worker_concurrency` minus running per poll, so with 0.2 s polls 4 capped a worker at
#: ~20 events/s (measured: bench/activity.py at 40 events/s fell behind at exactly 20/s);
#: 16 keeps up with 40/s while the workflows mostly wait on HTTP. The webhook acks run in the
#: web process and, on SQLite, DBOS's tables are in their own file, so more workflows do not
#: lengthen the acks' lock waits. SWITCHBOARD_ACTIVITY_CONCURRENCY /
#: SWITCHBOARD_CRM_EVENTS_CONCURRENCY override.
#: `sync` runs one workflow per connection (partition) and up to this many connections' syncs
#: at once per process. A sync spends its time waiting on its own connection's Quo and CRM
#: limiters, so every connection's run can go at once, each at its own key's limit; with 4 per
#: process a fifth connection's run waited for a whole 10,000-person sync to end
#: (SWITCHBOARD_SYNC_CONCURRENCY overrides).
#:
#: Polling: every worker polls every queue it serves at that queue's interval, and each poll is
#: three statements on the system database (reload the queue row, list scopes, the partitioned
#: dequeue, whose SQLAlchemy statement is rebuilt in Python each time) — measured with py-spy
#: under bench/many_connections.py, the polls of four queues at 0.1–0.25 s were a third of an
#: idle-ish worker's CPU. Only `activity` waits on a human (a call's note); a sync or a setup
#: starting up to 1 s later, or a CRM change reaching Quo up to 0.5 s later, costs nothing.
SYNC_CONCURRENCY = int(os.environ.get("SWITCHBOARD_SYNC_CONCURRENCY", "16"))

QUEUES: dict[str, QueueSpec] = {
    spec.name: spec
    for spec in (
        QueueSpec(
            "activity",
            worker_concurrency=int(os.environ.get("SWITCHBOARD_ACTIVITY_CONCURRENCY", "16")),
            polling_interval_sec=0.2,
        ),
        QueueSpec(
            "crm_events",
            worker_concurrency=int(os.environ.get("SWITCHBOARD_CRM_EVENTS_CONCURRENCY", "8")),
            polling_interval_sec=0.5,
        ),
        QueueSpec("sync", worker_concurrency=SYNC_CONCURRENCY, polling_interval_sec=1.0),
        QueueSpec("setup", worker_concurrency=4, polling_interval_sec=1.0),
    )
}


def register_queues() -> None:
    """Persist the queue declarations (needs a launched DBOS; idempotent)."""
    for spec in QUEUES.values():
        DBOS.register_queue(
            spec.name,
            worker_concurrency=spec.worker_concurrency,
            partition_concurrency=spec.partition_concurrency,
            polling_interval_sec=spec.polling_interval_sec,
            limiter=dict(spec.limiter) if spec.limiter else None,  # type: ignore[arg-type]
            on_conflict="always_update",
        )


def _check_queue(queue: str, partition_key: str | None) -> str:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; declare it in switchboard.workflows.QUEUES")
    if not partition_key:
        raise ValueError(f"queue {queue!r} is partitioned: a partition key is required")
    return partition_key


def enqueue(
    queue: str,
    fn: Callable[..., Any],
    *args: Any,
    partition_key: str,
    workflow_id: str,
    **kwargs: Any,
) -> Any:
    """Enqueue a DBOS workflow on one of our queues. Same workflow id twice → runs once.

    Returns the DBOS workflow handle. Usable from plain code and from inside a workflow (then
    the enqueued workflow is recorded as a child, so a recovered parent does not enqueue twice).
    """
    key = _check_queue(queue, partition_key)
    with SetWorkflowID(workflow_id), SetEnqueueOptions(queue_partition_key=key):
        return DBOS.enqueue_workflow(queue, fn, *args, **kwargs)


async def enqueue_async(
    queue: str,
    fn: Callable[..., Coroutine[Any, Any, Any]],
    *args: Any,
    partition_key: str,
    workflow_id: str,
    **kwargs: Any,
) -> Any:
    """Async variant of `enqueue` (for async workflows and async callers)."""
    key = _check_queue(queue, partition_key)
    with SetWorkflowID(workflow_id), SetEnqueueOptions(queue_partition_key=key):
        return await DBOS.enqueue_workflow_async(queue, fn, *args, **kwargs)


# ------------------------------------------------------------------------------ processors
@dataclass(frozen=True)
class Outcome:
    """What a processor may return. `None` from a processor means `processed`."""

    status: str = "processed"
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "detail": self.detail}


Processor = Callable[[str], Awaitable[Any]]

_processors: dict[str, Processor] = {}


def processor(name: str) -> Callable[[Processor], Processor]:
    """Decorator naming an async processor `fn(event_id) -> Outcome | dict | None`."""

    def deco(fn: Processor) -> Processor:
        _processors[name] = fn
        return fn

    return deco


def register_processor(name: str, fn: Processor) -> None:
    _processors[name] = fn


def has_processor(name: str) -> bool:
    return name in _processors


# ----------------------------------------------------------------------------- the event workflow
#: How long the event workflow keeps retrying a database that refuses writes or connections
#: (a full disk, a read-only file, a PostgreSQL restart) before giving up on the attempt. A step
#: that fails is recorded as failed and would fail again on every resume, so riding out a short
#: outage here keeps the workflow resumable; longer ones are left to the runtime's watchdog.
TRANSIENT_DB_RETRY_S = float(os.environ.get("SWITCHBOARD_TRANSIENT_DB_RETRY_S", "60"))


def is_transient_db_error(exc: BaseException) -> bool:
    """A database error that says nothing about the work itself: the database could not be
    reached, locked or written (SQLAlchemy's OperationalError family, invalidated connections)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


async def _retrying_db(fn: Callable[[], Awaitable[Any]], what: str, event_id: str) -> Any:
    deadline = asyncio.get_running_loop().time() + TRANSIENT_DB_RETRY_S
    delay = 0.2
    while True:
        try:
            return await fn()
        except Exception as exc:
            if not is_transient_db_error(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            log.warning(
                "transient_db_error", step=what, event_id=event_id, error=mask_text(repr(exc))[:300]
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


@DBOS.step()
async def _begin_event(event_id: str) -> None:
    await _retrying_db(
        lambda: asyncio.to_thread(ledger.mark_processing, context.current().db, event_id),
        "begin",
        event_id,
    )


@DBOS.step()
async def _finish_event(
    event_id: str, status: str, reason: str | None, detail: dict[str, Any] | None
) -> None:
    await _retrying_db(
        lambda: asyncio.to_thread(
            ledger.finish, context.current().db, event_id, status, reason=reason, detail=detail
        ),
        "finish",
        event_id,
    )


def _api_error_detail(exc: BaseException) -> dict[str, Any]:
    """Who refused and with which status, so failures group by cause (`switchboard.failures`)."""
    from switchboard.http import ApiError

    if not isinstance(exc, ApiError):
        return {}
    return {"http_status": exc.status, "api_provider": exc.provider, "operation": exc.operation}


def _as_outcome(result: Any) -> Outcome:
    if result is None:
        return Outcome()
    if isinstance(result, Outcome):
        return result
    if isinstance(result, Mapping):
        return Outcome(
            status=str(result.get("status") or "processed"),
            reason=result.get("reason"),
            detail=dict(result.get("detail") or {}),
        )
    if isinstance(result, str):
        return Outcome(status=result)
    return Outcome(detail={"result": repr(result)[:500]})


@DBOS.workflow()
async def run_event(event_id: str, processor_name: str) -> str:
    """The one workflow every ledger event runs through (workflow id = event id, or a replay id).

    Returns the final status. The ledger row carries status, reason, detail and attempts.
    """
    await _begin_event(event_id)
    fn = _processors.get(processor_name)
    status: str
    reason: str | None
    detail: dict[str, Any]
    if fn is None:
        status, reason, detail = "failed", f"processor {processor_name!r} is not registered", {}
    else:
        try:
            # A database outage is not the event's fault: run the processor again once the
            # database is back (processors are idempotent; each run's steps are new steps).
            processor_fn = fn
            outcome = _as_outcome(
                await _retrying_db(lambda: processor_fn(event_id), "processor", event_id)
            )
            status, reason, detail = outcome.status, outcome.reason, outcome.detail
        except Exception as exc:
            if is_transient_db_error(exc):
                # Still no database: not the event's outcome. The workflow ends unrecorded or in
                # ERROR, and the runtime's watchdog runs the event again once writes succeed.
                raise
            log.warning("event_failed", event_id=event_id, error=mask_text(repr(exc))[:500])
            status = "failed"
            reason = mask_text(f"{type(exc).__name__}: {exc}")[:2000]
            detail = {"exception": type(exc).__name__, **_api_error_detail(exc)}
    await _finish_event(event_id, status, reason, detail)
    return status


# ------------------------------------------------------------------------------ DBOS config
def new_executor_id(settings: Settings) -> str:
    """Unique per process: DBOS marks each workflow with the executor that runs it, and
    recovery is per executor id (see `switchboard.runtime`)."""
    if settings.executor_id:
        return settings.executor_id
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def dbos_config(settings: Settings, executor_id: str | None = None) -> dict[str, Any]:
    url = workflow_database_url(settings.resolved_database_url()).replace(
        "postgresql+psycopg://", "postgresql://"
    )
    return {
        "name": "switchboard",
        "system_database_url": url,
        "executor_id": executor_id or new_executor_id(settings),
        "application_version": "switchboard-1",
        "log_level": "WARNING",
        "notification_listener_polling_interval_sec": 0.1,
        # DBOS's default is 20 connections per process; with many processes on one PostgreSQL
        # (max_connections 100 by default) that runs out. Checkouts are short, 8 is plenty.
        "sys_db_pool_size": int(os.environ.get("SWITCHBOARD_DBOS_POOL_SIZE", "8")),
    }


def init_dbos(settings: Settings, executor_id: str | None = None) -> DBOS:
    """Create the DBOS runtime (then `DBOS.launch()`); `Runtime.start` does all of this."""
    return DBOS(config=dbos_config(settings, executor_id))  # type: ignore[arg-type]
