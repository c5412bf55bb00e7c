"""Admin API: token rules, no secrets in output or logs, events list/filter, replay, usage,
health, metrics, and clear 4xx for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from switchboard import connections
from switchboard.web import create_app
from tests.web.conftest import (
    ADMIN_TOKEN,
    ATTIO_SECRET,
    ATTIO_TOKEN,
    QUO_KEY,
    WEBHOOK_KEY,
    quo_event,
    quo_headers,
    wait_status,
)


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The admin API is database-agnostic; its tests run on SQLite (the ledger and ingestion
    tests cover PostgreSQL)."""
    return sqlite_url


AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LOCAL = "http://127.0.0.1"
SECRETS = (QUO_KEY, ATTIO_TOKEN, WEBHOOK_KEY, ATTIO_SECRET)


@pytest.fixture
def client(started: Any) -> TestClient:
    return TestClient(create_app(started, bind_host="0.0.0.0"), base_url=LOCAL)


def test_token_required(started: Any, conn: Any, client: TestClient) -> None:
    assert client.get("/api/connections").status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.get("/api/connections", headers=bad).status_code == 401
    assert client.get("/api/connections", headers={"X-Admin-Token": ADMIN_TOKEN}).status_code == 200
    assert client.get("/api/connections", headers=AUTH).status_code == 200
    # health and webhooks are not behind the token
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json()["ready"] is True


def test_no_token_set_means_a_generated_one(started: Any, conn: Any) -> None:
    import stat

    started.settings = started.settings.model_copy(update={"admin_token": None})
    app = create_app(started, bind_host="127.0.0.1")
    token_file = started.settings.data_dir / "admin.token"
    assert app.state.generated_token_file == token_file
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 40
    local = TestClient(app, base_url=LOCAL)
    r = local.get("/api/connections")
    assert r.status_code == 401 and "admin token required" in r.json()["error"]
    assert local.get("/api/connections", headers={"X-Admin-Token": token}).status_code == 200
    # the next start reads the same token and does not announce it again
    again = create_app(started, bind_host="0.0.0.0")
    assert again.state.admin_token == token and again.state.generated_token_file is None


def test_open_on_loopback_is_explicit_and_loopback_only(started: Any, conn: Any) -> None:
    started.settings = started.settings.model_copy(
        update={"admin_token": None, "admin_open_on_loopback": True}
    )
    local = TestClient(create_app(started, bind_host="127.0.0.1"), base_url=LOCAL)
    assert local.get("/api/connections").status_code == 200
    public = TestClient(create_app(started, bind_host="0.0.0.0"), base_url=LOCAL)
    assert public.get("/api/connections").status_code == 401


