"""Application data: tables, engine and sessions, migrations."""

from switchboard.store.db import Database, migrate

__all__ = ["Database", "migrate"]
