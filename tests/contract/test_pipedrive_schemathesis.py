"""Schemathesis over the Pipedrive emulator (a real server): no 5xx and no schema violations on
every operation it serves, from both of Pipedrive's documents.

The documents' response schemas get the one relaxation the contract tests apply (any property
may be null; see tests/emulators/pipedrive/spec.py). Fixed seed (derandomized Hypothesis), a few
examples per operation, rate limits off; the whole run stays well under a minute.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from switchboard.emulators.common import ServerThread, run_in_thread
from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
from tests.emulators.pipedrive.spec import PREFIXES, _nullable, spec

TOKEN = "schemathesis-token"


def _relaxed(version: str) -> dict[str, Any]:
    doc = copy.deepcopy(spec(version))
    for ops in doc["paths"].values():
        for op in ops.values():
            if isinstance(op, dict) and "responses" in op:
                op["responses"] = _nullable(op["responses"])
    return doc


v1 = schemathesis.openapi.from_dict(_relaxed("v1"))
v2 = schemathesis.openapi.from_dict(_relaxed("v2"))
SETTINGS = settings(
    max_examples=3,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    emu = PipedriveEmulator(token=TOKEN, seed_value=5, rate_limits=False)
    company = emu.default_company
    emu.seed(company, 20, seed=5)
    # Something for the id-addressed operations to find: small ids exist after seeding.
    person = next(iter(company.persons))
    company.create_note({"content": "<p>hi</p>", "person_id": person}, company.admin_user_id, "app")
    with run_in_thread(create_app(emu)) as srv:
        yield srv


def _check(case: schemathesis.Case, server: ServerThread, prefix: str) -> None:
    case.call_and_validate(
        base_url=server.url + prefix,
        headers={"x-api-token": TOKEN},
        checks=[not_a_server_error, response_schema_conformance],
    )


@v1.parametrize()
@SETTINGS
def test_v1_no_server_errors(case: schemathesis.Case, server: ServerThread) -> None:
    _check(case, server, PREFIXES["v1"])


@v2.parametrize()
@SETTINGS
def test_v2_no_server_errors(case: schemathesis.Case, server: ServerThread) -> None:
    _check(case, server, PREFIXES["v2"])
