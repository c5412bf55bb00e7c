"""The cheap refusal path: forged webhooks are refused on the event loop, with no thread hop and
no query of their own, while what memory cannot decide still gets the full check."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from switchboard import connections, metrics
from switchboard.emulators.common import run_in_thread
from switchboard.web import create_app, rejections, webhook_receiver, webhooks
from switchboard.web.webhooks import Reject
from tests.web.conftest import attio_headers, quo_event, quo_headers, wait_for

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXkhIQ=="


@pytest.fixture
def warm_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches that stay warm for the whole test, however slow the machine: what is measured is
    what a refusal costs while they are warm (they refresh every few seconds in service)."""
    monkeypatch.setattr(webhooks, "CONNECTION_CACHE_TTL_S", 600.0)
    monkeypatch.setattr(connections._key_cache, "ttl_s", 600.0)
    monkeypatch.setattr(connections._key_cache, "fresh_min_s", 600.0)
    monkeypatch.setattr(rejections, "RECORDER", rejections.Recorder())


class Hops:
    """Thread hops taken by the receiver, and SQL statements on the request path's threads (the
    server's event loop and the ack threads; the rejection writer's sampled rows don't count)."""

    REQUEST_PATH_THREADS = ("emulator", "sb-ack")  # `run_in_thread`'s loop, `webhooks`' pool

    def __init__(self) -> None:
        self.thread_hops: list[str] = []
        self.statements: Counter[str] = Counter()

    def on_statement(self, *_args: Any) -> None:
        name = threading.current_thread().name
        if name.startswith(self.REQUEST_PATH_THREADS):
            self.statements[name] += 1

    def reset(self) -> None:
        self.thread_hops.clear()
        self.statements.clear()


