from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.store import Database, migrate
from switchboard.store.models import Connection


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    migrate(sqlite_url)
    database = Database(sqlite_url)
    with database.session() as s:
        s.add(
            Connection(
                id="conn_t",
                crm="attio",
                quo_base_url="http://quo",
                crm_base_url="http://attio",
                quo_api_key_enc="v1:x",
                crm_token_enc="v1:y",
                settings={"default_region": "US"},
            )
        )
    yield database
    database.dispose()


def runtime_with_connection(tmp_path: Path, sqlite_url: str, connection_id: str) -> Iterator[Any]:
    """A started test runtime on SQLite holding one Attio connection row (fake clients are
    installed by the test; the factory is reset on the way out)."""
    from switchboard.config import Settings
    from switchboard.runtime import Runtime
    from switchboard.sync import clients

    settings = Settings(database_url=sqlite_url, data_dir=tmp_path, secret_key=None)
    runtime = Runtime(settings, kind="test").start()
    with runtime.db.session() as s:
        s.add(
            Connection(
                id=connection_id,
                crm="attio",
                quo_base_url="http://q",
                crm_base_url="http://a",
                quo_api_key_enc="x",
                crm_token_enc="y",
                settings={},
            )
        )
    yield runtime
    clients.set_factory(None)
    runtime.stop()
