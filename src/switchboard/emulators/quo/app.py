"""`create_app(emulator)`: the Quo emulator as an ASGI app (public API + control surface)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchboard.emulators.common import EmulatorMiddleware, Scope
from switchboard.emulators.quo import dated, spec
from switchboard.emulators.quo.api import build_router
from switchboard.emulators.quo.control import build_control_router
from switchboard.emulators.quo.emulator import QuoEmulator

log = logging.getLogger(__name__)


def _operation_of(scope: Scope) -> str | None:
    path: str = scope["path"]
    if path.startswith(("/v1/", "/v2/")):
        return spec.operation_of(scope["method"], path)
    if path.startswith("/_emulator"):
        return None  # control surface and docs: not logged, no faults, no rate limit
    # The dated generation's unprefixed paths (answered 404 outside its profile).
    return dated.operation_of(scope["method"], path)


def _key_of(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return bytes(value).decode("latin-1") or None
    return None


def create_app(emulator: QuoEmulator | None = None) -> Any:
    """The ASGI app. `app.state.emulator` (FastAPI part) and `.emulator` hold the state."""
    emu = emulator or QuoEmulator()
    api = FastAPI(
        title="Quo emulator",
        description="Emulates the Quo (OpenPhone) public API; control surface under /_emulator.",
        docs_url="/_emulator/docs",
        openapi_url="/_emulator/openapi.json",
        redoc_url=None,
    )
    api.state.emulator = emu

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        op = _operation_of(request.scope) or "unknown"
        return JSONResponse(spec.error_body(op, exc.status_code, str(exc.detail)), exc.status_code)

    @api.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("quo emulator crashed on %s %s", request.method, request.url.path)
        op = _operation_of(request.scope) or "unknown"
        return JSONResponse(spec.error_body(op, 500, "An unknown error occurred"), 500)

    api.include_router(build_control_router(emu))
    api.include_router(build_router(emu))
    api.include_router(dated.build_dated_router(emu))

    def error_body(status: int, op: str, message: str | None) -> dict[str, Any]:
        if op.endswith(dated.SUFFIX):
            return dated.error_body(emu, op, status, message)
        return spec.error_body(op, status, message)

    app = EmulatorMiddleware(
        api,
        log=emu.log,
        faults=emu.faults,
        limiter=emu.limiter,
        operation_of=_operation_of,
        key_of=_key_of,
        error_body=error_body,
        clock=emu.clock,
    )
    app.emulator = emu  # type: ignore[attr-defined]
    return app