@pytest.fixture
def hops(started: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hops]:
    seen = Hops()
    real_run_on = webhook_receiver.run_on

    async def counted_run_on(executor: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.thread_hops.append(fn.__name__)
        return await real_run_on(executor, fn, *args, **kwargs)

    monkeypatch.setattr(webhook_receiver, "run_on", counted_run_on)
    event.listen(started.db.engine, "before_cursor_execute", seen.on_statement)
    yield seen
    event.remove(started.db.engine, "before_cursor_execute", seen.on_statement)


@pytest.fixture
def http(started: Any, warm_caches: None) -> Iterator[httpx.Client]:
    with (
        run_in_thread(create_app(started)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client


def _refusals() -> dict[str, float]:
    return {
        code: metrics.REGISTRY.get_sample_value(
            "switchboard_webhook_rejections_total", {"provider": "quo", "code": code}
        )
        or 0.0
        for code in ("401", "404")
    }


@SQLITE_ONLY
def test_forged_requests_cost_no_thread_hop_and_no_query(
    started: Any, conn: Any, http: httpx.Client, hops: Hops, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"/webhooks/quo/{conn.id}"
    # A legitimate delivery first: it loads the connection, the id snapshot and the Quo keys.
    legit = quo_event("test.dummy", "ACwarm")
    assert http.post(url, content=legit, headers=quo_headers(legit)).status_code == 200
    connections.webhook_keys(started.db, started.box, conn.id, "attio")
    monkeypatch.setattr(webhooks, "MISS_LOOKUPS_PER_S", 0.0)  # made-up ids: no look-ups left
    # Its `apply` hop comes after the answer; on a loaded machine, after this line.
    wait_for(lambda: "apply" in hops.thread_hops, timeout=10, interval=0.01)
    hops.reset()
    before = _refusals()
    body = quo_event("call.completed", "ACforged")
    now_ms = int(time.time() * 1000)
    forged = [
        (url, quo_headers(body, key=WRONG_KEY)),  # not the connection's key
        (url, quo_headers(body, ts_ms=now_ms - 3_600_000)),  # the right key, an hour old
        (url, {"openphone-signature": f"hmac;1;{now_ms};AAAA"}),  # garbage
        (url, {}),  # unsigned
        (f"/webhooks/quo/conn_{'x' * 24}", quo_headers(body)),  # made-up connection
        (f"/webhooks/attio/{conn.id}", attio_headers(body, secret="not-the-secret")),
    ]
    for _ in range(20):
        for target, headers in forged:
            r = http.post(target, content=body, headers=headers)
            assert r.status_code in (401, 404), r.text
            assert r.json()["ok"] is False
    assert hops.thread_hops == []
    # Only the rejection writer touched the database, with a capped sample.
    assert hops.statements == Counter(), hops.statements
    after = _refusals()
    assert after["401"] - before["401"] == 20 * 4 and after["404"] - before["404"] == 20
    # The legitimate path still works, and hops once (the signature was verified in memory).
    legit = quo_event("test.dummy", "ACafter")
    r = http.post(url, content=legit, headers=quo_headers(legit))
    assert r.status_code == 200 and r.json()["events"][0]["status"] == "accepted"
    assert hops.thread_hops[0] == "verify_and_ingest"  # then `apply`, after the answer
    assert "load_connection" not in hops.thread_hops


@SQLITE_ONLY
def test_verify_from_memory_decides_only_what_the_cached_keys_tell(
    started: Any, conn: Any, warm_caches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = connections.get_connection(started.db, conn.id)
    body = quo_event("call.completed", "ACmem")
    connections._key_cache.invalidate(conn.id)
    # Nothing cached: undecided, even for a valid signature — the worker thread loads the keys.
    assert webhooks.verify_from_memory(info, "quo", quo_headers(body), body) is False
    connections.webhook_keys(started.db, started.box, conn.id, "quo")
    connections.webhook_keys(started.db, started.box, conn.id, "attio")
    assert webhooks.verify_from_memory(info, "quo", quo_headers(body), body) is True
    assert webhooks.verify_from_memory(info, "attio", attio_headers(body), body) is True
    with pytest.raises(Reject) as refused:
        webhooks.verify_from_memory(info, "quo", quo_headers(body, key=WRONG_KEY), body)
    assert refused.value.status == 401
    with pytest.raises(Reject):
        webhooks.verify_from_memory(info, "attio", attio_headers(body, "wrong"), body)
    # A mismatch while a reload is due, or during a Quo key rotation: the full check decides.
    monkeypatch.setattr(connections._key_cache, "fresh_min_s", 0.0)
    assert webhooks.verify_from_memory(info, "quo", quo_headers(body, WRONG_KEY), body) is False
    monkeypatch.setattr(connections._key_cache, "fresh_min_s", 600.0)
    from switchboard import webhook_rotation

    monkeypatch.setitem(webhook_rotation._running, conn.id, 1)
    assert webhooks.verify_from_memory(info, "quo", quo_headers(body, WRONG_KEY), body) is False
    # A stale timestamp needs no reload to be refused.
    stale = quo_headers(body, ts_ms=int(time.time() * 1000) - 3_600_000)
    with pytest.raises(Reject):
        webhooks.verify_from_memory(info, "quo", stale, body)


@SQLITE_ONLY
def test_a_delivery_memory_cannot_decide_is_checked_in_full(
    started: Any, conn: Any, http: httpx.Client
) -> None:
    url = f"/webhooks/quo/{conn.id}"
    for i in range(2):
        connections._key_cache.invalidate(conn.id)  # keys not in memory
        webhooks._conn_cache.clear()  # nor the connection
        body = json.dumps(
            {"id": f"EVfull{i}", "object": "event", "type": "test.dummy",
             "data": {"object": {"id": f"ACfull{i}"}}}
        ).encode()  # fmt: skip
        assert http.post(url, content=body, headers=quo_headers(body)).status_code == 200
        connections._key_cache.invalidate(conn.id)
        wrong = http.post(url, content=body, headers=quo_headers(body, key=WRONG_KEY))
        assert wrong.status_code == 401


@SQLITE_ONLY
def test_the_declared_routes_answer_like_the_receiver(started: Any, conn: Any) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    bare = FastAPI()  # the routes alone, without the middleware in front
    bare.state.runtime = started
    bare.include_router(webhook_receiver.router)
    with TestClient(bare) as client:
        url = f"/webhooks/quo/{conn.id}"
        body = quo_event("test.dummy", "ACroute")
        assert client.post(url, content=body, headers=quo_headers(body)).status_code == 200
        forged = client.post(url, content=body, headers=quo_headers(body, key=WRONG_KEY))
        assert forged.status_code == 401 and forged.json() == {
            "ok": False,
            "error": "signature mismatch",
        }
        assert client.get(url).status_code == 405
        assert client.post(f"/webhooks/nocrm/{conn.id}", content=b"{}").status_code == 404
