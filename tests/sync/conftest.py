from __future__ import annotations

from collections.abc import Iterator

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
