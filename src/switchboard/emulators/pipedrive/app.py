"""The Pipedrive emulator as an ASGI app: API v1 under `/v1`, API v2 under `/api/v2`, OAuth under
`/oauth` (Pipedrive serves it from `oauth.pipedrive.com`; here it shares the port) and the
control surface under `/_emulator` (see `control.py` and docs/emulators.md).

Every API request passes through the common `EmulatorMiddleware` (request log keyed by token,
faults), then `TokenBudgetMiddleware` (Pipedrive's burst window and daily budget, the
`x-ratelimit-*` headers, 429).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
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
from switchboard.emulators.pipedrive.api import token_of
from switchboard.emulators.pipedrive.control import control_router
from switchboard.emulators.pipedrive.emulator import PipedriveEmulator, basic_credentials
from switchboard.emulators.pipedrive.errors import PipedriveError, error_body
from switchboard.emulators.pipedrive.operations import match, operation_name
from switchboard.emulators.pipedrive.routes_v1 import router as v1_router
from switchboard.emulators.pipedrive.routes_v2 import router as v2_router


def operation_of(scope: Scope) -> str | None:
    return operation_name(scope.get("method", "GET"), scope.get("path", ""))


def _error_body(status: int, _operation: str, message: str | None) -> dict[str, Any]:
    return error_body(status, message)


class TokenBudgetMiddleware:
    """Charges each authenticated API request its token cost; answers 429 when the burst window
    or the daily budget is spent, and adds the rate-limit headers to every answer."""

    def __init__(self, app: ASGIApp, emulator: PipedriveEmulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        emu = self.emulator
        op = None
        if scope["type"] == "http" and emu.rate_limits:
            op = match(scope.get("method", "GET"), scope.get("path", ""))
        found = emu.authenticate(token_of(scope)) if op is not None else None
        if op is None or found is None:
            await self.app(scope, receive, send)
            return
        company, token = found
        verdict = emu.budget.hit(token.value, token.kind, str(company.id), op.cost)
        headers = verdict.headers()
        if not verdict.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(verdict.retry_after_s)))
            await send_json(send, 429, error_body(429), headers)
            return
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *raw]}
            await send(message)

        await self.app(scope, receive, with_headers)


class CaptureLoop:
    """Remembers the server's event loop so webhooks fired from other threads (the Python API,
    the control surface in a server thread) are scheduled on it."""

    def __init__(self, app: ASGIApp, emulator: PipedriveEmulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        known = self.emulator.loop
        if known is None or known.is_closed():
            self.emulator.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)


def create_app(emulator: PipedriveEmulator | None = None) -> ASGIApp:
    """The Pipedrive emulator's ASGI app. The returned wrapper's `.emulator` and `.fastapi`
    attributes give the `PipedriveEmulator` and the inner FastAPI app."""
    emu = emulator or PipedriveEmulator()
    api = FastAPI(
        title="Pipedrive emulator",
        version="1.0.0",
        docs_url="/_emulator/docs",
        openapi_url="/_emulator/openapi.json",
        redoc_url=None,
    )
    api.state.emulator = emu

    @api.exception_handler(PipedriveError)
    async def _pipedrive_error(_: Request, exc: PipedriveError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @api.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            error_body(400, f"Invalid request: {exc.errors()[:1]}"), status_code=400
        )

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code in (404, 405):
            message = f"Unknown method {request.method} {request.url.path}"
        return JSONResponse(error_body(exc.status_code, message), status_code=exc.status_code)

    @api.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(500, f"{type(exc).__name__}: {exc}"), status_code=500)

    _oauth_routes(api)
    api.include_router(v2_router())
    api.include_router(v1_router())
    api.include_router(control_router())

    inner: ASGIApp = EmulatorMiddleware(
        TokenBudgetMiddleware(api, emu),
        log=emu.log,
        faults=emu.faults,
        limiter=None,
        operation_of=operation_of,
        key_of=token_of,
        error_body=_error_body,
    )
    wrapped = CaptureLoop(inner, emu)
    wrapped.fastapi = api  # type: ignore[attr-defined]
    return wrapped


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    # Standard OAuth 2 error body; Pipedrive's exact OAuth error shape is UNCONFIRMED.
    return JSONResponse(
        {"success": False, "error": error, "error_description": description},
        status_code=status,
    )


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _oauth_routes(api: FastAPI) -> None:
    """Pipedrive's authorization server, the shared `emulators.oauth.OAuthServer`: a consent
    page (Approve / Deny) for the default company, tokens that expire, rotating refresh tokens,
    `api_domain` in every token response, revocation."""

    @api.get("/oauth/authorize")
    async def oauth_authorize(request: Request) -> Response:
        emu: PipedriveEmulator = request.app.state.emulator
        query = dict(request.query_params)
        if not query.get("redirect_uri") or not query.get("client_id"):
            return _oauth_error(400, "invalid_request", "client_id and redirect_uri are required.")
        return HTMLResponse(emu.oauth.consent_page(query, emu.default_company.name))

    @api.post("/oauth/authorize")
    async def oauth_decide(request: Request) -> Response:
        emu: PipedriveEmulator = request.app.state.emulator
        company = emu.default_company
        try:
            target = emu.oauth.decide(
                await _form(request),
                subject=str(company.id),
                member_id=str(company.admin_user_id),
            )
        except ValueError as exc:
            return _oauth_error(400, "invalid_request", str(exc))
        return RedirectResponse(target, status_code=303)

    @api.post("/oauth/token")
    async def oauth_token(request: Request) -> Response:
        emu: PipedriveEmulator = request.app.state.emulator
        creds = basic_credentials(request.headers.get("authorization"))
        if creds is None:  # Pipedrive takes the client's credentials only as HTTP Basic
            return _oauth_error(
                401, "invalid_client", "Client credentials must be sent with HTTP Basic."
            )
        params = await _form(request)
        params.pop("client_id", None)
        params.pop("client_secret", None)
        status, body = emu.oauth.token_endpoint(params, creds)
        if status == 200:
            body["api_domain"] = emu.api_domain or str(request.base_url).rstrip("/")
            if "expires_in" in body:  # Pipedrive answers whole seconds
                body["expires_in"] = int(float(str(body["expires_in"])))
        else:
            body = {"success": False, **body}
        return JSONResponse(body, status_code=status)

    @api.post("/oauth/revoke")
    async def oauth_revoke(request: Request) -> Response:
        """RFC 7009: a refresh token (and the access token minted with it is left to expire) or
        an access token; 200 whether or not it was known."""
        emu: PipedriveEmulator = request.app.state.emulator
        token = (await _form(request)).get("token", "")
        if not emu.oauth.revoke(token):
            emu.revoke_token(token)
        return JSONResponse({})
