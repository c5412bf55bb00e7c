"""The Zoho CRM emulator as an ASGI app: the CRM API under `/crm/v8`, the accounts server's OAuth
endpoints under `/oauth/v2`, and the control surface under `/_emulator`.

Data centres: a request belongs to the DC of its `Host` header (`www.zohoapis.eu`,
`accounts.zoho.eu`, ...) or of a path prefix (`/eu/crm/v8/...`, `/eu/oauth/v2/token`); anything
else is the US DC. A token works only in the DC that issued it.

Layers, outside in: DC routing → loop capture → common `EmulatorMiddleware` (request log, faults)
→ `ZohoGate` (auth, concurrency and daily credits per org, `X-API-CREDITS-REMAINING`) → routes.
"""

from __future__ import annotations

import asyncio
import re
from email.utils import formatdate

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchboard.emulators.common import (
    ASGIApp,
    EmulatorMiddleware,
    Message,
    Receive,
    Scope,
    Send,
    send_json,
)
from switchboard.emulators.zoho.control import control_router
from switchboard.emulators.zoho.emulator import DATA_CENTRES, HOST_TO_DC, ZohoEmulator
from switchboard.emulators.zoho.errors import (
    ZohoError,
    generic_error,
    invalid_body,
    invalid_url,
)
from switchboard.emulators.zoho.oauth import oauth_router
from switchboard.emulators.zoho.routes_meta import meta_router
from switchboard.emulators.zoho.routes_records import records_router
from switchboard.emulators.zoho.watch import watch_router

_V8 = r"^/crm/v8"
# (method, path regex, operation name: the documents' operationId); first match wins.
OPERATIONS: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(_V8 + p + "$"), op)
    for m, p, op in [
        ("GET", r"/settings/modules", "Get Modules"),
        ("GET", r"/settings/modules/[^/]+", "Get Module By API Name"),
        ("GET", r"/settings/fields", "Get Fields"),
        ("GET", r"/settings/fields/[^/]+", "Get Field"),
        ("GET", r"/settings/layouts", "Get Layouts"),
        ("GET", r"/settings/layouts/[^/]+", "Get Layout"),
        ("GET", r"/users", "Get Users"),
        ("GET", r"/users/[^/]+", "Get User"),
        ("GET", r"/org", "Get Organization"),
        ("GET", r"/actions/watch", "Get Notifications"),
        ("POST", r"/actions/watch", "Enable Notifications"),
        ("PUT", r"/actions/watch", "Update Notifications"),
        ("PATCH", r"/actions/watch", "Disable Notification"),
        ("DELETE", r"/actions/watch", "Delete Notification"),
        ("GET", r"/Notes", "Get Notes"),
        ("POST", r"/Notes", "Create Notes"),
        ("GET", r"/Notes/[^/]+", "Get Note"),
        ("PUT", r"/Notes/[^/]+", "Update Note"),
        ("DELETE", r"/Notes/[^/]+", "Delete Note"),
        ("GET", r"/[^/]+/search", "Search Records"),
        ("GET", r"/[^/]+/deleted", "Get Deleted Records"),
        ("POST", r"/[^/]+/upsert", "Upsert Records"),
        ("GET", r"/[^/]+", "Get Records"),
        ("POST", r"/[^/]+", "Create Records"),
        ("PUT", r"/[^/]+", "Update Records"),
        ("DELETE", r"/[^/]+", "Delete Records"),
        ("GET", r"/[^/]+/[^/]+", "Get Record"),
        ("PUT", r"/[^/]+/[^/]+", "Update Record"),
        ("DELETE", r"/[^/]+/[^/]+", "Delete Record"),
        ("GET", r"/[^/]+/[^/]+/[^/]+", "Get Related Records"),
    ]
]


def operation_of(scope: Scope) -> str | None:
    path: str = scope.get("path", "")
    method = scope.get("method", "GET")
    if path.startswith("/oauth/"):
        return "oauth " + path.removeprefix("/oauth/v2/")
    if not path.startswith("/crm/"):
        return None
    for m, pattern, op in OPERATIONS:
        if m == method and pattern.match(path):
            return op
    return "unknown"


