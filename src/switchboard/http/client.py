"""ApiClient: httpx.AsyncClient plus the rate limiter, the retry policy and a per-request hook.

Every provider client (Quo, each CRM) sends its requests through one ApiClient:

    client = ApiClient(
        provider="somecrm",
        base_url="https://api.somecrm.example",
        headers={"Authorization": f"Bearer {token}"},
        secrets=[token],
        limiters={"read": read_limiter, "write": write_limiter},
        budget_for=lambda method: "read" if method == "GET" else "write",
        hook=count_call,                       # RequestInfo -> None (sync or async)
        unit_costs={"objects.search": 20},     # operation -> units it spends (default 1)
        transport=httpx.MockTransport(...),    # tests; default: real network
    )
    resp = await client.request("GET", "/v2/objects", operation="objects.list")

For each attempt: take a slot and permit from the budget's limiter (weighing the operation's
`unit_costs`, for providers that price operations), send, hand the permit back
when the response (or network failure) is in (a cancelled attempt's permit lapses after the
limiter's in-flight timeout), call the hook. 2xx/3xx return the httpx.Response. Retryable
failures (see RetryPolicy) are retried with full-jitter backoff, or after `Retry-After` when the
server sent one (which also pauses the shared limiter so other callers of the budget hold back).
Everything else raises ApiError, scrubbed of every known secret. A request the limiter's daily
budget cannot pay for is not sent: ApiError 429 with code `daily_budget` and `retry_after` set
to the seconds until the budget resets. `fastest_round_trip(operation)` is the quickest recent
successful answer to an operation, permit to answer (how quickly the provider answers, the
limiter's wait left out).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from switchboard.http.clock import SYSTEM_CLOCK, Clock
from switchboard.http.errors import ApiError
from switchboard.http.limiters import DailyBudgetExhausted, RateLimiter
from switchboard.http.retry import RetryPolicy, parse_retry_after
from switchboard.logs import get_logger, register_secret

log = get_logger("switchboard.http")

# httpx imports its HTTP/1.1 machinery on the first request. Loaded lazily, that first request
# would leave 100+ ms after its rate-limit slot and could land among later slots; load it now.
for _module in ("h11", "anyio._backends._asyncio", "httpcore._async.http11"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_module)

_MASK = "***"
# Successful attempts per operation kept for `fastest_round_trip`.
ROUND_TRIP_SAMPLES = 20

_ssl_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client of the process. httpx builds a new one per
    client, loading the whole CA bundle each time (measured: a quarter of a worker's CPU while ten
    connections' clients were being built); a context is safe to share between clients."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


@dataclass(frozen=True)
class RequestInfo:
    """What the hook learns about each HTTP attempt (retries are separate attempts).

    `status` is None when no response arrived; `error` then names the network failure.
    """

    provider: str
    operation: str
    method: str
    path: str
    status: int | None
    duration_s: float
    attempt: int
    budget: str
    error: str | None = None


RequestHook = Callable[[RequestInfo], Awaitable[None] | None]
ErrorParser = Callable[[Any], tuple[str | None, str | None]]


def default_error_parser(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from a JSON error body shaped like Quo's or a CRM's (`code`/`message`)."""
    if not isinstance(body, dict):
        return None, None
    code = body.get("code")
    message = body.get("message") or body.get("title") or body.get("error")
    return (None if code is None else str(code)), (None if message is None else str(message))


