"""The dashboard: server-rendered HTML under `/dashboard` (Jinja2, inline SVG, no build step).

Mounted by the app factory (`switchboard.web.app.create_app`) as `router`. Pages:

- `GET /` → redirect to `/dashboard`.
- `GET /dashboard`: connections with health at a glance (webhooks OK, last event received,
  last sync, errors in the last hour).
- `GET /dashboard/connections/{id}`: live sync progress, events/API-calls chart
  (`?window=1h|6h|24h|7d`), API request budget per provider, recent events (`?status=failed`,
  `?offset=`), webhooks, rejections, background work, history, actions.
- `GET /dashboard/connections/{id}/settings`: the settings form.
- `GET /dashboard/connections/{id}/progress.json`: latest sync run + event counts, polled by
  `static/dashboard.js` (every second while a run is active, every 5 s otherwise).
- `POST .../sync`: start (or join) the initial sync (`switchboard.sync.start_initial_sync`).
- `POST .../reconcile`: one reconcile pass now (`switchboard.sync.start_reconcile`).
- `POST .../setup`: retry setup (`switchboard.setup.start_setup`).
- `POST .../events/{event_id}/replay`: replay a failed event (`switchboard.dispatch.replay`).
- `POST .../settings`: change settings (`connections.update_settings`, then
  `setup.start_resubscribe` when lines or event kinds changed — the admin API's rule).

Auth is the admin API's rule (`switchboard.web.admin.require_admin`): with `SWITCHBOARD_ADMIN_TOKEN`
set, a request needs the token (header) or the dashboard session cookie, which `/dashboard/login`
sets after checking the token (the cookie holds an HMAC of the token, never the token; HttpOnly,
SameSite=Strict); without a token only a loopback-bound server answers. Cross-site form posts are
refused (Origin / Sec-Fetch-Site checks), so a web page cannot drive the actions of a loopback
dashboard. Responses carry a strict Content-Security-Policy (no inline script; CSS and JS are
served from `/dashboard/static/`).

Errors render as HTML pages: unknown connection or event → 404, bad query or form input → 400
(the settings form is shown again with the message), refused replay → 409, missing token → 401
(login form). Secrets are never read here: pages show `ConnectionInfo` (no secrets), webhook
metadata (never keys) and event reasons, not payloads.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import Integer, cast, extract, func, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchboard import connections, dispatch, ledger, usage
from switchboard.crm import registry
from switchboard.logs import mask_text
from switchboard.store.db import Database
from switchboard.store.models import (
    ApiCallCount,
    AuditEntry,
    Event,
    SyncRun,
    WebhookRejection,
    WebhookSubscription,
)
from switchboard.web import admin

HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}

COOKIE = "sb_dashboard"
MAX_FORM_BYTES = 64 * 1024
EVENTS_PAGE = 50

#: Chart windows: name → (bucket seconds, bucket count).
WINDOWS: dict[str, tuple[int, int]] = {
    "1h": (60, 60),
    "6h": (300, 72),
    "24h": (900, 96),
    "7d": (7200, 84),
}
DEFAULT_WINDOW = "6h"

#: Request budget per provider and second (what the shared rate limiters enforce); CRMs' from
#: their registry records.
PROVIDER_BUDGETS: dict[str, tuple[float, str]] = {
    "quo": (10.0, "10 requests/s per API key"),
    **{p.name: p.budget_summary() for p in registry.all_providers()},
}

#: Event statuses grouped for the chart (stack order bottom → top).
EVENT_GROUPS: dict[str, tuple[str, ...]] = {
    "processed": ("processed",),
    "ignored": ("ignored", "skipped"),
    "pending": ("accepted", "processing"),
    "failed": ("failed",),
}

FLASH: dict[str, str] = {
    "sync_started": "Initial sync queued: run {ref}.",
    "sync_joined": "A sync is already running ({ref}); showing its progress.",
    "reconcile_started": "Reconcile pass queued: run {ref}.",
    "reconcile_joined": "A reconcile pass is already running ({ref}).",
    "setup_started": "Setup queued (workflow {ref}). Status updates when it runs.",
    "replayed": "Event replay queued (workflow {ref}).",
    "settings_saved": "Settings saved.",
    "settings_resubscribe": "Settings saved; webhooks are being re-subscribed (workflow {ref}).",
    "settings_unchanged": "Nothing changed.",
    "logged_out": "Signed out.",
}


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
              413: "Too large", 415: "Unsupported"}  # fmt: skip
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


# --------------------------------------------------------------------------------------- auth
def session_value(token: str) -> str:
    """The dashboard cookie value for an admin token (an HMAC; the token itself is not stored)."""
    return hmac.new(token.encode(), b"switchboard-dashboard-session", hashlib.sha256).hexdigest()


def require_dashboard(request: Request) -> None:
    """The admin API's rule (`admin.require_admin`), plus the dashboard's session cookie."""
    token = request.app.state.admin_token
    if token:
        cookie = request.cookies.get(COOKIE)
        if cookie and hmac.compare_digest(cookie.encode(), session_value(token).encode()):
            return
    admin.require_admin(request)


def same_origin(request: Request) -> None:
    """Refuse cross-site form posts (CSRF): Sec-Fetch-Site and Origin must match this host."""
    site = request.headers.get("sec-fetch-site")
    if site and site not in ("same-origin", "none"):
        raise DashboardError(403, "cross-site form posts are refused")
    origin = request.headers.get("origin")
    if origin == "null":
        raise DashboardError(403, "form posted from an opaque origin; refused")
    if origin:
        allowed = {request.headers.get("host", "").lower()}
        forwarded = request.headers.get("x-forwarded-host")
        if forwarded:
            allowed.add(forwarded.split(",")[0].strip().lower())
        public_url = getattr(getattr(_rt(request), "settings", None), "public_url", None)
        if public_url:
            allowed.add(urlsplit(str(public_url)).netloc.lower())
        if urlsplit(origin).netloc.lower() not in allowed:
            raise DashboardError(403, "form posted from another origin; refused")


async def read_form(request: Request) -> dict[str, list[str]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise DashboardError(415, "send the form as application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise DashboardError(413, f"form larger than {MAX_FORM_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise DashboardError(413, f"form larger than {MAX_FORM_BYTES} bytes")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DashboardError(400, f"malformed form body: {exc}") from exc


# --------------------------------------------------------------------------------------- data
def _rt(request: Request) -> Any:
    return request.app.state.runtime


def _connection(db: Database, connection_id: str) -> connections.ConnectionInfo:
    try:
        return connections.get_connection(db, connection_id)
    except connections.ConnectionNotFound as exc:
        raise DashboardError(404, f"No connection with id {connection_id[:80]!r}.") from exc


@dataclass
class Health:
    level: str  # ok | warn | error | off
    summary: str
    webhooks_ok: bool
    webhooks_text: str
    last_event_at: datetime | None
    last_sync: dict[str, Any] | None
    failed_1h: int
    rejected_1h: int
    api_errors_1h: int
    problems: list[str] = field(default_factory=list)

    @property
    def errors_1h(self) -> int:
        return self.failed_1h + self.rejected_1h + self.api_errors_1h


def _count_by_connection(db: Database, stmt: Any) -> dict[str, int]:
    with db.session() as s:
        return {str(cid): int(n) for cid, n in s.execute(stmt) if cid is not None}


def _latest_runs(db: Database, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    from switchboard.sync.runs import to_progress

    out: dict[str, dict[str, Any]] = {}
    with db.session() as s:
        for cid in ids:
            row = s.scalar(
                select(SyncRun)
                .where(SyncRun.connection_id == cid)
                .order_by(SyncRun.started_at.desc())
                .limit(1)
            )
            if row is not None:
                out[cid] = to_progress(row).to_dict()
    return out


def health_for(db: Database, infos: Sequence[connections.ConnectionInfo]) -> dict[str, Health]:
    """Health at a glance for each connection (a handful of grouped queries)."""
    ids = [i.id for i in infos]
    if not ids:
        return {}
    since = _now() - timedelta(hours=1)
    failed = _count_by_connection(
        db,
        select(Event.connection_id, func.count())
        .where(Event.connection_id.in_(ids), Event.status == "failed", Event.received_at >= since)
        .group_by(Event.connection_id),
    )
    rejected = _count_by_connection(
        db,
        select(WebhookRejection.connection_id, func.count())
        .where(WebhookRejection.connection_id.in_(ids), WebhookRejection.received_at >= since)
        .group_by(WebhookRejection.connection_id),
    )
    api_errors = _count_by_connection(
        db,
        select(ApiCallCount.connection_id, func.sum(ApiCallCount.errors + ApiCallCount.http_429))
        .where(ApiCallCount.connection_id.in_(ids), ApiCallCount.minute >= since)
        .group_by(ApiCallCount.connection_id),
    )
    with db.session() as s:
        subs: dict[str, list[tuple[str, str]]] = {}
        for cid, provider, status in s.execute(
            select(
                WebhookSubscription.connection_id,
                WebhookSubscription.provider,
                WebhookSubscription.status,
            ).where(WebhookSubscription.connection_id.in_(ids))
        ):
            subs.setdefault(str(cid), []).append((str(provider), str(status)))
    runs = _latest_runs(db, ids)
    out: dict[str, Health] = {}
    for info in infos:
        problems: list[str] = []
        mine = subs.get(info.id, [])
        quo_n = sum(1 for p, _ in mine if p == "quo")
        crm_n = sum(1 for p, _ in mine if p == info.crm)
        inactive = [p for p, st in mine if st != "active"]
        wants_quo = bool(info.settings.get("event_kinds"))
        missing = []
        if wants_quo and quo_n == 0:
            missing.append("Quo")
        if crm_n == 0:
            missing.append(info.crm.capitalize())
        webhooks_ok = not missing and not inactive and info.status != "degraded"
        if info.disconnected_at is not None or info.status == "disconnected":
            webhooks_text = "disconnected"
            webhooks_ok = False
        elif missing:
            webhooks_text = "missing: " + ", ".join(missing)
        elif inactive:
            webhooks_text = f"{len(inactive)} not active"
        else:
            webhooks_text = f"{quo_n} Quo + {crm_n} {info.crm.capitalize()}"
        if info.status == "degraded":
            problems.append(info.status_message or "setup is degraded")
        run = runs.get(info.id)
        if run and run.get("status") == "failed":
            problems.append(f"last {run.get('kind')} sync failed: {run.get('error') or ''}")
        h = Health(
            level="ok",
            summary="healthy",
            webhooks_ok=webhooks_ok,
            webhooks_text=webhooks_text,
            last_event_at=_aware(info.last_event_at),
            last_sync=run,
            failed_1h=failed.get(info.id, 0),
            rejected_1h=rejected.get(info.id, 0),
            api_errors_1h=api_errors.get(info.id, 0),
            problems=problems,
        )
        if webhooks_text == "disconnected":
            h.level, h.summary = "off", "disconnected"
        elif problems or (missing and info.status not in ("new", "setting_up")):
            h.level, h.summary = "error", problems[0] if problems else "webhooks " + webhooks_text
        elif info.status in ("new", "setting_up"):
            h.level, h.summary = "warn", "setting up"
        elif h.errors_1h:
            h.level, h.summary = "warn", f"{h.errors_1h} errors in the last hour"
        out[info.id] = h
    return out


def _bucket_expr(column: Any, size: int) -> Any:
    """Epoch bucket number of a timestamp column (integer division; SQLite and PostgreSQL)."""
    return cast(extract("epoch", column), Integer) // size


def _buckets(window: str) -> tuple[int, int, int]:
    size, count = WINDOWS[window]
    now_epoch = int(_now().timestamp())
    last = now_epoch // size
    return size, count, last - count + 1


def event_series(db: Database, connection_id: str, window: str) -> dict[str, Any]:
    """Events per bucket and status group over the window."""
    size, count, first = _buckets(window)
    since = datetime.fromtimestamp(first * size, UTC)
    b = _bucket_expr(Event.received_at, size)
    stmt = (
        select(b, Event.status, func.count())
        .where(Event.connection_id == connection_id, Event.received_at >= since)
        .group_by(b, Event.status)
    )
    series = {g: [0] * count for g in EVENT_GROUPS}
    group_of = {st: g for g, sts in EVENT_GROUPS.items() for st in sts}
    with db.session() as s:
        for bucket, status, n in s.execute(stmt):
            i = int(bucket) - first
            if 0 <= i < count:
                series[group_of.get(str(status), "pending")][i] += int(n)
    return {"size": size, "first": first, "count": count, "series": series}


def api_series(db: Database, connection_id: str, window: str) -> dict[str, Any]:
    """API requests per bucket and provider (and 429s) over the window."""
    size, count, first = _buckets(window)
    since = datetime.fromtimestamp(first * size, UTC)
    b = _bucket_expr(ApiCallCount.minute, size)
    stmt = (
        select(
            b,
            ApiCallCount.provider,
            func.sum(ApiCallCount.requests),
            func.sum(ApiCallCount.http_429),
        )
        .where(ApiCallCount.connection_id == connection_id, ApiCallCount.minute >= since)
        .group_by(b, ApiCallCount.provider)
    )
    series: dict[str, list[int]] = {}
    r429 = [0] * count
    with db.session() as s:
        for bucket, provider, req, n429 in s.execute(stmt):
            i = int(bucket) - first
            if 0 <= i < count:
                series.setdefault(str(provider), [0] * count)[i] += int(req or 0)
                r429[i] += int(n429 or 0)
    return {"size": size, "first": first, "count": count, "series": series, "http_429": r429}


def budget(db: Database, connection_id: str) -> list[dict[str, Any]]:
    """Per provider: requests in the last hour / 24 h / all time, 429s and errors, and the
    busiest minute of the last hour against the provider's budget."""
    now = _now()
    hour = {r["provider"]: r for r in usage.api_usage(db, connection_id, now - timedelta(hours=1))}
    day = {r["provider"]: r for r in usage.api_usage(db, connection_id, now - timedelta(days=1))}
    total = {r["provider"]: r for r in usage.api_usage(db, connection_id)}
    with db.session() as s:
        peak = {
            str(p): int(n or 0)
            for p, n in s.execute(
                select(ApiCallCount.provider, func.max(ApiCallCount.requests))
                .where(
                    ApiCallCount.connection_id == connection_id,
                    ApiCallCount.minute >= now - timedelta(hours=1),
                )
                .group_by(ApiCallCount.provider)
            )
        }
    rows = []
    for provider in sorted(set(total) | set(PROVIDER_BUDGETS)):
        per_s, label = PROVIDER_BUDGETS.get(provider, (0.0, "unknown budget"))
        busiest = peak.get(provider, 0)
        rows.append(
            {
                "provider": provider,
                "hour": hour.get(provider, {}).get("requests", 0),
                "day": day.get(provider, {}).get("requests", 0),
                "total": total.get(provider, {}).get("requests", 0),
                "http_429": total.get(provider, {}).get("http_429", 0),
                "errors": total.get(provider, {}).get("errors", 0),
                "http_429_hour": hour.get(provider, {}).get("http_429", 0),
                "peak_minute": busiest,
                "peak_rate": round(busiest / 60.0, 2),
                "budget_per_s": per_s,
                "budget_label": label,
                "peak_pct": round(100.0 * busiest / (per_s * 60.0), 1) if per_s else None,
            }
        )
    return rows


