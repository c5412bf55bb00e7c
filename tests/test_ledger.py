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


def test_a_repeatable_change_made_again_after_processing_started_is_a_new_event(
    db: Database,
) -> None:
    """A CRM delivery carries no event id or time: the same edit made twice is byte-identical.
    A copy absorbed while the first is still waiting is fine (its processing reads the record
    later); once processing has started, the copy is a new event, or the second edit is lost."""

    def change() -> tuple[ledger.EventRecord, bool]:
        return _insert(db, "attio-event:abc", provider="attio", event_type="record.updated",
                       repeatable=True)  # fmt: skip

    first, created = change()
    assert created
    same, created = change()  # still accepted: a retry or a copy, one event
    assert not created and same.id == first.id
    ledger.mark_processing(db, first.id)
    second, created = change()  # the first is being processed: its read may predate this edit
    assert created and second.id != first.id
    assert second.idempotency_key == f"attio-event:abc#{first.id}"
    again, created = change()  # copies of the second coalesce with it while it waits
    assert not created and again.id == second.id
    ledger.finish(db, first.id, "processed")
    ledger.finish(db, second.id, "processed")
    third, created = change()
    assert created and third.id not in (first.id, second.id)
    assert third.idempotency_key == f"attio-event:abc#{second.id}"
    # Quo events keep strict dedupe: their keys hash the content, and a copy is a copy.
    q, created = _insert(db, "call.completed:AC9:h")
    ledger.finish(db, q.id, "processed")
    assert _insert(db, "call.completed:AC9:h") == (ledger.get_event(db, q.id), False)


def test_repeatable_copies_racing_make_one_new_event(db: Database) -> None:
    first, _ = _insert(db, "attio-event:race", provider="attio", repeatable=True)
    ledger.finish(db, first.id, "processed")
    barrier = threading.Barrier(8)
    made: list[tuple[ledger.EventRecord, bool]] = []

    def worker() -> None:
        barrier.wait()
        made.append(_insert(db, "attio-event:race", provider="attio", repeatable=True))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(created for _, created in made) == 1
    assert len({r.id for r, _ in made}) == 1


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