class _SendTimer:
    """How long after its permit a request went on the wire: httpcore's trace event for the
    request headers having been written (`http11.` / `http2.send_request_headers.complete`).
    A connect, a wait for a pooled connection or a stalled event loop in between all count.
    It is the moment *after* the write — a little late, which only makes the limiter hold the
    permit longer (see `RateLimiter.release`). None when the transport emits no trace (test
    transports): the limiter then takes the grant as the send time. Measured on
    `time.perf_counter`, since only the difference is passed on."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.delay: float | None = None

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        if self.delay is None and event.endswith("send_request_headers.complete"):
            self.delay = time.perf_counter() - self.start


class ApiClient:
    """A provider's HTTP client. See the module docstring; `request` is the whole API."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        limiters: Mapping[str, RateLimiter] | RateLimiter | None = None,
        budget_for: Callable[[str], str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        hook: RequestHook | None = None,
        clock: Clock = SYSTEM_CLOCK,
        error_parser: ErrorParser = default_error_parser,
        rng: random.Random | None = None,
        unit_costs: Mapping[str, int] | None = None,
    ) -> None:
        self.provider = provider
        self.unit_costs = dict(unit_costs or {})
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.hook = hook
        self.clock = clock
        self.error_parser = error_parser
        self._rng = rng or random.Random()
        self._secrets = [s for s in secrets if s]
        for secret in self._secrets:
            register_secret(secret)
        if limiters is None:
            self.limiters: dict[str, RateLimiter] = {}
        elif isinstance(limiters, Mapping):
            self.limiters = dict(limiters)
        else:
            self.limiters = {"default": limiters}
        self.budget_for = budget_for or (lambda _method: "default")
        self._round_trips: dict[str, deque[float]] = {}
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=dict(headers or {}),
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            transport=transport,
            verify=shared_ssl_context(),
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    def scrub(self, value: Any) -> Any:
        """`value` with every secret this client knows replaced by ***."""
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, _MASK)
            return value
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        return value

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str | None = None,
        params: Any = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        budget: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> httpx.Response:
        """Send one logical request (with retries); return the 2xx/3xx response or raise ApiError.

        Args:
            method, path: HTTP method and path relative to the base URL.
            operation: stable name for metrics and errors ("contacts.create");
                default "METHOD path".
            params: query parameters; a list value is sent as repeated keys (`a=1&a=2`).
            json / content: the body.
            budget: which limiter to use; default `budget_for(method)`. An unknown budget (or no
                limiters at all) means unlimited.
            retry: override the client's RetryPolicy for this call (e.g. NO_RETRY).
        """
        method = method.upper()
        policy = retry or self.retry
        op = operation or f"{method} {path}"
        budget_name = budget or self.budget_for(method)
        limiter = self.limiters.get(budget_name)
        started = self.clock.now()
        attempt = 0
        while True:
            attempt += 1
            permit = await self._acquire(limiter, op, method, path, attempt)
            t0 = self.clock.now()
            sending = _SendTimer()
            try:
                response = await self.http.request(
                    method, path, params=params, json=json, content=content, headers=headers,
                    extensions={"trace": sending.trace},
                )  # fmt: skip
            except httpx.TransportError as exc:
                await self._release(limiter, permit, sending.delay, op)
                duration = self.clock.now() - t0
                error = f"{type(exc).__name__}: {self.scrub(str(exc)) or 'no detail'}"
                await self._notify(op, method, path, None, duration, attempt, budget_name, error)
                if policy.retry_network and attempt < policy.max_attempts:
                    delay = policy.backoff(attempt - 1, self._rng)
                    log.info(
                        "http.retry", provider=self.provider, operation=op, error=error,
                        attempt=attempt, delay_s=round(delay, 3),
                    )  # fmt: skip
                    await self.clock.sleep(delay)
                    continue
                raise ApiError(
                    provider=self.provider, operation=op, status=None, message=error,
                    method=method, path=path, attempts=attempt,
                ) from None  # fmt: skip
            await self._release(limiter, permit, sending.delay, op)
            duration = self.clock.now() - t0
            status = response.status_code
            if status < 400:  # a refusal (a 429 above all) comes back sooner than an answer
                self._round_trip(op, duration)
            await self._notify(op, method, path, status, duration, attempt, budget_name, None)
            if status < 400:
                return response
            await response.aread()
            retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
            elapsed = self.clock.now() - started
            if attempt < policy.max_attempts and policy.should_retry_status(status, elapsed):
                if retry_after is not None and retry_after <= policy.max_retry_after:
                    # Everyone on this budget holds back, not just this caller.
                    if limiter is not None:
                        await limiter.pause(retry_after)
                    delay = retry_after + self._rng.uniform(0.0, policy.base_delay)
                else:
                    delay = policy.backoff(attempt - 1, self._rng)
                if retry_after is None or retry_after <= policy.max_retry_after:
                    log.info(
                        "http.retry", provider=self.provider, operation=op, status=status,
                        attempt=attempt, delay_s=round(delay, 3),
                    )  # fmt: skip
                    await self.clock.sleep(delay)
                    continue
            raise self._error(response, op, method, path, attempt, retry_after)

    def fastest_round_trip(self, operation: str) -> float | None:
        """The quickest of the last successful attempts of `operation`, from its permit to its
        answer (the wait for the rate limiter left out), or None before the first."""
        samples = self._round_trips.get(operation)
        return min(samples) if samples else None

    def _round_trip(self, op: str, duration: float) -> None:
        samples = self._round_trips.get(op)
        if samples is None:
            samples = self._round_trips[op] = deque(maxlen=ROUND_TRIP_SAMPLES)
        samples.append(duration)

    async def _acquire(
        self, limiter: RateLimiter | None, op: str, method: str, path: str, attempt: int
    ) -> Any:
        if limiter is None:
            return None
        try:
            return await limiter.acquire(self.unit_costs.get(op, 1))
        except DailyBudgetExhausted as exc:
            raise ApiError(
                provider=self.provider, operation=op, status=429, code="daily_budget",
                message=str(exc), method=method, path=path, attempts=attempt - 1,
                retry_after=exc.retry_after,
            ) from None  # fmt: skip

    async def _release(
        self,
        limiter: RateLimiter | None,
        permit: Any,
        send_delay: float | None = None,
        kind: str | None = None,
    ) -> None:
        if limiter is None:
            return
        try:
            await limiter.release(permit, send_delay=send_delay, kind=kind)
        except Exception:  # the call itself succeeded; an unreleased permit lapses on its own
            log.exception("http.limiter_release_failed", provider=self.provider)

    def _error(
        self,
        response: httpx.Response,
        op: str,
        method: str,
        path: str,
        attempts: int,
        retry_after: float | None,
    ) -> ApiError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:2000]
        body = self.scrub(body)
        code, message = self.error_parser(body)
        return ApiError(
            provider=self.provider,
            operation=op,
            status=response.status_code,
            code=code,
            message=message or response.reason_phrase or "error",
            body=body,
            method=method,
            path=path,
            attempts=attempts,
            retry_after=retry_after,
        )

    async def _notify(
        self,
        op: str,
        method: str,
        path: str,
        status: int | None,
        duration: float,
        attempt: int,
        budget: str,
        error: str | None,
    ) -> None:
        if self.hook is None:
            return
        info = RequestInfo(
            self.provider, op, method, path, status, duration, attempt, budget, error
        )
        try:
            result = self.hook(info)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a broken counter must never break the call it counts
            log.exception("http.hook_failed", provider=self.provider, operation=op)
