"""Health derived from what is failing (`switchboard.failures`): causes, problems with their
sentence and action, recovery, and the CSV export's round trip. Database only (no DBOS)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from switchboard import connections, failures, ledger
from switchboard.crypto import SecretBox
from switchboard.store import Database, migrate
from switchboard.store.models import Event, WebhookSubscription

AUTH_REASON = (
    "ApiError: attio notes.create: HTTP 401 [unauthorized] The access token is invalid "
    "(POST /v2/notes)"
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'sb.db'}"
    migrate(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def conn(db: Database) -> connections.ConnectionInfo:
    box = SecretBox(os.urandom(32))
    info = connections.create_connection(
        db, box, crm="attio", quo_api_key="quo-key-1", crm_token="crm-token-1",
        quo_base_url="http://q", crm_base_url="http://a", name="Acme",
    )  # fmt: skip
    for provider in ("quo", "attio"):
        connections.add_subscription(
            db, box, connection_id=info.id, provider=provider, remote_id="WH" + provider,
            kind="k", url="u", events=["e"], key="key-" + provider,
        )  # fmt: skip
    connections.set_status(db, info.id, "active", "webhooks registered")
    return connections.get_connection(db, info.id)


def _event(
    db: Database,
    cid: str,
    key: str,
    status: str,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    received_ago: timedelta = timedelta(0),
) -> str:
    ev, _ = ledger.insert_event(
        db, connection_id=cid, provider="quo", event_type="call.completed",
        idempotency_key=key, payload={"k": key}, resource_id="AC" + key,
    )  # fmt: skip
    if status != "accepted":
        ledger.finish(db, ev.id, status, reason=reason, detail=detail)
    if received_ago:
        with db.session() as s:
            s.execute(
                update(Event)
                .where(Event.id == ev.id)
                .values(received_at=datetime.now(UTC) - received_ago)
            )
    return ev.id


def _problems(db: Database, cid: str) -> list[failures.Problem]:
    return failures.diagnose(db, [connections.get_connection(db, cid)])[cid]


def test_a_revoked_crm_token_is_an_error_with_its_sentence_and_reconnect(
    db: Database, conn: connections.ConnectionInfo
) -> None:
    _event(db, conn.id, "ok1", "processed")
    assert _problems(db, conn.id) == []
    for i in range(3):
        _event(db, conn.id, f"f{i}", "failed", AUTH_REASON, {"exception": "ApiError"})
    problems = _problems(db, conn.id)
    assert [p.code for p in problems] == ["crm_auth"]
    auth = problems[0]
    assert auth.severity == "error" and auth.count == 3
    assert auth.sentence == "Attio rejects the token — reconnect"
    assert auth.action is not None and auth.action.form == "reconnect"
    assert f"connections reconnect {conn.id} --crm-token" in auth.action.command


def test_the_status_recorded_by_the_workflow_wins_over_the_reason_text(
    db: Database, conn: connections.ConnectionInfo
) -> None:
    ev = _event(
        db, conn.id, "q", "failed", "ApiError: x", {"http_status": 401, "api_provider": "quo"}
    )
    record = ledger.get_event(db, ev)
    assert record is not None
    cause = failures.cause_of(record)
    assert (cause.key, cause.http_status) == ("quo:auth", 401)
    assert [p.sentence for p in _problems(db, conn.id)] == ["Quo rejects the API key — reconnect"]


def test_other_4xx_on_writes_and_outages_have_their_own_words(
    db: Database, conn: connections.ConnectionInfo
) -> None:
    _event(db, conn.id, "a", "failed", "ApiError: attio notes.create: HTTP 422 bad value")
    _event(db, conn.id, "b", "failed", "ApiError: attio notes.create: HTTP 503 down")
    _event(db, conn.id, "c", "failed", "RuntimeError: boom")
    by_code = {p.code: p for p in _problems(db, conn.id)}
    assert by_code["writes_refused"].severity == "error"
    assert "Attio refused 1 write (HTTP 422)" in by_code["writes_refused"].sentence
    assert by_code["provider_down"].severity == "warn"
    assert by_code["failures"].count == 1


def test_recovery_a_later_success_clears_the_failures(
    db: Database, conn: connections.ConnectionInfo
) -> None:
    _event(db, conn.id, "f", "failed", AUTH_REASON)
    assert _problems(db, conn.id)[0].code == "crm_auth"
    _event(db, conn.id, "ok", "processed")
    assert _problems(db, conn.id) == []


def test_no_traffic_does_not_make_failures_healthy(
    db: Database, conn: connections.ConnectionInfo
) -> None:
    _event(db, conn.id, "f", "failed", AUTH_REASON)
    later = datetime.now(UTC) + timedelta(hours=3)  # hours without any traffic
    problems = failures.diagnose(db, [conn], now=later)[conn.id]
    assert [p.code for p in problems] == ["crm_auth"]


def test_expired_channel_missing_webhooks_stuck_and_waiting_each_have_a_message(
    db: Database, conn: connections.ConnectionInfo
) -> None:
    with db.session() as s:
        s.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.provider == "attio")
            .values(status="expired")
        )
    sentences = {p.code: p.sentence for p in _problems(db, conn.id)}
    assert sentences == {"channel_inactive": "The Attio change channel expired — register it again"}

    with db.session() as s:
        s.execute(update(WebhookSubscription).values(status="active"))
        s.query(WebhookSubscription).filter(WebhookSubscription.provider == "attio").delete()
    problems = _problems(db, conn.id)
    assert [p.code for p in problems] == ["webhooks_missing"]
    assert "No webhooks at Attio" in problems[0].sentence
    assert problems[0].action is not None and problems[0].action.form == "setup"

    stuck = _event(db, conn.id, "s", "accepted", received_ago=timedelta(minutes=30))
    ledger.mark_processing(db, stuck)
    _event(db, conn.id, "w", "accepted", received_ago=timedelta(minutes=3))
    by_code = {p.code: p for p in _problems(db, conn.id)}
    assert "1 event stuck in processing" in by_code["stuck"].sentence
    assert by_code["stuck"].severity == "error"
    assert "1 event waiting for a worker" in by_code["waiting"].sentence


def test_disconnected_connections_have_no_problems(
    db: Database, conn: connections.ConnectionInfo
) -> None:
    _event(db, conn.id, "f", "failed", AUTH_REASON)
    connections.delete_connection(db, conn.id)
    assert _problems(db, conn.id) == []


def test_failures_group_by_cause(db: Database, conn: connections.ConnectionInfo) -> None:
    for i in range(3):
        _event(db, conn.id, f"a{i}", "failed", AUTH_REASON)
    _event(db, conn.id, "x", "failed", "ApiError: attio notes.create: HTTP 422 bad")
    groups = failures.group_failures(ledger.failed_events(db, connection_id=conn.id))
    assert [(g["key"], g["count"]) for g in groups] == [("attio:auth", 3), ("attio:http_422", 1)]
    assert groups[0]["title"] == "Attio rejects the token"


def test_csv_export_round_trips_every_failure_field(
    db: Database, conn: connections.ConnectionInfo
) -> None:
    _event(db, conn.id, "a", "failed", AUTH_REASON + ', "quoted", with\nnewline', {"n": [1, "x"]})
    _event(db, conn.id, "b", "failed", None, {})
    events = ledger.failed_events(db, connection_id=conn.id)
    parsed = failures.from_csv(failures.to_csv(events))
    assert len(parsed) == 2
    for ev, row in zip(events, parsed, strict=True):
        want = ev.to_dict(with_payload=False)
        for key, value in want.items():
            assert row[key] == value, key
        assert row["cause"] == failures.cause_of(ev).key
    assert parsed[0]["http_status"] == 401 and parsed[1]["http_status"] is None


def test_problems_are_a_metric_by_connection_label(
    db: Database, conn: connections.ConnectionInfo
) -> None:
    from types import SimpleNamespace

    from switchboard.failures import problems_family
    from switchboard.metrics import connection_label

    _event(db, conn.id, "f", "failed", AUTH_REASON)
    family = problems_family(SimpleNamespace(db=db))
    [sample] = family.samples
    assert sample.labels == {
        "connection": connection_label(conn.id), "code": "crm_auth", "severity": "error"
    }  # fmt: skip
    assert sample.value == 1.0


def test_reconnect_rebuilds_the_shared_clients(
    db: Database, conn: connections.ConnectionInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`clients.clients_of` (the one per-connection cache) builds new clients once the stored
    secrets change (`connections.credentials_stamp`), in any process."""
    import asyncio
    from types import SimpleNamespace

    from switchboard import clients, context

    box = SecretBox(os.urandom(32))
    built: list[str] = []

    def fake_crm(connection_id: str, **_: Any) -> Any:
        built.append(connection_id)
        return SimpleNamespace(token=connections.load_credentials(db, box, connection_id))

    monkeypatch.setattr(clients, "quo_client_for", lambda cid, **_: SimpleNamespace())
    monkeypatch.setattr(clients, "crm_connector_for", fake_crm)
    ctx: Any = SimpleNamespace(db=db, box=box, settings=None, api_counter=None)
    # the fixture's connection was stored with another box: re-encrypt its secrets with this one
    connections.update_credentials(db, box, conn.id, crm_token="old", quo_api_key="q")
    context.install(ctx)
    try:

        async def scenario() -> None:
            first = await clients.clients_of(conn.id)
            assert await clients.clients_of(conn.id) == first  # cached
            connections.update_credentials(db, box, conn.id, crm_token="new")
            _, crm = await clients.clients_of(conn.id)
            assert crm.token.crm_token == "new"

        asyncio.run(scenario())
    finally:
        context.uninstall(ctx)
        clients.forget(conn.id)
    assert built == [conn.id, conn.id]
