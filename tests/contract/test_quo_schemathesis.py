"""Schemathesis over the Quo emulator (a real server): no 5xx and no schema violations.

Fixed seed (derandomized Hypothesis), a few examples per operation; the whole run stays ~30 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.servers import RunningServer, quo_emulator

SPEC = json.loads((Path(__file__).parents[1] / "data" / "quo-openapi.json").read_text())
schema = schemathesis.openapi.from_dict(SPEC)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with quo_emulator("--api-key", "k1", "--rate-limit", "0", "--bulk-delay", "0") as srv:
        control = srv.url + "/_emulator"
        ws = httpx.get(control + "/workspaces/k1").json()
        # Something to find: a contact, a simulated call with every artefact, a message.
        httpx.post(
            control + f"/workspaces/{ws['id']}/contacts",
            json={"contacts": [{"defaultFields": {"firstName": "Dana"}, "externalId": "crm-1"}]},
        ).raise_for_status()
        httpx.post(
            control + "/calls",
            json={"recording": True, "summary": True, "transcript": True, "delayScale": 0},
        ).raise_for_status()
        httpx.post(control + "/messages", json={}).raise_for_status()
        yield srv


@schema.parametrize()
@settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_schema_conformance(
    case: schemathesis.Case, server: RunningServer
) -> None:
    case.call_and_validate(
        base_url=server.url,
        headers={"Authorization": "k1"},
        checks=[not_a_server_error, response_schema_conformance],
    )
