"""The dashboard's routes (`router`): pages, the progress poll, actions and the settings form."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from switchboard import connection_settings, connections, dispatch, ledger
from switchboard.web import security
from switchboard.web.dashboard import alerts as alerts_panel
from switchboard.web.dashboard import failures as failures_panel
from switchboard.web.dashboard.auth import (
    _safe_next,
    read_form,
    require_dashboard,
    same_origin,
)
from switchboard.web.dashboard.budget import budget
from switchboard.web.dashboard.charts import (
    DEFAULT_WINDOW,
    EVENT_GROUPS,
    WINDOWS,
    api_series,
    event_series,
    svg_chart,
)
from switchboard.web.dashboard.forms import _settings_context, known_lines, parse_settings_form
from switchboard.web.dashboard.health import health_for, history, recent_runs, workflows_for
from switchboard.web.dashboard.quo_webhooks import router as quo_webhooks_router
from switchboard.web.dashboard.render import (
    COOKIE,
    STATIC_DIR,
    STATIC_FILES,
    DashboardError,
    HtmlErrorRoute,
    _conn_url,
    _connection,
    _now,
    _page,
    _redirect,
    _rt,
    _security_headers,
    error_page,
    person_url_for,
)

EVENTS_PAGE = 50

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
    "bulk_replayed": "Replay queued for {ref} failed events.",
    "reconnected": "New secret stored; {ref} events it had failed are replayed.",
}


# ------------------------------------------------------------------------------------ routers
public = APIRouter(route_class=HtmlErrorRoute, include_in_schema=False)
protected = APIRouter(
    route_class=HtmlErrorRoute,
    include_in_schema=False,
    dependencies=[Depends(require_dashboard)],
)


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


@public.post("/dashboard/login")
async def login(request: Request) -> Response:
    same_origin(request)
    state = request.app.state
    client = request.client.host if request.client else "unknown"
    wait_s = state.login_throttle.retry_after(client)
    if wait_s:
        resp = error_page(request, 429, f"Too many wrong tokens; try again in {int(wait_s) + 1} s.")
        resp.headers["Retry-After"] = str(int(wait_s) + 1)
        return resp
    form = await read_form(request)
    given = (form.get("token") or [""])[0].strip()
    nxt = _safe_next((form.get("next") or ["/dashboard"])[0])
    token = state.admin_token
    if token is None:  # the loopback development mode: nothing to sign in to
        return _redirect(nxt)
    if not security.token_matches(given, token):
        state.login_throttle.failed(client)
        return _page(
            request,
            "login.html",
            {"title": "Sign in", "message": "Wrong admin token.", "next": nxt},
            401,
        )
    state.login_throttle.succeeded(client)
    # A new session id at every login (the one the browser brought is revoked): a session id
    # planted before the login is worth nothing after it.
    session = state.sessions.create(replacing=request.cookies.get(COOKIE))
    resp = _redirect(nxt)
    resp.set_cookie(
        COOKIE,
        session,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or str(state.public_url).startswith("https://"),
        path="/",
        max_age=int(security.SESSION_TTL_S),
    )
    return resp


@public.post("/dashboard/logout")
async def logout(request: Request) -> Response:
    same_origin(request)
    request.app.state.sessions.revoke(request.cookies.get(COOKIE))
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
            "person_url": person_url_for(db, info),
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
            **failures_panel.failure_context(db, connection_id),
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
    form = await read_form(request)

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
    # Back to the same filter and to the events list, not the top of the page.
    status = (form.get("status") or [""])[0]
    status = status if status in ledger.STATUSES else ""
    return _redirect(_conn_url(connection_id, status=status, flash="replayed", ref=wf) + "#events")


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
    except connection_settings.InvalidSettings as exc:
        ctx = _settings_context(info, values, lines, str(exc))
        return _page(request, "settings.html", ctx, 400)
    except connections.ConnectionNotFound as exc:
        raise DashboardError(404, "unknown connection") from exc
    if any(info.settings.get(k) != after.settings.get(k) for k in ("enabled_lines", "event_kinds")):
        from switchboard import setup

        wf = await asyncio.to_thread(setup.start_resubscribe, connection_id)
        return _redirect(_conn_url(connection_id, flash="settings_resubscribe", ref=wf))
    return _redirect(_conn_url(connection_id, flash="settings_saved"))


@protected.get("/dashboard/connections/{connection_id}/click-to-call")
async def click_to_call_page(
    request: Request, connection_id: str, flash: str | None = Query(None, max_length=40)
) -> Response:
    """The URL template to configure in the CRM (it carries the link secret: this page is the
    one place that shows it), its rotation, and the recent clicks with the calls they pinned."""
    from switchboard.activity import intents
    from switchboard.web.callpage import link_secret

    rt = _rt(request)

    def work() -> dict[str, Any]:
        info = _connection(rt.db, connection_id)
        secret = link_secret.current(rt.db, rt.box, connection_id)
        base = f"{rt.settings.public_url.rstrip('/')}/call/{connection_id}"
        return {
            "info": info,
            "template": f"{base}/{{person_id}}?k={secret}",
            "signed_url": base,
            "rotated_at": link_secret.rotated_at(rt.db, connection_id),
            "clicks": intents.recent_clicks(rt.db, connection_id, limit=25),
            "window": info.settings.get("click_to_call_window_minutes"),
            "default_line": info.settings.get("click_to_call_default_line"),
            "now": _now(),
            "flash": "Link secret rotated: links with the old one stop working now."
            if flash == "rotated"
            else None,
        }

    return _page(request, "click_to_call.html", await asyncio.to_thread(work))


@protected.post("/dashboard/connections/{connection_id}/click-to-call/rotate")
async def rotate_link_secret(request: Request, connection_id: str) -> Response:
    same_origin(request)
    from switchboard.web.callpage import link_secret

    rt = _rt(request)

    def work() -> None:
        _require_live(_connection(rt.db, connection_id))
        link_secret.rotate(rt.db, rt.box, connection_id)
        connections.audit(rt.db, connection_id, "click_to_call.rotate", {})

    await asyncio.to_thread(work)
    return _redirect(f"/dashboard/connections/{connection_id}/click-to-call?flash=rotated")


router = APIRouter()
router.include_router(public)
router.include_router(protected)
router.include_router(quo_webhooks_router)
router.include_router(failures_panel.router)
router.include_router(alerts_panel.router)
