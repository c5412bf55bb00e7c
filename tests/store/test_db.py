from __future__ import annotations

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from switchboard.store import Database, migrate
from switchboard.store.models import Connection, Event


def _connection(cid: str = "conn_a") -> Connection:
    return Connection(
        id=cid,
        crm="attio",
        quo_base_url="http://quo",
        crm_base_url="http://attio",
        quo_api_key_enc="v1:x",
        crm_token_enc="v1:y",
        settings={"default_region": "US"},
    )


def test_migrate_creates_tables_and_is_idempotent(db_url: str) -> None:
    migrate(db_url)
    migrate(db_url)
    db = Database(db_url)
    tables = set(inspect(db.engine).get_table_names())
    assert {"connections", "events", "contact_mappings", "activity_records", "sync_runs"} <= tables
    db.dispose()


def test_event_ledger_is_unique_per_idempotency_key(db_url: str) -> None:
    migrate(db_url)
    db = Database(db_url)
    with db.session() as s:
        s.add(_connection())
    with db.session() as s:
        s.add(
            Event(
                id="ev1",
                connection_id="conn_a",
                provider="quo",
                event_type="call.completed",
                idempotency_key="EV1",
                payload={"a": 1},
            )
        )
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(
            Event(
                id="ev2",
                connection_id="conn_a",
                provider="quo",
                event_type="call.completed",
                idempotency_key="EV1",
            )
        )
    with db.session() as s:
        rows = s.scalars(select(Event)).all()
        assert [r.id for r in rows] == ["ev1"]
        assert rows[0].payload == {"a": 1}
        conn = s.get(Connection, "conn_a")
        assert conn is not None and conn.settings == {"default_region": "US"}
    db.dispose()


def test_models_match_migration(sqlite_url: str) -> None:
    """The single migration must create exactly what the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from switchboard.store.db import only_our_tables
    from switchboard.store.models import Base

    migrate(sqlite_url)
    db = Database(sqlite_url)
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_object": only_our_tables}),
            Base.metadata,
        )
    db.dispose()
    assert diff == []


def test_journal_mode_is_tried_again_while_the_database_is_locked() -> None:
    import sqlite3

    from switchboard.store.db import _journal_mode_wal

    class Cursor:
        def __init__(self) -> None:
            self.tries = 0

        def execute(self, sql: str) -> None:
            self.tries += 1
            if self.tries < 3:
                raise sqlite3.OperationalError("database is locked")

    cursor = Cursor()
    _journal_mode_wal(cursor, pause=0)
    assert cursor.tries == 3

    class Broken:
        def execute(self, sql: str) -> None:
            raise sqlite3.OperationalError("disk I/O error")

    try:
        _journal_mode_wal(Broken(), pause=0)
    except sqlite3.OperationalError as exc:
        assert "disk" in str(exc)
    else:
        raise AssertionError("other errors are not retried")
