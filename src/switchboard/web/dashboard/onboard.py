"""The "Add connection" page: choose the CRM, sign in with it (OAuth) or paste a token, paste the
Quo key (checked live: lines, bulk contacts, webhooks), pick lines, event kinds and settings,
create — then the connection's page follows set-up and the initial sync live.

    GET  /dashboard/connections/new[?crm=&signin=]   the form (a completed sign-in is shown)
    POST /dashboard/connections/new/quo-check.json   {ok, message | lines, bulk_contacts, ...}
    POST /dashboard/connections/new                  create (`switchboard.onboarding.create`)

Secrets are never rendered back: after a refused create the form comes back with the message
and every field except the key and the token.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from switchboard import onboarding
from switchboard.connection_settings import QUO_EVENT_KINDS
from switchboard.crm import registry
from switchboard.oauth import SignInRefused, signin
from switchboard.web.dashboard.auth import read_form, require_dashboard, same_origin
from switchboard.web.dashboard.render import (
    DashboardError,
    HtmlErrorRoute,
    _conn_url,
    _page,
    _redirect,
    _rt,
    _security_headers,
)
from switchboard.web.oauth_routes import binding_of

router = APIRouter(
    route_class=HtmlErrorRoute,
    include_in_schema=False,
    dependencies=[Depends(require_dashboard)],
)

QUO_API_URL = "https://api.openphone.com"
FIELDS = frozenset(
    {
        "crm", "signin", "crm_token", "crm_base_url", "quo_api_key", "quo_base_url", "name",
        "line", "event_kinds", "auto_create_people", "allow_without_bulk", "submitted",
    }
)  # fmt: skip


def _providers(rt: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "display_name": p.display_name,
            "credential": p.credential,
            "oauth": signin.oauth_available(rt.settings, p.name),
            "token": "token" in p.auth.kinds,
        }
        for p in registry.all_providers()
    ]


def _form_page(
    request: Request, values: dict[str, Any], error: str = "", status: int = 200
) -> Response:
    rt = _rt(request)
    providers = _providers(rt)
    chosen = next((p for p in providers if p["name"] == values.get("crm")), None)
    sign_in = None
    if values.get("signin"):
        sign_in = signin.peek(rt.db, values["signin"], session_id=binding_of(request))
        if sign_in is not None and (sign_in.status != "authorized" or sign_in.crm != values["crm"]):
            sign_in = None
    context = {
        "title": "Add connection",
        "providers": providers,
        "chosen": chosen,
        "signed_in": sign_in is not None,
        "values": values,
        "kinds": list(QUO_EVENT_KINDS),
        "error": error,
    }
    return _page(request, "new_connection.html", context, status)


@router.get("/dashboard/connections/new")
async def new_connection(
    request: Request,
    crm: str | None = Query(None, max_length=32),
    signin_state: str | None = Query(None, alias="signin", max_length=100),
) -> Response:
    values = {
        "crm": crm if crm and registry.find(crm) else None,
        "signin": signin_state or "",
        "quo_base_url": QUO_API_URL,
        "event_kinds": list(QUO_EVENT_KINDS),
    }
    return _form_page(request, values)


@router.post("/dashboard/connections/new/quo-check.json")
async def quo_check(request: Request) -> Response:
    same_origin(request)
    form = await read_form(request)
    key = (form.get("quo_api_key") or [""])[0].strip()
    base = (form.get("quo_base_url") or [QUO_API_URL])[0].strip() or QUO_API_URL
    if not key:
        return _json({"ok": False, "message": "paste the Quo API key first"}, 400)
    try:
        found = await onboarding.check_quo_key(key, base, require_bulk=False)
    except onboarding.OnboardingRefused as exc:
        return _json({"ok": False, "message": str(exc)}, 400)
    return _json({"ok": True, **found.to_dict()})


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return _security_headers(JSONResponse(body, status_code=status))


@router.post("/dashboard/connections/new")
async def create_connection(request: Request) -> Response:
    same_origin(request)
    form = await read_form(request)
    unknown = sorted(set(form) - FIELDS)
    if unknown:
        raise DashboardError(400, f"Unknown form fields: {', '.join(unknown)}.")

    def one(name: str, default: str = "") -> str:
        return ((form.get(name) or [default])[0] or default).strip()

    crm = one("crm")
    lines = [x for x in form.get("line", []) if x]
    settings: dict[str, Any] = {
        "event_kinds": [k for k in form.get("event_kinds", []) if k],
        "auto_create_people": bool(form.get("auto_create_people")),
    }
    if lines:
        settings["enabled_lines"] = lines
    values = {
        "crm": crm if registry.find(crm) else None,
        "signin": one("signin"),
        "quo_base_url": one("quo_base_url", QUO_API_URL),
        "crm_base_url": one("crm_base_url"),
        "name": one("name"),
        "event_kinds": settings["event_kinds"],
        "auto_create_people": settings["auto_create_people"],
        "allow_without_bulk": bool(form.get("allow_without_bulk")),
    }
    rt = _rt(request)
    try:
        tokens = None
        if values["signin"]:
            tokens = await asyncio.to_thread(
                signin.claim,
                rt.db,
                rt.box,
                values["signin"],
                session_id=binding_of(request),
                crm=crm,
            )
        new = onboarding.NewConnection(
            crm=crm,
            quo_api_key=one("quo_api_key"),
            quo_base_url=values["quo_base_url"],
            crm_token=one("crm_token") or None,
            crm_base_url=values["crm_base_url"] or None,
            name=values["name"],
            settings=settings,
            require_bulk=not values["allow_without_bulk"],
        )
        if not new.quo_api_key:
            raise onboarding.OnboardingRefused("paste the Quo API key", "quo_api_key")
        created = await onboarding.create(rt.db, rt.box, new, tokens=tokens)
    except (onboarding.OnboardingRefused, SignInRefused) as exc:
        if tokens is not None:  # the sign-in was spent on a refused create: sign in again
            values["signin"] = ""
        return _form_page(request, values, str(exc), 400)
    return _redirect(_conn_url(created.info.id, flash="created"))
