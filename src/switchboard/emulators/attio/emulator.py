"""`AttioEmulator`: the in-process Python API of the Attio emulator.

It owns the workspaces, tokens and OAuth codes, the request log, faults, rate limits and the
webhook dispatcher. `create_app(emulator)` (in `app.py`) serves it over HTTP; tests may also drive
it directly:

    emu = AttioEmulator(allow_http_targets=True)
    ws = emu.default_workspace                    # token: emu.default_token
    emu.seed(ws, people=1000, seed=1)
    rec = emu.create_record(ws, "people", {"phone_numbers": ["+14155550134"]})  # fires webhooks
    emu.merge_records(ws, "people", a, b)         # fires two record.merged
    emu.faults.update({"webhook_drop_count": 1})  # the next delivery is dropped entirely
    await emu.drain_webhooks()

Webhook deliveries are signed (`Attio-Signature` and `X-Attio-Signature`: lowercase hex
HMAC-SHA256 of the raw body keyed with the webhook secret) and carry an `Idempotency-Key` that is
the same on every retry and on duplicate deliveries of the same event.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from pydantic import Field

from switchboard.emulators.attio.errors import AttioError, not_found
from switchboard.emulators.attio.records import Record, WriteMode
from switchboard.emulators.attio.seed import SeedResult, seed_workspace
from switchboard.emulators.attio.values import Actor
from switchboard.emulators.attio.workspace import (
    Clock,
    Workspace,
    WorkspaceEvent,
    event_matches,
    utcnow,
)
from switchboard.emulators.common import (
    FaultConfig,
    FaultInjector,
    RequestLog,
    SlidingWindowRateLimiter,
    WebhookDeliverer,
)
from switchboard.emulators.oauth import Grant, OAuthServer, OAuthSettings

DISPATCH_LOG_MAX = 200_000

DEFAULT_SCOPES = (
    "record_permission:read-write object_configuration:read note:read-write "
    "webhook:read-write user_management:read task:read-write"
)


class AttioFaultConfig(FaultConfig):
    """Common faults plus dropping webhook deliveries entirely (never sent, never retried):
    `webhook_drop_rate` drops a fraction, `webhook_drop_count` the next N."""

    webhook_drop_rate: float = Field(default=0, ge=0, le=1)
    webhook_drop_count: int = Field(default=0, ge=0)


class AttioRateLimiter(SlidingWindowRateLimiter):
    """Attio's per-workspace budgets: keys are `<workspace id>:read` or `<workspace id>:write`."""

    def __init__(
        self, reads_per_second: int = 100, writes_per_second: int = 25, clock: Any = time.monotonic
    ) -> None:
        super().__init__(reads_per_second, 1.0, clock)
        self.reads = SlidingWindowRateLimiter(reads_per_second, 1.0, clock)
        self.writes = SlidingWindowRateLimiter(writes_per_second, 1.0, clock)

    def configure(self, reads_per_second: int, writes_per_second: int) -> None:
        self.reads.limit = reads_per_second
        self.writes.limit = writes_per_second
        self.reset()

    def hit(self, key: str) -> float | None:
        limiter = self.writes if key.endswith(":write") else self.reads
        return limiter.hit(key)

    def reset(self) -> None:
        self.reads.reset()
        self.writes.reset()


TokenLevel = Literal["workspace", "member"]


@dataclass
class Token:
    """An access token. `level` is what `GET /v2/self` reports as `token_level`: a workspace
    token (an API key or an app installed for the workspace) or a member token (acting as the
    member `member_id`); `expires_at` (epoch seconds) is None for tokens that never expire."""

    value: str
    workspace_id: str
    kind: str  # "api" | "oauth"
    id: str
    issued_at: float
    client_id: str = "emulator"
    scope: str = DEFAULT_SCOPES
    level: TokenLevel = "workspace"
    member_id: str | None = None
    expires_at: float | None = None


@dataclass
class DispatchedEvent:
    """One event sent (or dropped) to one webhook; deliveries are in `deliverer.deliveries`."""

    ts: float
    webhook_id: str
    event_type: str
    record_id: str | None
    idempotency_key: str
    status: str  # "scheduled" | "dropped" | "no-loop"
    body: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "webhook_id": self.webhook_id,
            "event_type": self.event_type,
            "record_id": self.record_id,
            "idempotency_key": self.idempotency_key,
            "status": self.status,
            "body": self.body,
        }


