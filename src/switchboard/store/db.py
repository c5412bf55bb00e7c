"""Engine, sessions and migrations for Switchboard's database.

On PostgreSQL DBOS keeps its workflow tables in the same database (schema `dbos`); on SQLite in
a sibling file (`switchboard.config.workflow_database_url`), so its frequent writes do not hold
the application file's single write lock; the shared rate limiters likewise
(`rate_limit_database_url`). `Database.workflow_tables()` reads DBOS's tables either way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from switchboard.config import normalise_database_url, workflow_database_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside one writer; busy_timeout makes writers queue instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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
