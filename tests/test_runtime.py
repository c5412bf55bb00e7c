"""Runtime and DBOS wiring: queues, web-only processes, dead-executor recovery after SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from switchboard import connections, dispatch, ledger, workflows
from switchboard.config import Settings
from switchboard.crypto import generate_master_key
from switchboard.runtime import Runtime
from switchboard.store.models import ExecutorHeartbeat
from tests.web.conftest import wait_for, wait_status

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_SCHEDULES", "off")


@pytest.fixture
def registry_snapshot() -> Iterator[None]:
    routers, processors = dict(dispatch._routers), dict(workflows._processors)
    yield
    dispatch._routers.clear()
    dispatch._routers.update(routers)
    workflows._processors.clear()
    workflows._processors.update(processors)


@pytest.fixture
def master_key() -> str:
    return generate_master_key()


def _settings(url: str, tmp_path: Path, key: str) -> Settings:
    return Settings(database_url=url, data_dir=tmp_path, secret_key=key)  # type: ignore[arg-type]


def _event(rt: Runtime, conn_id: str, etype: str, rid: str) -> str:
    rec, _ = ledger.insert_event(
        rt.db, connection_id=conn_id, provider="quo", event_type=etype,
        idempotency_key=f"{etype}:{rid}", payload={}, resource_id=rid,
    )  # fmt: skip
    dispatch.submit(
        dispatch.InboundEvent(rec.id, conn_id, "quo", etype, rid, {}, {}),
    )
    return rec.id


def _conn(rt: Runtime) -> str:
    return connections.create_connection(
        rt.db, rt.box, crm="attio", quo_api_key="quo-k-123456", crm_token="attio-t-123456",
        quo_base_url="http://q", crm_base_url="http://a",
    ).id  # fmt: skip


def test_queues_are_registered_partitioned(
    sqlite_url: str, tmp_path: Path, master_key: str, registry_snapshot: None
) -> None:
    from dbos import DBOS

    with Runtime(_settings(sqlite_url, tmp_path, master_key)) as rt:
        assert rt.ready()["ready"]
        for name, spec in workflows.QUEUES.items():
            q = DBOS.retrieve_queue(name)
            assert q is not None
            assert q._partition_concurrency == 1
            assert q._worker_concurrency == spec.worker_concurrency
        with pytest.raises(ValueError):
            workflows.enqueue(
                "activity", workflows.run_event, "x", "y", partition_key="", workflow_id="w"
            )
        with pytest.raises(ValueError):
            workflows.enqueue(
                "nope", workflows.run_event, "x", "y", partition_key="k", workflow_id="w"
            )
    assert not rt.started
    with pytest.raises(RuntimeError):
        from switchboard.runtime import runtime

        runtime()


def test_web_only_process_never_dequeues(
    sqlite_url: str, tmp_path: Path, master_key: str, registry_snapshot: None
) -> None:
    from tests.web import plugin

    plugin.install()
    settings = _settings(sqlite_url, tmp_path, master_key)
    with Runtime(settings, workers=False) as web:
        conn_id = _conn(web)
        event_id = _event(web, conn_id, "test.dummy", "ACweb")
        time.sleep(1.0)
        ev = ledger.get_event(web.db, event_id)
        assert ev is not None and ev.status == "accepted"
        assert plugin.COUNTS[event_id] == 0
    with Runtime(settings, workers=True) as worker:
        wait_status(worker.db, event_id, "processed")
        assert plugin.COUNTS[event_id] == 1


def test_dead_executor_detection(
    sqlite_url: str, tmp_path: Path, master_key: str, registry_snapshot: None
) -> None:
    with Runtime(_settings(sqlite_url, tmp_path, master_key)) as rt:
        old = datetime.now(UTC) - timedelta(minutes=5)
        with rt.db.session() as s:
            s.add(ExecutorHeartbeat(executor_id="stale", host="elsewhere", pid=1, last_seen=old))
            s.add(
                ExecutorHeartbeat(
                    executor_id="gone-local",
                    host=os.uname().nodename,
                    pid=2**22 + 12345,
                    last_seen=datetime.now(UTC),
                )
            )
            s.add(
                ExecutorHeartbeat(
                    executor_id="alive", host="elsewhere", pid=1, last_seen=datetime.now(UTC)
                )
            )
        import socket

        if socket.gethostname() != os.uname().nodename:  # pragma: no cover
            pytest.skip("hostname mismatch")
        assert rt.dead_executors() == ["gone-local", "stale"]
        assert rt.recover_dead_executors() == ["gone-local", "stale"]
        with rt.db.session() as s:
            left = {h.executor_id for h in s.query(ExecutorHeartbeat)}
        assert left == {"alive", rt.executor_id}


# ------------------------------------------------------------------------------ SIGKILL recovery
def _spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "switchboard"
    out = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [str(exe), "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _steps(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        _stop(p)


@pytest.mark.parametrize("mode", ["postgres-survivor", "sqlite-restart"])
def test_sigkill_worker_work_is_finished_elsewhere(
    mode: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    master_key: str,
    registry_snapshot: None,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    from tests.web import plugin

    plugin.install()
    url = str(request.getfixturevalue("pg_url" if mode.startswith("postgres") else "sqlite_url"))
    step_log = tmp_path / "steps.jsonl"
    env = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": url,
        "SWITCHBOARD_DATA_DIR": str(tmp_path),
        "SWITCHBOARD_SECRET_KEY": master_key,
        "SWITCHBOARD_EXTRA_WORKFLOW_MODULES": "tests.web.plugin",
        "SWITCHBOARD_HEARTBEAT_INTERVAL": "0.5",
        "SWITCHBOARD_EXECUTOR_STALE_AFTER": "5",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "SB_TEST_STEP_LOG": str(step_log),
        "SB_TEST_STEP_SLEEP": "2",
    }
    env.pop("SWITCHBOARD_EXECUTOR_ID", None)
    with Runtime(_settings(url, tmp_path, master_key), workers=False) as web:
        conn_id = _conn(web)
        ids = [_event(web, conn_id, "test.steps", f"ACkill{i}") for i in range(3)]
        n_workers = 2 if mode.startswith("postgres") else 1
        for i in range(n_workers):
            workers.append(_spawn_worker(env, tmp_path / f"worker{i}.log"))

        def in_sleep() -> Any:
            return next((r for r in _steps(step_log) if r["step"] == 3), None)

        victim_row = wait_for(in_sleep, timeout=60, interval=0.1)
        victim_pid = victim_row["pid"]
        victim = next(p for p in workers if p.pid == victim_pid)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        killed_at = len(_steps(step_log))
        if mode == "sqlite-restart":
            workers.append(_spawn_worker(env, tmp_path / "worker-restarted.log"))
        for eid in ids:
            ev = wait_status(web.db, eid, "processed", timeout=90)
            # 1, or 2 when the kill hit that event's begin step itself (the in-flight step re-runs)
            assert ev.attempts in (1, 2)
            assert ev.detail["steps"] == 5
        rows = _steps(step_log)
        survivor_pids = {p.pid for p in workers if p.poll() is None}
        victim_event = victim_row["event"]
        mine = [r for r in rows if r["event"] == victim_event]
        done_by_victim = {
            r["step"] for r in mine if r["phase"] == "done" and r["pid"] == victim_pid
        }
        done_by_survivor = {
            r["step"] for r in mine if r["phase"] == "done" and r["pid"] in survivor_pids
        }
        assert 3 not in done_by_victim
        assert done_by_victim | done_by_survivor == {1, 2, 3, 4, 5}
        assert done_by_victim & done_by_survivor == set()  # completed steps were not re-run
        assert {1, 2} <= done_by_victim
        ev = ledger.get_event(web.db, victim_event)
        assert ev is not None and ev.detail["finished_by"] in survivor_pids
        assert len(rows) > killed_at


def test_sweeper_dispatches_events_whose_enqueue_was_lost(
    sqlite_url: str, tmp_path: Path, master_key: str, registry_snapshot: None
) -> None:
    from tests.web import plugin

    plugin.install()
    with Runtime(_settings(sqlite_url, tmp_path, master_key)) as rt:
        conn_id = _conn(rt)
        lost, _ = ledger.insert_event(
            rt.db, connection_id=conn_id, provider="quo", event_type="test.dummy",
            idempotency_key="lost", payload={}, resource_id="AClost",
        )  # fmt: skip
        queued = _event(rt, conn_id, "test.dummy", "ACqueued")
        wait_status(rt.db, queued, "processed")
        assert rt.sweep_undispatched(older_than_s=-1) == 1  # only the lost one
        wait_status(rt.db, lost.id, "processed")
        assert plugin.COUNTS[lost.id] == 1 and plugin.COUNTS[queued] == 1
        assert rt.sweep_undispatched(older_than_s=-1) == 0


def test_sweeper_dispatches_a_lost_replay_under_its_own_workflow_id(
    sqlite_url: str, tmp_path: Path, master_key: str, registry_snapshot: None
) -> None:
    """A replayed row is `accepted` again under `<event id>:replay:<n>`: the sweeper looks that
    workflow up (not the event id, whose workflow finished long ago) and dispatches it once."""
    from dbos import DBOS

    from tests.web import plugin

    plugin.install()
    with Runtime(_settings(sqlite_url, tmp_path, master_key)) as rt:
        conn_id = _conn(rt)
        ev, _ = ledger.insert_event(
            rt.db, connection_id=conn_id, provider="quo", event_type="test.dummy",
            idempotency_key="replayed", payload={}, resource_id="ACreplayed",
        )  # fmt: skip
        ledger.finish(rt.db, ev.id, "failed", reason="boom")
        _, wid = ledger.reopen_for_replay(rt.db, ev.id)  # the enqueue of the replay is lost
        assert wid == f"{ev.id}:replay:1"
        assert rt.sweep_undispatched(older_than_s=-1) == 1
        wait_status(rt.db, ev.id, "processed")
        assert [w.workflow_id for w in DBOS.list_workflows(workflow_ids=[wid])] == [wid]
        assert plugin.COUNTS[ev.id] == 1
        assert rt.sweep_undispatched(older_than_s=-1) == 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////data/switchboard.db", "sqlite:////data/switchboard-workflows.db"),
        ("sqlite:///rel/x.sqlite3", "sqlite:///rel/x-workflows.sqlite3"),
        ("sqlite:////data.d/plain", "sqlite:////data.d/plain-workflows"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        ),
    ],
)
def test_workflow_database_url(url: str, expected: str) -> None:
    from switchboard.config import workflow_database_url

    assert workflow_database_url(url) == expected


def test_sqlite_workflow_tables_live_in_their_own_file(
    sqlite_url: str, tmp_path: Path, master_key: str, registry_snapshot: None
) -> None:
    """DBOS's frequent writes must not take the application file's write lock (the webhook
    ack's ledger insert waits on it), so on SQLite they go to `<name>-workflows.db`."""
    import sqlalchemy as sa

    from tests.web import plugin

    plugin.install()
    with Runtime(_settings(sqlite_url, tmp_path, master_key)) as rt:
        event_id = _event(rt, _conn(rt), "test.dummy", "ACfile")
        wait_status(rt.db, event_id, "processed")
        app_tables = set(sa.inspect(rt.db.engine).get_table_names())
        assert "events" in app_tables and "workflow_status" not in app_tables
        with rt.db.workflow_tables() as (conn, schema):
            assert schema == ""
            ids = conn.execute(sa.text("SELECT workflow_uuid FROM workflow_status")).scalars()
            assert event_id in set(ids)
        assert (tmp_path / "switchboard-workflows.db").exists()


def test_rate_limit_buckets_live_in_their_own_sqlite_file(tmp_path: Path) -> None:
    import asyncio

    import sqlalchemy as sa

    from switchboard.config import rate_limit_database_url
    from switchboard.http.limiters import RateLimit, SqlRateLimiter

    app_url = f"sqlite:///{tmp_path / 'switchboard.db'}"
    assert rate_limit_database_url(app_url) == f"sqlite:///{tmp_path / 'switchboard-ratelimits.db'}"
    limiter = SqlRateLimiter("k", RateLimit(rate=10, period=1.0), app_url)

    async def one() -> None:
        await limiter.release(await limiter.acquire())

    asyncio.run(one())
    engine = sa.create_engine(rate_limit_database_url(app_url))
    try:
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM rate_buckets")).scalar_one() == 1
    finally:
        engine.dispose()
    assert not (tmp_path / "switchboard.db").exists()


# ------------------------------------------------------------------------------ watchdog
def test_watchdog_resumes_this_executors_orphaned_workflow(
    sqlite_url: str, tmp_path: Path, master_key: str, registry_snapshot: None
) -> None:
    """A workflow PENDING on this live executor that nothing here runs (its outcome write
    failed) goes back to ENQUEUED on its own queue; one running here is left alone."""
    import sqlalchemy as sa
    from dbos import DBOS

    from tests.web import plugin

    plugin.install()
    # listens to `setup` only, so the `activity` workflow below stays queued
    with Runtime(_settings(sqlite_url, tmp_path, master_key), queues=["setup"]) as rt:
        event_id = _event(rt, _conn(rt), "test.dummy", "ACorphan")
        with rt.db.workflow_tables() as (conn, _):
            conn.execute(
                sa.text(
                    "UPDATE workflow_status SET status = 'PENDING', executor_id = :me, "
                    "updated_at = updated_at - 600000 WHERE workflow_uuid = :id"
                ),
                {"me": rt.executor_id, "id": event_id},
            )
            conn.commit()
        assert rt.resume_orphans(older_than_s=300) == [event_id]
        wf = DBOS.get_workflow_status(event_id)
        assert wf is not None and wf.status == "ENQUEUED" and wf.queue_name == "activity"
        assert rt.resume_orphans(older_than_s=0) == []  # not PENDING any more


def test_watchdog_redispatches_an_event_whose_workflow_ended_without_finishing_it(
    sqlite_url: str, tmp_path: Path, master_key: str, registry_snapshot: None
) -> None:
    from tests.web import plugin

    plugin.install()
    with Runtime(_settings(sqlite_url, tmp_path, master_key)) as rt:
        event_id = _event(rt, _conn(rt), "test.dummy", "ACredispatch")
        wait_status(rt.db, event_id, "processed")
        # the workflow succeeded but the row's final write was lost
        ledger.finish(rt.db, event_id, "processing")
        assert rt.recover_stuck_events(older_than_s=3600)["redispatched"] == 0  # too recent
        assert rt.recover_stuck_events(older_than_s=-1)["redispatched"] == 1
        ev = wait_status(rt.db, event_id, "processed")
        assert ev.detail["workflow_id"] == f"{event_id}:recover:1"
        assert ev.detail["redispatches"] == 1
        assert plugin.COUNTS[event_id] == 2
        assert rt.recover_stuck_events(older_than_s=-1) == {
            "dispatched": 0, "redispatched": 0, "given_up": 0,
        }  # fmt: skip


def test_readiness_is_a_write_probe(
    sqlite_url: str,
    tmp_path: Path,
    master_key: str,
    registry_snapshot: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.e2e import db_outage

    flag = tmp_path / "outage.flag"
    monkeypatch.setenv("SB_TEST_DB_OUTAGE_FLAG", str(flag))
    monkeypatch.setenv("SWITCHBOARD_READY_CACHE_S", "0")
    assert db_outage  # installs the write-refusing hook on every engine
    with Runtime(_settings(sqlite_url, tmp_path, master_key)) as rt:
        assert rt.ready()["ready"]
        flag.touch()
        try:
            checks = rt.ready()
            assert not checks["ready"] and checks["database_error"] == "OperationalError"
        finally:
            flag.unlink()
        assert rt.ready()["ready"]


def test_stop_hands_unfinished_workflows_back(
    db_url: str, tmp_path: Path, master_key: str, registry_snapshot: None
) -> None:
    """What a graceful stop leaves PENDING on its executor goes back to ENQUEUED on its queue
    (SQLite's separate workflows file and PostgreSQL's `dbos` schema alike)."""
    import sqlalchemy as sa

    from switchboard.store.db import Database
    from tests.web import plugin

    plugin.install()
    rt = Runtime(_settings(db_url, tmp_path, master_key), queues=["setup"]).start()
    try:
        event_id = _event(rt, _conn(rt), "test.dummy", "AChandback")
        with rt.db.workflow_tables() as (conn, prefix):
            conn.execute(
                sa.text(
                    f"UPDATE {prefix}workflow_status SET status = 'PENDING', executor_id = :me "
                    "WHERE workflow_uuid = :id"
                ),
                {"me": rt.executor_id, "id": event_id},
            )
            conn.commit()
    finally:
        rt.stop(timeout_s=0)
    db = Database(rt.database_url)
    try:
        with db.workflow_tables() as (conn, prefix):
            row = conn.execute(
                sa.text(
                    f"SELECT status, queue_name, executor_id FROM {prefix}workflow_status "
                    "WHERE workflow_uuid = :id"
                ),
                {"id": event_id},
            ).one()
        with db.session() as s:
            beats = s.query(ExecutorHeartbeat).count()
    finally:
        db.dispose()
    assert tuple(row) == ("ENQUEUED", "activity", rt.executor_id)
    assert beats == 0
