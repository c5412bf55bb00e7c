"""The process-wide runtime: settings, database, secret box and DBOS, started and stopped once.

    rt = Runtime(settings, workers=True)   # workers=False: web only, never dequeues
    rt.start()                              # migrate, import workflow modules, launch DBOS
    ...                                     # runtime() returns rt from anywhere (workflow code)
    rt.stop()

Workflow code is module-level (DBOS decorators register functions at import time), so it reaches
the database and secrets through `switchboard.runtime.runtime()`.

How DBOS 3.4.0 behaves here (read from the installed source, checked by tests/test_runtime.py):

* **Queues** are persisted rows in the system database: `DBOS.register_queue(...)` needs a
  launched DBOS, so `start` launches first and then registers `switchboard.workflows.QUEUES`
  (`on_conflict="always_update"`). Each process's queue thread re-reads the queue list every
  second, so queues registered after launch are picked up.
* **Web-only processes** (`serve --no-workers`) call `DBOS.listen_queues([])` before launch: the
  queue thread skips every user queue, so the process enqueues but never dequeues our work.
  DBOS's internal queue is still drained by every process; it only carries workflows that were
  started without a queue (we start none: every Switchboard workflow is enqueued).
* **Executor ids**: DBOS defaults to `"local"` for every process; we pass a unique id per process
  (`host-pid-random`, or `SWITCHBOARD_EXECUTOR_ID`). Every workflow row records the executor
  running it.
* **Recovery**: at launch DBOS re-enqueues only the PENDING workflows of *its own* executor id
  (same application version). Nothing in DBOS notices a *dead* executor, so a workflow owned by a
  process that never comes back would stay PENDING forever. Switchboard closes that gap with the
  `executor_heartbeats` table: every process upserts its row every `HEARTBEAT_INTERVAL_S`; every
  worker process runs a watchdog that declares an executor dead when its heartbeat is older than
  `STALE_AFTER_S`, or when it ran on this host and its pid no longer exists, or when it owns
  PENDING workflows but has no heartbeat row at all (stopped, or died before its first beat). It
  then calls `DBOS._recover_pending_workflows([dead ids])`, which flips those rows back to
  ENQUEUED on their original queue (`reenqueue_for_recovery`); the update matches only rows still
  owned by the dead executor, so several survivors recovering at once is harmless, and the
  queue's atomic dequeue admits exactly one runner. Completed steps are not re-run; the step in
  flight is. A graceful stop deletes the heartbeat row after `DBOS.destroy`, so anything still
  pending is picked up by the survivors at once.
* **Orphans of a live executor**: DBOS also never re-runs a workflow of a *live* executor once
  its execution has ended without recording an outcome. A workflow body that raises runs
  `update_workflow_outcome(ERROR)`; when the database refuses that write too (read-only or
  full file, dropped connection — only "database is locked" and PostgreSQL connection errors are
  retried by DBOS's `db_retry`), the exception escapes, the row stays PENDING with this
  executor's id and the queue never dequeues it again: it is no longer ENQUEUED, and startup
  recovery only runs at launch. Every worker process runs a watchdog (every
  `SWITCHBOARD_WATCHDOG_INTERVAL` seconds) with two parts. `resume_orphans`: this executor's
  PENDING workflows that are not running in this process (DBOS's active-workflow set) and were
  claimed more than `SWITCHBOARD_STUCK_AFTER` seconds ago are flipped back to ENQUEUED on their
  queue with `reenqueue_for_recovery` — the call DBOS's own recovery makes, conditional on the
  row still being PENDING on this executor. `recover_stuck_events`: ledger rows still
  `accepted`/`processing` `SWITCHBOARD_STUCK_AFTER` seconds after receipt, by the state of the
  workflow responsible: ENQUEUED/DELAYED → a backlog, left alone; PENDING → running, or an
  orphan handled above or by its own executor / the dead-executor recovery; missing → dispatched
  (lost enqueue, same workflow id); SUCCESS/ERROR while the row is not final (the ledger write
  was lost) → re-dispatched under `<event id>:recover:<n>`. Exactly-once effects still hold: a
  resumed run skips completed steps, a re-dispatch repeats an idempotent processor (notes are
  guarded by activity records). The event workflow itself rides out short outages
  (`switchboard.workflows.TRANSIENT_DB_RETRY_S`), so most runs never become orphans.
* **Graceful stop** (`stop`, run on SIGTERM/SIGINT by `serve` and `worker`): DBOS stops
  dequeuing and waits up to the drain bound for running workflows; those still running are
  handed back — reset from PENDING on this executor to ENQUEUED on their queue — so another
  worker (or the next start) runs them at once, then the heartbeat row is deleted.
* **Readiness** includes a real write (the heartbeat upsert), cached for
  `SWITCHBOARD_READY_CACHE_S`, so `/readyz` turns 503 while the database refuses writes.
* **Same database**: DBOS's system tables live in the application database (SQLite file or
  PostgreSQL — the `dbos` schema there); the Alembic migration ignores them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import delete, select

from switchboard import clients, context, dispatch, workflows
from switchboard.config import Settings, get_settings, normalise_database_url, prepare_data_dir
from switchboard.crypto import SecretBox, secret_box
from switchboard.logs import get_logger
from switchboard.store.db import Database, migrate
from switchboard.store.models import ExecutorHeartbeat
from switchboard.usage import ApiCallCounter

log = get_logger("switchboard.runtime")

#: Modules imported at start so their DBOS workflows and webhook handlers register.
WORKFLOW_MODULES = [
    "switchboard.workflows",
    "switchboard.setup",
    "switchboard.sync",
    "switchboard.activity",
    "switchboard.alerts.schedule",
]

#: Called once DBOS is launched and queues are registered, in worker processes (not in web-only
#: or CLI processes): "module:function" names and `after_launch` hooks.
AFTER_LAUNCH = ["switchboard.sync:install_schedule"]
_after_launch_hooks: list[Any] = []


def after_launch(fn: Any) -> Any:
    """Register `fn()` to run after DBOS launch in worker processes (e.g. DBOS schedules)."""
    if fn not in _after_launch_hooks:
        _after_launch_hooks.append(fn)
    return fn


def _run_after_launch() -> None:
    if os.environ.get("SWITCHBOARD_SCHEDULES", "on").lower() in ("off", "0", "false", "no"):
        return  # tests that must not see cron ticks (reconcile, webhook check)
    hooks = list(_after_launch_hooks)
    for ref in AFTER_LAUNCH:
        module_name, _, attr = ref.partition(":")
        fn = getattr(importlib.import_module(module_name), attr)
        if fn not in hooks:
            hooks.append(fn)
    for fn in hooks:
        try:
            fn()
        except Exception as exc:
            log.error(
                "after_launch_failed", hook=getattr(fn, "__name__", repr(fn)), error=repr(exc)
            )


HEARTBEAT_INTERVAL_S = float(os.environ.get("SWITCHBOARD_HEARTBEAT_INTERVAL", "2"))
STALE_AFTER_S = float(os.environ.get("SWITCHBOARD_EXECUTOR_STALE_AFTER", "15"))
SWEEP_INTERVAL_S = float(os.environ.get("SWITCHBOARD_SWEEP_INTERVAL", "10"))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, "") or default)


_lock = threading.Lock()


@contextlib.contextmanager
def startup_lock(database_url: str, data_dir: Any) -> Iterator[None]:
    """Serialise migrations and DBOS's own schema set-up between processes starting at once:
    a PostgreSQL advisory lock, or an flock next to the SQLite file."""
    url = normalise_database_url(database_url)
    if url.startswith("sqlite"):
        import fcntl

        path = url.split("///", 1)[-1]
        lock_path = Path(path + ".startup.lock") if path and path != ":memory:" else None
        if lock_path is None:
            yield
            return
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_STARTUP_LOCK_ID,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_STARTUP_LOCK_ID,))


_STARTUP_LOCK_ID = 0x5B0A4D  # "switchboard start-up"


def _tune_dbos_sqlite() -> None:
    """DBOS opens its SQLite connections with full fsync on every commit (and IMMEDIATE
    transactions, so even its queue polls take the write lock). In WAL mode `synchronous=NORMAL`
    keeps durability across process crashes (only an OS crash can lose the last commits) and
    makes each of DBOS's commits much cheaper, which shortens every writer's lock waits.

    Applied at checkout, once per pooled connection: DBOS's threads already hold connections
    when this runs, and disposing the pool under them breaks their in-flight checkouts."""
    from sqlalchemy import event

    try:
        from dbos._dbos import _get_dbos_instance

        engine = _get_dbos_instance()._sys_db.engine
    except Exception:  # pragma: no cover - internal layout changed; tuning is optional
        return

    def _pragmas(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if not record.info.get("sb_synchronous_normal"):
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")
            record.info["sb_synchronous_normal"] = True

    event.listen(engine, "checkout", _pragmas)


def runtime() -> Runtime:
    """The started runtime of this process (raises RuntimeNotStarted before `start`)."""
    return cast(Runtime, context.current())


def current_or_none() -> Runtime | None:
    return cast(Runtime | None, context.current_or_none())


def import_workflow_modules() -> list[str]:
    """Import every module that defines workflows or registers handlers; returns their names.

    `SWITCHBOARD_EXTRA_WORKFLOW_MODULES` (comma-separated) adds modules, e.g. test plugins or
    site-specific handlers."""
    found = []
    extra = [m.strip() for m in os.environ.get("SWITCHBOARD_EXTRA_WORKFLOW_MODULES", "").split(",")]
    for name in extra:
        if name:
            importlib.import_module(name)
            found.append(name)
    for name in WORKFLOW_MODULES:
        importlib.import_module(name)
        found.append(name)
    return found


class Runtime:
    """Settings + Database + SecretBox + DBOS for one process.

    `workers=False` launches DBOS without dequeuing (web-only replicas); `queues=[...]` dequeues
    only those queues (the CLI's `connect` runs just the setup queue). `launch_dbos=False` gives a
    runtime for CLI commands that only read/write the database (no DBOS).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        workers: bool = True,
        kind: str = "serve",
        launch_dbos: bool = True,
        queues: list[str] | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.workers = workers
        self.kind = kind
        self.launch_dbos = launch_dbos
        self.queues = queues
        prepare_data_dir(Path(self.settings.data_dir))  # 0700: keys and (SQLite) texts inside
        self.database_url = self.settings.resolved_database_url()
        self.executor_id = workflows.new_executor_id(self.settings)
        self.db: Database = Database(self.database_url)
        self.box: SecretBox = secret_box(self.settings)
        self.started = False
        self.dbos_ready = False
        self.api_counter: Any = None
        # Read here (not at import) so a test or an operator can set them per process.
        self.watchdog_interval_s = _env_float("SWITCHBOARD_WATCHDOG_INTERVAL", SWEEP_INTERVAL_S)
        self.stuck_after_s = _env_float("SWITCHBOARD_STUCK_AFTER", 60.0)
        self.ready_cache_s = _env_float("SWITCHBOARD_READY_CACHE_S", 2.0)
        self.drain_s = _env_float("SWITCHBOARD_SHUTDOWN_DRAIN_S", 10.0)
        self._write_ok: tuple[float, bool, str | None] = (0.0, False, None)
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Runtime:
        with _lock:
            if self.started:
                return self
            context.install(self)
            try:
                self.api_counter = ApiCallCounter(self.db)
                with startup_lock(self.database_url, self.settings.data_dir):
                    migrate(self.database_url)
                    if self.launch_dbos:
                        self._launch_dbos()
                self.started = True
            except BaseException:
                context.uninstall(self)
                raise
        if self.launch_dbos:
            self._spawn(self._heartbeat_loop, "sb-heartbeat")
            if self.workers:
                self._spawn(self._watchdog_loop, "sb-ledger-watchdog")
        self._spawn(self._flush_loop, "sb-api-counter")
        log.info(
            "runtime_started",
            executor_id=self.executor_id,
            workers=self.workers,
            database="sqlite" if self.db.is_sqlite else "postgresql",
        )
        return self

    def _launch_dbos(self) -> None:
        from dbos import DBOS

        import_workflow_modules()
        self._beat()  # before launch: a process with pending work always has a heartbeat row
        workflows.init_dbos(self.settings, self.executor_id)
        if not self.workers:
            DBOS.listen_queues([])
        elif self.queues is not None:
            DBOS.listen_queues(self.queues)
        DBOS.launch()
        if self.db.is_sqlite:
            _tune_dbos_sqlite()
        workflows.register_queues()
        self.dbos_ready = True
        if self.workers and self.queues is None:
            _run_after_launch()

    def stop(self, timeout_s: float | None = None) -> None:
        """Graceful: stop taking work, let in-flight workflows finish for up to `timeout_s`
        (default `SWITCHBOARD_SHUTDOWN_DRAIN_S`), flush counters, hand the unfinished ones back
        (ENQUEUED on their queue: survivors or the next start run them), drop the heartbeat."""
        drain = self.drain_s if timeout_s is None else timeout_s
        with _lock:
            if not self.started:
                return
            self._stop.set()
            for t in self._threads:
                t.join(timeout=5)
            self._threads.clear()
            if self.api_counter is not None:
                try:
                    self.api_counter.flush()
                except Exception as exc:  # pragma: no cover - best effort at shutdown
                    log.warning("api_counter_flush_failed", error=repr(exc))
            if self.dbos_ready:
                from dbos import DBOS

                # DBOS waits in whole seconds; the last second of the bound is kept for the
                # teardown (DBOS's threads, the hand-back, the heartbeat), so the process is
                # gone within the bound.
                DBOS.destroy(workflow_completion_timeout_sec=max(0, int(drain - 1.0)))
                self.dbos_ready = False
                try:
                    handed = self.hand_back_pending()
                    if handed:
                        log.warning("workflows_handed_back", count=handed)
                except Exception as exc:  # pragma: no cover - best effort at shutdown
                    log.warning("hand_back_failed", error=repr(exc))
                try:
                    with self.db.session() as s:
                        s.execute(
                            delete(ExecutorHeartbeat).where(
                                ExecutorHeartbeat.executor_id == self.executor_id
                            )
                        )
                except Exception as exc:  # pragma: no cover
                    log.warning("heartbeat_cleanup_failed", error=repr(exc))
            clients.forget()  # they count into this runtime's counter and limiter files
            self.db.dispose()
            self.started = False
            context.uninstall(self)
        log.info("runtime_stopped", executor_id=self.executor_id)

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ health
    def ready(self) -> dict[str, Any]:
        """Database writable (reachable, for runtimes without DBOS) and DBOS launched.

        A database that answers reads but refuses writes cannot acknowledge a webhook, so the
        check is a real write: the heartbeat upsert, at most once per `ready_cache_s` (the
        heartbeat loop's own beats refresh the same cached answer)."""
        checks: dict[str, Any] = {"database": False, "dbos": not self.launch_dbos}
        try:
            if self.launch_dbos:
                ok, error = self._database_writable()
                if not ok:
                    checks["database_error"] = error
                checks["database"] = ok
            else:
                from sqlalchemy import text

                with self.db.engine.connect() as c:
                    c.execute(text("SELECT 1"))
                checks["database"] = True
        except Exception as exc:
            checks["database_error"] = type(exc).__name__
        if self.launch_dbos:
            checks["dbos"] = bool(self.dbos_ready)
        checks["ready"] = bool(self.started and checks["database"] and checks["dbos"])
        return checks

    def _database_writable(self) -> tuple[bool, str | None]:
        with self._write_lock:
            at, ok, error = self._write_ok
            if time.monotonic() - at < self.ready_cache_s:
                return ok, error
            with contextlib.suppress(Exception):  # _beat records the failure
                self._beat()
            return self._write_ok[1], self._write_ok[2]

    # ------------------------------------------------------------------ background loops
    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _beat(self) -> None:
        try:
            self._upsert_heartbeat()
        except Exception as exc:
            self._write_ok = (time.monotonic(), False, type(exc).__name__)
            raise
        self._write_ok = (time.monotonic(), True, None)

    def _upsert_heartbeat(self) -> None:
        now = datetime.now(UTC)
        with self.db.session() as s:
            row = s.get(ExecutorHeartbeat, self.executor_id)
            if row is None:
                s.add(
                    ExecutorHeartbeat(
                        executor_id=self.executor_id,
                        kind=self.kind if self.workers else "web",
                        host=socket.gethostname(),
                        pid=os.getpid(),
                        started_at=now,
                        last_seen=now,
                    )
                )
            else:
                row.last_seen = now

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL_S):
            try:
                self._beat()
                if self.workers:
                    self.recover_dead_executors()
            except Exception as exc:
                log.warning("heartbeat_failed", error=repr(exc))

    def dead_executors(self) -> list[str]:
        """Executors whose heartbeat is stale, whose local pid is gone, or that own PENDING
        workflows without any heartbeat row."""
        import psutil  # type: ignore[import-untyped]
        from dbos import DBOS

        host = socket.gethostname()
        cutoff = datetime.now(UTC) - timedelta(seconds=STALE_AFTER_S)
        dead: set[str] = set()
        with self.db.session() as s:
            rows = list(s.execute(select(ExecutorHeartbeat)).scalars())
        known = {r.executor_id for r in rows}
        for r in rows:
            if r.executor_id == self.executor_id:
                continue
            last = r.last_seen if r.last_seen.tzinfo else r.last_seen.replace(tzinfo=UTC)
            gone_locally = r.host == host and r.pid > 0 and not psutil.pid_exists(r.pid)
            if last < cutoff or gone_locally:
                dead.add(r.executor_id)
        pending = DBOS.list_workflows(status="PENDING", load_input=False, load_output=False)
        for wf in pending:
            owner = getattr(wf, "executor_id", None)
            if owner and owner != self.executor_id and owner not in known:
                dead.add(owner)
        return sorted(dead)

    def recover_dead_executors(self) -> list[str]:
        """Re-enqueue the PENDING workflows of dead executors; returns the ids recovered."""
        from dbos import DBOS

        dead = self.dead_executors()
        if not dead:
            return []
        handles = DBOS._recover_pending_workflows(dead)
        with self.db.session() as s:
            s.execute(delete(ExecutorHeartbeat).where(ExecutorHeartbeat.executor_id.in_(dead)))
        log.warning("recovered_dead_executors", executors=dead, workflows=len(handles))
        return dead

    def _watchdog_loop(self) -> None:
        while not self._stop.wait(self.watchdog_interval_s):
            try:
                self.sweep_undispatched()
                self.resume_orphans()
                self.recover_stuck_events()
            except Exception as exc:
                log.warning("watchdog_failed", error=repr(exc))

    def resume_orphans(self, older_than_s: float | None = None) -> list[str]:
        """Re-enqueue this executor's PENDING workflows that nothing in this process runs any
        more (their execution ended without recording an outcome), claimed more than
        `older_than_s` (default `SWITCHBOARD_STUCK_AFTER`) ago. Returns their ids."""
        from dbos import DBOS
        from dbos._dbos import _get_dbos_instance
        from dbos._utils import INTERNAL_QUEUE_NAME

        age = self.stuck_after_s if older_than_s is None else older_than_s
        dbos = _get_dbos_instance()
        pending = DBOS.list_workflows(
            status="PENDING", executor_id=self.executor_id, load_input=False, load_output=False
        )
        # Read after the listing: a workflow claimed in between is either running by now or
        # too recent for the age cut-off below.
        running_here = set(dbos._active_workflows_set.activeList())
        cutoff_ms = (time.time() - age) * 1000
        resumed = []
        for wf in pending:
            if wf.workflow_id in running_here or (wf.updated_at or 0) > cutoff_ms:
                continue
            # Conditional on the row still being PENDING on this executor (the call DBOS's own
            # recovery makes), so a run that finished or was taken over meanwhile is untouched.
            if dbos._sys_db.reenqueue_for_recovery(
                wf.workflow_id, [self.executor_id], INTERNAL_QUEUE_NAME
            ):
                resumed.append(wf.workflow_id)
        if resumed:
            log.warning("orphaned_workflows_resumed", count=len(resumed), workflows=resumed[:20])
        return resumed

    def recover_stuck_events(self, older_than_s: float | None = None) -> dict[str, int]:
        """Get every ledger row left `accepted`/`processing` for `older_than_s` (default
        `SWITCHBOARD_STUCK_AFTER`) moving again; see `switchboard.dispatch.recover_stuck_events`
        and the module docstring for each case."""
        age = self.stuck_after_s if older_than_s is None else older_than_s
        return dispatch.recover_stuck_events(self.db, age)

    def hand_back_pending(self) -> int:
        """After DBOS is destroyed: reset this executor's PENDING workflows to ENQUEUED on their
        queue (what DBOS's recovery does for a dead executor), so other workers run them now
        instead of after the dead-executor timeout. Returns how many were handed back."""
        from dbos._utils import INTERNAL_QUEUE_NAME
        from sqlalchemy import text

        with self.db.workflow_tables() as (conn, prefix):
            res = conn.execute(
                text(
                    f"UPDATE {prefix}workflow_status SET status = 'ENQUEUED', owner_xid = NULL, "
                    "started_at_epoch_ms = NULL, queue_name = COALESCE(queue_name, :internal) "
                    "WHERE status = 'PENDING' AND executor_id = :me"
                ),
                {"internal": INTERNAL_QUEUE_NAME, "me": self.executor_id},
            )
            conn.commit()
            return int(res.rowcount or 0)

    def sweep_undispatched(self, older_than_s: float = 10.0) -> int:
        """See `switchboard.dispatch.sweep_undispatched`."""
        return dispatch.sweep_undispatched(self.db, older_than_s)

    def _flush_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                if self.api_counter is not None:
                    self.api_counter.flush()
            except Exception as exc:
                log.warning("api_counter_flush_failed", error=repr(exc))
