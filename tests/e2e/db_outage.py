"""Test plugin: a database that refuses writes while a flag file exists.

Imported by Switchboard processes through `SWITCHBOARD_EXTRA_WORKFLOW_MODULES` (with
`SB_TEST_DB_OUTAGE_FLAG` naming the flag file). Every SQLAlchemy engine of the process — the
application database, DBOS's workflow tables, the rate limiters, the activity records — then
fails each write with SQLite's own "attempt to write a readonly database", as when the data files
are made immutable: reads keep working, the connection stays open, nothing is retried by DBOS.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


def _refuse_writes(
    _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    flag = os.environ.get("SB_TEST_DB_OUTAGE_FLAG")
    if not flag or not os.path.exists(flag):
        return
    head = statement.lstrip().upper()
    if head.startswith(_WRITES) or (head.startswith("WITH") and " INSERT " in head):
        raise sqlite3.OperationalError("attempt to write a readonly database")


if not event.contains(Engine, "before_cursor_execute", _refuse_writes):
    event.listen(Engine, "before_cursor_execute", _refuse_writes)