def recent_runs(db: Database, connection_id: str, limit: int = 6) -> list[dict[str, Any]]:
    from switchboard.sync.runs import to_progress

    with db.session() as s:
        rows = s.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == connection_id)
            .order_by(SyncRun.started_at.desc())
            .limit(limit)
        )
        return [to_progress(r).to_dict() for r in rows]


def history(db: Database, connection_id: str, limit: int = 10) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.connection_id == connection_id)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
        return [{"action": r.action, "detail": r.detail or {}, "at": _aware(r.at)} for r in rows]


def workflows_for(connection_id: str, limit: int = 8) -> list[dict[str, Any]]:
    """Recent DBOS workflows of this connection (setup, re-subscribe, syncs); [] without DBOS."""
    try:
        from dbos import DBOS

        rows = DBOS.list_workflows(
            workflow_id_prefix=[
                f"setup:{connection_id}:",
                f"resubscribe:{connection_id}:",
                f"{connection_id}-",
            ],
            limit=limit,
            sort_desc=True,
            load_input=False,
            load_output=False,
        )
    except Exception:
        return []
    out = []
    for w in rows:
        created = (
            datetime.fromtimestamp(w.created_at / 1000, UTC) if w.created_at is not None else None
        )
        out.append(
            {
                "id": w.workflow_id,
                "status": str(w.status),
                "queue": w.queue_name or "",
                "created_at": created,
                "kind": w.workflow_id.split(":", 1)[0]
                if ":" in w.workflow_id
                else w.workflow_id.rsplit("-", 2)[-2],
            }
        )
    return out


