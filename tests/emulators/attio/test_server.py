"""Over real HTTP: `switchboard emulate attio` as a separate process delivering webhooks to a real
receiver, rate limits, OAuth; and the in-process server thread fed from another thread."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchboard.emulators.attio import AttioEmulator, create_app
from switchboard.emulators.common import ServerThread, run_in_thread
from tests.servers import RunningServer, cli_server

TOKEN = "server-token"


@dataclass
class Hooks:
    """A real webhook receiver on a loopback port; answers 500 to the first `fail_first`."""

    fail_first: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append((dict(request.headers), body))
            if self.fail_first > 0:
                self.fail_first -= 1
                return Response(status_code=500)
        return Response(status_code=200)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")


@pytest.fixture
def hooks() -> Iterator[tuple[Hooks, ServerThread]]:
    receiver = Hooks()
    app = Starlette(routes=[Route("/hook", receiver.endpoint, methods=["POST"])])
    with run_in_thread(app) as server:
        yield receiver, server


@pytest.fixture(scope="module")
def attio_process() -> Iterator[RunningServer]:
    with cli_server(
        "emulate",
        "attio",
        "--token",
        TOKEN,
        "--allow-http-targets",
        "--seed",
        "4",
        ready_path="/_emulator/health",
    ) as srv:
        yield srv


@pytest.fixture
def api(attio_process: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=attio_process.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        client.post("/_emulator/reset").raise_for_status()
        client.put("/_emulator/webhook-delivery", json={"time_scale": 0.001}).raise_for_status()
        yield client


def _subscribe(api: httpx.Client, url: str) -> dict[str, Any]:
    people = api.get("/v2/objects/people").json()["data"]["id"]["object_id"]
    flt = {"$and": [{"field": "id.object_id", "operator": "equals", "value": people}]}
    resp = api.post(
        "/v2/webhooks",
        json={
            "data": {
                "target_url": url,
                "subscriptions": [
                    {"event_type": t, "filter": flt}
                    for t in ("record.created", "record.updated", "record.merged")
                ],
            }
        },
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"])


def test_signed_deliveries_and_redelivery_over_http(
    api: httpx.Client, hooks: tuple[Hooks, ServerThread]
) -> None:
    receiver, server = hooks
    hook = _subscribe(api, server.url + "/hook")
    receiver.fail_first = 2
    made = api.post(
        "/_emulator/workspaces/default/objects/people/records",
        json={"values": {"name": "Ada Lovelace", "phone_numbers": ["+14155550134"]}},
    )
    assert made.status_code == 200, made.text
    api.post(
        "/_emulator/workspaces/default/objects/companies/records", json={"values": {"name": "X"}}
    ).raise_for_status()
    deliveries = receiver.wait_for(3)
    assert len({h["idempotency-key"] for h, _ in deliveries}) == 1
    for headers, body in deliveries:
        expected = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
        assert headers["attio-signature"] == headers["x-attio-signature"] == expected
        event = json.loads(body)["events"][0]
        assert event["event_type"] == "record.created"
        assert event["id"]["record_id"] == made.json()["data"]["id"]["record_id"]
    # the company event was filtered out; nothing else arrives
    api.post("/_emulator/webhooks/drain", json={}).raise_for_status()
    assert len(receiver.received) == 3


def test_rate_limit_over_http(api: httpx.Client) -> None:
    # 25/s exactly is tested in-process with a frozen clock; over HTTP on a shared, loaded
    # machine a low budget keeps the burst certain to exceed it.
    api.put("/_emulator/rate-limits", json={"writes_per_second": 5}).raise_for_status()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=str(api.base_url), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as client:
            body = {"data": {"values": {"job_title": "x"}}}
            return await asyncio.gather(
                *(client.post("/v2/objects/people/records", json=body) for _ in range(30))
            )

    try:
        responses = asyncio.run(burst())
    finally:
        api.put("/_emulator/rate-limits", json={"writes_per_second": 25}).raise_for_status()
    ok = [r for r in responses if r.status_code == 200]
    limited = [r for r in responses if r.status_code == 429]
    assert len(ok) + len(limited) == 30 and limited
    for resp in limited:
        assert resp.json()["code"] == "rate_limit_exceeded"
        assert parsedate_to_datetime(resp.headers["Retry-After"]).tzinfo is not None
    count = api.post("/v2/objects/people/records/query", json={"limit": 100}).json()["data"]
    assert len(count) == len(ok)
    stats = api.get("/_emulator/stats").json()
    assert stats["perStatus"]["429"] == len(limited)


def test_oauth_over_http(api: httpx.Client) -> None:
    code = api.post("/_emulator/workspaces/default/oauth/codes", json={}).json()["code"]
    token = httpx.post(
        str(api.base_url) + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "c",
            "client_secret": "s",
            "redirect_uri": "https://x.test/cb",
        },
    )
    assert token.status_code == 200, token.text
    me = httpx.get(
        str(api.base_url) + "/v2/self",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert me.status_code == 200 and me.json()["active"] is True


def test_python_api_from_another_thread_delivers(hooks: tuple[Hooks, ServerThread]) -> None:
    """Record changes made through the Python API in the test thread are delivered by the
    server thread's loop."""
    receiver, hook_server = hooks
    emu = AttioEmulator(token=TOKEN, allow_http_targets=True)
    emu.set_webhook_delivery(time_scale=0.001)
    with run_in_thread(create_app(emu)) as server:
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"})
        _subscribe(api, hook_server.url + "/hook")
        ws = emu.default_workspace
        a = emu.create_record(ws, "people", {"name": "A"})
        b = emu.create_record(ws, "people", {"name": "B"})
        merged = emu.merge_records(ws, "people", a.id, b.id)
        got = receiver.wait_for(4)
        events = [json.loads(body)["events"][0] for _, body in got]
        assert [e["event_type"] for e in events].count("record.merged") == 2
        assert {e["id"]["record_id"] for e in events if e["event_type"] == "record.merged"} == {
            merged.id
        }
        api.close()


async def test_async_test_with_server_thread(hooks: tuple[Hooks, ServerThread]) -> None:
    """Inside a test's own event loop, Python API changes still go to the server thread's loop,
    and `await emu.drain_webhooks()` waits for them there."""
    receiver, hook_server = hooks
    emu = AttioEmulator(token=TOKEN, allow_http_targets=True)
    emu.set_webhook_delivery(time_scale=0.001)
    with run_in_thread(create_app(emu)) as server:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as client:
            people = (await client.get("/v2/objects/people")).json()["data"]["id"]["object_id"]
            flt = {"$and": [{"field": "id.object_id", "operator": "equals", "value": people}]}
            resp = await client.post(
                "/v2/webhooks",
                json={
                    "data": {
                        "target_url": hook_server.url + "/hook",
                        "subscriptions": [{"event_type": "record.created", "filter": flt}],
                    }
                },
            )
            assert resp.status_code == 200
            receiver.fail_first = 1
            emu.create_record(emu.default_workspace, "people", {"name": "A"})
            await emu.drain_webhooks()
            assert len(receiver.received) == 2  # one failure, one redelivery, both done
            emu.create_record(emu.default_workspace, "people", {"name": "B"})
            emu.drain_webhooks_sync()
            assert len(receiver.received) == 3
