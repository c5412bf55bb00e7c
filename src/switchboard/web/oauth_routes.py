"""Sign in at a CRM from the browser: `GET /oauth/start` and `GET /oauth/callback`.

`/oauth/start?crm=<crm>[&connection_id=<id>]` (admin only) records a sign-in and redirects to the
CRM's consent page. The sign-in is bound to this browser by a random `sb_oauth` cookie: the
dashboard's session cookie is SameSite=Strict and is therefore not sent on the CRM's redirect
back, so the binding cookie is Lax, HttpOnly and scoped to `/`. `/oauth/callback` accepts only a
`state` this browser started, once (`switchboard.oauth.signin`), exchanges the code, and then
either re-authorises the connection the sign-in was for (its waiting events are replayed) or
hands the tokens to the "Add connection" form (or, for a sign-in started by `switchboard
connect <crm> --oauth`, to the waiting terminal). It answers with a small page that moves on to the
dashboard by itself: a navigation started by our own page carries the Strict session cookie,
the redirect chain from the CRM would not.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from switchboard import connections, onboarding
from switchboard.oauth import CALLBACK_PATH, SignInRefused, signin
from switchboard.web import security

BINDING_COOKIE = "sb_oauth"

router = APIRouter(include_in_schema=False)


def binding_of(request: Request) -> str:
    """This browser's sign-in binding ('' when it has none)."""
    return request.cookies.get(BINDING_COOKIE, "")


def _page(
    title: str, message: str, next_url: str, status: int = 200, *, move_on: bool = True
) -> HTMLResponse:
    refresh = (
        f'<meta http-equiv="refresh" content="0;url={html.escape(next_url)}">'
        if status == 200 and move_on
        else ""
    )
    body = (
        f"<!doctype html><html><head><title>{html.escape(title)}</title>{refresh}</head><body>"
        f'<p id="oauth-message">{html.escape(message)}</p>'
        f'<p><a id="oauth-next" href="{html.escape(next_url)}">Continue</a></p></body></html>'
    )
    return HTMLResponse(body, status_code=status)


@router.get("/oauth/start", dependencies=[Depends(security.require_admin)])
async def start(
    request: Request,
    crm: str = Query(..., max_length=32),
    connection_id: str | None = Query(None, max_length=64),
) -> Response:
    rt = request.app.state.runtime
    if connection_id is not None:
        await asyncio.to_thread(connections.get_connection, rt.db, connection_id)
    binding = binding_of(request) or secrets.token_urlsafe(32)
    try:
        url = await asyncio.to_thread(
            signin.begin,
            rt.db,
            rt.box,
            rt.settings,
            crm=crm,
            session_id=binding,
            connection_id=connection_id,
        )
    except SignInRefused as exc:
        return _page("Sign-in unavailable", str(exc), "/dashboard/connections/new", 400)
    resp = RedirectResponse(url, status_code=303)
    resp.set_cookie(
        BINDING_COOKIE,
        binding,
        httponly=True,
        samesite="lax",
        secure=str(rt.settings.public_url).startswith("https://"),
        path="/",
        max_age=signin.STATE_TTL_S * 6,
    )
    return resp


@router.get(CALLBACK_PATH)
async def callback(request: Request) -> Response:
    rt = request.app.state.runtime
    query = {k: v[:2000] for k, v in request.query_params.items()}
    back = "/dashboard/connections/new"
    try:
        done = await signin.complete(
            rt.db, rt.box, rt.settings, query, session_id=binding_of(request)
        )
    except SignInRefused as exc:
        return _page("Sign-in refused", str(exc), back, 400)
    if done.terminal:  # `switchboard connect --oauth` claims the tokens and says what follows
        return _page(
            "Signed in", "Signed in; return to your terminal.", "/dashboard", move_on=False
        )
    if done.connection_id is None:
        target = f"{back}?{urlencode({'crm': done.crm, 'signin': done.state})}"
        return _page("Signed in", "Signed in; back to the new connection…", target)
    return await _reauthorise(request, done.connection_id, done.state, done.crm)


async def _reauthorise(request: Request, connection_id: str, state: str, crm: str) -> Response:
    rt: Any = request.app.state.runtime
    page = f"/dashboard/connections/{connection_id}"
    try:
        tokens = await asyncio.to_thread(
            signin.claim, rt.db, rt.box, state, session_id=binding_of(request), crm=crm
        )
        info = await asyncio.to_thread(connections.get_connection, rt.db, connection_id)
        replayed = await onboarding.rotate_credentials(rt.db, rt.box, info, tokens=tokens)
    except (SignInRefused, onboarding.OnboardingRefused) as exc:
        return _page("Sign-in refused", str(exc), page, 400)
    return _page("Signed in again", f"Signed in again; {replayed} waiting events resumed.", page)
