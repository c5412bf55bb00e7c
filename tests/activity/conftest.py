"""Fixtures for the activity unit tests: a migrated SQLite database with one connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from switchboard.activity.directory import Directory, forget_cached_workspaces
from switchboard.activity.processor import Services
from switchboard.activity.settings import ActivitySettings
from switchboard.store.db import Database, migrate
from switchboard.store.models import Connection
from tests.activity.fakes import FakeCrm, FakeQuo

CONN = "conn_test"


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    migrate(sqlite_url)
    database = Database(sqlite_url)
    with database.session() as s:
        s.add(
            Connection(
                id=CONN,
                crm="attio",
                quo_base_url="http://quo",
                crm_base_url="http://crm",
                quo_api_key_enc="x",
                crm_token_enc="x",
            )
        )
    forget_cached_workspaces()
    yield database
    forget_cached_workspaces()
    database.dispose()


@pytest.fixture
def quo() -> FakeQuo:
    return FakeQuo()


@pytest.fixture
def crm() -> FakeCrm:
    return FakeCrm()


def make_services(
    db: Database, quo: FakeQuo, crm: FakeCrm, settings: ActivitySettings | None = None
) -> Services:
    return Services(
        db=db,
        connection_id=CONN,
        quo=quo,
        crm=crm,
        settings=settings or ActivitySettings(),
        directory=Directory(db, CONN, quo),
    )


@pytest.fixture
def svc(db: Database, quo: FakeQuo, crm: FakeCrm) -> Services:
    return make_services(db, quo, crm)
