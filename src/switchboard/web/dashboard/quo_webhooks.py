"""Dashboard page of a connection's Quo webhooks: generation, migration, test event, Quo's
delivery history beside Switchboard's ledger, and secret rotation.

    GET  /dashboard/connections/{id}/quo-webhooks            the page (refreshes while a test
                                                             event has not arrived yet)
    POST /dashboard/connections/{id}/quo-webhooks/migrate    v1 → 2026-03-30
    POST /dashboard/connections/{id}/quo-webhooks/test       a test delivery
    POST /dashboard/connections/{id}/quo-webhooks/rotate     new signing secrets

Kept in its own module and template (the connection page only includes a small partial), so it
does not touch the events and health views.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from switchboard import clients, connections, ledger
from switchboard.web.dashboard.auth import require_dashboard, same_origin
from switchboard.web.dashboard.render import (
    DashboardError,
    HtmlErrorRoute,
    _connection,
    _now,
    _page,
    _redirect,
    _rt,
)

DATED = "2026-03-30"
LEDGER_WINDOW = 500

router = APIRouter(
    route_class=HtmlErrorRoute,
    include_in_schema=False,
    dependencies=[Depends(require_dashboard)],
)

FLASH = {
    "migrated": "Quo webhooks migrated to 2026-03-30.",
    "tested": "Test event {ref} sent; this page refreshes until it has arrived.",
    "rotated": "Signing secret rotated.",
}


def _url(connection_id: str, **params: str) -> str:
    base = f"/dashboard/connections/{connection_id}/quo-webhooks"
    clean = {k: v for k, v in params.items() if v}
    return base + ("?" + urlencode(clean) if clean else "")


@router.get("/dashboard/connections/{connection_id}/quo-webhooks")
async def page(
    request: Request,
    connection_id: str,
    flash: str | None = Query(None, max_length=40),
    ref: str | None = Query(None, max_length=200),
) -> Response:
    rt = _rt(request)

    def work() -> dict[str, Any]:
        info = _connection(rt.db, connection_id)
        events = ledger.list_events(rt.db, connection_id=connection_id, limit=LEDGER_WINDOW)
        by_quo_id = {
            str((e.detail or {}).get("quo_event_id")): e
            for e in events
            if e.provider == "quo" and (e.detail or {}).get("quo_event_id")
        }
        return {"info": info, "ledger": by_quo_id}

    ctx = await asyncio.to_thread(work)
    info = ctx["info"]
    generation = connections.quo_webhooks_generation(
        info.settings, rt.settings.quo_webhooks_version
    )
    subs = [w for w in info.webhooks if w.provider == "quo" and not w.is_previous_key]
    dated = [w for w in subs if w.version == DATED]
    history: dict[str, list[dict[str, Any]]] = {}
    error = None
    if dated:
        quo = clients.quo_client_for(connection_id, webhooks_version=DATED)
        try:
            for w in dated:
                rows = await quo.list_webhook_events(w.remote_id, limit=20)
                history[w.remote_id] = [{"quo": e, "ledger": ctx["ledger"].get(e.id)} for e in rows]
        except Exception as exc:  # the page still shows what Switchboard knows
            error = f"Quo's delivery history could not be read: {type(exc).__name__}"
        finally:
            await quo.aclose()
    waiting = bool(
        ref
        and flash == "tested"
        and not any(r["quo"].id == ref and r["ledger"] for rows in history.values() for r in rows)
    )
    message = FLASH.get(flash or "")
    return _page(
        request,
        "quo_webhooks.html",
        {
            "title": f"Quo webhooks · {info.name or connection_id}",
            "info": info,
            "generation": generation,
            "subs": subs,
            "history": history,
            "error": error,
            "flash": message.format(ref=ref or "") if message else None,
            "ref": ref,
            "waiting": waiting,
            "now": _now(),
        },
    )


@router.post("/dashboard/connections/{connection_id}/quo-webhooks/migrate")
async def migrate(request: Request, connection_id: str) -> Response:
    from switchboard.webhook_migration import MigrationAborted, migrate_quo_webhooks

    same_origin(request)
    rt = _rt(request)
    await asyncio.to_thread(_connection, rt.db, connection_id)
    try:
        await migrate_quo_webhooks(rt.db, rt.box, rt.settings, connection_id)
    except MigrationAborted as exc:
        raise DashboardError(409, f"Migration aborted, v1 webhooks kept: {exc}") from exc
    return _redirect(_url(connection_id, flash="migrated"))


@router.post("/dashboard/connections/{connection_id}/quo-webhooks/test")
async def send_test(request: Request, connection_id: str) -> Response:
    from switchboard.webhook_migration import TEST_EVENT

    same_origin(request)
    rt = _rt(request)
    info = await asyncio.to_thread(_connection, rt.db, connection_id)
    dated = [
        w
        for w in info.webhooks
        if w.provider == "quo" and w.version == DATED and not w.is_previous_key
    ]
    if not dated:
        raise DashboardError(409, "This connection has no 2026-03-30 Quo webhooks: migrate first.")
    quo = clients.quo_client_for(connection_id, webhooks_version=DATED)
    try:
        event = await quo.send_test_event(dated[0].remote_id, TEST_EVENT)
    finally:
        await quo.aclose()
    return _redirect(_url(connection_id, flash="tested", ref=event.id))


@router.post("/dashboard/connections/{connection_id}/quo-webhooks/rotate")
async def rotate(request: Request, connection_id: str) -> Response:
    from switchboard.webhook_rotation import rotate_quo_webhook_secrets

    same_origin(request)
    rt = _rt(request)
    await asyncio.to_thread(_connection, rt.db, connection_id)
    try:
        await rotate_quo_webhook_secrets(rt.db, rt.box, connection_id)
    except ValueError as exc:
        raise DashboardError(409, str(exc)) from exc
    return _redirect(_url(connection_id, flash="rotated"))
