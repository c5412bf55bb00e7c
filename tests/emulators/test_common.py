"""switchboard.emulators.common: log, limiter, faults, middleware, deliverer, server thread."""

from __future__ import annotations

import httpx
import pytest

from switchboard.emulators.common import (
    ConnectionDropped,
    EmulatorMiddleware,
    FaultInjector,
    LoggedRequest,
    Receive,
    RequestLog,
    Scope,
    Send,
    SlidingWindowRateLimiter,
    WebhookDeliverer,
    run_in_thread,
    send_json,
)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_request_log_counts() -> None:
    log = RequestLog()
    stamps = [(10.0, "a", "x"), (10.6, "a", "x"), (10.9, "a", "y"), (11.2, "a", "x")]
    stamps += [(11.3, "a", "x"), (11.0, "b", "x")]
    for ts, key, op in stamps:
        log.add(LoggedRequest(ts=ts, method="GET", path="/", query="", operation=op, key=key))
    assert log.per_operation() == {"x": 5, "y": 1}
    assert log.per_key_per_second()["a"] == {10: 3, 11: 2}
    assert log.max_per_second("a") == 4  # 10.6 .. 11.3 lies within one sliding second
    stats = log.stats()
    assert stats["maxPerSecondByKey"] == {"a": 4, "b": 1}
    assert stats["maxPerCalendarSecondByKey"] == {"a": 3, "b": 1}


def test_sliding_window_limiter() -> None:
    clock = FakeClock()
    limiter = SlidingWindowRateLimiter(limit=3, window=1.0, clock=clock)
    assert [limiter.hit("k") for _ in range(3)] == [None, None, None]
    wait = limiter.hit("k")
    assert wait is not None and 0 < wait <= 1.0
    assert limiter.hit("other") is None
    clock.now += 1.0
    assert limiter.hit("k") is None
    limiter.limit = 0
    assert all(limiter.hit("k") is None for _ in range(100))


def test_fault_injector_counts_storm_and_reset() -> None:
    clock = FakeClock()
    faults = FaultInjector(clock=clock)
    faults.update({"errors": {"op": {"status": 503, "count": 2}}})
    assert [faults.decide("op").status for _ in range(3)] == [503, 503, None]
    assert faults.decide("other").status is None
    faults.update({"storm_429": {"duration_s": 5, "retry_after": 2}})
    d = faults.decide("any")
    assert (d.status, d.retry_after, d.kind) == (429, 2, "storm")
    clock.now += 5
    assert faults.decide("any").status is None
    faults.update({"drop": {"rate": 1.0, "operations": ["op"], "count": 1}})
    assert faults.decide("op").drop and not faults.decide("op").drop
    faults.clear()
    assert faults.decide("op").status is None


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send_json(send, 200, {"ok": True})


def _middleware(log: RequestLog, faults: FaultInjector, limit: int) -> EmulatorMiddleware:
    return EmulatorMiddleware(
        _ok,
        log=log,
        faults=faults,
        limiter=SlidingWindowRateLimiter(limit),
        operation_of=lambda scope: None if scope["path"].startswith("/_") else "op",
        key_of=lambda scope: dict(scope["headers"]).get(b"authorization", b"").decode() or None,
        error_body=lambda status, op, message: {"status": status, "op": op, "message": message},
    )


async def test_middleware_in_process() -> None:
    log, faults = RequestLog(), FaultInjector()
    app = _middleware(log, faults, limit=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        codes = [
            (await c.get("/v1/x", headers={"Authorization": "k"})).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        assert (await c.get("/_control")).status_code == 200  # not logged, not limited
        faults.update({"errors": {"op": {"status": 500, "count": 1}}})
        resp = await c.get("/v1/x", headers={"Authorization": "j"})
        assert resp.status_code == 500 and resp.json() == {
            "status": 500,
            "op": "op",
            "message": None,
        }
        faults.update({"drop": {"rate": 1.0, "count": 1}})
        with pytest.raises(httpx.TransportError) as info:
            await c.get("/v1/x")
        assert isinstance(info.value, ConnectionDropped)
    assert [e.status for e in log.entries()] == [200, 200, 429, 500, None]
    assert [e.fault for e in log.entries()] == [None, None, "rate_limit", "error", "drop"]


def test_middleware_over_http_drops_connection() -> None:
    log, faults = RequestLog(), FaultInjector()
    with run_in_thread(_middleware(log, faults, limit=0)) as server:
        assert httpx.get(server.url + "/v1/x").status_code == 200
        faults.update({"drop": {"rate": 1.0, "count": 1}})
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/v1/x")
        assert httpx.get(server.url + "/v1/x").status_code == 200


async def test_deliverer_retries_and_duplicates() -> None:
    seen: list[bytes] = []
    answers = iter([500, 200, 200, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        assert request.headers["x-sig"] == "s"
        return httpx.Response(next(answers))

    faults = FaultInjector()
    deliverer = WebhookDeliverer(
        faults=faults, backoff_s=0.0, transport=httpx.MockTransport(handler)
    )
    deliverer.schedule("http://r/h", b"one", lambda body: {"x-sig": "s"}, event_id="e1")
    await deliverer.drain(5)
    assert [d.status for d in deliverer.deliveries] == [500, 200]
    faults.update({"webhook_duplicate_rate": 1.0})
    deliverer.schedule("http://r/h", b"two", lambda body: {"x-sig": "s"}, event_id="e2")
    await deliverer.drain(5)
    assert seen == [b"one", b"one", b"two", b"two"]
    assert [d.duplicate for d in deliverer.deliveries[2:]] == [False, True]
