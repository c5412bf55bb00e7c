"""Plumbing shared by every provider emulator (Quo and each CRM).

Public interface (stable; other emulators and tests build on it):

- `RequestLog` — every request an emulator *received* (server receive timestamp, operation, key,
  status), with per-operation counts and per-key per-second counts (`stats()`,
  `max_per_second()`).
- `FaultConfig` / `FaultInjector` — fault knobs (latency, per-operation error rates, 429 storms
  with `Retry-After`, dropped connections, duplicate / reordered webhook deliveries) and the
  seeded decision logic.
- `SlidingWindowRateLimiter` — per-key limit of N requests per sliding window (default 10/s).
- `EmulatorMiddleware` — pure ASGI middleware: logs each request, applies the rate limiter and the
  faults before the app sees the request.
- `WebhookDeliverer` — async delivery of signed webhooks with retries + backoff, duplicate and
  reorder faults and a delivery log.
- `free_port()`, `ServerThread` / `run_in_thread()` (run an ASGI app with uvicorn on a port in a
  background thread) and `serve()` (blocking, for the CLI).

An emulator supplies three small callables to the middleware: `operation_of(scope)` (the
operation name, e.g. the OpenAPI operationId; `None` means "control surface: not logged, no
faults, no rate limit"), `key_of(scope)` (the API key / token, or `None`) and
`error_body(status, operation, message)` (the provider's error JSON).

Over 600 lines on purpose: it is the one shared toolkit every emulator builds on (log,
faults, limiter, middleware, webhook delivery, servers); splitting it would scatter that contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from pydantic import BaseModel, Field

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Clock = Callable[[], float]


# --------------------------------------------------------------------------- request log


@dataclass
class LoggedRequest:
    """One request as the emulator received it."""

    ts: float  # server receive time, epoch seconds
    method: str
    path: str
    query: str
    operation: str
    key: str | None
    status: int | None = None  # None while in flight or when the connection was dropped
    duration_ms: float | None = None
    fault: str | None = None  # "error", "storm", "drop", "rate_limit", "latency"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "operation": self.operation,
            "key": self.key,
            "status": self.status,
            "durationMs": self.duration_ms,
            "fault": self.fault,
        }


class RequestLog:
    """Thread-safe, bounded log of received requests."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, entry: LoggedRequest) -> LoggedRequest:
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(
        self, *, since: float | None = None, key: str | None = None, operation: str | None = None
    ) -> list[LoggedRequest]:
        with self._lock:
            items = list(self._entries)
        return [
            e
            for e in items
            if (since is None or e.ts >= since)
            and (key is None or e.key == key)
            and (operation is None or e.operation == operation)
        ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def per_operation(self, **filters: Any) -> dict[str, int]:
        return dict(Counter(e.operation for e in self.entries(**filters)))

    def per_key_per_second(self, **filters: Any) -> dict[str, dict[int, int]]:
        """{key: {epoch_second: count}} over received requests (all statuses)."""
        out: dict[str, Counter[int]] = defaultdict(Counter)
        for e in self.entries(**filters):
            out[e.key or ""][int(e.ts)] += 1
        return {k: dict(sorted(v.items())) for k, v in out.items()}

    def max_per_second(self, key: str | None = None, window: float = 1.0) -> int:
        """Largest number of requests (for `key`, or any single key) in any sliding window.

        Stricter than calendar seconds: a burst straddling a second boundary counts once.
        """
        by_key: dict[str | None, list[float]] = defaultdict(list)
        for e in self.entries(key=key):
            by_key[e.key].append(e.ts)
        best = 0
        for stamps in by_key.values():
            stamps.sort()
            lo = 0
            for hi, ts in enumerate(stamps):
                while ts - stamps[lo] >= window:
                    lo += 1
                best = max(best, hi - lo + 1)
        return best

    def stats(self) -> dict[str, Any]:
        entries = self.entries()
        statuses = Counter(str(e.status) for e in entries)
        pkps = self.per_key_per_second()
        return {
            "total": len(entries),
            "perOperation": self.per_operation(),
            "perStatus": dict(statuses),
            "perKeyPerSecond": {k: {str(s): c for s, c in v.items()} for k, v in pkps.items()},
            "maxPerSecondByKey": {k: self.max_per_second(key=k or None) if k else 0 for k in pkps},
            "maxPerCalendarSecondByKey": {k: max(v.values(), default=0) for k, v in pkps.items()},
        }


# --------------------------------------------------------------------------- faults


class ErrorFault(BaseModel):
    """Answer `status` for a fraction `rate` of requests to an operation ("*" = every one)."""

    rate: float = Field(default=1.0, ge=0, le=1)
    status: int = Field(default=500, ge=400, le=599)
    message: str | None = None
    retry_after: int | None = None  # adds a Retry-After header (useful with 429/503)
    count: int | None = Field(default=None, ge=0)  # stop after this many injected errors


class StormFault(BaseModel):
    """Every request answers 429 + Retry-After for `duration_s` seconds from when it was set."""

    duration_s: float = Field(default=5.0, gt=0)
    retry_after: int = Field(default=1, ge=0)
    operations: list[str] | None = None  # None = all operations
    started_at: float | None = None  # filled in when set


class DropFault(BaseModel):
    """Close the socket without any response for a fraction of requests."""

    rate: float = Field(default=1.0, ge=0, le=1)
    operations: list[str] | None = None
    count: int | None = Field(default=None, ge=0)


class FaultConfig(BaseModel):
    """All generic fault knobs. Emulators may subclass to add their own (e.g. bulk delay)."""

    latency_ms: float = Field(default=0, ge=0)
    latency_jitter_ms: float = Field(default=0, ge=0)
    latency_operations: list[str] | None = None
    errors: dict[str, ErrorFault] = Field(default_factory=dict)
    storm_429: StormFault | None = None
    drop: DropFault | None = None
    webhook_duplicate_rate: float = Field(default=0, ge=0, le=1)
    webhook_reorder_jitter_s: float = Field(default=0, ge=0)


@dataclass
class FaultDecision:
    latency_s: float = 0.0
    drop: bool = False
    status: int | None = None
    message: str | None = None
    retry_after: int | None = None
    kind: str | None = None


class FaultInjector:
    """Holds the active `FaultConfig` and decides, per request, which fault applies."""

    def __init__(
        self, config: FaultConfig | None = None, *, seed: int = 0, clock: Clock = time.time
    ) -> None:
        self.config = config or FaultConfig()
        self.random = random.Random(seed)
        self.clock = clock
        self._lock = threading.Lock()
        self._error_counts: Counter[str] = Counter()
        self._drop_count = 0

    def set(self, config: FaultConfig) -> None:
        with self._lock:
            if config.storm_429 is not None and config.storm_429.started_at is None:
                config.storm_429.started_at = self.clock()
            self.config = config
            self._error_counts.clear()
            self._drop_count = 0

    def update(self, patch: dict[str, Any]) -> FaultConfig:
        """Merge `patch` (JSON field names) into the active config and return it."""
        merged = {**self.config.model_dump(), **patch}
        if "storm_429" in patch and patch["storm_429"] is not None:
            merged["storm_429"] = {**patch["storm_429"], "started_at": None}
        new = type(self.config).model_validate(merged)
        self.set(new)
        return new

    def clear(self) -> None:
        self.set(type(self.config)())

    def decide(self, operation: str) -> FaultDecision:
        cfg = self.config
        d = FaultDecision()
        with self._lock:
            if cfg.latency_ms or cfg.latency_jitter_ms:
                ops = cfg.latency_operations
                if ops is None or operation in ops:
                    jitter = self.random.uniform(0, cfg.latency_jitter_ms)
                    d.latency_s = (cfg.latency_ms + jitter) / 1000.0
            drop = cfg.drop
            if (
                drop is not None
                and (drop.operations is None or operation in drop.operations)
                and (drop.count is None or self._drop_count < drop.count)
                and self.random.random() < drop.rate
            ):
                self._drop_count += 1
                d.drop, d.kind = True, "drop"
                return d
            storm = cfg.storm_429
            if storm is not None and (storm.operations is None or operation in storm.operations):
                started = storm.started_at or self.clock()
                if self.clock() < started + storm.duration_s:
                    d.status, d.retry_after, d.kind = 429, storm.retry_after, "storm"
                    d.message = "Too Many Requests"
                    return d
            for name in (operation, "*"):
                err = cfg.errors.get(name)
                if err is None:
                    continue
                if err.count is not None and self._error_counts[name] >= err.count:
                    continue
                if self.random.random() < err.rate:
                    self._error_counts[name] += 1
                    d.status, d.message, d.kind = err.status, err.message, "error"
                    d.retry_after = err.retry_after
                    return d
        return d


# --------------------------------------------------------------------------- rate limiter


class SlidingWindowRateLimiter:
    """At most `limit` accepted requests per key in any `window` seconds.

    Rejected requests do not take a slot.
    """

    def __init__(self, limit: int = 10, window: float = 1.0, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Record a request; None if allowed, else seconds until a slot frees up."""
        if self.limit <= 0:
            return None
        now = self.clock()
        with self._lock:
            q = self._hits[key]
            while q and now - q[0] >= self.window:
                q.popleft()
            if len(q) >= self.limit:
                return max(self.window - (now - q[0]), 0.001)
            q.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


# --------------------------------------------------------------------------- middleware

ErrorBody = Callable[[int, str, str | None], dict[str, Any]]


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised in-process (no socket to close) when a dropped-connection fault fires.

    An `httpx.RemoteProtocolError`, so a client driven through `httpx.ASGITransport` sees the same
    exception family (`httpx.TransportError`) as over a real socket that closed mid-request.
    """


def _drop_socket(send: Send) -> bool:
    """Abort the TCP connection under uvicorn; False when not running under uvicorn."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    # Mark the cycle disconnected so uvicorn does not try to write a 500 afterwards.
    with contextlib.suppress(AttributeError):
        cycle.disconnected = True  # type: ignore[union-attr]
    transport.abort()
    return True


async def send_json(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    raw = json.dumps(body).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})


class EmulatorMiddleware:
    """Logs, rate-limits and fault-injects every API request before the wrapped app sees it.

    Order: log (receive timestamp) → dropped connection → latency → 429 storm / injected error →
    rate limit (per key, only when a key is present) → app.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        log: RequestLog,
        faults: FaultInjector,
        limiter: SlidingWindowRateLimiter | None,
        operation_of: Callable[[Scope], str | None],
        key_of: Callable[[Scope], str | None],
        error_body: ErrorBody,
        clock: Clock = time.time,
    ) -> None:
        self.app = app
        self.log = log
        self.faults = faults
        self.limiter = limiter
        self.operation_of = operation_of
        self.key_of = key_of
        self.error_body = error_body
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        operation = self.operation_of(scope)
        if operation is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        entry = self.log.add(
            LoggedRequest(
                ts=self.clock(),
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                operation=operation,
                key=self.key_of(scope),
            )
        )

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = int(message["status"])
                entry.duration_ms = round((time.perf_counter() - started) * 1000, 3)
            await send(message)

        decision = self.faults.decide(operation)
        if decision.drop:
            entry.fault = "drop"
            if not _drop_socket(send):
                raise ConnectionDropped(operation)
            return
        if decision.latency_s:
            entry.fault = "latency"
            await asyncio.sleep(decision.latency_s)
        if decision.status is not None:
            entry.fault = decision.kind
            headers = {}
            if decision.retry_after is not None:
                headers["Retry-After"] = str(decision.retry_after)
            body = self.error_body(decision.status, operation, decision.message)
            await send_json(logged_send, decision.status, body, headers)
            return
        if self.limiter is not None and entry.key:
            wait = self.limiter.hit(entry.key)
            if wait is not None:
                entry.fault = "rate_limit"
                retry_after = str(max(1, math.ceil(wait)))
                body = self.error_body(429, operation, "Too Many Requests")
                await send_json(logged_send, 429, body, {"Retry-After": retry_after})
                return
        await self.app(scope, receive, logged_send)


# --------------------------------------------------------------------------- webhooks

HeadersFactory = Callable[[bytes], dict[str, str]]
AttemptHook = Callable[[int, int | None, str | None], None]


@dataclass
class Delivery:
    """One attempt to deliver one webhook."""

    ts: float
    url: str
    event_id: str
    event_type: str
    attempt: int
    status: int | None
    error: str | None = None
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "url": self.url,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "duplicate": self.duplicate,
        }


