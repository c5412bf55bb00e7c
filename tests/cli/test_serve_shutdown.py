"""`serve`, `serve --no-workers` and `worker` stop gracefully on a real SIGTERM (and SIGINT).

Each command runs as a real subprocess on a SQLite database while workflows are in flight (the
test plugin's `test.steps` events sleep in step 3, longer than the drain bound). After the
signal the process must exit 0 within the drain bound (plus start-up-sized slack for a loaded
machine), leave no PENDING workflow on its executor id (the unfinished ones are handed back as
ENQUEUED, so the next worker finishes them) and delete its heartbeat row.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.servers import cli_server, switchboard_command
from tests.web.conftest import wait_for, wait_status

from switchboard import connections, dispatch, ledger, workflows
from switchboard.config import Settings
from switchboard.crypto import generate_master_key
from switchboard.runtime import Runtime
from switchboard.store.models import ExecutorHeartbeat

ROOT = Path(__file__).resolve().parents[2]
DRAIN_S = 3.0
#: exit bound = drain + slack: interpreter and DBOS teardown on a machine shared by many tests
EXIT_SLACK_S = 12.0


@pytest.fixture
def registry_snapshot() -> Iterator[None]:
    routers, processors = dict(dispatch._routers), dict(workflows._processors)
    yield
    dispatch._routers.clear()
    dispatch._routers.update(routers)
    workflows._processors.clear()
    workflows._processors.update(processors)


def _workflow_counts(db_url: str, executor_id: str) -> dict[str, int]:
    from switchboard.config import workflow_database_url

    engine = sa.create_engine(workflow_database_url(db_url))
    try:
        with engine.connect() as c:
            rows = c.execute(
                sa.text(
                    "SELECT status, count(*) FROM workflow_status WHERE executor_id = :e "
                    "GROUP BY status"
                ),
                {"e": executor_id},
            )
            return {str(s): int(n) for s, n in rows}
    finally:
        engine.dispose()


def _heartbeat_ids(rt: Runtime) -> set[str]:
    with rt.db.session() as s:
        return {h.executor_id for h in s.query(ExecutorHeartbeat)}


def _in_step_3(step_log: Path, n: int) -> bool:
    if not step_log.exists():
        return False
    lines = step_log.read_text().splitlines()
    return sum('"step": 3, "phase": "start"' in line for line in lines) >= n


@pytest.mark.parametrize(
    ("command", "sig"),
    [
        ("serve", signal.SIGTERM),
        ("serve --no-workers", signal.SIGTERM),
        ("worker", signal.SIGTERM),
        ("serve", signal.SIGINT),
    ],
    ids=["serve-term", "serve-no-workers-term", "worker-term", "serve-int"],
)
def test_signal_drains_hands_back_and_exits_zero(
    command: str,
    sig: signal.Signals,
    tmp_path: Path,
    sqlite_url: str,
    registry_snapshot: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.web import plugin

    plugin.install()
    monkeypatch.setenv("SWITCHBOARD_SCHEDULES", "off")
    key = generate_master_key()
    step_log = tmp_path / "steps.jsonl"
    executor_id = f"shutdown-test-{command.replace(' ', '')}-{sig.name}"
    env = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": sqlite_url,
        "SWITCHBOARD_DATA_DIR": str(tmp_path),
        "SWITCHBOARD_SECRET_KEY": key,
        "SWITCHBOARD_EXTRA_WORKFLOW_MODULES": "tests.web.plugin",
        "SWITCHBOARD_EXECUTOR_ID": executor_id,
        "SWITCHBOARD_SHUTDOWN_DRAIN_S": str(DRAIN_S),
        "SWITCHBOARD_SCHEDULES": "off",
        "SWITCHBOARD_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
        "SB_TEST_STEP_LOG": str(step_log),
        "SB_TEST_STEP_SLEEP": "60",  # far longer than the drain: these must be handed back
    }
    settings = Settings(database_url=sqlite_url, data_dir=tmp_path, secret_key=key)  # type: ignore[arg-type]
    with Runtime(settings, workers=False) as web, contextlib.ExitStack() as stack:
        conn_id = connections.create_connection(
            web.db, web.box, crm="attio", quo_api_key="quo-k-123456",
            crm_token="attio-t-123456", quo_base_url="http://q", crm_base_url="http://a",
        ).id  # fmt: skip
        runs_workflows = command != "serve --no-workers"
        proc: subprocess.Popen[bytes]
        if command == "worker":
            log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
            stack.callback(log.close)
            proc = subprocess.Popen(
                [*switchboard_command(), "worker"], env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        else:
            server = stack.enter_context(
                cli_server(*command.split(), ready_path="/readyz", env=env, timeout=60)
            )
            proc = server.process
        stack.callback(_kill, proc)
        wait_for(lambda: executor_id in _heartbeat_ids(web), timeout=60, interval=0.2)

        ids = []
        for i in range(3):
            rec, _ = ledger.insert_event(
                web.db, connection_id=conn_id, provider="quo", event_type="test.steps",
                idempotency_key=f"shutdown-{i}", payload={}, resource_id=f"ACsd{i}",
            )  # fmt: skip
            dispatch.submit(
                dispatch.InboundEvent(rec.id, conn_id, "quo", "test.steps", f"ACsd{i}", {}, {})
            )
            ids.append(rec.id)
        if runs_workflows:
            wait_for(lambda: _in_step_3(step_log, len(ids)), timeout=60, interval=0.1)
            assert _workflow_counts(sqlite_url, executor_id).get("PENDING") == len(ids)

        signalled = time.monotonic()
        os.kill(proc.pid, sig)
        code = proc.wait(DRAIN_S + EXIT_SLACK_S + 30)
        took = time.monotonic() - signalled
        print(f"{command} {sig.name}: exit {code} after {took:.1f}s (drain bound {DRAIN_S}s)")
        assert code == 0, f"exit {code}"
        assert took <= DRAIN_S + EXIT_SLACK_S, f"exit took {took:.1f}s"
        counts = _workflow_counts(sqlite_url, executor_id)
        assert counts.get("PENDING", 0) == 0, counts
        if runs_workflows:
            assert counts.get("ENQUEUED", 0) == len(ids), counts  # handed back, not lost
        assert executor_id not in _heartbeat_ids(web)

    if runs_workflows:
        # The next worker finishes the handed-back work at once (no dead-executor wait).
        env2 = {**env, "SWITCHBOARD_EXECUTOR_ID": executor_id + "-next", "SB_TEST_STEP_SLEEP": "0"}
        with Runtime(settings, workers=False) as web2, contextlib.ExitStack() as stack:
            log2 = open(tmp_path / "worker-next.log", "wb")  # noqa: SIM115
            stack.callback(log2.close)
            nxt = subprocess.Popen(
                [*switchboard_command(), "worker"], env=env2, stdout=log2,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            stack.callback(_kill, nxt)
            for eid in ids:
                ev: Any = wait_status(web2.db, eid, "processed", timeout=60)
                assert ev.detail["steps"] == 5


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