# -------------------------------------------------------------------------------------- chart
CHART_W, CHART_H = 760, 170
PAD_L, PAD_R, PAD_T, PAD_B = 44, 8, 10, 22


def _nice_max(v: int) -> int:
    if v <= 4:
        return 4
    mag = 10 ** (len(str(v)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * mag)
        if top >= v:
            return top
    return v


def _label(epoch: int, size: int) -> str:
    t = datetime.fromtimestamp(epoch, UTC)
    return t.strftime("%b %d %H:%M") if size >= 3600 else t.strftime("%H:%M")


def svg_chart(
    data: Mapping[str, Any],
    stacks: Sequence[tuple[str, list[int]]],
    *,
    title: str,
    unit: str,
    markers: list[int] | None = None,
    marker_label: str = "",
) -> Markup:
    """A stacked bar chart as inline SVG (colours from CSS classes `s-<name>`)."""
    size, count, first = int(data["size"]), int(data["count"]), int(data["first"])
    totals = [sum(vals[i] for _, vals in stacks) for i in range(count)]
    top = _nice_max(max(totals, default=0))
    plot_w = CHART_W - PAD_L - PAD_R
    plot_h = CHART_H - PAD_T - PAD_B
    bw = plot_w / max(count, 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {CHART_W} {CHART_H}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for frac in (0.0, 0.5, 1.0):
        y = PAD_T + plot_h * (1 - frac)
        parts.append(
            f'<line class="grid" x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{int(top * frac)}</text>"
        )
    for i in range(count):
        x = PAD_L + i * bw
        y = PAD_T + plot_h
        start = (first + i) * size
        tip = [f"{_label(start, size)} (+{duration(size)})"]
        for name, vals in stacks:
            v = vals[i]
            if not v:
                continue
            h = plot_h * v / top
            y -= h
            parts.append(
                f'<rect class="s-{escape(name)}" x="{x + 0.5:.1f}" y="{y:.1f}" '
                f'width="{max(bw - 1, 0.8):.1f}" height="{h:.1f}"/>'
            )
            tip.append(f"{name}: {v}")
        if markers and markers[i]:
            parts.append(f'<circle class="marker" cx="{x + bw / 2:.1f}" cy="{PAD_T + 4}" r="3"/>')
            tip.append(f"{marker_label}: {markers[i]}")
        if totals[i] or (markers and markers[i]):
            parts.append(
                f'<rect class="hit" x="{x:.1f}" y="{PAD_T}" width="{bw:.1f}" '
                f'height="{plot_h}"><title>{escape(" · ".join(tip))} {escape(unit)}</title></rect>'
            )
    ticks = 6
    for k in range(ticks + 1):
        i = min(int(k * count / ticks), count - 1) if k < ticks else count
        x = PAD_L + i * bw
        anchor = "start" if k == 0 else ("end" if k == ticks else "middle")
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{CHART_H - 6}" text-anchor="{anchor}">'
            f"{escape(_label((first + i) * size, size))}</text>"
        )
    if not any(totals):
        parts.append(
            f'<text class="empty" x="{PAD_L + plot_w / 2:.1f}" y="{PAD_T + plot_h / 2:.1f}" '
            f'text-anchor="middle">no {escape(unit)} in this window</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# ------------------------------------------------------------------------------------ routers
public = APIRouter(route_class=HtmlErrorRoute, include_in_schema=False)
protected = APIRouter(
    route_class=HtmlErrorRoute,
    include_in_schema=False,
    dependencies=[Depends(require_dashboard)],
)


def _redirect(url: str) -> Response:
    return _security_headers(RedirectResponse(url, status_code=303))


def _conn_url(connection_id: str, **params: str) -> str:
    base = f"/dashboard/connections/{connection_id}"
    clean = {k: v for k, v in params.items() if v}
    return base + ("?" + urlencode(clean) if clean else "")


@public.get("/")
async def root() -> Response:
    return _redirect("/dashboard")


@public.get("/dashboard/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC_FILES:
        raise DashboardError(404, "no such file")
    resp = FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name])
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@public.get("/dashboard/login")
async def login_form(request: Request) -> Response:
    return _page(request, "login.html", {"title": "Sign in", "message": "", "next": "/dashboard"})


def _safe_next(value: str) -> str:
    if value.startswith("/dashboard") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"


@public.post("/dashboard/login")
async def login(request: Request) -> Response:
    same_origin(request)
    form = await read_form(request)
    given = (form.get("token") or [""])[0].strip()
    nxt = _safe_next((form.get("next") or ["/dashboard"])[0])
    token = request.app.state.admin_token
    if not token:
        if request.app.state.loopback:
            return _redirect(nxt)
        raise DashboardError(
            401, "The dashboard is disabled: set SWITCHBOARD_ADMIN_TOKEN or bind to 127.0.0.1."
        )
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return _page(
            request,
            "login.html",
            {"title": "Sign in", "message": "Wrong admin token.", "next": nxt},
            401,
        )
    resp = _redirect(nxt)
    resp.set_cookie(
        COOKIE,
        session_value(token),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https"
        or str(getattr(_rt(request).settings, "public_url", "")).startswith("https://"),
        path="/",
        max_age=12 * 3600,
    )
    return resp


@public.post("/dashboard/logout")
async def logout(request: Request) -> Response:
    same_origin(request)
    resp = _redirect("/dashboard/login")
    resp.delete_cookie(COOKIE, path="/")
    return resp


@protected.get("/dashboard")
async def overview(request: Request) -> Response:
    rt = _rt(request)

    def work() -> dict[str, Any]:
        infos = connections.list_connections(rt.db)
        return {
            "rows": [(i, h) for i, h in zip(infos, health_for(rt.db, infos).values(), strict=True)]
        }

    ctx = await asyncio.to_thread(work)
    return _page(request, "overview.html", {"title": "Connections", "now": _now(), **ctx})


def _flash(flash: str | None, ref: str | None) -> str | None:
    if not flash or flash not in FLASH:
        return None
    return FLASH[flash].format(ref=(ref or "")[:200])


@protected.get("/dashboard/connections/{connection_id}")
async def connection_page(
    request: Request,
    connection_id: str,
    status: str | None = Query(None, max_length=32),
    window: str = Query(DEFAULT_WINDOW, max_length=8),
    offset: int = Query(0, ge=0, le=1_000_000),
    flash: str | None = Query(None, max_length=40),
    ref: str | None = Query(None, max_length=200),
) -> Response:
    if status and status not in ledger.STATUSES:
        raise DashboardError(
            400, f"Unknown event status {status!r}; choose one of: {', '.join(ledger.STATUSES)}."
        )
    if window not in WINDOWS:
        raise DashboardError(
            400, f"Unknown chart window {window!r}; choose one of: {', '.join(WINDOWS)}."
        )
    rt = _rt(request)

    def work() -> dict[str, Any]:
        from switchboard.sync import run_issues, sync_progress

        db = rt.db
        info = _connection(db, connection_id)
        progress = sync_progress(db, connection_id)
        events = ledger.list_events(
            db, connection_id=connection_id, status=status, limit=EVENTS_PAGE + 1, offset=offset
        )
        ev = event_series(db, connection_id, window)
        api = api_series(db, connection_id, window)
        provider_names = sorted(api["series"])
        return {
            "info": info,
            "health": health_for(db, [info])[info.id],
            "progress": progress,
            "issues": run_issues(db, progress["run_id"], 20) if progress else [],
            "runs": recent_runs(db, connection_id),
            "events": events[:EVENTS_PAGE],
            "has_more": len(events) > EVENTS_PAGE,
            "counts": ledger.count_by_status(db, connection_id),
            "budget": budget(db, connection_id),
            "rejections": ledger.list_rejections(db, connection_id=connection_id, limit=10),
            "history": history(db, connection_id),
            "events_chart": svg_chart(
                ev,
                [(g, ev["series"][g]) for g in EVENT_GROUPS],
                title="Events received over time by status",
                unit="events",
            ),
            "api_chart": svg_chart(
                api,
                [(p, api["series"][p]) for p in provider_names],
                title="API requests over time by provider",
                unit="requests",
                markers=api["http_429"],
                marker_label="429s",
            ),
            "api_providers": provider_names,
        }

    ctx = await asyncio.to_thread(work)
    ctx["workflows"] = await asyncio.to_thread(workflows_for, connection_id)
    return _page(
        request,
        "connection.html",
        {
            "title": ctx["info"].name or connection_id,
            "status_filter": status,
            "statuses": ledger.STATUSES,
            "window": window,
            "windows": list(WINDOWS),
            "offset": offset,
            "page_size": EVENTS_PAGE,
            "event_groups": list(EVENT_GROUPS),
            "flash": _flash(flash, ref),
            "now": _now(),
            **ctx,
        },
    )


@protected.get("/dashboard/connections/{connection_id}/progress.json")
async def progress_json(request: Request, connection_id: str) -> Response:
    rt = _rt(request)

    def work() -> dict[str, Any]:
        from switchboard.sync import sync_progress

        if connections.find_connection(rt.db, connection_id) is None:
            raise DashboardError(404, "unknown connection")
        return {
            "ok": True,
            "progress": sync_progress(rt.db, connection_id),
            "counts": ledger.count_by_status(rt.db, connection_id),
            "server_time": _now().isoformat(),
        }

    return _security_headers(JSONResponse(await asyncio.to_thread(work)))


def _require_live(info: connections.ConnectionInfo) -> None:
    if info.disconnected_at is not None or info.status == "disconnected":
        raise DashboardError(409, "This connection is disconnected; nothing can run for it.")


@protected.post("/dashboard/connections/{connection_id}/sync")
async def run_sync(request: Request, connection_id: str) -> Response:
    same_origin(request)
    rt = _rt(request)

    def work() -> tuple[str, bool]:
        from switchboard.sync import start_initial_sync

        _require_live(_connection(rt.db, connection_id))
        return start_initial_sync(rt.db, connection_id)

    run_id, joined = await asyncio.to_thread(work)
    return _redirect(
        _conn_url(connection_id, flash="sync_joined" if joined else "sync_started", ref=run_id)
    )


@protected.post("/dashboard/connections/{connection_id}/reconcile")
async def run_reconcile(request: Request, connection_id: str) -> Response:
    same_origin(request)
    rt = _rt(request)

    def work() -> tuple[str, bool]:
        from switchboard.sync import start_reconcile

        _require_live(_connection(rt.db, connection_id))
        return start_reconcile(rt.db, connection_id)

    run_id, joined = await asyncio.to_thread(work)
    flash = "reconcile_joined" if joined else "reconcile_started"
    return _redirect(_conn_url(connection_id, flash=flash, ref=run_id))


@protected.post("/dashboard/connections/{connection_id}/setup")
async def retry_setup(request: Request, connection_id: str) -> Response:
    same_origin(request)
    rt = _rt(request)

    def work() -> str:
        from switchboard import setup

        _require_live(_connection(rt.db, connection_id))
        return setup.start_setup(connection_id, True)

    wf = await asyncio.to_thread(work)
    return _redirect(_conn_url(connection_id, flash="setup_started", ref=wf))


@protected.post("/dashboard/connections/{connection_id}/events/{event_id}/replay")
async def replay_event(request: Request, connection_id: str, event_id: str) -> Response:
    same_origin(request)
    rt = _rt(request)

    def work() -> str:
        info = _connection(rt.db, connection_id)
        ev = ledger.get_event(rt.db, event_id)
        if ev is None or ev.connection_id != connection_id:
            raise DashboardError(404, f"No event {event_id[:80]!r} on this connection.")
        _require_live(info)
        try:
            return dispatch.replay(rt.db, event_id)
        except ledger.EventNotFound as exc:
            raise DashboardError(404, f"No event {event_id[:80]!r}.") from exc
        except ledger.ReplayRefused as exc:
            raise DashboardError(409, str(exc)) from exc

    wf = await asyncio.to_thread(work)
    return _redirect(_conn_url(connection_id, flash="replayed", ref=wf))


# ----------------------------------------------------------------------------------- settings
_SPLIT = re.compile(r"[\s,;]+")
SETTINGS_FIELDS = (
    "default_region",
    "line",
    "enabled_lines",
    "event_kinds",
    "auto_create_people",
    "create_without_phone",
    "sync_objects",
)


def parse_settings_form(form: Mapping[str, list[str]]) -> dict[str, Any]:
    """Form fields → a full settings dict (raises DashboardError 400 on unknown fields)."""
    unknown = sorted(set(form) - set(SETTINGS_FIELDS) - {"submitted"})
    if unknown:
        raise DashboardError(400, f"Unknown form fields: {', '.join(unknown)}.")
    if "submitted" not in form:
        raise DashboardError(400, "Incomplete settings form; reload the settings page.")

    def one(name: str) -> str:
        values = form.get(name) or [""]
        if len(values) > 1:
            raise DashboardError(400, f"{name} was sent more than once.")
        return values[0].strip()

    picked = [x.strip() for x in form.get("line", []) if x.strip()]
    typed = [x for x in _SPLIT.split(one("enabled_lines")) if x]
    lines = list(dict.fromkeys(picked + typed))
    objects = [x for x in _SPLIT.split(one("sync_objects")) if x]
    return {
        "default_region": one("default_region").upper(),
        "enabled_lines": lines or None,
        "event_kinds": [k for k in form.get("event_kinds", []) if k],
        "auto_create_people": bool(form.get("auto_create_people")),
        "create_without_phone": bool(form.get("create_without_phone")),
        "sync_objects": objects,
    }


def known_lines(db: Database, connection_id: str) -> tuple[list[dict[str, str]], datetime | None]:
    """The workspace's Quo lines as last cached by activity logging (`cache_entries`, kind
    `quo_phone_numbers`), so the settings form can offer them; ([], None) when never fetched."""
    from switchboard.store.models import CacheEntry

    with db.session() as s:
        row = s.scalar(
            select(CacheEntry).where(
                CacheEntry.connection_id == connection_id,
                CacheEntry.kind == "quo_phone_numbers",
                CacheEntry.key == "all",
            )
        )
        if row is None:
            return [], None
        data, fetched = row.data, _aware(row.fetched_at)
    items = data.get("data") if isinstance(data, dict) else None
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            out.append(
                {
                    "id": item["id"],
                    "name": str(item.get("name") or ""),
                    "number": str(item.get("number") or item.get("formattedNumber") or ""),
                }
            )
    return out, fetched


def _settings_context(
    info: connections.ConnectionInfo,
    values: Mapping[str, Any],
    lines_known: tuple[list[dict[str, str]], datetime | None],
    error: str = "",
) -> dict[str, Any]:
    lines = list(values.get("enabled_lines") or [])
    known, fetched = lines_known
    known_ids = {k["id"] for k in known}
    return {
        "title": f"Settings · {info.name or info.id}",
        "info": info,
        "values": values,
        "known_lines": known,
        "lines_fetched_at": fetched,
        "checked_lines": set(lines),
        "lines_text": "\n".join(x for x in lines if x not in known_ids),
        "objects_text": ", ".join(values.get("sync_objects") or []),
        "kinds": connections.QUO_EVENT_KINDS,
        "error": error,
        "now": _now(),
    }


@protected.get("/dashboard/connections/{connection_id}/settings")
async def settings_form(request: Request, connection_id: str) -> Response:
    rt = _rt(request)
    info = await asyncio.to_thread(_connection, rt.db, connection_id)
    lines = await asyncio.to_thread(known_lines, rt.db, connection_id)
    return _page(request, "settings.html", _settings_context(info, info.settings, lines))


@protected.post("/dashboard/connections/{connection_id}/settings")
async def save_settings(request: Request, connection_id: str) -> Response:
    same_origin(request)
    rt = _rt(request)
    form = await read_form(request)
    info = await asyncio.to_thread(_connection, rt.db, connection_id)
    _require_live(info)
    values = parse_settings_form(form)
    lines = await asyncio.to_thread(known_lines, rt.db, connection_id)
    if not values["sync_objects"]:
        return _page(
            request,
            "settings.html",
            _settings_context(
                info, values, lines, "Sync objects: name at least one CRM object (e.g. people)."
            ),
            400,
        )
    delta = {k: v for k, v in values.items() if info.settings.get(k) != v}
    if not delta:
        return _redirect(_conn_url(connection_id, flash="settings_unchanged"))
    try:
        after = await asyncio.to_thread(connections.update_settings, rt.db, connection_id, delta)
    except connections.InvalidSettings as exc:
        ctx = _settings_context(info, values, lines, str(exc))
        return _page(request, "settings.html", ctx, 400)
    except connections.ConnectionNotFound as exc:
        raise DashboardError(404, "unknown connection") from exc
    if any(info.settings.get(k) != after.settings.get(k) for k in ("enabled_lines", "event_kinds")):
        from switchboard import setup

        wf = await asyncio.to_thread(setup.start_resubscribe, connection_id)
        return _redirect(_conn_url(connection_id, flash="settings_resubscribe", ref=wf))
    return _redirect(_conn_url(connection_id, flash="settings_saved"))


router = APIRouter()
router.include_router(public)
router.include_router(protected)
