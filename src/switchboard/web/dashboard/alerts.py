"""The alerts test button: send a test message to every configured channel and show the result."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from switchboard.web.dashboard.auth import require_dashboard, same_origin
from switchboard.web.dashboard.render import HtmlErrorRoute, _now, _page, _rt

router = APIRouter(
    route_class=HtmlErrorRoute, include_in_schema=False, dependencies=[Depends(require_dashboard)]
)


@router.post("/dashboard/alerts/test")
async def alerts_test(request: Request) -> Response:
    same_origin(request)
    rt = _rt(request)
    from switchboard.alerts import AlertSettings, deliver, signing_secret
    from switchboard.alerts.incidents import sample_message
    from switchboard.crypto import load_master_key

    settings = AlertSettings()
    outcome: dict[str, str] = {}
    if settings.enabled:
        secret = signing_secret(load_master_key(rt.settings))
        message = sample_message(rt.settings.public_url)
        outcome = await asyncio.to_thread(deliver, settings, message, secret)
    return _page(
        request,
        "alert_test.html",
        {"title": "Test alert", "outcome": outcome, "now": _now()},
        200 if outcome and all(v == "sent" for v in outcome.values()) else 502,
    )
