"""Engine, sessions and migrations for Switchboard's database.

On PostgreSQL DBOS keeps its workflow tables in the same database (schema `dbos`); on SQLite in
a sibling file (`switchboard.config.workflow_database_url`), so its frequent writes do not hold
the application file's single write lock; the shared rate limiters likewise
(`rate_limit_database_url`). `Database.workflow_tables()` reads DBOS's tables either way."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from switchboard.config import (
    normalise_database_url,
    rate_limit_database_url,
    workflow_database_url,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside one writer; busy_timeout makes writers queue instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    _journal_mode_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _journal_mode_wal(cursor: Any, attempts: int = 50, pause: float = 0.1) -> None:
    """`PRAGMA journal_mode=WAL` can answer "database is locked" at once, busy handler or not,
    while another process works on the WAL (seen in CI: a new connection beside a busy
    worker, even with busy_timeout set first). The mode is kept in the file, so trying again
    a moment later is all it takes."""
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt + 1 == attempts:
                raise
            time.sleep(pause)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and in-memory databases."""
    url = normalise_database_url(url)
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path.startswith(":memory:"):
        return None
    return Path(path)


def private_sqlite_file(url: str) -> None:
    """Make a SQLite database private to this user before anything opens it: its directory is
    created 0700 when missing, the file is created 0600 (an empty file is an empty database) and
    an existing one, with its WAL/SHM/journal files, is tightened to 0600. It holds message texts
    and transcripts in clear. SQLite creates the WAL and SHM files with the database's mode."""
    path = sqlite_path(url)
    if path is None:
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in ("", "-wal", "-shm", "-journal"):
        sibling = Path(f"{path}{suffix}")
        try:
            if sibling.stat().st_mode & 0o077:
                sibling.chmod(0o600)
        except OSError:  # absent, or not ours to change
            pass


def make_engine(url: str) -> Engine:
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def only_our_tables(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate must ignore the DBOS system tables that share the database."""
    return not (type_ == "table" and reflected and compare_to is None)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_database_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the application tables to the newest revision (idempotent)."""
    if normalise_database_url(url).startswith("sqlite"):
        make_engine(url).dispose()  # creates the parent directory
    command.upgrade(alembic_config(url), "head")


class Database:
    """Owns the engine and hands out short-lived sessions."""

    def __init__(self, url: str) -> None:
        self.url = normalise_database_url(url)
        if self.is_sqlite:  # DBOS and the rate limiters open their sibling files themselves
            private_sqlite_file(workflow_database_url(self.url))
            private_sqlite_file(rate_limit_database_url(self.url))
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._workflow_engine: Engine | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def workflow_tables(self) -> Iterator[tuple[Connection, str]]:
        """A connection that sees DBOS's tables, and the prefix to name them with
        (`"dbos."` on PostgreSQL, `""` for SQLite's separate workflows file)."""
        url = workflow_database_url(self.url)
        if url == self.url:
            with self.engine.connect() as conn:
                yield conn, "" if self.is_sqlite else "dbos."
            return
        if self._workflow_engine is None:
            self._workflow_engine = make_engine(url)
        with self._workflow_engine.connect() as conn:
            yield conn, ""

    def dispose(self) -> None:
        self.engine.dispose()
        if self._workflow_engine is not None:
            self._workflow_engine.dispose()
