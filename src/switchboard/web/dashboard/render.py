"""Rendering for the dashboard: Jinja2 templates and filters, security headers, HTML error
pages (`HtmlErrorRoute` turns errors raised by handlers into them), redirects and the
request helpers the routes share."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchboard import connections
from switchboard.activity.story import PersonUrl, story
from switchboard.crm import registry
from switchboard.logs import mask_text
from switchboard.store.db import Database
from switchboard.web import security

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
#: The dashboard session cookie (holds a server-side session id; `switchboard.web.security`).
COOKIE = security.SESSION_COOKIE
STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


# ------------------------------------------------------------------------------------ helpers
def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def ago(value: datetime | str | None, now: datetime | None = None) -> str:
    """'never', 'just now', '5 s ago', '3 min ago', '2 h ago', '4 d ago'."""
    if value is None:
        return "never"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    value = _aware(value)
    assert value is not None
    seconds = ((now or _now()) - value).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds < 2:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def iso(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    v = _aware(value)
    assert v is not None
    return v.isoformat(timespec="seconds")


def duration(seconds: float | None) -> str:
    """'—', '42 s', '3 min 5 s', '1 h 20 min'."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    return f"{s // 3600} h" + (f" {(s % 3600) // 60} min" if s % 3600 >= 60 else "")


def _pretty_json(value: Any) -> str:
    return mask_text(json.dumps(value, indent=1, sort_keys=True, default=str))[:4000]


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["ago"] = ago
templates.env.filters["iso"] = iso
templates.env.filters["duration"] = duration
templates.env.filters["pretty_json"] = _pretty_json
templates.env.filters["story"] = story


def _security_headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" makes form posts Origin: null
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _page(
    request: Request, template: str, context: Mapping[str, Any], status_code: int = 200
) -> Response:
    ctx = {"request": request, "auth_cookie": bool(request.cookies.get(COOKIE)), **context}
    resp = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    return _security_headers(resp)


def _wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def error_page(
    request: Request, status_code: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An HTML (or, for `.json` routes, JSON) error with a clear message."""
    message = mask_text(message)[:1000]
    if _wants_json(request):
        return _security_headers(
            JSONResponse({"ok": False, "error": message}, status_code=status_code)
        )
    if status_code == 401:
        return _page(
            request,
            "login.html",
            {"title": "Sign in", "message": message, "next": request.url.path},
            401,
        )
    titles = {400: "Bad request", 403: "Forbidden", 404: "Not found", 409: "Conflict",
              413: "Too large", 415: "Unsupported", 429: "Too many attempts"}  # fmt: skip
    resp = _page(
        request,
        "error.html",
        {"title": titles.get(status_code, "Error"), "status": status_code, "message": message},
        status_code,
    )
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


class DashboardError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class HtmlErrorRoute(APIRoute):
    """Renders HTTP errors raised by handlers and dependencies (auth) as dashboard pages, so a
    browser never gets the admin API's JSON error bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except DashboardError as exc:
                return error_page(request, exc.status_code, exc.message)
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail), exc.headers)
            except RequestValidationError as exc:
                parts = []
                for e in exc.errors():
                    loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path"))
                    parts.append(f"{loc}: {e.get('msg', '')}")
                return error_page(request, 400, "invalid input — " + "; ".join(parts))
            except LookupError:
                return error_page(request, 404, "not found")
            except ValueError as exc:
                return error_page(request, 400, str(exc))

        return handler


# --------------------------------------------------------------------------------------- data
def _rt(request: Request) -> Any:
    return request.app.state.runtime


def _connection(db: Database, connection_id: str) -> connections.ConnectionInfo:
    try:
        return connections.get_connection(db, connection_id)
    except connections.ConnectionNotFound as exc:
        raise DashboardError(404, f"No connection with id {connection_id[:80]!r}.") from exc


def person_url_for(db: Database, info: connections.ConnectionInfo) -> PersonUrl | None:
    """Links to the connection's CRM people (its registry record's `record_url` with the account
    facts the connection keeps); None when the CRM has no record URLs."""
    provider = registry.find(info.crm)
    if provider is None or provider.record_url is None:
        return None
    account = connections.crm_account(db, info.id)

    def person_url(record_id: str) -> str | None:
        return provider.person_url(record_id, account)

    return person_url


def _redirect(url: str) -> Response:
    return _security_headers(RedirectResponse(url, status_code=303))


def _conn_url(connection_id: str, **params: str) -> str:
    base = f"/dashboard/connections/{connection_id}"
    clean = {k: v for k, v in params.items() if v}
    return base + ("?" + urlencode(clean) if clean else "")