def token_of(scope: Scope) -> str | None:
    """The access token of `Authorization: Zoho-oauthtoken <token>`."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = bytes(value).decode("latin-1").strip()
            scheme, _, rest = text.partition(" ")
            if scheme.lower() == "zoho-oauthtoken" and rest.strip():
                return rest.strip()
    return None


HEAVY_OPERATIONS = frozenset({"Search Records", "Upsert Records"})


def _is_heavy(scope: Scope) -> bool:
    """Calls Zoho counts against the sub-concurrency limit: searches, upserts, sorted lists."""
    op = operation_of(scope)
    if op in HEAVY_OPERATIONS:
        return True
    return op == "Get Records" and b"sort_by=" in scope.get("query_string", b"")


class DataCentreRouting:
    """Puts the request's DC in `scope["zoho_dc"]` and strips a `/{dc}` path prefix;
    `scope["zoho_base"]` is the base URL that DC's answers should point back to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        host_header = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host_header = bytes(value).decode("latin-1").strip()
        host = host_header.split(":")[0].lower()
        first, _, rest = path.lstrip("/").partition("/")
        origin = f"{scope.get('scheme', 'http')}://{host_header}"
        if first in DATA_CENTRES and rest.split("/")[0] in ("crm", "oauth"):
            dc = first
            scope = {**scope, "path": "/" + rest, "raw_path": ("/" + rest).encode()}
            accounts = api = f"{origin}/{dc}"
        elif host in HOST_TO_DC:
            dc = HOST_TO_DC[host]
            accounts, api = (f"https://{h}" for h in DATA_CENTRES[dc])
        else:
            dc = "us"
            accounts = api = origin
        scope = {**scope, "zoho_dc": dc, "zoho_accounts": accounts, "zoho_api": api}
        await self.app(scope, receive, send)


class CaptureLoop:
    """Remembers the server's event loop so control-surface edits made from other threads (the
    Python API) can schedule notifications on it."""

    def __init__(self, app: ASGIApp, emulator: ZohoEmulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        known = self.emulator.loop
        if known is None or known.is_closed():
            self.emulator.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)


class ZohoGate:
    """Auth, per-org concurrency and rolling-24 h credits for `/crm` requests.

    Over either limit: 429 `TOO_MANY_REQUESTS` and no `Retry-After` (Zoho sends none). Once half
    the org's daily credits are used, answers carry `X-API-CREDITS-REMAINING`.
    """

    def __init__(self, app: ASGIApp, emulator: ZohoEmulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/crm/"):
            await self.app(scope, receive, send)
            return
        emu = self.emulator
        heavy = _is_heavy(scope)
        try:
            org = emu.authorize(
                token_of(scope), scope.get("zoho_dc", "us"), scope["method"], scope["path"]
            )
            emu.enter(org, heavy=heavy)
        except ZohoError as exc:
            await send_json(send, exc.status, exc.body())
            return
        try:
            try:
                costs = getattr(emu.faults.config, "credit_costs", {})
                remaining = emu.charge(org, max(0, int(costs.get(operation_of(scope), 1))))
            except ZohoError as exc:
                await send_json(send, exc.status, exc.body())
                return
            # `Date` from the emulator's clock, so clients judge expiries by the server's time
            # (as against Zoho) also after the clock was advanced.
            extra: list[tuple[bytes, bytes]] = [
                (b"date", formatdate(emu.now(), usegmt=True).encode())
            ]
            if remaining < org.credits_per_day / 2:
                extra.append((b"x-api-credits-remaining", str(remaining).encode()))

            async def with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    kept = [h for h in message.get("headers", []) if h[0].lower() != b"date"]
                    message = {**message, "headers": [*kept, *extra]}
                await send(message)

            hold = float(getattr(emu.faults.config, "processing_ms", 0))
            if hold:
                await asyncio.sleep(hold / 1000)
            await self.app({**scope, "zoho_org": org.id}, receive, with_headers)
        finally:
            emu.leave(org, heavy=heavy)


def create_app(emulator: ZohoEmulator | None = None) -> ASGIApp:
    """The Zoho emulator's ASGI app; `.fastapi.state.emulator` is the `ZohoEmulator`."""
    emu = emulator or ZohoEmulator()
    api = FastAPI(
        title="Zoho CRM emulator",
        version="8.0",
        docs_url="/_emulator/docs",
        openapi_url="/_emulator/openapi.json",
        redoc_url=None,
    )
    api.state.emulator = emu

    @api.exception_handler(ZohoError)
    async def _zoho_error(_: Request, exc: ZohoError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @api.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(invalid_body("invalid data").body(), status_code=400)

    @api.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code in (404, 405):
            err = invalid_url()
            if exc.status_code == 405:
                err = ZohoError(
                    405,
                    "INVALID_REQUEST_METHOD",
                    "The http request method type is not a valid one",
                )
            return JSONResponse(err.body(), status_code=err.status)
        return JSONResponse(generic_error(exc.status_code, str(exc.detail)), exc.status_code)

    @api.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(generic_error(500, None), status_code=500)

    api.include_router(control_router())
    api.include_router(oauth_router())
    api.include_router(meta_router())
    api.include_router(watch_router())
    api.include_router(records_router())

    inner: ASGIApp = EmulatorMiddleware(
        ZohoGate(api, emu),
        log=emu.log,
        faults=emu.faults,
        limiter=None,
        operation_of=operation_of,
        key_of=token_of,
        error_body=lambda status, _op, message: generic_error(status, message),
        clock=emu.now,
    )
    wrapped = DataCentreRouting(CaptureLoop(inner, emu))
    wrapped.fastapi = api  # type: ignore[attr-defined]
    return wrapped
