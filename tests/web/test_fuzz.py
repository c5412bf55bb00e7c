"""Fuzz the service's own OpenAPI document with schemathesis: no input gives a 5xx.

Runs every operation (admin API, webhooks, health) with generated path/query/body values, with
and without the admin token. (The schemathesis pytest plugin's `from_fixture` does not work with
this pytest version, so operations are driven through hypothesis directly.)"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from switchboard.web import create_app
from tests.web.conftest import ADMIN_TOKEN


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def test_no_server_errors(started: Any, conn: Any) -> None:
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(started, bind_host="0.0.0.0")
    )
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            for headers in ({"Authorization": f"Bearer {ADMIN_TOKEN}"}, {}):
                response = case.call(headers=headers)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        run()
    assert operations >= 10
    assert failures == []
