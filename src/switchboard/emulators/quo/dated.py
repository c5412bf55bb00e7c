"""The dated API generation (`2026-03-30`): unprefixed paths, served by that profile only.

Every request needs `Quo-Api-Version: 2026-03-30` (or the beta pages' `x-quo-api-version`):
400 without. Lists take `limit` (1-50, default 10) and `after=<cursor>` and answer
`{data, nextCursor}`. Webhooks are one resource for every event family (`/webhooks`), with
enable/disable, rotate, test events, delivery history and retry. Sending messages stays on v1.
Error bodies follow the documented envelope `{title, message, docs, trace, errors}`
(UNCONFIRMED: the `datedErrorEnvelope` knob switches to the v1 body).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from switchboard.emulators.quo import spec
from switchboard.emulators.quo.api import json_body, str_param
from switchboard.emulators.quo.emulator import QuoEmulator
from switchboard.emulators.quo.state import DATED_VERSION, QuoError, Workspace

VERSION_HEADERS = ("quo-api-version", "x-quo-api-version")
DOCS = "https://www.quo.com/docs"
SUFFIX = "_2026"

Handler = Callable[[Request, Workspace], Awaitable[Any]]

# (method, path regex, operation) of every dated route: the request log, faults and the rate
# limiter name operations with these.
ROUTES: list[tuple[str, str, str]] = []


def operation_of(method: str, path: str) -> str | None:
    for m, rx, op in ROUTES:
        if m == method and re.fullmatch(rx, path):
            return op
    return None


def error_body(
    emu: QuoEmulator, operation: str, status: int, message: str | None, errors: Any = None
) -> dict[str, Any]:
    if emu.settings.dated_error_envelope == "v1":
        return spec.error_body(operation, status, message)
    title = spec.STATUS_TITLES.get(status, "Error")
    return {
        "title": title,
        "message": message or title,
        "docs": DOCS,
        "trace": uuid.uuid4().hex,
        "errors": errors or [],
    }


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"c:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("c:") or int(raw[2:]) < 0:
            raise ValueError(raw)
        return int(raw[2:])
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise QuoError(400, "Invalid cursor") from exc


def cursor_page(request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """`{data, nextCursor}` for `limit` (1-50, default 10) and `after`."""
    q = request.query_params
    raw = q.get("limit")
    try:
        limit = 10 if raw in (None, "") else int(raw)
    except ValueError as exc:
        raise QuoError(400, "limit must be an integer") from exc
    if not 1 <= limit <= 50:
        raise QuoError(400, "limit must be between 1 and 50")
    start = decode_cursor(str_param(q, "after"))
    end = start + limit
    return {
        "data": items[start:end],
        "nextCursor": encode_cursor(end) if end < len(items) else None,
    }


def build_dated_router(emu: QuoEmulator) -> APIRouter:
    router = APIRouter()

    def op(
        method: str, path: str, operation: str, status: int = 200
    ) -> Callable[[Handler], Handler]:
        operation += SUFFIX
        route = (method, re.sub(r"\{[^}]+\}", "[^/]+", path), operation)
        if route not in ROUTES:
            ROUTES.append(route)

        def register(fn: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                try:
                    # Keys are checked first (a fresh key answers 401 on every path), then
                    # whether this profile serves the generation at all.
                    ws = emu.authenticate(request.headers.get("authorization"))
                    if emu.settings.profile != DATED_VERSION:
                        raise QuoError(404, "Not Found")
                    version = next(
                        (request.headers[h] for h in VERSION_HEADERS if h in request.headers), None
                    )
                    if version != DATED_VERSION:
                        raise QuoError(
                            400,
                            f"The Quo-Api-Version header must be {DATED_VERSION}",
                            errors=[
                                {
                                    "path": "headers.Quo-Api-Version",
                                    "message": "required",
                                    "value": version,
                                    "schema": {"const": DATED_VERSION},
                                }
                            ],
                        )
                    result = await fn(request, ws)
                except QuoError as exc:
                    body = exc.body or error_body(
                        emu, operation, exc.status, exc.message, exc.errors
                    )
                    return JSONResponse(body, status_code=exc.status)
                if isinstance(result, Response):
                    return result
                if result is None:
                    return Response(status_code=status)
                return JSONResponse(result, status_code=status)

            endpoint.__name__ = operation
            router.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
            return fn

        return register

    # ---------------------------------------------------------------- users, phone numbers

    @op("GET", "/users", "listUsers")
    async def list_users(request: Request, ws: Workspace) -> Any:
        return cursor_page(request, [u.to_api() for u in ws.users.values()])

    @op("GET", "/users/{userId}", "getUserById")
    async def get_user(request: Request, ws: Workspace) -> Any:
        user = ws.users.get(request.path_params["userId"])
        if user is None:
            raise QuoError(404, "User not found")
        return {"data": user.to_api()}

    @op("GET", "/users/{userId}/phone-numbers", "listUserPhoneNumbers")
    async def user_numbers(request: Request, ws: Workspace) -> Any:
        uid = request.path_params["userId"]
        if uid not in ws.users:
            raise QuoError(404, "User not found")
        numbers = [p.to_api(ws.users) for p in ws.phone_numbers.values() if uid in p.user_ids]
        return cursor_page(request, numbers)

    @op("GET", "/phone-numbers", "listPhoneNumbers")
    async def list_numbers(request: Request, ws: Workspace) -> Any:
        return cursor_page(request, [p.to_api(ws.users) for p in ws.phone_numbers.values()])

    @op("GET", "/phone-numbers/{id}", "getPhoneNumberById")
    async def get_number(request: Request, ws: Workspace) -> Any:
        pn = ws.phone_numbers.get(request.path_params["id"])
        if pn is None:
            raise QuoError(404, "Phone number not found")
        return {"data": pn.to_api(ws.users)}

    # ---------------------------------------------------------------- contacts

    @op("GET", "/contacts", "listContacts")
    async def list_contacts(request: Request, ws: Workspace) -> Any:
        contacts = emu.find_contacts(ws, request.query_params.getlist("externalIds"), [])
        return cursor_page(request, [c.to_api() for c in contacts])

    @op("POST", "/contacts", "createContact", status=201)
    async def create_contact(request: Request, ws: Workspace) -> Any:
        return {"data": emu.create_contact(ws, await json_body(request)).to_api()}

    @op("GET", "/contacts/{contactId}", "getContactById")
    async def get_contact(request: Request, ws: Workspace) -> Any:
        return {"data": emu.get_contact(ws, request.path_params["contactId"]).to_api()}

    @op("PATCH", "/contacts/{contactId}", "updateContactById")
    async def update_contact(request: Request, ws: Workspace) -> Any:
        body = await json_body(request)
        return {"data": emu.update_contact(ws, request.path_params["contactId"], body).to_api()}

    @op("DELETE", "/contacts/{contactId}", "deleteContact", status=204)
    async def delete_contact(request: Request, ws: Workspace) -> Any:
        emu.delete_contact(ws, request.path_params["contactId"])
        return None

    # ---------------------------------------------------------------- messages (read only)

    def message_of(ws: Workspace, message_id: str) -> Any:
        msg = ws.messages.get(message_id)
        if msg is None:
            raise QuoError(404, "Message not found")
        return msg

    @op("GET", "/messages", "listMessages")
    async def list_messages(request: Request, ws: Workspace) -> Any:
        pn = str_param(request.query_params, "phoneNumberId")
        msgs = sorted(
            (m for m in ws.messages.values() if pn is None or m.phone_number_id == pn),
            key=lambda m: m.created_at,
            reverse=True,
        )
        return cursor_page(request, [m.to_api() for m in msgs])

    @op("GET", "/messages/{id}", "getMessageById")
    async def get_message(request: Request, ws: Workspace) -> Any:
        return {"data": message_of(ws, request.path_params["id"]).to_api()}

    @op("POST", "/messages/{id}/read", "markMessageRead")
    async def mark_read(request: Request, ws: Workspace) -> Any:
        return {"data": {**message_of(ws, request.path_params["id"]).to_api(), "read": True}}

    @op("POST", "/messages/{id}/done", "markMessageDone")
    async def mark_done(request: Request, ws: Workspace) -> Any:
        return {"data": {**message_of(ws, request.path_params["id"]).to_api(), "done": True}}

    # ---------------------------------------------------------------- calls (UNCONFIRMED)

    def call_of(ws: Workspace, call_id: str) -> Any:
        if emu.settings.dated_calls != "served":
            raise QuoError(404, "Not Found")
        call = ws.calls.get(call_id)
        if call is None:
            raise QuoError(404, "Call not found")
        return call

    @op("GET", "/calls/{callId}", "getCallById")
    async def get_call(request: Request, ws: Workspace) -> Any:
        return {"data": call_of(ws, request.path_params["callId"]).to_api()}

    @op("GET", "/call-voicemails/{callId}", "getCallVoicemails")
    async def get_voicemail(request: Request, ws: Workspace) -> Any:
        call = call_of(ws, request.path_params["callId"])
        if call.voicemail is None:
            raise QuoError(404, "Voicemail not found")
        return {"data": call.voicemail.to_api(emu.clock())}

    # ---------------------------------------------------------------- webhooks

    @op("GET", "/webhooks", "listWebhooks")
    async def list_webhooks(request: Request, ws: Workspace) -> Any:
        hooks = [h.to_dated() for h in ws.webhooks.values() if h.version == 3]
        return cursor_page(request, hooks)

    @op("POST", "/webhooks", "createWebhook", status=201)
    async def create_webhook(request: Request, ws: Workspace) -> Any:
        return {"data": emu.create_dated_webhook(ws, await json_body(request)).to_dated()}

    @op("GET", "/webhooks/{id}", "getWebhookById")
    async def get_webhook(request: Request, ws: Workspace) -> Any:
        return {"data": emu.get_dated_webhook(ws, request.path_params["id"]).to_dated()}

    @op("PATCH", "/webhooks/{id}", "updateWebhookById")
    async def update_webhook(request: Request, ws: Workspace) -> Any:
        body = await json_body(request)
        return {"data": emu.update_dated_webhook(ws, request.path_params["id"], body).to_dated()}

    @op("DELETE", "/webhooks/{id}", "deleteWebhookById", status=204)
    async def delete_webhook(request: Request, ws: Workspace) -> Any:
        hook = emu.get_dated_webhook(ws, request.path_params["id"])
        del ws.webhooks[hook.id]
        return None

    @op("POST", "/webhooks/{id}/rotate", "rotateWebhookSecret")
    async def rotate(request: Request, ws: Workspace) -> Any:
        return {"data": emu.rotate_webhook(ws, request.path_params["id"]).to_dated()}

    @op("POST", "/webhooks/{id}/events/test", "sendTestEvent", status=202)
    async def test_event(request: Request, ws: Workspace) -> Any:
        raw = await request.body()
        body = await json_body(request) if raw.strip() else {}
        event = emu.send_test_event(ws, request.path_params["id"], body)
        return {"data": event.to_api()}

    @op("GET", "/webhooks/{id}/events", "listWebhookEvents")
    async def list_events(request: Request, ws: Workspace) -> Any:
        hook = emu.get_dated_webhook(ws, request.path_params["id"])
        return cursor_page(request, [e.to_api() for e in reversed(hook.history)])

    @op("GET", "/webhooks/{id}/events/{eventId}", "getWebhookEvent")
    async def get_event(request: Request, ws: Workspace) -> Any:
        p = request.path_params
        return {"data": emu.webhook_event(ws, p["id"], p["eventId"]).to_api(with_payload=True)}

    @op("POST", "/webhooks/{id}/events/{eventId}/retry", "retryWebhookEvent", status=202)
    async def retry(request: Request, ws: Workspace) -> Any:
        p = request.path_params
        return {"data": emu.retry_event(ws, p["id"], p["eventId"]).to_api()}

    return router
