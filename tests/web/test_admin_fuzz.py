"""Fuzz the service's HTTP API with schemathesis, driven by its own OpenAPI document.

The app is built as a public deployment would run it: bound to a non-loopback address with
`SWITCHBOARD_ADMIN_TOKEN` set (web-only runtime on SQLite: requests enqueue, nothing dequeues).
The database holds one connection with webhook subscriptions and a few ledger events (one
failed), and half of the generated cases use those real ids, so the fuzzer reaches the handlers'
success paths too, not only their 404s.

Two passes over every operation in `/openapi.json` (fixed seed, bounded examples, ~30 s):

1. without the token: every admin operation answers 401 with a JSON error, never 5xx;
2. with the token: no operation ever answers 5xx, and every 4xx from the admin API or the
   webhook receivers is a JSON body with an `error` message.
"""

from __future__ import annotations

import base64
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

pytestmark = pytest.mark.timeout(600)  # the admin API grew; the fuzz budget is per operation

ADMIN_TOKEN = "fuzz-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: examples per operation and generation mode, with the token (the no-token pass uses a quarter)
SCALE = float(os.environ.get("SB_FUZZ_SCALE", "1"))
EXAMPLES = {"positive": int(20 * SCALE), "negative": int(12 * SCALE)}
WEBHOOK_KEY = base64.b64encode(b"k" * 32).decode()


@dataclass
class Service:
    rt: Any
    app: Any
    connection_id: str
    event_ids: list[str]
    failed_event_id: str
    doomed_connection_id: str  # the one DELETE may disconnect (the others keep theirs)


def build_service(tmp: Path) -> Iterator[Service]:
    """A started web-only runtime + the app bound to 0.0.0.0 with an admin token, seeded."""
    from switchboard import connections, ledger
    from switchboard.config import Settings
    from switchboard.crypto import generate_master_key
    from switchboard.runtime import Runtime
    from switchboard.web import create_app

    settings_obj = Settings(
        database_url=f"sqlite:///{tmp / 'switchboard.db'}",
        data_dir=tmp,
        secret_key=generate_master_key(),
        admin_token=ADMIN_TOKEN,
        public_url="https://switchboard.example.test",
        # schemathesis's in-process client names itself `testserver`; the other tests of this
        # service use loopback. Any other Host is still refused.
        allowed_hosts="testserver,127.0.0.1,switchboard.example.test",
    )
    rt = Runtime(settings_obj, workers=False).start()
    try:
        info = connections.create_connection(
            rt.db,
            rt.box,
            crm="attio",
            quo_api_key="fuzz-quo-key",
            crm_token="fuzz-attio-token",
            quo_base_url="http://quo.invalid",
            crm_base_url="http://attio.invalid",
        )
        connections.add_subscription(
            rt.db, rt.box, connection_id=info.id, provider="quo", remote_id="WHfuzzq",
            kind="calls", url="u", events=["call.completed"], resource_ids=["*"], key=WEBHOOK_KEY,
        )  # fmt: skip
        connections.add_subscription(
            rt.db, rt.box, connection_id=info.id, provider="attio", remote_id="WHfuzza",
            kind="people", url="u", events=["record.updated"], key="fuzz-attio-secret",
        )  # fmt: skip
        doomed = connections.create_connection(
            rt.db, rt.box, crm="attio", quo_api_key="fuzz-quo-key-2", crm_token="fuzz-token-2",
            quo_base_url="http://quo.invalid", crm_base_url="http://attio.invalid",
        )  # fmt: skip
        ids = []
        for i, status in enumerate(("processed", "ignored", "failed")):
            ev, _ = ledger.insert_event(
                rt.db,
                connection_id=info.id,
                provider="quo",
                event_type="call.completed",
                idempotency_key=f"call.completed:ACfuzz{i}",
                payload={"type": "call.completed", "data": {"object": {"id": f"ACfuzz{i}"}}},
                resource_id=f"ACfuzz{i}",
            )
            ledger.finish(rt.db, ev.id, status, reason=f"seeded {status}")
            ids.append(ev.id)
        app = create_app(rt, bind_host="0.0.0.0")
        yield Service(rt, app, info.id, ids, ids[-1], doomed.id)
    finally:
        rt.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from build_service(tmp_path_factory.mktemp("fuzz"))


def _operations(app: Any) -> list[Any]:
    import schemathesis

    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)
    return [result.ok() for result in schema.get_all_operations()]


def _real_ids(svc: Service, case: Any, pick: int) -> None:
    """Swap generated path ids for real ones (so handlers run past their lookups)."""
    params = case.path_parameters or {}
    if "connection_id" in params:
        doomed = case.method.upper() == "DELETE"
        params["connection_id"] = svc.doomed_connection_id if doomed else svc.connection_id
    if "event_id" in params:
        params["event_id"] = svc.event_ids[pick % len(svc.event_ids)]
    if "provider" in params:
        params["provider"] = ("quo", "attio")[pick % 2]


