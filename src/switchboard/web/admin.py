"""Admin API under /api (OpenAPI at /docs and /openapi.json).

Authentication: `Authorization: Bearer <admin token>` (or `X-Admin-Token`, or the dashboard's
session cookie); the token is `SWITCHBOARD_ADMIN_TOKEN` or the one generated into the data dir
(`switchboard.web.security`). State-changing requests from another site are refused (403) and
the `Host` must be allowed (400). Secrets are never returned.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict

from switchboard import connection_settings, connections, dispatch, ledger
from switchboard.metrics import connection_label
from switchboard.usage import api_usage
from switchboard.web import security

EventStatus = Literal["accepted", "processing", "processed", "ignored", "skipped", "failed"]


def require_admin(request: Request) -> None:
    """The admin token or a dashboard session (`switchboard.web.security.require_admin`)."""
    security.require_admin(request)


router = APIRouter(prefix="/api", tags=["admin"], dependencies=[Depends(require_admin)])


class Subscription(BaseModel):
    id: int
    provider: str
    remote_id: str
    kind: str
    version: str
    url: str
    events: list[Any]
    resource_ids: list[Any]
    status: str
    created_at: str | None


class ConnectionOut(BaseModel):
    id: str
    crm: str
    name: str
    status: str
    status_message: str
    quo_base_url: str
    crm_base_url: str
    crm_workspace_id: str | None
    settings: dict[str, Any]
    created_at: str | None
    updated_at: str | None
    last_event_at: str | None
    last_sync_at: str | None
    last_reconcile_at: str | None
    last_reconcile_status: str | None
    disconnected_at: str | None
    webhooks: list[Subscription]
    event_counts: dict[str, int] = {}
    metrics_label: str = ""


class EventOut(BaseModel):
    id: str
    connection_id: str
    provider: str
    event_type: str
    idempotency_key: str
    resource_id: str | None
    status: str
    reason: str | None
    detail: dict[str, Any]
    payload: dict[str, Any] | None = None
    attempts: int
    received_at: str | None
    processed_at: str | None


class EventsPage(BaseModel):
    events: list[EventOut]
    counts: dict[str, int]


class ReplayOut(BaseModel):
    event_id: str
    workflow_id: str


class UsageRow(BaseModel):
    connection_id: str
    provider: str
    requests: int
    http_429: int
    errors: int


class RejectionOut(BaseModel):
    id: int
    connection_id: str | None
    provider: str
    status_code: int
    reason: str
    received_at: str | None


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_region: str | None = None
    enabled_lines: list[str] | None = None
    event_kinds: list[Literal["calls", "messages", "summaries", "transcripts"]] | None = None
    auto_create_people: bool | None = None
    sync_objects: list[str] | None = None
    create_without_phone: bool | None = None
    quo_contact_policy: Literal["crm_wins", "quo_edits_to_crm"] | None = None


class SettingsOut(BaseModel):
    connection: ConnectionOut
    resubscribe_workflow_id: str | None


def _rt(request: Request) -> Any:
    return request.app.state.runtime


async def _get_conn(rt: Any, connection_id: str) -> connections.ConnectionInfo:
    try:
        return await asyncio.to_thread(connections.get_connection, rt.db, connection_id)
    except connections.ConnectionNotFound as exc:
        raise HTTPException(404, "unknown connection") from exc


@router.get("/connections", response_model=list[ConnectionOut])
async def list_connections(request: Request) -> list[dict[str, Any]]:
    rt = _rt(request)
    rows = await asyncio.to_thread(connections.list_connections, rt.db)
    return [{**r.to_dict(), "metrics_label": connection_label(r.id)} for r in rows]


@router.get("/connections/{connection_id}", response_model=ConnectionOut)
async def show_connection(connection_id: str, request: Request) -> dict[str, Any]:
    rt = _rt(request)
    info = await _get_conn(rt, connection_id)
    out = info.to_dict()
    out["event_counts"] = await asyncio.to_thread(ledger.count_by_status, rt.db, connection_id)
    out["metrics_label"] = connection_label(connection_id)
    return out


@router.patch("/connections/{connection_id}/settings", response_model=SettingsOut)
async def change_settings(
    connection_id: str, request: Request, changes: SettingsIn = Body(...)
) -> dict[str, Any]:
    rt = _rt(request)
    before = await _get_conn(rt, connection_id)
    if before.disconnected_at is not None:
        raise HTTPException(409, "connection is disconnected")
    delta = changes.model_dump(exclude_unset=True)
    if "default_region" in delta and delta["default_region"] is None:
        raise HTTPException(400, "default_region cannot be null")
    for key in (
        "event_kinds",
        "auto_create_people",
        "sync_objects",
        "create_without_phone",
        "quo_contact_policy",
    ):
        if key in delta and delta[key] is None:
            raise HTTPException(400, f"{key} cannot be null")
    try:
        info = await asyncio.to_thread(connections.update_settings, rt.db, connection_id, delta)
    except connection_settings.InvalidSettings as exc:
        raise HTTPException(400, str(exc)) from exc
    wf: str | None = None
    if any(
        before.settings.get(k) != info.settings.get(k) for k in ("enabled_lines", "event_kinds")
    ):
        from switchboard import setup

        wf = await asyncio.to_thread(setup.start_resubscribe, connection_id)
    return {"connection": info.to_dict(), "resubscribe_workflow_id": wf}


class SetupOut(BaseModel):
    connection_id: str
    workflow_id: str
    starts_initial_sync: bool


@router.post("/connections/{connection_id}/setup", response_model=SetupOut)
async def retry_setup(connection_id: str, request: Request) -> dict[str, Any]:
    """Run (or re-run) the connection's setup workflow: converge webhooks at both providers;
    start the initial sync if none ever ran."""
    from switchboard import setup

    rt = _rt(request)
    info = await _get_conn(rt, connection_id)
    if info.disconnected_at is not None:
        raise HTTPException(409, "connection is disconnected")
    from switchboard.sync import sync_progress

    first_sync = await asyncio.to_thread(sync_progress, rt.db, connection_id, "initial") is None
    wf = await asyncio.to_thread(setup.start_setup, connection_id, True, first_sync)
    return {"connection_id": connection_id, "workflow_id": wf, "starts_initial_sync": first_sync}


@router.get("/connections/{connection_id}/rejections", response_model=list[RejectionOut])
async def rejections(
    connection_id: str, request: Request, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    rt = _rt(request)
    await _get_conn(rt, connection_id)
    rows = await asyncio.to_thread(
        lambda: ledger.list_rejections(rt.db, connection_id=connection_id, limit=limit)
    )
    return [r.to_dict() for r in rows]


class SyncStarted(BaseModel):
    run_id: str
    joined: bool


@router.get("/connections/{connection_id}/sync", response_model=dict[str, Any])
async def sync_status(
    connection_id: str,
    request: Request,
    kind: Literal["initial", "reconcile"] | None = Query(None),
) -> dict[str, Any]:
    """Latest sync run (done / total / skipped / failed, rate, ETA); `{}` when none ran yet."""
    from switchboard.sync import sync_progress

    rt = _rt(request)
    await _get_conn(rt, connection_id)
    progress = await asyncio.to_thread(sync_progress, rt.db, connection_id, kind)
    return progress or {}


@router.post("/connections/{connection_id}/sync", response_model=SyncStarted)
async def start_sync(
    connection_id: str,
    request: Request,
    kind: Literal["initial", "reconcile"] = Query("initial"),
) -> dict[str, Any]:
    """Start the initial sync (or a reconcile pass); joins the running one."""
    from switchboard import sync

    rt = _rt(request)
    info = await _get_conn(rt, connection_id)
    if info.disconnected_at is not None:
        raise HTTPException(409, "connection is disconnected")
    if kind == "initial":
        run_id, joined = await asyncio.to_thread(sync.start_initial_sync, rt.db, connection_id)
    else:
        run_id, joined = await asyncio.to_thread(sync.start_reconcile, rt.db, connection_id)
    return {"run_id": run_id, "joined": joined}


@router.get("/events", response_model=EventsPage)
async def list_events(
    request: Request,
    connection_id: str | None = Query(None, max_length=64),
    status: list[EventStatus] | None = Query(None),
    provider: str | None = Query(None, max_length=16),
    event_type: str | None = Query(None, max_length=64),
    resource_id: str | None = Query(None, max_length=200),
    since: datetime | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
    with_payload: bool = Query(False),
) -> dict[str, Any]:
    rt = _rt(request)

    def work() -> dict[str, Any]:
        rows = ledger.list_events(
            rt.db,
            connection_id=connection_id,
            status=status,
            provider=provider,
            event_type=event_type,
            resource_id=resource_id,
            since=since,
            limit=limit,
            offset=offset,
        )
        return {
            "events": [r.to_dict(with_payload=with_payload) for r in rows],
            "counts": ledger.count_by_status(rt.db, connection_id),
        }

    return await asyncio.to_thread(work)


@router.get("/events/{event_id}", response_model=EventOut)
async def show_event(event_id: str, request: Request) -> dict[str, Any]:
    rt = _rt(request)
    ev = await asyncio.to_thread(ledger.get_event, rt.db, event_id)
    if ev is None:
        raise HTTPException(404, "unknown event")
    return ev.to_dict()


@router.post("/events/{event_id}/replay", response_model=ReplayOut)
async def replay_event(
    event_id: str, request: Request, force: bool = Query(False)
) -> dict[str, Any]:
    rt = _rt(request)
    try:
        wf = await asyncio.to_thread(lambda: dispatch.replay(rt.db, event_id, force=force))
    except ledger.EventNotFound as exc:
        raise HTTPException(404, "unknown event") from exc
    except ledger.ReplayRefused as exc:
        raise HTTPException(409, str(exc)) from exc
    return {"event_id": event_id, "workflow_id": wf}


@router.get("/usage", response_model=list[UsageRow])
async def usage(
    request: Request,
    connection_id: str | None = Query(None, max_length=64),
    since: datetime | None = Query(None),
) -> list[dict[str, Any]]:
    rt = _rt(request)
    return await asyncio.to_thread(
        lambda: api_usage(rt.db, connection_id=connection_id, since=since)
    )
