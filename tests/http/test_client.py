"""ApiClient retry policy and hook, driven through httpx.MockTransport with a fake clock."""

from __future__ import annotations

import pickle

import httpx
import pytest

from switchboard.http import (
    ApiClient,
    ApiError,
    FakeClock,
    MemoryRateLimiter,
    RateLimit,
    RequestInfo,
    RetryPolicy,
    http_date,
    parse_retry_after,
)

KEY = "quo-test-key-supersecret-123456"


def make_client(
    handler: httpx.MockTransport, clock: FakeClock, **kw: object
) -> tuple[ApiClient, list[RequestInfo]]:
    seen: list[RequestInfo] = []
    client = ApiClient(
        provider="quo",
        base_url="http://quo.test",
        headers={"Authorization": KEY},
        secrets=[KEY],
        transport=handler,
        clock=clock,
        hook=seen.append,
        **kw,  # type: ignore[arg-type]
    )
    return client, seen


def scripted(
    *responses: httpx.Response | Exception,
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    queue = list(responses)
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handle), requests


async def test_retries_429_honouring_retry_after_seconds() -> None:
    clock = FakeClock()
    transport, requests = scripted(
        httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow down"}),
        httpx.Response(200, json={"ok": True}),
    )
    client, seen = make_client(transport, clock)
    resp = await client.request("GET", "/v1/x", operation="x.get")
    assert resp.json() == {"ok": True}
    assert len(requests) == 2
    assert 3.0 <= clock.sleeps[0] <= 3.0 + client.retry.base_delay
    assert [i.status for i in seen] == [429, 200]
    assert seen[0].operation == "x.get" and seen[0].provider == "quo"


async def test_retry_after_http_date_is_honoured() -> None:
    clock = FakeClock()
    transport, _ = scripted(
        httpx.Response(429, headers={"Retry-After": http_date(clock.now() + 5)}),
        httpx.Response(200),
    )
    client, _ = make_client(transport, clock)
    await client.request("GET", "/x")
    assert 4.0 <= clock.sleeps[0] <= 5.0 + client.retry.base_delay


def test_parse_retry_after() -> None:
    assert parse_retry_after("2.5", 0) == 2.5
    assert parse_retry_after(None, 0) is None
    assert parse_retry_after("garbage", 0) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412490.0) == 0.0


async def test_5xx_and_dropped_connections_are_retried_with_growing_jitter() -> None:
    clock = FakeClock()
    transport, requests = scripted(
        httpx.Response(503),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ConnectError("refused"),
        httpx.Response(500),
        httpx.Response(201, json={"data": {}}),
    )
    client, seen = make_client(transport, clock, retry=RetryPolicy(base_delay=1.0, max_delay=4.0))
    resp = await client.request("POST", "/v1/contacts", json={})
    assert resp.status_code == 201
    assert len(requests) == 5
    ceilings = [1.0, 2.0, 4.0, 4.0]
    assert all(0 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))
    assert [i.status for i in seen] == [503, None, None, 500, 201]
    assert seen[1].error and "RemoteProtocolError" in seen[1].error


async def test_non_retryable_4xx_fails_fast_with_provider_code() -> None:
    body = {"message": "Failed to create contact", "code": "0800409", "status": 409,
            "docs": "https://openphone.com/docs", "title": "Conflict"}  # fmt: skip
    clock = FakeClock()
    transport, requests = scripted(httpx.Response(409, json=body))
    client, _ = make_client(transport, clock)
    with pytest.raises(ApiError) as info:
        await client.request("POST", "/v1/contacts", operation="contacts.create")
    err = info.value
    assert len(requests) == 1 and clock.sleeps == []
    assert (err.provider, err.status, err.code, err.message) == (
        "quo", 409, "0800409", "Failed to create contact")  # fmt: skip
    assert err.body == body and err.conflict
    assert "0800409" in str(err) and "contacts.create" in str(err)
    clone = pickle.loads(pickle.dumps(err))
    assert str(clone) == str(err) and clone.code == "0800409"


async def test_gives_up_after_max_attempts() -> None:
    clock = FakeClock()
    transport, requests = scripted(*[httpx.Response(502)] * 3)
    client, _ = make_client(transport, clock, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ApiError) as info:
        await client.request("GET", "/x")
    assert info.value.status == 502 and info.value.attempts == 3 and len(requests) == 3