def test_secrets_never_in_output_or_logs(
    started: Any, conn: Any, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    import structlog

    from switchboard.logs import configure_logging, get_logger

    configure_logging("DEBUG", "json")
    try:
        _check_secrets(started, conn, client, capsys, get_logger)
    finally:
        structlog.reset_defaults()


def _check_secrets(
    started: Any, conn: Any, client: TestClient, capsys: Any, get_logger: Any
) -> None:
    body = quo_event("test.fail_once", "ACsecret")
    r = client.post(f"/webhooks/quo/{conn.id}", content=body, headers=quo_headers(body))
    event_id = r.json()["events"][0]["event_id"]
    wait_status(started.db, event_id, "failed")
    get_logger("test").info("leak attempt", detail=f"key is {QUO_KEY}", api_key=ATTIO_TOKEN)
    creds = connections.load_credentials(started.db, started.box, conn.id)
    assert QUO_KEY not in repr(creds)
    texts = [
        client.get("/api/connections", headers=AUTH).text,
        client.get(f"/api/connections/{conn.id}", headers=AUTH).text,
        client.get("/api/events?with_payload=true", headers=AUTH).text,
        client.get(f"/api/events/{event_id}", headers=AUTH).text,
        client.get("/metrics").text,
        client.get("/openapi.json").text,
    ]
    out = capsys.readouterr()
    texts += [out.out, out.err]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
    assert "leak attempt" in out.err
    # and in the database only encrypted
    from sqlalchemy import text as sql

    with started.db.engine.connect() as c:
        dump = " ".join(
            str(row)
            for table in ("connections", "webhook_subscriptions", "events")
            for row in c.execute(sql(f"SELECT * FROM {table}"))
        )
    for secret in SECRETS:
        assert secret not in dump


def test_connection_show_and_settings(started: Any, conn: Any, client: TestClient) -> None:
    r = client.get(f"/api/connections/{conn.id}", headers=AUTH)
    assert r.status_code == 200
    data = r.json()
    assert data["settings"]["create_without_phone"] is False
    assert {w["provider"] for w in data["webhooks"]} == {"quo", "attio"}
    assert client.get("/api/connections/conn_nope", headers=AUTH).status_code == 404
    r = client.patch(
        f"/api/connections/{conn.id}/settings", json={"auto_create_people": True}, headers=AUTH
    )
    assert r.status_code == 200 and r.json()["connection"]["settings"]["auto_create_people"]
    assert r.json()["resubscribe_workflow_id"] is None
    r = client.patch(
        f"/api/connections/{conn.id}/settings",
        json={"quo_contact_policy": "quo_edits_to_crm"},
        headers=AUTH,
    )
    assert r.json()["connection"]["settings"]["quo_contact_policy"] == "quo_edits_to_crm"
    for bad in (
        {"nope": 1},
        {"quo_contact_policy": "quo_wins"},
        {"quo_contact_policy": None},
        {"default_region": "XX"},
        {"event_kinds": ["faxes"]},
        {"auto_create_people": "maybe"},
        {"default_region": None},
        [1, 2],
    ):
        r = client.patch(f"/api/connections/{conn.id}/settings", json=bad, headers=AUTH)
        assert 400 <= r.status_code < 500, (bad, r.status_code, r.text)
    r = client.patch(f"/api/connections/{conn.id}/settings", content=b"{bad json", headers=AUTH)
    assert r.status_code == 422


def test_events_filter_and_replay(started: Any, conn: Any, client: TestClient) -> None:
    url = f"/webhooks/quo/{conn.id}"
    ids = {}
    for etype, rid in (("test.dummy", "ACa"), ("test.fail_once", "ACb"), ("zzz.unknown", "ACc")):
        body = quo_event(etype, rid)
        ids[etype] = client.post(url, content=body, headers=quo_headers(body)).json()["events"][0][
            "event_id"
        ]
    failed = ids["test.fail_once"]
    wait_status(started.db, failed, "failed")
    wait_status(started.db, ids["test.dummy"], "processed")
    r = client.get(f"/api/events?connection_id={conn.id}&status=failed", headers=AUTH)
    assert [e["id"] for e in r.json()["events"]] == [failed]
    assert "RuntimeError" in r.json()["events"][0]["reason"]
    assert r.json()["counts"] == {"failed": 1, "processed": 1, "ignored": 1}
    r = client.get("/api/events?status=ignored&status=processed", headers=AUTH)
    assert len(r.json()["events"]) == 2
    r = client.get("/api/events?event_type=test.dummy", headers=AUTH)
    assert [e["id"] for e in r.json()["events"]] == [ids["test.dummy"]]
    # replay
    r = client.post(f"/api/events/{ids['test.dummy']}/replay", headers=AUTH)
    assert r.status_code == 409
    r = client.post("/api/events/evt_nope/replay", headers=AUTH)
    assert r.status_code == 404
    r = client.post(f"/api/events/{failed}/replay", headers=AUTH)
    assert r.status_code == 200 and r.json()["workflow_id"] == f"{failed}:replay:1"
    ev = wait_status(started.db, failed, "processed")
    assert ev.attempts == 2 and ev.detail["replays"] == 1
    from sqlalchemy import select

    from switchboard.store.models import AuditEntry

    with started.db.session() as s:
        audit = [a.detail for a in s.execute(select(AuditEntry)).scalars() if a.action == "replay"]
    assert audit == [{"event_id": failed, "replay": 1, "previous": audit[0]["previous"]}]
    assert audit[0]["previous"]["status"] == "failed"
    # bad query input → 4xx, never 5xx
    for q in ("status=bogus", "limit=0", "limit=100000", "offset=-1", "since=yesterday"):
        r = client.get(f"/api/events?{q}", headers=AUTH)
        assert r.status_code == 422, (q, r.status_code)
    assert client.get("/api/events/evt_nope", headers=AUTH).status_code == 404
    r = client.get(f"/api/connections/{conn.id}/rejections", headers=AUTH)
    assert r.status_code == 200


def test_usage_and_metrics(started: Any, conn: Any, client: TestClient) -> None:
    hook = started.api_counter.hook(conn.id)

    class Info:
        def __init__(self, status: int | None) -> None:
            self.provider = "quo"
            self.status = status
            self.error = None if status else "ConnectError"

    for status in (200, 200, 429, 500, None):
        hook(Info(status))
    started.api_counter.flush()
    r = client.get(f"/api/usage?connection_id={conn.id}", headers=AUTH)
    assert r.json() == [
        {"connection_id": conn.id, "provider": "quo", "requests": 5, "http_429": 1, "errors": 2}
    ]
    body = quo_event("test.dummy", "ACm")
    client.post(f"/webhooks/quo/{conn.id}", content=body, headers=quo_headers(body))
    text = client.get("/metrics", headers=AUTH).text
    for name in (
        "switchboard_webhook_ack_seconds_bucket",
        "switchboard_events{",
        'switchboard_api_requests_recorded{provider="quo"} 5.0',
        'switchboard_api_429_recorded{provider="quo"} 1.0',
        "switchboard_api_requests_total",
        "switchboard_queue_depth",
        "switchboard_sync_progress_ratio",
    ):
        assert name in text, name


def test_sync_and_setup_endpoints(started: Any, conn: Any, client: TestClient) -> None:
    r = client.get(f"/api/connections/{conn.id}/sync", headers=AUTH)
    assert r.status_code == 200 and r.json() == {}
    assert client.get("/api/connections/conn_nope/sync", headers=AUTH).status_code == 404
    r = client.get(f"/api/connections/{conn.id}/sync?kind=weekly", headers=AUTH)
    assert r.status_code == 422
    connections.delete_connection(started.db, conn.id)
    assert client.post(f"/api/connections/{conn.id}/setup", headers=AUTH).status_code == 409
    assert client.post(f"/api/connections/{conn.id}/sync", headers=AUTH).status_code == 409
    r = client.patch(
        f"/api/connections/{conn.id}/settings", json={"auto_create_people": True}, headers=AUTH
    )
    assert r.status_code == 409


def test_unreachable_quo_is_a_clear_answer_not_a_500(
    started: Any, conn: Any, client: TestClient
) -> None:
    # quo.invalid never resolves: the migration's pre-check fails before anything changed
    r = client.post(f"/api/connections/{conn.id}/quo-webhooks/migrate", headers=AUTH)
    assert r.status_code == 409, r.text
    assert "migration aborted" in r.json()["error"] and "dated.users" in r.json()["error"]
    info = connections.get_connection(started.db, conn.id)
    assert {w.remote_id for w in info.webhooks if w.provider == "quo"} == {"WHq" + conn.id}


def test_a_provider_failing_for_good_answers_502(started: Any, client: TestClient) -> None:
    from switchboard.http import ApiError

    app = client.app

    @app.get("/api/_boom")  # type: ignore[attr-defined,misc]
    async def boom() -> None:
        raise ApiError(provider="quo", operation="users.list", status=None, message="down")

    r = client.get("/api/_boom", headers=AUTH)
    assert r.status_code == 502 and "users.list" in r.json()["error"]