EXAMPLE: dict[str, str] = {}  # first case seen per (operation, status), for failure messages


def _can_be_invalid(op: Any) -> bool:
    """Negative generation needs something to break: parameters or a request body."""
    definition = op.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def _fuzz(
    svc: Service, headers: dict[str, str], share: float = 1.0
) -> tuple[Counter[str], list[str]]:
    """Run every operation in each generation mode (positive: schema-valid input; negative:
    input that violates the schema); returns (status counts per operation, problems)."""
    from schemathesis import GenerationMode

    seen: Counter[str] = Counter()
    problems: list[str] = []
    for op, mode in [(op, GenerationMode(m)) for op in _operations(svc.app) for m in EXAMPLES]:
        if mode is GenerationMode.NEGATIVE and not _can_be_invalid(op):
            continue

        @settings(
            max_examples=max(1, int(EXAMPLES[mode.value] * share)),
            derandomize=True,  # fixed seed: the same cases every run
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(mode), real=st.integers(min_value=0, max_value=5))
        def run(case: Any, real: int) -> None:
            if real < 3:
                _real_ids(svc, case, real)
            response = case.call(headers=headers)
            code = response.status_code
            key = f"{case.method.upper()} {case.operation.path} {code}"
            seen[key] += 1
            where = (
                f"{case.method} {case.formatted_path} query={case.query} "
                f"headers={case.headers} body={str(case.body)[:80]}"
            )
            EXAMPLE.setdefault(key, f"{where} -> {response.text[:120]}")
            if code >= 500:
                problems.append(f"{code} {where}: {response.text[:200]}")
            elif code >= 400 and case.path.startswith(("/api", "/webhooks")):
                try:
                    body = response.json()
                except ValueError:
                    problems.append(f"{code} without JSON body: {where}")
                    return
                if not (isinstance(body, dict) and body.get("error")):
                    problems.append(f"{code} without an error message: {where}: {body}")

        try:
            run()
        except Unsatisfiable:  # nothing in this operation's schema can be violated
            assert mode is GenerationMode.NEGATIVE, op.path
    return seen, problems


def test_openapi_lists_the_admin_api(service: Service) -> None:
    paths = {(op.method.upper(), op.path) for op in _operations(service.app)}
    for want in (
        ("GET", "/api/connections"),
        ("GET", "/api/connections/{connection_id}"),
        ("PATCH", "/api/connections/{connection_id}/settings"),
        ("POST", "/api/connections/{connection_id}/setup"),
        ("GET", "/api/connections/{connection_id}/rejections"),
        ("GET", "/api/events"),
        ("GET", "/api/events/{event_id}"),
        ("POST", "/api/events/{event_id}/replay"),
        ("GET", "/api/usage"),
        ("POST", "/api/connections"),
        ("DELETE", "/api/connections/{connection_id}"),
        ("PUT", "/api/connections/{connection_id}/credentials"),
    ):
        assert want in paths, want


def test_fuzz_without_token_is_always_401(service: Service) -> None:
    started = time.monotonic()
    seen, problems = _fuzz(service, {}, share=1 / 4)
    assert not problems, problems[:10]
    api = {k: n for k, n in seen.items() if k.split()[1].startswith("/api")}
    assert api and all(k.endswith(" 401") for k in api), [
        EXAMPLE[k] for k in api if not k.endswith(" 401")
    ]
    print(f"fuzz without token: {sum(seen.values())} cases in {time.monotonic() - started:.1f}s")


def test_fuzz_with_token_finds_no_5xx(service: Service) -> None:
    started = time.monotonic()
    seen, problems = _fuzz(service, AUTH)
    assert not problems, problems[:10]
    codes = Counter(k.rsplit(" ", 1)[1] for k in seen.elements())
    # the fuzzer got past authentication and the id lookups into the handlers
    assert any(k.startswith("PATCH /api/connections/{connection_id}/settings 200") for k in seen)
    assert any(k.startswith("GET /api/events/{event_id} 200") for k in seen)
    assert any(k.startswith("POST /api/events/{event_id}/replay 200") for k in seen) or any(
        k.startswith("POST /api/events/{event_id}/replay 409") for k in seen
    )
    assert codes["422"] > 0, "negative cases reached request validation"
    assert not [
        k
        for k in seen
        if k.startswith(("GET /api", "POST /api", "PATCH /api")) and k.endswith(" 401")
    ]
    print(
        f"fuzz with token: {sum(seen.values())} cases, status codes {dict(codes)}, "
        f"{time.monotonic() - started:.1f}s"
    )