def sign(secret: str, body: bytes) -> str:
    """Attio's webhook signature: lowercase hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class AttioEmulator:
    """The Attio emulator's state and knobs (see the module docstring)."""

    allow_http_targets: bool = False
    seed_value: int | None = None
    token: str | None = None
    include_historic_values: bool = True
    reads_per_second: int = 100
    writes_per_second: int = 25
    webhook_max_attempts: int = 10
    webhook_backoff_s: float = 1.0
    webhook_time_scale: float = 1.0
    clock: Clock = utcnow
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    # Attio's OAuth tokens never expire and come without a refresh token; tests shorten them
    oauth_settings: OAuthSettings = field(default_factory=OAuthSettings)
    oauth_token_level: TokenLevel = "workspace"
    dispatched: list[DispatchedEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log = RequestLog()
        self.faults = FaultInjector(AttioFaultConfig(), seed=self.seed_value or 0)
        self.limiter = AttioRateLimiter(self.reads_per_second, self.writes_per_second)
        self.deliverer = WebhookDeliverer(
            self.faults,
            max_attempts=self.webhook_max_attempts,
            backoff_s=self.webhook_backoff_s,
            time_scale=self.webhook_time_scale,
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.oauth = OAuthServer(
            self.oauth_settings, self._mint_oauth_token, default_scope=DEFAULT_SCOPES
        )
        self._lock = threading.RLock()
        self._dropped_so_far = 0
        self._drop_config: FaultConfig | None = None
        self.default_workspace = self.create_workspace("Emulator Workspace", token=self.token)
        self.default_token = next(
            t.value for t in self.tokens.values() if t.workspace_id == self.default_workspace.id
        )

    # ---------------------------------------------------------------- workspaces & tokens

    def create_workspace(
        self,
        name: str = "Workspace",
        slug: str | None = None,
        *,
        token: str | None = None,
        workspace_id: str | None = None,
    ) -> Workspace:
        with self._lock:
            seed = None
            if self.seed_value is not None:
                seed = self.seed_value * 7919 + len(self.workspaces)
            ws = Workspace(
                name,
                slug,
                workspace_id=workspace_id,
                seed=seed,
                clock=self.clock,
                include_historic_values=self.include_historic_values,
            )
            ws.listeners.append(partial(self._dispatch, ws))
            self.workspaces[ws.id] = ws
            self.issue_token(ws, token)
            return ws

    def workspace(self, ref: str) -> Workspace:
        """A workspace by id, slug, or "default"."""
        if ref == "default":
            return self.default_workspace
        found = self.workspaces.get(ref)
        if found is not None:
            return found
        for ws in self.workspaces.values():
            if ws.slug == ref:
                return ws
        raise not_found(f'Workspace "{ref}" not found.')

    def issue_token(
        self,
        ws: Workspace,
        value: str | None = None,
        *,
        kind: str = "api",
        client_id: str = "emulator",
        scope: str = DEFAULT_SCOPES,
        level: TokenLevel = "workspace",
        member_id: str | None = None,
        expires_at: float | None = None,
    ) -> Token:
        token = Token(
            value or f"attio_{secrets.token_hex(24)}",
            ws.id,
            kind,
            str(uuid.uuid4()),
            time.time(),
            client_id,
            scope,
            level,
            member_id or ws.admin_member_id,
            expires_at,
        )
        with self._lock:
            self.tokens[token.value] = token
        return token

    def revoke_token(self, value: str) -> None:
        with self._lock:
            self.tokens.pop(value, None)

    def authenticate(self, value: str | None) -> tuple[Workspace, Token] | None:
        if not value:
            return None
        token = self.tokens.get(value)
        if token is None or (token.expires_at is not None and token.expires_at <= time.time()):
            return None
        ws = self.workspaces.get(token.workspace_id)
        return None if ws is None else (ws, token)

    def issue_oauth_code(
        self,
        ws: Workspace,
        *,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        scope: str = DEFAULT_SCOPES,
    ) -> str:
        """A code as if the admin had approved the consent page (control surface, tests)."""
        grant = Grant(ws.id, client_id or "emulator", scope, ws.admin_member_id)
        return self.oauth.issue_code(grant, redirect_uri)

    def register_oauth_client(self, client_id: str, client_secret: str) -> None:
        """From now on `client_id` must present `client_secret` when exchanging codes
        (unregistered clients are accepted with any secret)."""
        self.oauth.register_client(client_id, client_secret)

    def _mint_oauth_token(self, grant: Grant, expires_at: float | None) -> str:
        ws = self.workspaces.get(grant.subject)
        if ws is None:  # the workspace was reset away; the token simply never authenticates
            return f"attio_{secrets.token_hex(24)}"
        token = self.issue_token(
            ws,
            kind="oauth",
            client_id=grant.client_id,
            scope=grant.scope,
            level=self.oauth_token_level,
            member_id=grant.member_id,
            expires_at=expires_at,
        )
        return token.value

    # ---------------------------------------------------------------- data (fires webhooks)

    def member_actor(self, ws: Workspace) -> Actor:
        return ("workspace-member", ws.admin_member_id)

    def seed(
        self, ws: Workspace, people: int, companies: int | None = None, seed: int = 0
    ) -> SeedResult:
        return seed_workspace(ws, people, companies, seed)

    def create_record(self, ws: Workspace, object_slug: str, values: dict[str, Any]) -> Record:
        """Create a record as a workspace member would in the Attio app (webhooks fire)."""
        return ws.create_record(object_slug, values, self.member_actor(ws))

    def update_record(
        self,
        ws: Workspace,
        object_slug: str,
        record_id: str,
        values: dict[str, Any],
        *,
        overwrite: bool = True,
    ) -> Record:
        mode: WriteMode = "overwrite" if overwrite else "append"
        return ws.update_record(object_slug, record_id, values, self.member_actor(ws), mode)

    def delete_record(self, ws: Workspace, object_slug: str, record_id: str) -> None:
        ws.delete_record(object_slug, record_id, self.member_actor(ws))

    def merge_records(
        self, ws: Workspace, object_slug: str, primary_id: str, secondary_id: str
    ) -> Record:
        return ws.merge_records(object_slug, primary_id, secondary_id, self.member_actor(ws))

    def reset(self) -> None:
        """Forget all data, webhooks, logs, faults and OAuth clients/codes; workspaces and
        tokens keep their ids."""
        with self._lock:
            server = self._server_loop()
            if server is not None:  # tasks belong to the server thread's loop
                server.call_soon_threadsafe(self.deliverer.cancel_all)
            else:
                self.deliverer.cancel_all()
            self.deliverer.deliveries.clear()
            self.dispatched.clear()
            self.log.clear()
            self.faults.clear()
            self.limiter.reset()
            old = list(self.workspaces.values())
            tokens = list(self.tokens.values())
            self.workspaces.clear()
            self.tokens.clear()
            self.oauth.reset()
            for ws in old:
                fresh = self.create_workspace(ws.name, ws.slug, workspace_id=ws.id)
                if ws is self.default_workspace:
                    self.default_workspace = fresh
            self.tokens.clear()
            for token in tokens:
                self.tokens[token.value] = token

    # ---------------------------------------------------------------- knobs

    def set_rate_limits(self, reads_per_second: int, writes_per_second: int) -> None:
        """0 disables a budget."""
        self.reads_per_second = reads_per_second
        self.writes_per_second = writes_per_second
        self.limiter.configure(reads_per_second, writes_per_second)

    def set_webhook_delivery(
        self,
        *,
        max_attempts: int | None = None,
        backoff_s: float | None = None,
        time_scale: float | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """Retry policy for deliveries; `time_scale=0.001` makes redelivery fast in tests."""
        if max_attempts is not None:
            self.deliverer.max_attempts = max_attempts
        if backoff_s is not None:
            self.deliverer.backoff_s = backoff_s
        if time_scale is not None:
            self.deliverer.time_scale = time_scale
        if timeout_s is not None:
            self.deliverer.timeout_s = timeout_s

    def webhook_settings(self) -> dict[str, Any]:
        return {
            "max_attempts": self.deliverer.max_attempts,
            "backoff_s": self.deliverer.backoff_s,
            "time_scale": self.deliverer.time_scale,
            "timeout_s": self.deliverer.timeout_s,
        }

    def _server_loop(self) -> asyncio.AbstractEventLoop | None:
        """The served app's loop when it runs in another thread than the caller."""
        loop = self.loop
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is not None and loop is not current and loop.is_running():
            return loop
        return None

    async def drain_webhooks(self, timeout: float = 30.0) -> None:
        """Wait until every scheduled delivery (including retries) has finished; works from the
        server's loop, a test's loop (in-process app), or another thread's loop (server thread)."""
        loop = self._server_loop()
        if loop is None:
            await self.deliverer.drain(timeout)
            return
        future = asyncio.run_coroutine_threadsafe(self.deliverer.drain(timeout), loop)
        await asyncio.wrap_future(future)

    def drain_webhooks_sync(self, timeout: float = 30.0) -> None:
        """`drain_webhooks` for synchronous callers while the app runs in a server thread."""
        loop = self._server_loop()
        if loop is None:
            raise RuntimeError("no server loop running in another thread; await drain_webhooks()")
        asyncio.run_coroutine_threadsafe(self.deliverer.drain(timeout), loop).result(timeout + 5)

    def refresh_webhook_status(self, ws: Workspace) -> None:
        """Mark webhooks `degraded` once a delivery to them has used up every attempt (as Attio
        does after its retries); they keep receiving events."""
        with self._lock:
            sent = {d.idempotency_key: d for d in self.dispatched}
            attempts = list(self.deliverer.deliveries)
        for attempt in attempts:
            if attempt.attempt < self.deliverer.max_attempts or (
                attempt.status is not None and 200 <= attempt.status < 300
            ):
                continue
            event = sent.get(attempt.event_id)
            hook = ws.webhooks.get(event.webhook_id) if event is not None else None
            if hook is not None and event is not None and event.ts >= hook.active_since:
                hook.status = "degraded"

    # ---------------------------------------------------------------- webhook dispatch

    def _dispatch(self, ws: Workspace, event: WorkspaceEvent) -> None:
        for hook in list(ws.webhooks.values()):
            if not any(event_matches(sub, event.payload) for sub in hook.subscriptions):
                continue
            body = json.dumps({"webhook_id": hook.id, "events": [event.payload]}).encode()
            key = str(uuid.uuid4())
            record_id = event.payload.get("id", {}).get("record_id")
            status = "dropped" if self._drop_next() else "scheduled"
            if status == "scheduled" and not self._schedule(
                hook.target_url, body, hook.secret, key, event.event_type
            ):
                status = "no-loop"
            with self._lock:
                if len(self.dispatched) >= DISPATCH_LOG_MAX:  # bounded, like the request log
                    del self.dispatched[: DISPATCH_LOG_MAX // 2]
                self.dispatched.append(
                    DispatchedEvent(
                        time.time(),
                        hook.id,
                        event.event_type,
                        record_id,
                        key,
                        status,
                        body.decode(),
                    )
                )

    def _drop_next(self) -> bool:
        cfg = self.faults.config
        if not isinstance(cfg, AttioFaultConfig):
            return False
        with self._lock:
            if self._drop_config is not cfg:  # a new fault config starts a new count
                self._drop_config = cfg
                self._dropped_so_far = 0
            if cfg.webhook_drop_count > self._dropped_so_far:
                self._dropped_so_far += 1
                return True
            rate = cfg.webhook_drop_rate
            return bool(rate) and self.faults.random.random() < rate

    def _schedule(
        self, url: str, body: bytes, secret: str, idempotency_key: str, event_type: str
    ) -> bool:
        signature = sign(secret, body)

        def headers(_: bytes) -> dict[str, str]:
            return {
                "Attio-Signature": signature,
                "X-Attio-Signature": signature,
                "Idempotency-Key": idempotency_key,
            }

        def go() -> None:
            self.deliverer.schedule(
                url, body, headers, event_id=idempotency_key, event_type=event_type
            )

        # Deliveries belong on the served app's loop: when the app runs in a server thread, a
        # change made from a test thread (even inside the test's own event loop) goes there.
        server = self._server_loop()
        if server is not None:
            server.call_soon_threadsafe(go)
            return True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        go()
        return True


__all__ = [
    "AttioEmulator",
    "AttioError",
    "AttioFaultConfig",
    "AttioRateLimiter",
    "DispatchedEvent",
    "Token",
    "sign",
]