@dataclass
class WebhookDeliverer:
    """Delivers webhook bodies asynchronously, with retries and the delivery faults.

    `schedule()` must be called from a running event loop (a request handler or a test); it
    returns at once. Each attempt calls `headers_factory(body)` so signatures carry a fresh
    timestamp. Retries on connection errors and non-2xx answers, with exponential backoff
    (`backoff_s * 2**n`, scaled by `time_scale`). `await drain()` waits for everything pending.
    """

    faults: FaultInjector
    max_attempts: int = 5
    backoff_s: float = 1.0
    time_scale: float = 1.0
    timeout_s: float = 10.0
    clock: Clock = time.time
    deliveries: list[Delivery] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None
    _client_loop: asyncio.AbstractEventLoop | None = None
    transport: httpx.AsyncBaseTransport | None = None  # tests may route deliveries in-process

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport)
            self._client_loop = loop
        return self._client

    def schedule(
        self,
        url: str,
        body: bytes,
        headers_factory: HeadersFactory,
        *,
        event_id: str = "",
        event_type: str = "",
        delay_s: float = 0.0,
        retry_schedule_s: Sequence[float] | None = None,
        on_attempt: AttemptHook | None = None,
    ) -> None:
        """`retry_schedule_s` (optional) replaces the exponential backoff: item n is the wait
        before attempt n + 1 (item 0 is normally 0), its length the number of attempts.
        `on_attempt(attempt, status, error)` is called after every attempt."""
        cfg = self.faults.config
        copies = 1
        if cfg.webhook_duplicate_rate and self.faults.random.random() < cfg.webhook_duplicate_rate:
            copies = 2
        for n in range(copies):
            extra = 0.0
            if cfg.webhook_reorder_jitter_s:
                extra = self.faults.random.uniform(0, cfg.webhook_reorder_jitter_s)
            task = asyncio.get_running_loop().create_task(
                self._deliver(
                    url,
                    body,
                    headers_factory,
                    event_id,
                    event_type,
                    delay_s + extra,
                    n > 0,
                    retry_schedule_s,
                    on_attempt,
                )
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self,
        url: str,
        body: bytes,
        headers_factory: HeadersFactory,
        event_id: str,
        event_type: str,
        delay_s: float,
        duplicate: bool,
        retry_schedule_s: Sequence[float] | None = None,
        on_attempt: AttemptHook | None = None,
    ) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        schedule = list(retry_schedule_s or [])
        attempts = len(schedule) if schedule else self.max_attempts
        for attempt in range(1, attempts + 1):
            if schedule and attempt > 1 and schedule[attempt - 1] > 0:
                await asyncio.sleep(schedule[attempt - 1] * self.time_scale)
            status: int | None = None
            error: str | None = None
            try:
                headers = {"content-type": "application/json", **headers_factory(body)}
                resp = await self._http().post(url, content=body, headers=headers)
                status = resp.status_code
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.deliveries.append(
                Delivery(self.clock(), url, event_id, event_type, attempt, status, error, duplicate)
            )
            if on_attempt is not None:
                on_attempt(attempt, status, error)
            if status is not None and 200 <= status < 300:
                return
            if not schedule and attempt < attempts:
                await asyncio.sleep(self.backoff_s * (2 ** (attempt - 1)) * self.time_scale)

    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until every scheduled delivery (and its retries) has finished."""
        deadline = time.monotonic() + timeout
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._tasks)} webhook deliveries still pending")
            await asyncio.wait(set(self._tasks), timeout=remaining)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()


# --------------------------------------------------------------------------- running servers


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Runs an ASGI app with uvicorn in a daemon thread; `start()` waits until it listens."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            app, host=self.host, port=self.port, log_level="warning", lifespan="auto"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="emulator")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


@contextlib.contextmanager
def run_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[ServerThread]:
    """`with run_in_thread(app) as server: httpx.get(server.url + ...)`."""
    server = ServerThread(app, host, port).start()
    try:
        yield server
    finally:
        server.stop()


def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    *,
    date_header: bool = True,
) -> None:
    """Run an ASGI app in the foreground (the CLI's `switchboard emulate ...`). `date_header`
    False: the app sends its own `Date` (an emulator with an adjustable clock)."""
    uvicorn.run(app, host=host, port=port, log_level=log_level, date_header=date_header)
