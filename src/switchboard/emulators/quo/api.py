"""The public API routes (`/v1/...`, `/v2/webhooks...`) of the Quo emulator.

Handlers read raw query strings and bodies themselves (no FastAPI parameter models), so every
invalid input gets the spec's 4xx error body for its operation rather than FastAPI's 422.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams

from switchboard.emulators.quo.emulator import (
    MAX_EXTERNAL_IDS,
    WEBHOOK_KINDS,
    QuoEmulator,
    paginate,
)
from switchboard.emulators.quo.spec import error_body
from switchboard.emulators.quo.state import QuoError, Workspace, parse_iso

E164 = re.compile(r"^\+[1-9]\d{1,14}$")

Handler = Callable[[Request, Workspace], Awaitable[Any]]


def quo_error_response(operation: str, exc: QuoError) -> JSONResponse:
    if exc.body is not None:
        body = dict(exc.body)
    else:
        body = error_body(operation, exc.status, exc.message)
        if exc.errors:
            body["errors"] = exc.errors
    return JSONResponse(body, status_code=exc.status)


# ------------------------------------------------------------------ query helpers


def int_param(q: QueryParams, name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise QuoError(400, f"{name} must be an integer") from exc
    if not lo <= value <= hi:
        raise QuoError(400, f"{name} must be between {lo} and {hi}")
    return value


def str_param(q: QueryParams, name: str, pattern: str | None = None) -> str | None:
    values = q.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise QuoError(400, f"{name} must be given once")
    value = values[0]
    if pattern and not re.match(pattern, value):
        raise QuoError(400, f"{name} is invalid")
    return value


def time_param(q: QueryParams, name: str) -> float | None:
    raw = str_param(q, name)
    if raw is None:
        return None
    try:
        return parse_iso(raw)
    except (ValueError, OverflowError, OSError) as exc:
        raise QuoError(400, f"{name} must be an ISO 8601 date-time") from exc


def array_param(q: QueryParams, name: str, *, max_items: int | None = None) -> list[str]:
    """Array parameters are repeated keys (`a=1&a=2`); `a[0]=1` style keys turn the value into
    an object on the real server, which then rejects the request."""
    if any(k.startswith(name + "[") for k in q):
        raise QuoError(400, f"{name} must be an array (repeat the key)")
    values = q.getlist(name)
    if max_items is not None and len(values) > max_items:
        raise QuoError(400, f"{name} must be an array of at most {max_items} items")
    return values


def page_param(q: QueryParams) -> str | None:
    return str_param(q, "pageToken")


def within(ts: float, after: float | None, before: float | None) -> bool:
    return (after is None or ts >= after) and (before is None or ts < before)


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise QuoError(400, "Request body is required")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise QuoError(400, "Request body is not valid JSON") from exc


# ------------------------------------------------------------------ router


def build_router(emu: QuoEmulator) -> APIRouter:
    router = APIRouter()

    def op(
        method: str, path: str, operation: str, status: int = 200
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                try:
                    ws = emu.authenticate(request.headers.get("authorization"))
                    result = await fn(request, ws)
                except QuoError as exc:
                    return quo_error_response(operation, exc)
                if isinstance(result, Response):
                    return result
                if result is None:
                    return Response(status_code=status)
                return JSONResponse(result, status_code=status)

            endpoint.__name__ = operation
            router.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
            return fn

        return register

    # ---------------------------------------------------------------- calls

    def call_of(ws: Workspace, call_id: str) -> Any:
        if not call_id.startswith("AC"):
            raise QuoError(400, "callId must start with AC")
        call = ws.calls.get(call_id)
        if call is None:
            raise QuoError(404, "Call not found")
        return call

    @op("GET", "/v1/calls", "listCalls_v1")
    async def list_calls(request: Request, ws: Workspace) -> Any:
        q = request.query_params
        pn = str_param(q, "phoneNumberId", r"^PN")
        if pn is None:
            raise QuoError(400, "phoneNumberId is required")
        participants = array_param(q, "participants")
        if len(participants) != 1:
            raise QuoError(400, "participants must hold exactly one phone number")
        user = str_param(q, "userId", r"^US")
        since = time_param(q, "since")
        after = time_param(q, "createdAfter")
        before = time_param(q, "createdBefore")
        max_results = int_param(q, "maxResults", 10, 1, 100)
        token = page_param(q)
        if pn not in ws.phone_numbers:
            raise QuoError(404, "Phone number not found")
        calls = [
            c
            for c in ws.calls.values()
            if c.phone_number_id == pn
            and participants[0] in c.participants
            and (user is None or c.user_id == user)
            and (since is None or c.created_at >= since)
            and within(c.created_at, after, before)
        ]
        calls.sort(key=lambda c: c.created_at, reverse=True)
        if any(len(c.participants) > 2 for c in calls):
            raise QuoError(400, "Too Many Participants")
        page, nxt = paginate(calls, max_results, token)
        return {"data": [c.to_api() for c in page], "totalItems": len(calls), "nextPageToken": nxt}

    @op("GET", "/v1/calls/{callId}", "getCallById_v1")
    async def get_call(request: Request, ws: Workspace) -> Any:
        call = call_of(ws, request.path_params["callId"])
        if len(call.participants) > 2:
            raise QuoError(400, "Too Many Participants")
        return {"data": call.to_api()}

    @op("GET", "/v1/call-recordings/{callId}", "getCallRecordings_v1")
    async def get_recordings(request: Request, ws: Workspace) -> Any:
        call = call_of(ws, request.path_params["callId"])
        now = emu.clock()
        return {"data": [r.to_api(now) for r in call.recordings]}

    @op("GET", "/v1/call-summaries/{callId}", "getCallSummary_v1")
    async def get_summary(request: Request, ws: Workspace) -> Any:
        call = call_of(ws, request.path_params["callId"])
        if call.summary is None:
            raise QuoError(404, "Call summary not found")
        return {"data": call.summary.to_api(call.id, emu.clock())}

    @op("GET", "/v1/call-transcripts/{id}", "getCallTranscript_v1")
    async def get_transcript(request: Request, ws: Workspace) -> Any:
        call = call_of(ws, request.path_params["id"])
        if call.transcript is None:
            raise QuoError(404, "Call transcript not found")
        return {"data": call.transcript.to_api(call.id, emu.clock())}

    @op("GET", "/v1/call-voicemails/{callId}", "getCallVoicemails_v1")
    async def get_voicemail(request: Request, ws: Workspace) -> Any:
        call = call_of(ws, request.path_params["callId"])
        if call.voicemail is None:
            raise QuoError(404, "Voicemail not found")
        return {"data": call.voicemail.to_api(emu.clock())}

    # ---------------------------------------------------------------- contacts

    @op("GET", "/v1/contact-custom-fields", "getContactCustomFields_v1")
    async def custom_fields(request: Request, ws: Workspace) -> Any:
        return {"data": [f.to_api() for f in ws.custom_fields.values()]}

    @op("POST", "/v1/contacts/bulk", "bulkCreateContacts", status=202)
    async def bulk_create(request: Request, ws: Workspace) -> Any:
        if ws.bulk == "missing":
            raise QuoError(404, "Not Found")
        emu.bulk_create(ws, await json_body(request))
        return Response(status_code=202)

    @op("POST", "/v1/contacts", "createContact_v1", status=201)
    async def create_contact(request: Request, ws: Workspace) -> Any:
        contact = emu.create_contact(ws, await json_body(request))
        return {"data": contact.to_api()}

    @op("GET", "/v1/contacts", "listContacts_v1")
    async def list_contacts(request: Request, ws: Workspace) -> Any:
        q = request.query_params
        external_ids = array_param(q, "externalIds", max_items=MAX_EXTERNAL_IDS)
        sources = array_param(q, "sources")
        for value in [*external_ids, *sources]:
            if not 1 <= len(value) <= 75:
                raise QuoError(400, "externalIds and sources items must be 1-75 characters")
        max_results = int_param(q, "maxResults", 10, 1, 50)
        token = page_param(q)
        contacts = emu.find_contacts(ws, external_ids, sources)
        page, nxt = paginate(contacts, max_results, token)
        return {
            "data": [c.to_api() for c in page],
            "totalItems": len(contacts),
            "nextPageToken": nxt,
        }

    @op("GET", "/v1/contacts/{id}", "getContactById_v1")
    async def get_contact(request: Request, ws: Workspace) -> Any:
        return {"data": emu.get_contact(ws, request.path_params["id"]).to_api()}

    @op("PATCH", "/v1/contacts/{id}", "updateContactById_v1")
    async def update_contact(request: Request, ws: Workspace) -> Any:
        body = await json_body(request)
        return {"data": emu.update_contact(ws, request.path_params["id"], body).to_api()}

    @op("DELETE", "/v1/contacts/{id}", "deleteContact_v1", status=204)
    async def delete_contact(request: Request, ws: Workspace) -> Any:
        emu.delete_contact(ws, request.path_params["id"])
        return None

    # ---------------------------------------------------------------- conversations

    @op("GET", "/v1/conversations", "listConversations_v1")
    async def list_conversations(request: Request, ws: Workspace) -> Any:
        q = request.query_params
        single = str_param(q, "phoneNumber")
        many = array_param(q, "phoneNumbers", max_items=100)
        refs = [*([single] if single else []), *many]
        pn_ids: set[str] = set()
        for ref in refs:
            if not (E164.match(ref) or ref.startswith("PN")):
                raise QuoError(400, "phoneNumbers items must be E.164 numbers or PN ids")
            pn = ws.phone_number(ref)
            pn_ids.add(pn.id if pn else ref)
        user = str_param(q, "userId", r"^US")
        exclude_inactive = str_param(q, "excludeInactive")
        if exclude_inactive not in (None, "true", "false"):
            raise QuoError(400, "excludeInactive must be true or false")
        c_after, c_before = time_param(q, "createdAfter"), time_param(q, "createdBefore")
        u_after, u_before = time_param(q, "updatedAfter"), time_param(q, "updatedBefore")
        max_results = int_param(q, "maxResults", 10, 1, 100)
        token = page_param(q)
        user_lines = (
            {p.id for p in ws.phone_numbers.values() if user in p.user_ids} if user else None
        )
        convs = [
            c
            for c in ws.conversations.values()
            if (not refs or c.phone_number_id in pn_ids)
            and (user_lines is None or c.phone_number_id in user_lines)
            and within(c.created_at, c_after, c_before)
            and within(c.updated_at, u_after, u_before)
        ]
        convs.sort(key=lambda c: c.last_activity_at, reverse=True)
        page, nxt = paginate(convs, max_results, token)
        return {"data": [c.to_api() for c in page], "totalItems": len(convs), "nextPageToken": nxt}

    # ---------------------------------------------------------------- messages

    @op("POST", "/v1/messages", "sendMessage_v1", status=202)
    async def send_message(request: Request, ws: Workspace) -> Any:
        msg = emu.send_message(ws, await json_body(request))
        emu.spawn(emu.deliver_sent_message(ws, msg))
        return {"data": msg.to_api()}

    @op("GET", "/v1/messages", "listMessages_v1")
    async def list_messages(request: Request, ws: Workspace) -> Any:
        q = request.query_params
        pn = str_param(q, "phoneNumberId", r"^PN")
        if pn is None:
            raise QuoError(400, "phoneNumberId is required")
        participants = array_param(q, "participants")
        if not participants:
            raise QuoError(400, "participants is required")
        if not all(E164.match(p) for p in participants):
            raise QuoError(400, "participants must be E.164 phone numbers")
        user = str_param(q, "userId", r"^US")
        since = time_param(q, "since")
        after, before = time_param(q, "createdAfter"), time_param(q, "createdBefore")
        max_results = int_param(q, "maxResults", 10, 1, 100)
        token = page_param(q)
        if pn not in ws.phone_numbers:
            raise QuoError(404, "Phone number not found")
        wanted = set(participants)
        msgs = [
            m
            for m in ws.messages.values()
            if m.phone_number_id == pn
            and wanted.intersection([m.from_, *m.to])
            and (user is None or m.user_id == user)
            and (since is None or m.created_at >= since)
            and within(m.created_at, after, before)
        ]
        msgs.sort(key=lambda m: m.created_at, reverse=True)
        page, nxt = paginate(msgs, max_results, token)
        return {"data": [m.to_api() for m in page], "totalItems": len(msgs), "nextPageToken": nxt}

    @op("GET", "/v1/messages/{id}", "getMessageById_v1")
    async def get_message(request: Request, ws: Workspace) -> Any:
        msg = ws.messages.get(request.path_params["id"])
        if msg is None:
            raise QuoError(404, "Message not found")
        return {"data": msg.to_api()}

    # ---------------------------------------------------------------- phone numbers, users

    @op("GET", "/v1/phone-numbers", "listPhoneNumbers_v1")
    async def list_numbers(request: Request, ws: Workspace) -> Any:
        user = str_param(request.query_params, "userId", r"^US")
        numbers = [p for p in ws.phone_numbers.values() if user is None or user in p.user_ids]
        return {"data": [p.to_api(ws.users) for p in numbers]}

    @op("GET", "/v1/phone-numbers/{phoneNumberId}", "getPhoneNumberById_v1")
    async def get_number(request: Request, ws: Workspace) -> Any:
        pid = request.path_params["phoneNumberId"]
        if not pid.startswith("PN"):
            raise QuoError(400, "phoneNumberId must start with PN")
        pn = ws.phone_numbers.get(pid)
        if pn is None:
            raise QuoError(404, "Phone number not found")
        return {"data": pn.to_api(ws.users)}

    @op("GET", "/v1/users", "listUsers_v1")
    async def list_users(request: Request, ws: Workspace) -> Any:
        q = request.query_params
        max_results = int_param(q, "maxResults", 10, 1, 50)
        users = list(ws.users.values())
        page, nxt = paginate(users, max_results, page_param(q))
        return {"data": [u.to_api() for u in page], "totalItems": len(users), "nextPageToken": nxt}

    @op("GET", "/v1/users/{userId}", "getUserById_v1")
    async def get_user(request: Request, ws: Workspace) -> Any:
        uid = request.path_params["userId"]
        if not uid.startswith("US"):
            # AI agent ids (SY...) and anything else that is not a user id.
            raise QuoError(400, "userId must be a user id (US...)")
        user = ws.users.get(uid)
        if user is None:
            raise QuoError(404, "User not found")
        return {"data": user.to_api()}

    # ---------------------------------------------------------------- webhooks (v1 and v2)

    for version in (1, 2):
        prefix = f"/v{version}/webhooks"
        suffix = f"_v{version}"
        _webhook_routes(op, emu, prefix, suffix, version)

    return router


def _webhook_routes(
    op: Callable[..., Callable[[Handler], Handler]],
    emu: QuoEmulator,
    prefix: str,
    suffix: str,
    version: int,
) -> None:
    def guard() -> None:
        if version == 2 and emu.settings.profile == "dev-2025-11":
            raise QuoError(
                500,
                body={
                    "message": "An unknown error occurred while fetching webhooks",
                    "code": "0301500",
                    "status": 500,
                },
            )

    @op("GET", prefix, "listWebhooks" + suffix)
    async def list_webhooks(request: Request, ws: Workspace) -> Any:
        guard()
        user = str_param(request.query_params, "userId", r"^US")
        hooks = [
            h
            for h in ws.webhooks.values()
            if h.version != 3 and (user is None or h.user_id == user)
        ]
        return {"data": [h.to_api() for h in hooks]}

    @op("GET", prefix + "/{id}", "getWebhookById" + suffix)
    async def get_webhook(request: Request, ws: Workspace) -> Any:
        guard()
        wid = request.path_params["id"]
        if not wid.startswith("WH"):
            raise QuoError(400, "id must start with WH")
        return {"data": emu.get_webhook(ws, wid).to_api()}

    @op("DELETE", prefix + "/{id}", "deleteWebhookById" + suffix, status=204)
    async def delete_webhook(request: Request, ws: Workspace) -> Any:
        guard()
        wid = request.path_params["id"]
        if not wid.startswith("WH"):
            raise QuoError(400, "id must start with WH")
        hook = emu.get_webhook(ws, wid)
        del ws.webhooks[hook.id]
        return None

    names = {
        "messages": "createMessageWebhook",
        "calls": "createCallWebhook",
        "call-summaries": "createCallSummaryWebhook",
        "call-transcripts": "createCallTranscriptWebhook",
    }
    for kind in WEBHOOK_KINDS:

        def make(kind: str) -> Handler:
            async def create(request: Request, ws: Workspace) -> Any:
                guard()
                body = await json_body(request)
                return {"data": emu.create_webhook(ws, kind, body, version=version).to_api()}

            return create

        op("POST", f"{prefix}/{kind}", names[kind] + suffix, status=201)(make(kind))
