"""`PipedriveEmulator`: the in-process Python API of the Pipedrive emulator.

It owns the companies, API tokens, OAuth clients/codes/tokens, the request log, faults, the
token budget and webhook dispatch. `create_app(emulator)` (in `app.py`) serves it over HTTP;
tests may drive it directly:

    emu = PipedriveEmulator(token="t1", webhook_time_scale=0.001)
    co = emu.default_company
    emu.seed(co, persons=1000, seed=1)
    p = co.create_person({"name": "Ada", "phones": ["+1 (415) 555-0134"]}, co.admin_user_id, "app")
    co.merge_persons(p.id, other.id, co.admin_user_id)   # delete (merged_to_id) + change
    await emu.drain_webhooks()
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from switchboard.emulators.common import FaultConfig, FaultInjector, RequestLog
from switchboard.emulators.oauth import Grant, OAuthServer, OAuthSettings
from switchboard.emulators.pipedrive.company import ChangeEvent, Company
from switchboard.emulators.pipedrive.entities import Webhook, utcnow
from switchboard.emulators.pipedrive.errors import not_found
from switchboard.emulators.pipedrive.limits import TokenBudget
from switchboard.emulators.pipedrive.seed import SeedResult, seed_company
from switchboard.emulators.pipedrive.webhooks import (
    REMOVE_AFTER_S,
    PipedriveDeliverer,
    basic_auth,
    v1_body,
    v2_body,
)

DEFAULT_SCOPES = (
    "base contacts:full activities:full deals:read leads:read users:read search:read "
    "phone-integration admin"
)
#: Pipedrive's OAuth: access tokens for 3599 s, rotating refresh tokens that expire after 60
#: days without use.
PIPEDRIVE_OAUTH = OAuthSettings(
    access_token_lifetime_s=3599,
    refresh_tokens=True,
    rotate_refresh_tokens=True,
    refresh_token_idle_s=60 * 86_400.0,
)
DISPATCH_LOG_MAX = 200_000
WEBHOOKS_PER_USER = 40


@dataclass
class Token:
    value: str
    company_id: int
    user_id: int
    kind: str  # "api" | "oauth"
    scope: str = DEFAULT_SCOPES
    client_id: str | None = None
    expires_at: float | None = None  # epoch seconds; None = never


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    uninstall_url: str | None = None


@dataclass
class DispatchedEvent:
    """One change sent (or not) to one subscription; attempts are in `deliverer.deliveries`."""

    ts: float
    webhook_id: int
    version: str
    entity: str
    action: str
    entity_id: str
    event_id: str
    status: str  # "scheduled" | "no-loop"
    first_body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "webhook_id": self.webhook_id,
            "version": self.version,
            "entity": self.entity,
            "action": self.action,
            "entity_id": self.entity_id,
            "event_id": self.event_id,
            "status": self.status,
            "body": self.first_body,
        }


@dataclass
class PipedriveEmulator:
    """The Pipedrive emulator's state and knobs (see the module docstring)."""

    token: str | None = None
    seed_value: int | None = None
    plan: str = "professional"
    seats: int = 5
    burst_unit: str = "requests"
    burst_api_token: int | None = None
    burst_oauth: int | None = None
    daily_budget: int | None = None
    rate_limits: bool = True
    webhook_time_scale: float = 1.0
    webhook_retry_delays_s: tuple[float, ...] = (3.0, 30.0, 150.0)
    webhook_timeout_s: float = 10.0
    webhook_remove_after_s: float = REMOVE_AFTER_S
    oauth_settings: OAuthSettings = field(default_factory=lambda: PIPEDRIVE_OAUTH.model_copy())
    api_domain: str | None = None  # None: the URL the OAuth token request came in on
    clock: Any = time.time
    companies: dict[int, Company] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    oauth_clients: dict[str, OAuthClient] = field(default_factory=dict)
    dispatched: list[DispatchedEvent] = field(default_factory=list)
    uninstalls: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log = RequestLog()
        self.faults = FaultInjector(FaultConfig(), seed=self.seed_value or 0)
        self.budget = TokenBudget(
            plan=self.plan,
            seats=self.seats,
            burst_unit=self.burst_unit,
            burst_api_token=self.burst_api_token,
            burst_oauth=self.burst_oauth,
            daily_budget=self.daily_budget,
        )
        self.deliverer = PipedriveDeliverer(
            self.faults,
            retry_delays_s=tuple(self.webhook_retry_delays_s),
            time_scale=self.webhook_time_scale,
            timeout_s=self.webhook_timeout_s,
            remove_after_s=self.webhook_remove_after_s,
            on_result=self._delivery_result,
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        # The emulator's clock is read at call time: tests swap it after construction.
        self.oauth = OAuthServer(
            self.oauth_settings,
            self._mint_oauth_token,
            default_scope=DEFAULT_SCOPES,
            clock=lambda: float(self.clock()),
        )
        self._lock = threading.RLock()
        self._next_company = 0
        self.default_company = self.create_company("Emulator Company", token=self.token)
        self.default_token = next(
            t.value for t in self.tokens.values() if t.company_id == self.default_company.id
        )

    # ---------------------------------------------------------------- companies & tokens

    def create_company(
        self,
        name: str = "Company",
        domain: str | None = None,
        *,
        token: str | None = None,
        company_id: int | None = None,
    ) -> Company:
        with self._lock:
            self._next_company += 1
            cid = company_id or 13_000_000 + self._next_company
            company = Company(cid, name, domain or f"company{cid}", clock=utcnow)
            company.listeners.append(self._dispatch)
            self.companies[cid] = company
        self.issue_token(company, token)
        return company

    def company(self, ref: str | int) -> Company:
        """A company by id, domain, or "default"."""
        if ref == "default":
            return self.default_company
        for company in self.companies.values():
            if str(company.id) == str(ref) or company.domain == ref:
                return company
        raise not_found(f'Company "{ref}" not found')

    def issue_token(
        self, company: Company, value: str | None = None, *, user_id: int | None = None
    ) -> Token:
        token = Token(
            value or secrets.token_hex(20), company.id, user_id or company.admin_user_id, "api"
        )
        with self._lock:
            self.tokens[token.value] = token
        return token

    def revoke_token(self, value: str) -> None:
        with self._lock:
            self.tokens.pop(value, None)

    def authenticate(self, value: str | None) -> tuple[Company, Token] | None:
        if not value:
            return None
        token = self.tokens.get(value)
        if token is None:
            return None
        if token.expires_at is not None and self.clock() >= token.expires_at:
            return None
        company = self.companies.get(token.company_id)
        return None if company is None else (company, token)

    # ---------------------------------------------------------------- OAuth

    def register_oauth_client(
        self, client_id: str, client_secret: str, uninstall_url: str | None = None
    ) -> OAuthClient:
        """From now on `client_id` must present `client_secret` (HTTP Basic) at the token
        endpoint; `uninstall_url` is where the uninstall callback goes."""
        client = OAuthClient(client_id, client_secret, uninstall_url)
        with self._lock:
            self.oauth_clients[client_id] = client
        self.oauth.register_client(client_id, client_secret)
        return client

    def issue_oauth_code(
        self,
        company: Company,
        *,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        scope: str = DEFAULT_SCOPES,
    ) -> str:
        """A code as if the company's admin had approved the consent page (control, tests)."""
        grant = Grant(str(company.id), client_id or "emulator", scope, str(company.admin_user_id))
        return self.oauth.issue_code(grant, redirect_uri)

    def _mint_oauth_token(self, grant: Grant, expires_at: float | None) -> str:
        company_id = int(grant.subject)
        user_id = int(grant.member_id or 0)
        token = Token(
            f"{company_id}:{user_id}:{secrets.token_hex(20)}",
            company_id,
            user_id,
            "oauth",
            grant.scope,
            grant.client_id,
            expires_at,
        )
        with self._lock:
            self.tokens[token.value] = token
        return token.value

    def revoke_app(self, company: Company | None = None, client_id: str | None = None) -> int:
        """The user removed the app: its refresh and access tokens for the company (or every
        company) stop working. Returns how many refresh tokens were revoked."""
        revoked = self.oauth.revoke_subject(None if company is None else str(company.id), client_id)
        with self._lock:
            for key, tok in list(self.tokens.items()):
                if (
                    tok.kind == "oauth"
                    and (company is None or tok.company_id == company.id)
                    and (client_id is None or tok.client_id == client_id)
                ):
                    del self.tokens[key]
        return revoked

    async def send_uninstall(
        self,
        client_id: str,
        company: Company,
        *,
        url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        revoke_first: bool = False,
    ) -> dict[str, Any]:
        """Call the app's uninstall URL as Pipedrive does: `DELETE`, HTTP Basic
        `client_id:client_secret`, JSON `{client_id, company_id, user_id}`. The app's tokens
        for the company are revoked — after the callback answers, or before it with
        `revoke_first` (which Pipedrive does is UNCONFIRMED). Returns what happened (also kept
        in `uninstalls`)."""
        client = self.oauth_clients.get(client_id)
        target = url or (client.uninstall_url if client else None)
        if client is None or not target:
            raise not_found(f'OAuth client "{client_id}" with an uninstall URL not found')
        body = {"client_id": client_id, "company_id": company.id, "user_id": company.admin_user_id}
        if revoke_first:
            self.revoke_app(company, client_id)
        status: int | None = None
        error: str | None = None
        try:
            async with httpx.AsyncClient(
                timeout=self.deliverer.timeout_s, transport=transport or self.deliverer.transport
            ) as c:
                resp = await c.request(
                    "DELETE",
                    target,
                    json=body,
                    headers=basic_auth(client.client_id, client.client_secret),
                )
                status = resp.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.revoke_app(company, client_id)
        result = {"url": target, "status": status, "error": error, "body": body}
        self.uninstalls.append(result)
        return result

    # ---------------------------------------------------------------- data

    def seed(
        self,
        company: Company,
        persons: int,
        *,
        organizations: int | None = None,
        deals: int | None = None,
        leads: int | None = None,
        seed: int = 0,
    ) -> SeedResult:
        return seed_company(company, persons, organizations, deals, leads, seed)

    def reset(self) -> None:
        """Forget all data, webhooks, logs, faults and OAuth state; companies keep their ids and
        API tokens stay valid."""
        with self._lock:
            server = self._server_loop()
            if server is not None:
                server.call_soon_threadsafe(self.deliverer.cancel_all)
            else:
                self.deliverer.cancel_all()
            self.deliverer.deliveries.clear()
            self.dispatched.clear()
            self.uninstalls.clear()
            self.log.clear()
            self.faults.clear()
            self.budget.reset()
            api_tokens = [t for t in self.tokens.values() if t.kind == "api"]
            old = list(self.companies.values())
            self.companies.clear()
            self.tokens.clear()
            self.oauth.reset()
            self.oauth_clients.clear()
            for company in old:
                fresh = self.create_company(company.name, company.domain, company_id=company.id)
                if company is self.default_company:
                    self.default_company = fresh
            self.tokens.clear()
            for token in api_tokens:
                token.user_id = self.companies[token.company_id].admin_user_id
                self.tokens[token.value] = token

    # ---------------------------------------------------------------- knobs

    def set_webhook_delivery(
        self,
        *,
        retry_delays_s: list[float] | None = None,
        time_scale: float | None = None,
        timeout_s: float | None = None,
        remove_after_s: float | None = None,
    ) -> None:
        d = self.deliverer
        if retry_delays_s is not None:
            d.retry_delays_s = tuple(float(x) for x in retry_delays_s)
        if time_scale is not None:
            d.time_scale = time_scale
        if timeout_s is not None:
            d.timeout_s = timeout_s
            d._client = None  # the next delivery builds a client with the new timeout
        if remove_after_s is not None:
            d.remove_after_s = remove_after_s

    def webhook_settings(self) -> dict[str, Any]:
        d = self.deliverer
        return {
            "retry_delays_s": list(d.retry_delays_s),
            "time_scale": d.time_scale,
            "timeout_s": d.timeout_s,
            "remove_after_s": d.remove_after_s,
        }

    # ---------------------------------------------------------------- webhook dispatch

    def _delivery_result(self, hook: Webhook, status: int | None, ok: bool) -> None:
        """Track subscription health; after `remove_after_s` (× time scale) of failures
        Pipedrive deletes the subscription."""
        now = utcnow()
        hook.last_delivery_time = now
        hook.last_http_status = status
        if ok:
            hook.failing_since = None
            return
        if hook.failing_since is None:
            hook.failing_since = now
        limit = self.deliverer.remove_after_s * self.deliverer.time_scale
        if (now - hook.failing_since).total_seconds() >= limit:
            hook.removed = True
            hook.remove_time = now
            hook.remove_reason = "Webhook deleted after 3 days of failed deliveries"

    def _dispatch(self, company: Company, event: ChangeEvent) -> None:
        for hook in list(company.webhooks.values()):
            if hook.removed or not hook.matches(event.entity, event.action):
                continue
            if hook.version == "1.0":
                action = "merged" if event.merged_to_id is not None else None
                body_of = partial(v1_body, company, hook, event, action=action)
            else:
                body_of = partial(v2_body, company, hook, event)
            event_id = str(uuid.uuid4())
            event_type = f"{event.action}.{event.entity}"
            status = (
                "scheduled" if self._schedule(hook, body_of, event_id, event_type) else "no-loop"
            )
            with self._lock:
                if len(self.dispatched) >= DISPATCH_LOG_MAX:
                    del self.dispatched[: DISPATCH_LOG_MAX // 2]
                self.dispatched.append(
                    DispatchedEvent(
                        time.time(),
                        hook.id,
                        hook.version,
                        event.entity,
                        event.action,
                        str(event.entity_id),
                        event_id,
                        status,
                        body_of(1),
                    )
                )

    def _schedule(self, hook: Webhook, body_of: Any, event_id: str, event_type: str) -> bool:
        def go() -> None:
            self.deliverer.schedule(hook, body_of, event_id, event_type)

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

    def _server_loop(self) -> asyncio.AbstractEventLoop | None:
        loop = self.loop
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is not None and loop is not current and loop.is_running():
            return loop
        return None

    async def drain_webhooks(self, timeout: float = 30.0) -> None:
        """Wait until every scheduled delivery (with retries) has finished."""
        loop = self._server_loop()
        if loop is None:
            await self.deliverer.drain(timeout)
            return
        future = asyncio.run_coroutine_threadsafe(self.deliverer.drain(timeout), loop)
        await asyncio.wrap_future(future)

    def drain_webhooks_sync(self, timeout: float = 30.0) -> None:
        loop = self._server_loop()
        if loop is None:
            raise RuntimeError("no server loop running in another thread; await drain_webhooks()")
        asyncio.run_coroutine_threadsafe(self.deliverer.drain(timeout), loop).result(timeout + 5)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeError):
        return None
    return user, password
