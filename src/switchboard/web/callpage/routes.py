"""Routes of the call page (see the package docstring)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from switchboard import connections, phones
from switchboard.activity import intents
from switchboard.connections import ConnectionInfo
from switchboard.crm.base import Person
from switchboard.logs import get_logger
from switchboard.web.callpage import clients, link_secret, proofs, view

log = get_logger("switchboard.web.callpage")

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
STATIC_FILES = {"callpage.js": "text/javascript", "callpage.css": "text/css"}
LINE_COOKIE = "sb_call_line"
_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,100}$")
# The page links only to our own static files and talks only to its own origin; tel: and
# openphone: are navigations, not fetches.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors *"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


class Refused(Exception):
    """No valid proof: the 403 page, whatever the reason (logged, never shown)."""


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def _refused(request: Request, why: str) -> HTMLResponse:
    log.info("call page refused", path=request.url.path, reason=why)
    return templates.TemplateResponse(request, "refused.html", {}, status_code=403, headers=HEADERS)


def _page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, ctx, status_code=status, headers=HEADERS)


async def _connection(request: Request, connection_id: str) -> ConnectionInfo:
    if not _ID.match(connection_id):
        raise Refused("malformed connection id")
    db = _runtime(request).db
    info = await asyncio.to_thread(connections.find_connection, db, connection_id)
    if info is None or info.disconnected_at is not None or info.status == "disconnected":
        raise Refused("unknown or disconnected connection")
    return info


async def _secret(request: Request, connection_id: str) -> str:
    rt = _runtime(request)
    return await asyncio.to_thread(link_secret.current, rt.db, rt.box, connection_id)


async def _person(connection_id: str, person_id: str) -> Person | None:
    hit, person = view.cached_person(connection_id, person_id)
    if hit:
        return person
    page_clients = await clients.clients_for(connection_id)
    person = await page_clients.crm.get_person(person_id)
    assert person is None or isinstance(person, Person)
    view.remember_person(connection_id, person_id, person)
    return person


async def _lines(connection_id: str) -> list[view.Line]:
    page_clients = await clients.clients_for(connection_id)
    return view.lines_from_quo(await page_clients.phone_numbers())


async def _render(
    request: Request, info: ConnectionInfo, person_id: str, secret: str
) -> HTMLResponse:
    person = await _person(info.id, person_id)
    if person is None:
        return _page(
            request, "message.html", {"message": "This person no longer exists in the CRM."}, 404
        )
    lines = await _lines(info.id)
    line = view.choose_line(
        lines,
        request.cookies.get(LINE_COOKIE),
        info.settings.get("click_to_call_default_line"),
    )
    mobile = view.is_mobile(request.headers.get("user-agent"))
    numbers = [{"phone": p, "href": view.dial_link(p, line, mobile)} for p in person.phones]
    ctx = {
        "name": view.display_name(person),
        "numbers": numbers,
        "lines": lines,
        "line": line,
        "mobile": mobile,
        "connection_id": info.id,
        "person_id": person.id,
        "click_token": link_secret.click_token(secret, info.id, person.id),
        "cookie": LINE_COOKIE,
    }
    return _page(request, "call.html", ctx)


@router.get("/call/_static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response("not found", 404)
    body = (HERE / "static" / name).read_bytes()
    return Response(body, media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=300"})


@router.get("/call/{connection_id}/{person_id}")
async def call_page(request: Request, connection_id: str, person_id: str) -> Response:
    """The call page, proven by the link secret in `k`."""
    try:
        info = await _connection(request, connection_id)
        secret = await _secret(request, info.id)
        if not link_secret.matches(secret, request.query_params.get("k")):
            raise Refused("missing or wrong link secret")
        if not _ID.match(person_id):
            raise Refused("malformed person id")
    except Refused as exc:
        return _refused(request, str(exc))
    return await _render(request, info, person_id, secret)


@router.get("/call/{connection_id}")
async def call_page_signed(request: Request, connection_id: str) -> Response:
    """The call page, proven by the CRM's own signed request (`proofs`)."""
    try:
        info = await _connection(request, connection_id)
        check = proofs.check_for(info.crm)
        if check is None:
            raise Refused(f"{info.crm} has no signed proof; the URL needs the link secret")
        try:
            person_id = await check(dict(request.query_params), info)
        except proofs.ProofRefused as exc:
            raise Refused(str(exc)) from exc
        if not _ID.match(person_id):
            raise Refused("malformed person id")
        secret = await _secret(request, info.id)
    except Refused as exc:
        return _refused(request, str(exc))
    return await _render(request, info, person_id, secret)


class ClickBody(BaseModel):
    token: str = Field(max_length=200)
    phone: str = Field(max_length=40)
    line: str = Field(max_length=64)


@router.post("/call/{connection_id}/{person_id}/click")
async def click(request: Request, connection_id: str, person_id: str, body: ClickBody) -> Response:
    """Record a click (from the page's script) so the outgoing call lands on this person."""
    try:
        info = await _connection(request, connection_id)
        secret = await _secret(request, info.id)
        if not link_secret.click_token_valid(secret, info.id, person_id, body.token):
            raise Refused("bad click token")
    except Refused as exc:
        log.info("call click refused", connection=connection_id, reason=str(exc))
        return Response(status_code=403)
    person = await _person(info.id, person_id)
    phone = phones.normalise(body.phone, info.settings.get("default_region") or "US")
    if person is None or phone is None or phone not in person.phones:
        return Response(status_code=409)
    if body.line not in {ln.id for ln in await _lines(info.id)}:
        return Response(status_code=409)
    rt = _runtime(request)
    await asyncio.to_thread(
        intents.record_click,
        rt.db,
        info.id,
        person_id=person_id,
        phone=phone,
        line_id=body.line,
        person_name=view.display_name(person),
    )
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
