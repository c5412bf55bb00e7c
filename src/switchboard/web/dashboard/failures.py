"""The failures panel's actions: replay a group (or a time range) of failed events after a
confirmation showing the count, export them as CSV, and reconnect with a new secret.

Every action returns to the connection page with its filter and at the failures panel, so the
operator keeps their place.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from switchboard import connections, dispatch, failures, ledger
from switchboard.web.dashboard.auth import read_form, require_dashboard, same_origin
from switchboard.web.dashboard.render import (
    DashboardError,
    HtmlErrorRoute,
    _conn_url,
    _connection,
    _now,
    _page,
    _redirect,
    _rt,
    _security_headers,
)

router = APIRouter(
    route_class=HtmlErrorRoute, include_in_schema=False, dependencies=[Depends(require_dashboard)]
)

# Time ranges offered for "replay everything failed in ...".
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


def failure_context(db: Any, connection_id: str) -> dict[str, Any]:
    """The failures panel of the connection page: groups by cause, newest failures."""
    failed = ledger.failed_events(db, connection_id=connection_id)
    return {"failure_groups": failures.group_failures(failed), "failed_total": len(failed)}


def _selection(db: Any, connection_id: str, cause: str, range_: str) -> list[ledger.EventRecord]:
    if range_ and range_ not in RANGES:
        raise DashboardError(400, f"Unknown time range {range_!r}; use one of {', '.join(RANGES)}.")
    since = datetime.now(UTC) - RANGES[range_] if range_ else None
    events = ledger.failed_events(db, connection_id=connection_id, since=since)
    if cause:
        events = [e for e in events if failures.cause_of(e).key == cause]
    return events


def _field(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def _back(connection_id: str, form: dict[str, list[str]], **params: str) -> str:
    status = _field(form, "status")
    if status not in ledger.STATUSES:
        status = ""
    return _conn_url(connection_id, status=status, **params) + "#failures"


def _require_live(info: connections.ConnectionInfo) -> None:
    if info.disconnected_at is not None or info.status == "disconnected":
        raise DashboardError(409, "This connection is disconnected; nothing can run for it.")


@router.post("/dashboard/connections/{connection_id}/failures/replay")
async def replay_failures(request: Request, connection_id: str) -> Response:
    """Without `confirm`: a page that shows how many events will run; with it: replay them."""
    same_origin(request)
    rt = _rt(request)
    form = await read_form(request)
    cause, range_ = _field(form, "cause"), _field(form, "range")

    def work() -> tuple[connections.ConnectionInfo, list[ledger.EventRecord]]:
        info = _connection(rt.db, connection_id)
        _require_live(info)
        return info, _selection(rt.db, connection_id, cause, range_)

    info, events = await asyncio.to_thread(work)
    if _field(form, "confirm") != "yes":
        title = next((g["title"] for g in failures.group_failures(events) if g["key"] == cause), "")
        return _page(
            request,
            "confirm_replay.html",
            {
                "title": "Replay failed events",
                "info": info,
                "count": len(events),
                "cause": cause,
                "cause_title": title,
                "range": range_,
                "status_filter": _field(form, "status"),
                "now": _now(),
            },
        )
    result = await asyncio.to_thread(dispatch.replay_many, rt.db, [e.id for e in events])
    return _redirect(
        _back(connection_id, form, flash="bulk_replayed", ref=str(len(result["replayed"])))
    )


@router.get("/dashboard/connections/{connection_id}/failures.csv")
async def export_failures(
    request: Request,
    connection_id: str,
    cause: str = Query("", max_length=64),
    range: str = Query("", max_length=8),
) -> Response:
    rt = _rt(request)

    def work() -> str:
        _connection(rt.db, connection_id)
        return failures.to_csv(_selection(rt.db, connection_id, cause, range))

    body = await asyncio.to_thread(work)
    resp = Response(body, media_type="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = f'attachment; filename="failures-{connection_id}.csv"'
    return _security_headers(resp)


@router.post("/dashboard/connections/{connection_id}/reconnect")
async def reconnect(request: Request, connection_id: str) -> Response:
    """Store a new CRM token (or Quo key) after checking it, then replay what the old one
    failed."""
    same_origin(request)
    rt = _rt(request)
    form = await read_form(request)
    crm_token, quo_key = _field(form, "crm_token"), _field(form, "quo_api_key")
    if not crm_token and not quo_key:
        raise DashboardError(400, "Paste the new token (or API key) to reconnect.")
    info = await asyncio.to_thread(_connection, rt.db, connection_id)
    _require_live(info)
    from switchboard.reconnect import CredentialsRejected, reconnect_connection

    try:
        replayed = await reconnect_connection(
            rt.db, rt.box, info, crm_token=crm_token or None, quo_api_key=quo_key or None
        )
    except CredentialsRejected as exc:
        raise DashboardError(400, str(exc)) from exc
    return _redirect(_back(connection_id, form, flash="reconnected", ref=str(replayed)))
