"""The event ledger: atomic dedupe under concurrency (SQLite and PostgreSQL), statuses, lists."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard import dispatch, ledger
from switchboard.store import Database, migrate
from switchboard.store.models import Connection


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    migrate(db_url)
    database = Database(db_url)
    with database.session() as s:
        for cid in ("c1", "c2"):
            s.add(
                Connection(
                    id=cid,
                    crm="attio",
                    quo_base_url="q",
                    crm_base_url="a",
                    quo_api_key_enc="x",
                    crm_token_enc="y",
                )
            )
    yield database
    database.dispose()


def _insert(db: Database, key: str, conn: str = "c1", **kw: Any) -> tuple[ledger.EventRecord, bool]:
    return ledger.insert_event(
        db,
        connection_id=conn,
        provider=kw.pop("provider", "quo"),
        event_type=kw.pop("event_type", "call.completed"),
        idempotency_key=key,
        payload={"k": key},
        resource_id=kw.pop("resource_id", "AC1"),
        **kw,
    )


def test_duplicates_under_concurrency_make_one_row(db: Database) -> None:
    results: list[tuple[ledger.EventRecord, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        try:
            barrier.wait()
            for key in ("a", "b", "c"):
                results.append(_insert(db, key))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 48
    for key in ("a", "b", "c"):
        rows = [r for r, _ in results if r.idempotency_key == key]
        created = [c for r, c in results if r.idempotency_key == key and c]
        assert len({r.id for r in rows}) == 1
        assert len(created) == 1
    assert len(ledger.list_events(db)) == 3


def test_same_key_other_connection_or_provider_is_a_new_event(db: Database) -> None:
    a, ca = _insert(db, "k")
    b, cb = _insert(db, "k", conn="c2")
    c, cc = _insert(db, "k", provider="attio")
    assert ca and cb and cc and len({a.id, b.id, c.id}) == 3
    long_key = "x" * 1000
    d, cd = _insert(db, long_key)
    e, ce = _insert(db, long_key)
    assert cd and not ce and d.id == e.id and len(d.idempotency_key) <= 300


def test_status_transitions_and_lists(db: Database) -> None:
    ev, _ = _insert(db, "s1")
    assert ev.status == "accepted" and ev.attempts == 0
    ledger.mark_processing(db, ev.id)
    assert ledger.finish(db, ev.id, "skipped", reason="no phone", detail={"phone": None})
    got = ledger.get_event(db, ev.id)
    assert got is not None
    assert (got.status, got.reason, got.attempts) == ("skipped", "no phone", 1)
    assert got.processed_at is not None and got.detail == {"phone": None}
    # only_from guards
    assert not ledger.finish(db, ev.id, "ignored", only_from=("accepted",))
    with pytest.raises(ValueError):
        ledger.finish(db, ev.id, "weird")
    ev2, _ = _insert(db, "s2", event_type="message.received", resource_id="MS1")
    ledger.finish(db, ev2.id, "failed", reason="boom")
    assert [e.id for e in ledger.list_events(db, status="failed")] == [ev2.id]
    assert [
        e.id
        for e in ledger.list_events(db, status=["failed", "skipped"], event_type="call.completed")
    ] == [ev.id]
    assert [e.id for e in ledger.list_events(db, resource_id="MS1")] == [ev2.id]
    assert ledger.count_by_status(db) == {"skipped": 1, "failed": 1}
    assert ledger.count_by_status(db, "c2") == {}
    assert ledger.list_events(db, connection_id="c2") == []
    with pytest.raises(ledger.EventNotFound):
        dispatch.replay(db, "evt_missing")
    with pytest.raises(ledger.ReplayRefused):
        dispatch.replay(db, ev.id)


def test_rejections_are_recorded(db: Database) -> None:
    ledger.record_rejection(
        db, connection_id="c1", provider="quo", status_code=401, reason="signature mismatch"
    )
    ledger.record_rejection(
        db, connection_id=None, provider="attio", status_code=404, reason="unknown connection"
    )
    rows = ledger.list_rejections(db)
    assert [(r.status_code, r.reason) for r in rows] == [
        (404, "unknown connection"),
        (401, "signature mismatch"),
    ]
    assert len(ledger.list_rejections(db, connection_id="c1")) == 1


def test_undispatched_finds_old_accepted_events(db: Database) -> None:
    ev, _ = _insert(db, "u1")
    assert ledger.undispatched(db, older_than_s=3600) == []
    assert [e.id for e in ledger.undispatched(db, older_than_s=-1)] == [ev.id]
