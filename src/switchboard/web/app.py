"""App factory. The runtime is started by the caller (CLI `serve`, tests) before requests."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchboard import __version__, failures, metrics
from switchboard.http import ApiError
from switchboard.logs import get_logger, mask_text
from switchboard.web import (
    admin,
    admin_connections,
    apidocs,
    callpage,
    oauth_routes,
    quo_webhooks,
    security,
    uninstall,
    webhooks,
)

log = get_logger("switchboard.web")


#: Request bodies of the admin API and the dashboard (webhooks have their own streamed limit).
MAX_BODY_BYTES = 1024 * 1024


class BodyLimit:
    """ASGI middleware: a body over `limit` bytes gets 413 before any handler sees it (declared
    Content-Length first, else counted while read, so it is never held whole). `/webhooks/`
    paths are left to the webhook receiver, which records its refusals."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(scope, receive, send, 400, "invalid Content-Length")
                return
            if int(declared) > self.limit:
                await self._refuse(scope, receive, send, 413, self._too_large())
                return
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"body larger than {self.limit} bytes"

    async def _refuse(self, scope: Any, receive: Any, send: Any, status: int, error: str) -> None:
        response = JSONResponse({"ok": False, "error": error}, status_code=status)
        await response(scope, receive, send)


def create_app(
    runtime: Any, *, bind_host: str = "127.0.0.1", extra_routers: list[Any] | None = None
) -> FastAPI:
    """Build the app around a (started) `switchboard.runtime.Runtime`.

    `bind_host` joins the Host allow-list (unless it is a wildcard) and decides whether the
    loopback development mode may apply (`switchboard.web.security`). The admin token is resolved
    here (generated into the data dir when unset); `app.state.generated_token_file` names the file
    when it was generated just now, so `serve` can say where it is.
    `extra_routers` lets other packages mount routes on the same app.
    """
    settings = runtime.settings
    app = FastAPI(
        title="Switchboard",
        version=__version__,
        description="Quo ↔ CRM integration service: webhooks, admin API, health, metrics.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(
        security.WebGuard,
        hosts=security.allowed_hosts(settings, bind_host),
        public_url=settings.public_url,
    )
    app.state.runtime = runtime
    app.state.public_url = settings.public_url
    token, generated = security.resolve_admin_token(settings, bind_host)
    app.state.admin_token = token
    app.state.generated_token_file = generated
    metrics_token = settings.metrics_token
    app.state.metrics_token = metrics_token.get_secret_value() if metrics_token else None
    app.state.sessions = security.SessionStore()
    app.state.login_throttle = security.LoginThrottle()

    def unauthorized(request: Request) -> JSONResponse | None:
        """FastAPI reads and parses a request body before the router's dependencies run: an
        unauthenticated admin request must still get 401, not an error about its body."""
        if request.url.path.startswith("/api/"):
            try:
                security.require_admin(request)
            except StarletteHTTPException as denied:
                return JSONResponse({"ok": False, "error": denied.detail}, denied.status_code)
        return None

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code != 401 and (denied := unauthorized(request)) is not None:
            return denied
        return JSONResponse(
            {"ok": False, "error": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        if (denied := unauthorized(request)) is not None:
            return denied
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return JSONResponse({"ok": False, "error": "invalid request", "details": errors}, 422)

    @app.exception_handler(ValueError)
    async def value_error(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"ok": False, "error": mask_text(str(exc))[:500]}, status_code=400)

    @app.exception_handler(ApiError)
    async def provider_error(_request: Request, exc: ApiError) -> JSONResponse:
        # A provider call made on the admin's behalf failed for good: the gateway's answer,
        # with the provider's own message, not an unexplained 500.
        return JSONResponse({"ok": False, "error": mask_text(str(exc))[:500]}, status_code=502)

    @app.exception_handler(LookupError)
    async def lookup_error(_request: Request, exc: LookupError) -> JSONResponse:
        return JSONResponse({"ok": False, "error": "not found"}, status_code=404)

    # The API description is behind the token too: it maps the whole admin surface.
    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(_: None = Depends(security.require_admin)) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        checks = await asyncio.to_thread(request.app.state.runtime.ready)
        return JSONResponse(checks, status_code=200 if checks.get("ready") else 503)

    @app.get("/metrics", tags=["health"])
    async def metrics_endpoint(_: None = Depends(security.require_metrics)) -> Response:
        body = await asyncio.to_thread(metrics.render)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(uninstall.router)  # before /webhooks/{crm}/{connection_id}
    app.include_router(webhooks.router)
    app.include_router(admin.router)
    app.include_router(admin_connections.router)
    app.include_router(oauth_routes.router)
    app.include_router(apidocs.router)
    metrics.add_family_source(failures.problems_family)  # the dashboard's health as numbers
    app.include_router(callpage.router)
    app.include_router(quo_webhooks.router)
    from switchboard.web import dashboard

    app.include_router(dashboard.router)
    for r in extra_routers or []:
        app.include_router(r)
    return app
