"""The Zoho CRM emulator's state machine: orgs (workspaces) in data centres, OAuth clients, codes,
refresh and access tokens, API credits and concurrency per org, record writes that notify watch
channels, and an adjustable clock.

The clock (`now()`) is wall time plus `advance()`d seconds, so tests can expire channels, access
tokens and the rolling 24-hour credit window without sleeping.

Over 600 lines on purpose: emulator state — orgs, modules, credits and notifications kept
together so a request's effects read in one place.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from switchboard.emulators.common import FaultConfig, FaultInjector, RequestLog, WebhookDeliverer
from switchboard.emulators.zoho.errors import (
    ZohoError,
    authentication_failure,
    invalid_token,
    too_many_requests,
)
from switchboard.emulators.zoho.metadata import Ids
from switchboard.emulators.zoho.org import (
    EDITIONS,
    Channel,
    Deleted,
    Org,
    Record,
    RecordError,
    Result,
    User,
    display_name,
)
from switchboard.emulators.zoho.scopes import FULL_SCOPE, allows, scope_mismatch
from switchboard.emulators.zoho.seed import SeedResult, seed_org

# Data centres: code → (accounts host, API host).
DATA_CENTRES: dict[str, tuple[str, str]] = {
    "us": ("accounts.zoho.com", "www.zohoapis.com"),
    "eu": ("accounts.zoho.eu", "www.zohoapis.eu"),
    "in": ("accounts.zoho.in", "www.zohoapis.in"),
    "au": ("accounts.zoho.com.au", "www.zohoapis.com.au"),
    "cn": ("accounts.zoho.com.cn", "www.zohoapis.com.cn"),
    "jp": ("accounts.zoho.jp", "www.zohoapis.jp"),
    "ca": ("accounts.zohocloud.ca", "www.zohoapis.ca"),
    "sa": ("accounts.zoho.sa", "www.zohoapis.sa"),
}
HOST_TO_DC = {host: dc for dc, hosts in DATA_CENTRES.items() for host in hosts}

ACCESS_TOKEN_TTL_S = 3600
REFRESH_WINDOW_S = 600
REFRESH_LIMIT = 10
CHANNEL_DEFAULT_TTL_S = 3600
CHANNEL_MAX_TTL_S = 7 * 24 * 3600
CREDIT_WINDOW_S = 24 * 3600
HEAVY_CONCURRENCY = 10  # sub-concurrency of heavy calls (searches, upserts, sorted lists)


@dataclass
class AccessToken:
    value: str
    org_id: str
    dc: str
    expires_at: float
    scope: str
    refresh_token: str | None = None


@dataclass
class RefreshToken:
    value: str
    org_id: str
    dc: str
    client_id: str
    scope: str
    minted: deque[float] = field(default_factory=deque)  # access tokens issued (clock times)


@dataclass
class OAuthCode:
    code: str
    org_id: str
    dc: str
    client_id: str | None
    redirect_uri: str | None
    scope: str
    expires_at: float


@dataclass
class Notification:
    """A notification built for a channel (delivered or not), for the control surface."""

    ts: float
    channel_id: str
    url: str
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "channel_id": self.channel_id, "url": self.url, "body": self.body}


class ZohoFaultConfig(FaultConfig):
    """The common fault knobs plus Zoho-specific ones."""

    # Quirks no primary source confirms: kept as knobs.
    strict_se_module: bool = True  # `$se_module` only with `What_Id`, naming Leads or Accounts
    oauth_error_status: int = 200  # Zoho's accounts server answers OAuth errors with 200 + error
    # Credits per call by operation (the documents' operation names); others cost 1. Zoho says
    # "most calls cost 1, some more" without a table the emulator could rely on.
    credit_costs: dict[str, int] = Field(default_factory=dict)
    # Share of notifications preceded by an extra POST with an empty body (production parsers
    # broke on such bodies; when Zoho sends them is not documented).
    notify_empty_body_rate: float = Field(default=0, ge=0, le=1)
    # Server-side handling time of every /crm request, spent while holding a concurrency slot
    # (the common `latency_ms` is spent before the slot is taken).
    processing_ms: float = Field(default=0, ge=0)


class ZohoEmulator:
    def __init__(
        self,
        *,
        seed: int = 0,
        edition: str = "enterprise",
        credits_per_day: int | None = None,
        max_concurrency: int | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token: str | None = None,
        dc: str = "us",
        notify_max_attempts: int = 3,
        notify_time_scale: float = 1.0,
    ) -> None:
        if edition not in EDITIONS:
            raise ValueError(f"edition must be one of {sorted(EDITIONS)}")
        self.random = random.Random(seed)
        self._offset = 0.0
        self._lock = threading.RLock()
        self._next_id = 4_876_876_000_000_000_000 + self.random.randrange(10**12)
        self.log = RequestLog()
        self.faults = FaultInjector(ZohoFaultConfig(), seed=seed, clock=self.now)
        self.deliverer = WebhookDeliverer(
            self.faults, max_attempts=notify_max_attempts, time_scale=notify_time_scale
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.edition = edition
        self.credits_override = credits_per_day
        self.concurrency_override = max_concurrency
        self.orgs: dict[str, Org] = {}
        self.clients: dict[str, str] = {}
        self.codes: dict[str, OAuthCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.notifications: list[Notification] = []
        self.credit_log: dict[str, deque[float]] = {}
        self.in_flight: dict[str, int] = {}
        if client_id and client_secret:
            self.clients[client_id] = client_secret
        self.default_org = self.create_org("Zylker", dc=dc, edition=edition)
        self.default_token = self.issue_access_token(
            self.default_org, token, ttl_s=10 * 365 * 86400
        ).value

    # ------------------------------------------------------------ clock & ids

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
        return self.now()

    def new_id(self) -> str:
        with self._lock:
            self._next_id += self.random.randrange(1, 50)
            return str(self._next_id)

    # ------------------------------------------------------------ orgs

    def create_org(
        self,
        name: str = "Org",
        *,
        dc: str = "us",
        edition: str | None = None,
        users: int = 1,
    ) -> Org:
        if dc not in DATA_CENTRES:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "dc"})
        edition = edition or self.edition
        if edition not in EDITIONS:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "edition"})
        org_id = self.new_id()
        # Zoho's users document constrains emails to `[a-z0-9]{9}@[a-z0-9]{5}.com`.
        people = [
            User(
                self.new_id(),
                "Patricia" if n == 0 else f"User{n}",
                "Boyle",
                f"patricia{n:03d}@zylkr.com",
            )
            for n in range(max(1, users))
        ]
        org = Org(
            id=org_id,
            name=name,
            dc=dc,
            edition=edition,
            ids=Ids(int(org_id)),
            users=people,
            created=self.now(),
            credits_override=self.credits_override,
            concurrency_override=self.concurrency_override,
        )
        self.orgs[org.id] = org
        return org

    def org(self, ref: str) -> Org:
        if ref == "default":
            return self.default_org
        found = self.orgs.get(ref) or next((o for o in self.orgs.values() if o.name == ref), None)
        if found is None:
            raise ZohoError(404, "NOT_FOUND", "org not found", {"org": ref})
        return found

    def reset(self) -> None:
        """Forget every org, token and log; keep OAuth clients and knobs; new default org."""
        token = self.default_token
        self.deliverer.cancel_all()
        self.orgs.clear()
        self.codes.clear()
        self.refresh_tokens.clear()
        self.access_tokens.clear()
        self.notifications.clear()
        self.credit_log.clear()
        self.in_flight.clear()
        self.log.clear()
        self.deliverer.deliveries.clear()
        self.faults.clear()
        self._offset = 0.0
        self.default_org = self.create_org("Zylker", dc="us", edition=self.edition)
        self.issue_access_token(self.default_org, token, ttl_s=10 * 365 * 86400)

    # ------------------------------------------------------------ OAuth

    def register_client(self, client_id: str, client_secret: str) -> None:
        self.clients[client_id] = client_secret

    def issue_code(
        self,
        org: Org,
        *,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        scope: str = FULL_SCOPE,
    ) -> str:
        code = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self.codes[code] = OAuthCode(
            code, org.id, org.dc, client_id, redirect_uri, scope, self.now() + 120
        )
        return code

    def issue_access_token(
        self,
        org: Org,
        value: str | None = None,
        *,
        ttl_s: float = ACCESS_TOKEN_TTL_S,
        scope: str = FULL_SCOPE,
        refresh: RefreshToken | None = None,
    ) -> AccessToken:
        token = AccessToken(
            value or f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
            org.id,
            org.dc,
            self.now() + ttl_s,
            scope,
            refresh.value if refresh else None,
        )
        self.access_tokens[token.value] = token
        return token

    def exchange_code(
        self, dc: str, code: str, client_id: str, client_secret: str, redirect_uri: str | None
    ) -> tuple[AccessToken, RefreshToken] | str:
        """(access, refresh) or the OAuth error string Zoho answers."""
        if self.clients and self.clients.get(client_id) != client_secret:
            return "invalid_client"
        grant = self.codes.pop(code, None)
        if grant is None or grant.dc != dc or grant.expires_at < self.now():
            return "invalid_code"
        if grant.client_id is not None and grant.client_id != client_id:
            return "invalid_code"
        if grant.redirect_uri and redirect_uri and grant.redirect_uri != redirect_uri:
            return "invalid_redirect_uri"
        org = self.orgs[grant.org_id]
        refresh = RefreshToken(
            f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
            org.id,
            org.dc,
            client_id,
            grant.scope,
        )
        self.refresh_tokens[refresh.value] = refresh
        refresh.minted.append(self.now())
        return self.issue_access_token(org, scope=grant.scope, refresh=refresh), refresh

    def refresh(
        self, dc: str, refresh_token: str, client_id: str, client_secret: str
    ) -> AccessToken | str:
        if self.clients and self.clients.get(client_id) != client_secret:
            return "invalid_client"
        grant = self.refresh_tokens.get(refresh_token)
        if grant is None or grant.dc != dc or grant.client_id != client_id:
            return "invalid_code"
        now = self.now()
        with self._lock:
            while grant.minted and now - grant.minted[0] >= REFRESH_WINDOW_S:
                grant.minted.popleft()
            if len(grant.minted) >= REFRESH_LIMIT:
                return "Access Denied"
            grant.minted.append(now)
        return self.issue_access_token(self.orgs[grant.org_id], scope=grant.scope, refresh=grant)

    def revoke(self, token: str) -> None:
        grant = self.refresh_tokens.pop(token, None)
        if grant is not None:
            for value in [k for k, v in self.access_tokens.items() if v.refresh_token == token]:
                del self.access_tokens[value]
        self.access_tokens.pop(token, None)

    def authorize(self, token: str | None, dc: str, method: str, path: str) -> Org:
        """`authenticate`, then check the token's scopes allow the request."""
        org = self.authenticate(token, dc)
        found = self.access_tokens[str(token)]
        if not allows(found.scope, method, path):
            raise scope_mismatch()
        return org

    def authenticate(self, token: str | None, dc: str) -> Org:
        if not token:
            raise authentication_failure()
        found = self.access_tokens.get(token)
        if found is None or found.dc != dc or found.expires_at <= self.now():
            raise invalid_token()
        org = self.orgs.get(found.org_id)
        if org is None:
            raise invalid_token()
        return org

    # ------------------------------------------------------------ limits

    def charge(self, org: Org, cost: int = 1) -> int:
        """Take `cost` credits from the org's rolling 24 h window; returns the credits left.
        Raises 429 TOO_MANY_REQUESTS when the window is exhausted."""
        now = self.now()
        with self._lock:
            spent = self.credit_log.setdefault(org.id, deque())
            while spent and now - spent[0] >= CREDIT_WINDOW_S:
                spent.popleft()
            limit = org.credits_per_day
            if len(spent) + cost > limit:
                raise too_many_requests("API credits for the last 24 hours are exhausted")
            spent.extend([now] * cost)
            return limit - len(spent)

    def enter(self, org: Org, *, heavy: bool = False) -> None:
        """Take a concurrency slot (and a heavy-call slot: at most `HEAVY_CONCURRENCY` of the
        org's concurrent calls may be heavy ones)."""
        with self._lock:
            current = self.in_flight.get(org.id, 0)
            if current >= org.max_concurrency:
                raise too_many_requests("Concurrency limit of the org exceeded")
            heavy_key = f"{org.id}:heavy"
            if heavy:
                if self.in_flight.get(heavy_key, 0) >= HEAVY_CONCURRENCY:
                    raise too_many_requests("Sub-concurrency limit of the org exceeded")
                self.in_flight[heavy_key] = self.in_flight.get(heavy_key, 0) + 1
            self.in_flight[org.id] = current + 1

    def leave(self, org: Org, *, heavy: bool = False) -> None:
        with self._lock:
            self.in_flight[org.id] = max(0, self.in_flight.get(org.id, 1) - 1)
            if heavy:
                key = f"{org.id}:heavy"
                self.in_flight[key] = max(0, self.in_flight.get(key, 1) - 1)

    def credits_used(self, org: Org) -> int:
        now = self.now()
        spent = self.credit_log.get(org.id, deque())
        return sum(1 for t in spent if now - t < CREDIT_WINDOW_S)

    # ------------------------------------------------------------ record writes

    def _strict(self) -> bool:
        return bool(getattr(self.faults.config, "strict_se_module", True))

    def create_records(self, org: Org, module: str, items: list[Any]) -> list[Result]:
        results: list[Result] = []
        with org.lock:
            for n, data in enumerate(items):
                try:
                    values = org.validate(
                        module, data, n, existing=None, strict_se_module=self._strict()
                    )
                except RecordError as exc:
                    results.append(Result(False, error=exc.item))
                    continue
                now = self.now()
                rec = Record(module, self.new_id(), values, now, now)
                org.put(rec)
                results.append(Result(True, rec, action="insert"))
        self.notify(org, module, "insert", [r.record for r in results if r.record])
        return results

    def update_records(
        self, org: Org, module: str, items: list[Any], ids: list[str | None]
    ) -> list[Result]:
        results: list[Result] = []
        changed: list[tuple[Record, list[str]]] = []
        with org.lock:
            for n, (data, rid) in enumerate(zip(items, ids, strict=True)):
                if rid is None:
                    results.append(
                        Result(
                            False,
                            error={
                                "code": "MANDATORY_NOT_FOUND",
                                "details": {"api_name": "id", "json_path": f"$.data[{n}].id"},
                                "message": "required field not found",
                                "status": "error",
                            },
                        )
                    )
                    continue
                rec = org.records[module].get(rid)
                if rec is None:
                    results.append(
                        Result(
                            False,
                            error={
                                "code": "INVALID_DATA",
                                "details": {"id": rid},
                                "message": "the id given seems to be invalid",
                                "status": "error",
                            },
                        )
                    )
                    continue
                try:
                    values = org.validate(
                        module, data, n, existing=rec, strict_se_module=self._strict()
                    )
                except RecordError as exc:
                    results.append(Result(False, error=exc.item))
                    continue
                fields = sorted(k for k in values if values.get(k) != rec.values.get(k))
                org.put(rec, values)
                rec.modified = self.now()
                changed.append((rec, fields))
                results.append(Result(True, rec, action="update"))
        self.notify(org, module, "update", [r for r, _ in changed], {r.id: f for r, f in changed})
        return results

    def upsert_records(
        self, org: Org, module: str, items: list[Any], check: tuple[str, ...]
    ) -> list[Result]:
        results: list[Result] = []
        inserted: list[Record] = []
        updated: list[tuple[Record, list[str]]] = []
        with org.lock:
            for n, data in enumerate(items):
                probe = data if isinstance(data, dict) else {}
                found = org.duplicate_of(module, probe, check)
                existing = found[0] if found else None
                try:
                    values = org.validate(
                        module, data, n, existing=existing, strict_se_module=self._strict()
                    )
                except RecordError as exc:
                    results.append(Result(False, error=exc.item))
                    continue
                now = self.now()
                if existing is not None and found is not None:
                    fields = sorted(k for k in values if values.get(k) != existing.values.get(k))
                    org.put(existing, values)
                    existing.modified = now
                    updated.append((existing, fields))
                    results.append(
                        Result(True, existing, action="update", duplicate_field=found[1])
                    )
                else:
                    rec = Record(module, self.new_id(), values, now, now)
                    org.put(rec)
                    inserted.append(rec)
                    results.append(Result(True, rec, action="insert"))
        self.notify(org, module, "insert", inserted)
        self.notify(org, module, "update", [r for r, _ in updated], {r.id: f for r, f in updated})
        return results

    def delete_records(self, org: Org, module: str, ids: list[str]) -> list[Result]:
        results: list[Result] = []
        gone: list[Record] = []
        with org.lock:
            for rid in ids:
                rec = org.remove(module, rid)
                if rec is None:
                    results.append(
                        Result(
                            False,
                            error={
                                "code": "INVALID_DATA",
                                "details": {"id": rid},
                                "message": "the id given seems to be invalid",
                                "status": "error",
                            },
                        )
                    )
                    continue
                org.deleted.append(
                    Deleted(module, rec.id, display_name(rec), self.now(), org.admin)
                )
                gone.append(rec)
                results.append(Result(True, rec))
        self.notify(org, module, "delete", gone)
        return results

    # ------------------------------------------------------------ notifications

    def live_channels(self, org: Org) -> list[Channel]:
        now = self.now()
        return [c for c in org.channels.values() if c.expiry > now]

    def notify(
        self,
        org: Org,
        module: str,
        operation: str,
        records: list[Record],
        affected: dict[str, list[str]] | None = None,
    ) -> None:
        """One notification per live channel watching `module`'s `operation`, for all `records`
        of one API call (Zoho batches the ids of one call into one notification)."""
        if not records:
            return
        event = {"insert": "create", "update": "edit", "delete": "delete"}[operation]
        host = DATA_CENTRES[org.dc][1]
        for channel in self.live_channels(org):
            if event not in channel.modules().get(module, set()):
                continue
            body: dict[str, Any] = {
                "server_time": int(self.now() * 1000),
                "query_params": {},
                "module": module,
                "resource_uri": f"https://{host}/crm/v8/{module}",
                "ids": [r.id for r in records],
                "affected_fields": [{r.id: (affected or {}).get(r.id, [])} for r in records]
                if operation == "update"
                else [],
                "operation": operation,
                "channel_id": int(channel.channel_id),
                "token": channel.token,
            }
            if channel.return_affected_field_values and operation != "delete":
                body["affected_values"] = [
                    {"id": r.id, **{k: r.values.get(k) for k in (affected or {}).get(r.id, [])}}
                    for r in records
                ]
            self._deliver(channel, body)

    def _deliver(self, channel: Channel, body: dict[str, Any]) -> None:
        self.notifications.append(
            Notification(self.now(), channel.channel_id, channel.notify_url, body)
        )
        rate = float(getattr(self.faults.config, "notify_empty_body_rate", 0))
        if rate and self.faults.random.random() < rate:
            self._schedule(channel.notify_url, b"", "empty")
        self._schedule(channel.notify_url, json.dumps(body).encode(), body["operation"])

    def _schedule(self, url: str, raw: bytes, operation: str) -> None:
        """Deliver on the served app's loop when it runs in another thread (a server thread),
        else on the caller's running loop (in-process app)."""

        def go() -> None:
            self.deliverer.schedule(url, raw, lambda _b: {}, event_id="", event_type=operation)

        server = self._server_loop()
        if server is not None:
            server.call_soon_threadsafe(go)
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop anywhere: nothing can deliver (the notification is still logged)
        go()

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

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until every scheduled delivery (retries included) has finished; works from the
        server's loop, a test's loop (in-process app), or another thread's loop."""
        loop = self._server_loop()
        if loop is None:
            await self.deliverer.drain(timeout)
            return
        future = asyncio.run_coroutine_threadsafe(self.deliverer.drain(timeout), loop)
        await asyncio.wrap_future(future)

    def drain_sync(self, timeout: float = 30.0) -> None:
        """`drain` for synchronous callers while the app runs in a server thread."""
        loop = self._server_loop()
        if loop is None:
            raise RuntimeError("no server loop running in another thread; await drain()")
        asyncio.run_coroutine_threadsafe(self.deliverer.drain(timeout), loop).result(timeout + 5)

    def seed(
        self,
        org: Org,
        *,
        contacts: int = 0,
        leads: int = 0,
        accounts: int | None = None,
        seed: int = 0,
    ) -> SeedResult:
        """Seed an org directly (see `seed.seed_org`); no notifications, no credits."""
        return seed_org(self, org, contacts=contacts, leads=leads, accounts=accounts, seed=seed)

    def set_notify_delivery(
        self,
        *,
        max_attempts: int | None = None,
        backoff_s: float | None = None,
        time_scale: float | None = None,
        timeout_s: float | None = None,
    ) -> None:
        d = self.deliverer
        if max_attempts is not None:
            if max_attempts < 1:
                raise ValueError('"max_attempts" must be at least 1.')
            d.max_attempts = max_attempts
        if backoff_s is not None:
            d.backoff_s = max(0.0, backoff_s)
        if time_scale is not None:
            d.time_scale = max(0.0, time_scale)
        if timeout_s is not None:
            d.timeout_s = max(0.1, timeout_s)

    def notify_settings(self) -> dict[str, Any]:
        d = self.deliverer
        return {
            "max_attempts": d.max_attempts,
            "backoff_s": d.backoff_s,
            "time_scale": d.time_scale,
            "timeout_s": d.timeout_s,
        }


__all__ = [
    "DATA_CENTRES",
    "AccessToken",
    "Notification",
    "ZohoEmulator",
    "ZohoFaultConfig",
]
