"""Admin API for a connection's Quo webhooks of the dated generation.

    GET  /api/connections/{id}/quo-webhooks            generation, webhooks, Quo's delivery history
    POST /api/connections/{id}/quo-webhooks/migrate    v1 → 2026-03-30 (409 when aborted)
    POST /api/connections/{id}/quo-webhooks/test       a test delivery to each dated webhook
    POST /api/connections/{id}/quo-webhooks/rotate     new signing secrets, no delivery rejected

Behind the admin token like the rest of `/api`. Kept apart from `web/admin.py` because it is
about one provider's webhook generations only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from switchboard import clients, connections
from switchboard.web.admin import require_admin

router = APIRouter(prefix="/api", tags=["admin"], dependencies=[Depends(require_admin)])

DATED = "2026-03-30"


def _info(request: Request, connection_id: str) -> tuple[Any, connections.ConnectionInfo]:
    rt = request.app.state.runtime
    try:
        return rt, connections.get_connection(rt.db, connection_id)
    except connections.ConnectionNotFound as exc:
        raise HTTPException(404, "unknown connection") from exc


@router.get("/connections/{connection_id}/quo-webhooks")
async def quo_webhooks(connection_id: str, request: Request) -> dict[str, Any]:
    """The connection's Quo webhook generation and webhooks; for dated ones, what Quo reports
    having delivered (its delivery history, newest first)."""
    rt, info = await asyncio.to_thread(_info, request, connection_id)
    generation = connections.quo_webhooks_generation(
        info.settings, rt.settings.quo_webhooks_version
    )
    hooks: list[dict[str, Any]] = []
    subs = [w for w in info.webhooks if w.provider == "quo" and not w.is_previous_key]
    dated = [w for w in subs if w.version == DATED]
    quo = clients.quo_client_for(connection_id, webhooks_version=DATED) if dated else None
    try:
        for w in subs:
            row = {**w.to_dict(), "deliveries": None}
            if quo is not None and w.version == DATED:
                events = await quo.list_webhook_events(w.remote_id, limit=20)
                row["deliveries"] = [e.model_dump(mode="json") for e in events]
            hooks.append(row)
    finally:
        if quo is not None:
            await quo.aclose()
    return {"connection_id": connection_id, "generation": generation, "webhooks": hooks}


@router.post("/connections/{connection_id}/quo-webhooks/migrate")
async def migrate(connection_id: str, request: Request) -> dict[str, Any]:
    from switchboard.webhook_migration import MigrationAborted, migrate_quo_webhooks

    rt, _ = await asyncio.to_thread(_info, request, connection_id)
    try:
        return await migrate_quo_webhooks(rt.db, rt.box, rt.settings, connection_id)
    except MigrationAborted as exc:
        raise HTTPException(409, f"migration aborted: {exc}") from exc


@router.post("/connections/{connection_id}/quo-webhooks/test")
async def send_test(connection_id: str, request: Request) -> dict[str, Any]:
    """A test delivery to each of the connection's dated webhooks (`call.ringing`, which
    activity ignores); the events show in the ledger and in Quo's delivery history."""
    from switchboard.webhook_migration import TEST_EVENT

    _, info = await asyncio.to_thread(_info, request, connection_id)
    dated = [
        w
        for w in info.webhooks
        if w.provider == "quo" and w.version == DATED and not w.is_previous_key
    ]
    if not dated:
        raise HTTPException(409, "the connection has no 2026-03-30 Quo webhooks (migrate first)")
    quo = clients.quo_client_for(connection_id, webhooks_version=DATED)
    try:
        sent = [await quo.send_test_event(w.remote_id, TEST_EVENT) for w in dated]
    finally:
        await quo.aclose()
    pairs = zip(dated, sent, strict=True)
    return {"sent": [{"webhook": w.remote_id, "event": e.id} for w, e in pairs]}


@router.post("/connections/{connection_id}/quo-webhooks/rotate")
async def rotate(connection_id: str, request: Request) -> dict[str, Any]:
    """Rotate the signing secret of each dated webhook (`switchboard.webhook_rotation`)."""
    from switchboard.webhook_rotation import rotate_quo_webhook_secrets

    rt, _ = await asyncio.to_thread(_info, request, connection_id)
    try:
        return await rotate_quo_webhook_secrets(rt.db, rt.box, connection_id)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
