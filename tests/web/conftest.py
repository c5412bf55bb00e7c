"""Fixtures for the service tests: a started Runtime (DBOS launched) on SQLite or PostgreSQL,
a connection with known secrets and webhook keys, signing helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from switchboard import dispatch, workflows
from switchboard.config import Settings

QUO_KEY = "quo-secret-key-AAAA1111"
ATTIO_TOKEN = "attio-secret-token-BBBB2222"
WEBHOOK_KEY = base64.b64encode(b"w" * 32).decode()
ATTIO_SECRET = "attio-webhook-secret-CCCC3333"
ADMIN_TOKEN = "admin-token-DDDD4444"


@pytest.fixture(autouse=True)
def no_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    """No cron ticks (reconcile, webhook check) firing in the middle of a test."""
    monkeypatch.setenv("SWITCHBOARD_SCHEDULES", "off")


@pytest.fixture
def registry_snapshot() -> Iterator[None]:
    """Restore the global handler registry after a test that registers handlers."""
    routers = dict(dispatch._routers)
    processors = dict(workflows._processors)
    yield
    dispatch._routers.clear()
    dispatch._routers.update(routers)
    workflows._processors.clear()
    workflows._processors.update(processors)


def make_settings(url: str, data_dir: Path, **kw: Any) -> Settings:
    return Settings(database_url=url, data_dir=data_dir, public_url="http://127.0.0.1:8400", **kw)


@pytest.fixture
def started(db_url: str, tmp_path: Path, registry_snapshot: None) -> Iterator[Any]:
    from switchboard.runtime import Runtime
    from tests.web import plugin

    plugin.install()
    rt = Runtime(make_settings(db_url, tmp_path, admin_token=ADMIN_TOKEN)).start()
    try:
        yield rt
    finally:
        rt.stop()


@dataclass
class Conn:
    id: str


@pytest.fixture
def conn(started: Any) -> Conn:
    from switchboard import connections

    info = connections.create_connection(
        started.db,
        started.box,
        crm="attio",
        quo_api_key=QUO_KEY,
        crm_token=ATTIO_TOKEN,
        quo_base_url="http://quo.invalid",
        crm_base_url="http://attio.invalid",
    )
    connections.add_subscription(
        started.db, started.box, connection_id=info.id, provider="quo", remote_id="WHq" + info.id,
        kind="calls", url="u", events=["call.completed"], resource_ids=["*"], key=WEBHOOK_KEY,
    )  # fmt: skip
    connections.add_subscription(
        started.db, started.box, connection_id=info.id, provider="attio", remote_id="WHa" + info.id,
        kind="people", url="u", events=["record.updated"], key=ATTIO_SECRET,
    )  # fmt: skip
    return Conn(info.id)


def quo_headers(body: bytes, key: str = WEBHOOK_KEY, ts_ms: int | None = None) -> dict[str, str]:
    from switchboard.quo.signatures import sign_legacy

    ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
    return {"openphone-signature": sign_legacy(body, key, ts), "content-type": "application/json"}


def quo_event(event_type: str, resource_id: str, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"EV{resource_id}",
            "object": "event",
            "type": event_type,
            "createdAt": "2026-03-02T15:06:12.900Z",
            "data": {"object": {"id": resource_id, "object": "call"}},
        }
    ).encode()


def attio_headers(body: bytes, secret: str = ATTIO_SECRET) -> dict[str, str]:
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"attio-signature": sig, "content-type": "application/json"}


def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def wait_status(db: Any, event_id: str, status: str, timeout: float = 15.0) -> Any:
    """Wait until the ledger event reaches `status`; returns the EventRecord."""
    from switchboard import ledger

    def check() -> Any:
        ev = ledger.get_event(db, event_id)
        return ev if ev is not None and ev.status == status else None

    return wait_for(check, timeout)