async def test_network_failure_becomes_api_error_without_status() -> None:
    clock = FakeClock()
    transport, _ = scripted(*[httpx.ReadTimeout("timed out")] * 2)
    client, _ = make_client(transport, clock, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(ApiError) as info:
        await client.request("GET", "/x")
    assert info.value.status is None and info.value.is_network


async def test_401_retried_only_within_grace() -> None:
    clock = FakeClock()
    transport, requests = scripted(httpx.Response(401), httpx.Response(401), httpx.Response(200))
    client, _ = make_client(transport, clock, retry=RetryPolicy(unauthorized_grace=60))
    assert (await client.request("GET", "/x")).status_code == 200
    transport, requests = scripted(httpx.Response(401))
    client, _ = make_client(transport, clock)
    with pytest.raises(ApiError):
        await client.request("GET", "/x")
    assert len(requests) == 1


async def test_secret_never_in_error_text_or_body() -> None:
    clock = FakeClock()
    transport, _ = scripted(httpx.Response(400, json={"message": f"bad key {KEY}", "echo": KEY}))
    client, _ = make_client(transport, clock)
    with pytest.raises(ApiError) as info:
        await client.request("GET", "/x")
    assert KEY not in str(info.value) and KEY not in repr(info.value.body)
    assert KEY not in repr(info.value.__dict__)


async def test_limiter_budgets_are_chosen_per_method_and_paused_by_retry_after() -> None:
    clock = FakeClock()
    read = MemoryRateLimiter(RateLimit(100, margin=0), clock)
    write = MemoryRateLimiter(RateLimit(25, margin=0), clock)
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    client, seen = make_client(
        transport, clock, limiters={"read": read, "write": write},
        budget_for=lambda m: "read" if m == "GET" else "write",
    )  # fmt: skip
    start = clock.now()
    for _ in range(5):
        await client.request("POST", "/w")
    assert clock.now() - start == pytest.approx(4 * 0.04)
    t1 = clock.now()
    for _ in range(3):
        await client.request("GET", "/r")
    assert clock.now() - t1 == pytest.approx(2 * 0.01)
    assert {i.budget for i in seen} == {"read", "write"}
    await read.pause(2.0)
    t2 = clock.now()
    await client.request("GET", "/r")
    assert clock.now() - t2 == pytest.approx(2.0)


async def test_async_hook_and_failing_hook() -> None:
    clock = FakeClock()
    calls: list[int | None] = []

    async def hook(info: RequestInfo) -> None:
        calls.append(info.status)
        raise RuntimeError("counter broke")

    client = ApiClient(
        provider="quo", base_url="http://q", clock=clock, hook=hook,
        transport=httpx.MockTransport(lambda r: httpx.Response(204)),
    )  # fmt: skip
    assert (await client.request("DELETE", "/x")).status_code == 204
    assert calls == [204]


async def test_repeated_query_keys() -> None:
    transport, requests = scripted(httpx.Response(200, json={}))
    client, _ = make_client(transport, FakeClock())
    await client.request("GET", "/v1/contacts", params={"externalIds": ["a", "b"]})
    assert requests[0].url.query == b"externalIds=a&externalIds=b"


async def test_a_request_the_daily_budget_cannot_pay_is_not_sent() -> None:
    clock = FakeClock()
    transport, requests = scripted(httpx.Response(200, json={}), httpx.Response(200, json={}))
    limiter = MemoryRateLimiter(RateLimit(100, daily=50), clock)
    client, seen = make_client(transport, clock, limiters=limiter, unit_costs={"things.search": 40})
    await client.request("GET", "/things", operation="things.search")
    with pytest.raises(ApiError) as err:
        await client.request("GET", "/things", operation="things.search")
    assert (err.value.status, err.value.code) == (429, "daily_budget")
    assert err.value.retry_after is not None and 0 < err.value.retry_after <= 86_400
    assert len(requests) == len(seen) == 1
    await client.request("GET", "/things", operation="things.get")  # 1 unit still fits


class RecordingLimiter:
    """Grants at once and records what each release was told."""

    def __init__(self) -> None:
        self.released: list[tuple[str | None, float | None]] = []

    async def acquire(self, units: int = 1) -> str | None:
        return "permit"

    async def release(
        self, permit: str | None, *, send_delay: float | None = None, kind: str | None = None
    ) -> None:
        self.released.append((permit, send_delay))

    async def pause(self, seconds: float) -> None:
        return None


async def test_the_limiter_learns_when_the_request_went_on_the_wire() -> None:
    """httpcore reports the written request headers through the `trace` extension; the client
    hands the time from the permit to then to the limiter (test transports report nothing:
    the limiter then counts from the grant)."""

    async def traced(request: httpx.Request) -> httpx.Response:
        trace = request.extensions["trace"]
        await trace("http11.send_request_headers.started", {})
        await trace("http11.send_request_headers.complete", {})
        return httpx.Response(200, json={})

    async def silent(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    for handler, reported in ((traced, True), (silent, False)):
        limiter = RecordingLimiter()
        client, _ = make_client(httpx.MockTransport(handler), FakeClock(), limiters=limiter)
        await client.request("GET", "/v1/contacts")
        ((permit, delay),) = limiter.released
        assert permit == "permit" and (delay is not None and delay >= 0) is reported
        await client.aclose()


async def test_fastest_round_trip_counts_from_the_permit_not_the_wait_for_it() -> None:
    clock = FakeClock()
    answers = iter([(0.3, 200), (0.05, 200), (0.2, 200), (0.01, 404)])

    def handle(request: httpx.Request) -> httpx.Response:
        after, status = next(answers)
        clock.t += after
        return httpx.Response(status, json={})

    limiter = MemoryRateLimiter(RateLimit(rate=1, period=1.0), clock)
    client, _ = make_client(httpx.MockTransport(handle), clock, limiters=limiter)
    assert client.fastest_round_trip("x.list") is None
    for _ in range(3):
        await client.request("GET", "/v1/x", operation="x.list")
    assert sum(clock.sleeps) >= 1.0  # later requests waited for the limiter
    with pytest.raises(ApiError):
        await client.request("GET", "/v1/x", operation="x.list")
    assert client.fastest_round_trip("x.list") == pytest.approx(0.05)  # not the quick refusal
    assert client.fastest_round_trip("x.other") is None
