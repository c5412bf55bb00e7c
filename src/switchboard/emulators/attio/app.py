"""The Attio emulator as an ASGI app: Attio's REST API under `/v2`, the OAuth token endpoint, and
the control surface under `/_emulator` (see `control.py` and docs/emulators.md).

Every `/v2` request passes through the common `EmulatorMiddleware` (request log, faults, rate
limits). Rate-limit keys are `<workspace id>:read` / `<workspace id>:write`, so the request log
counts reads and writes per workspace separately; `POST .../records/query` is a read. A 429 (or
any fault with a retry hint) carries `Retry-After` as an HTTP date, as Attio sends it.

Over 600 lines on purpose: one route per Attio endpoint the connector uses, kept side by side
with Attio's documented request and error shapes so a reader can check them against the spec.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchboard.emulators.attio.control import control_router
from switchboard.emulators.attio.emulator import AttioEmulator, Token
from switchboard.emulators.attio.errors import (
    AttioError,
    not_found,
    parse_json,
    unauthorized,
    validation_type,
)
from switchboard.emulators.attio.values import Actor, format_ts
from switchboard.emulators.attio.workspace import Workspace
from switchboard.emulators.common import (
    ASGIApp,
    EmulatorMiddleware,
    Message,
    Receive,
    Scope,
    Send,
)

# (method, path regex, operation name); reads are GETs and the records query.
OPERATIONS: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), op)
    for m, p, op in [
        ("GET", r"^/v2/self$", "getSelf"),
        ("GET", r"^/v2/objects$", "listObjects"),
        ("POST", r"^/v2/objects$", "createObject"),
        ("GET", r"^/v2/objects/[^/]+$", "getObject"),
        ("GET", r"^/v2/[^/]+/[^/]+/attributes$", "listAttributes"),
        ("POST", r"^/v2/[^/]+/[^/]+/attributes$", "createAttribute"),
        ("GET", r"^/v2/[^/]+/[^/]+/attributes/[^/]+$", "getAttribute"),
        ("POST", r"^/v2/objects/[^/]+/records/query$", "queryRecords"),
        ("POST", r"^/v2/objects/[^/]+/records$", "createRecord"),
        ("PUT", r"^/v2/objects/[^/]+/records$", "assertRecord"),
        ("GET", r"^/v2/objects/[^/]+/records/[^/]+$", "getRecord"),
        ("PATCH", r"^/v2/objects/[^/]+/records/[^/]+$", "updateRecordAppend"),
        ("PUT", r"^/v2/objects/[^/]+/records/[^/]+$", "updateRecordOverwrite"),
        ("DELETE", r"^/v2/objects/[^/]+/records/[^/]+$", "deleteRecord"),
        (
            "GET",
            r"^/v2/objects/[^/]+/records/[^/]+/attributes/[^/]+/values$",
            "listRecordAttributeValues",
        ),
        ("GET", r"^/v2/notes$", "listNotes"),
        ("POST", r"^/v2/notes$", "createNote"),
        ("GET", r"^/v2/notes/[^/]+$", "getNote"),
        ("DELETE", r"^/v2/notes/[^/]+$", "deleteNote"),
        ("GET", r"^/v2/tasks$", "listTasks"),
        ("POST", r"^/v2/tasks$", "createTask"),
        ("GET", r"^/v2/tasks/[^/]+$", "getTask"),
        ("DELETE", r"^/v2/tasks/[^/]+$", "deleteTask"),
        ("GET", r"^/v2/workspace_members$", "listWorkspaceMembers"),
        ("GET", r"^/v2/workspace_members/[^/]+$", "getWorkspaceMember"),
        ("GET", r"^/v2/webhooks$", "listWebhooks"),
        ("POST", r"^/v2/webhooks$", "createWebhook"),
        ("GET", r"^/v2/webhooks/[^/]+$", "getWebhook"),
        ("PATCH", r"^/v2/webhooks/[^/]+$", "updateWebhook"),
        ("DELETE", r"^/v2/webhooks/[^/]+$", "deleteWebhook"),
    ]
]
READ_OPERATIONS = frozenset(op for m, _, op in OPERATIONS if m == "GET" or op == "queryRecords")


def operation_of(scope: Scope) -> str | None:
    """The operation name of a `/v2` request ("unknown" for unmatched paths); None elsewhere."""
    path: str = scope.get("path", "")
    if path == "/oauth/token":
        return "oauthToken"
    if not path.startswith("/v2/") and path != "/v2":
        return None
    method = scope.get("method", "GET")
    for m, pattern, op in OPERATIONS:
        if m == method and pattern.match(path):
            return op
    return "unknown"


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = bytes(value).decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
    return None


def error_body(status: int, operation: str, message: str | None) -> dict[str, Any]:
    if status == 429:
        return {
            "status_code": 429,
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
            "message": message or "Rate limit exceeded, please try again later.",
        }
    if status >= 500:
        return {
            "status_code": status,
            "type": "api_error",
            "code": "internal_server_error" if status == 500 else "service_unavailable",
            "message": message or "An unexpected error occurred.",
        }
    codes = {
        400: "validation_type",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
    }
    return {
        "status_code": status,
        "type": "auth_error" if status in (401, 403) else "invalid_request_error",
        "code": codes.get(status, "invalid_request"),
        "message": message or "Injected error.",
    }


class RetryAfterAsHttpDate:
    """Rewrites a numeric `Retry-After` (seconds) into an HTTP date, Attio's format."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers", []):
                    if name.lower() == b"retry-after" and value.strip().isdigit():
                        at = time.time() + int(value)
                        value = formatdate(at + 0.999, usegmt=True).encode()
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, wrapped)


class CaptureLoop:
    """Remembers the server's event loop (at lifespan startup or the first request), so webhooks
    fired from other threads (the Python API) are scheduled on it."""

    def __init__(self, app: ASGIApp, emulator: AttioEmulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        known = self.emulator.loop
        if known is None or known.is_closed():
            self.emulator.loop = asyncio.get_running_loop()
        await self.app(scope, receive, send)


# ---------------------------------------------------------------- request helpers


async def read_json(request: Request, *, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise validation_type("Request body is required and must be JSON.")
        return {}
    return parse_json(raw)


async def read_data(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise validation_type('Request body must be an object with a "data" object.')
    data: dict[str, Any] = body["data"]
    return data


def auth(request: Request) -> tuple[Workspace, Actor]:
    emulator: AttioEmulator = request.app.state.emulator
    found = emulator.authenticate(_bearer(request.scope))
    if found is None:
        raise unauthorized()
    ws, token = found
    return ws, ("api-token", token.id)


def self_body(ws: Workspace, token: Token) -> dict[str, Any]:
    """`GET /v2/self` for an active token, as Attio's current API answers it (its document
    predates `token_level`; current clients require the field)."""
    return {
        "active": True,
        "scope": token.scope,
        "client_id": token.client_id,
        "token_type": "Bearer",
        "exp": None if token.expires_at is None else int(token.expires_at),
        "iat": int(token.issued_at),
        "sub": ws.id,
        "aud": token.client_id,
        "iss": "attio.com",
        "authorized_by_workspace_member_id": token.member_id or ws.admin_member_id,
        "workspace_id": ws.id,
        "workspace_name": ws.name,
        "workspace_slug": ws.slug,
        "workspace_logo_url": None,
        "token_level": token.level,
    }


async def _params(request: Request) -> dict[str, str]:
    """An OAuth request's parameters, form-encoded (the standard) or JSON."""
    if "application/json" in request.headers.get("content-type", ""):
        body = await read_json(request)
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return unquote(user), unquote(password)


def _query_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise validation_type(f'"{name}" must be an integer.') from exc


def create_app(emulator: AttioEmulator | None = None) -> ASGIApp:
    """The Attio emulator's ASGI app. `app.state.emulator` (on the inner FastAPI app) and the
    returned wrapper's `.emulator` attribute give the `AttioEmulator`."""
    emu = emulator or AttioEmulator()
    api = FastAPI(
        title="Attio emulator",
        version="2.0.0",
        docs_url="/_emulator/docs",
        openapi_url="/_emulator/openapi.json",
        redoc_url=None,
    )
    api.state.emulator = emu

    @api.exception_handler(AttioError)
    async def _attio_error(_: Request, exc: AttioError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @api.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = validation_type(f"Invalid request: {exc.errors()[:1]}")
        return JSONResponse(err.body(), status_code=400)

    @api.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = error_body(exc.status_code, "", str(exc.detail))
        if exc.status_code == 404:
            body["message"] = "Route not found."
        return JSONResponse(body, status_code=exc.status_code)

    @api.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body(500, "", f"{type(exc).__name__}: {exc}"), status_code=500)

    _api_routes(api)
    api.include_router(control_router())

    inner: ASGIApp = EmulatorMiddleware(
        api,
        log=emu.log,
        faults=emu.faults,
        limiter=emu.limiter,
        operation_of=operation_of,
        key_of=lambda scope: _rate_key(emu, scope),
        error_body=error_body,
    )
    wrapped = CaptureLoop(RetryAfterAsHttpDate(inner), emu)
    wrapped.fastapi = api  # type: ignore[attr-defined]
    return wrapped


def _rate_key(emu: AttioEmulator, scope: Scope) -> str | None:
    found = emu.authenticate(_bearer(scope))
    if found is None:
        return None
    op = operation_of(scope)
    kind = "read" if op in READ_OPERATIONS else "write"
    return f"{found[0].id}:{kind}"


def _api_routes(api: FastAPI) -> None:
    # ------------------------------------------------------------ self & OAuth

    @api.get("/v2/self")
    async def get_self(request: Request) -> dict[str, Any]:
        emu: AttioEmulator = request.app.state.emulator
        found = emu.authenticate(_bearer(request.scope))
        if found is None:
            raise unauthorized()
        return self_body(*found)

    @api.post("/oauth/token")
    async def oauth_token(request: Request) -> Response:
        emu: AttioEmulator = request.app.state.emulator
        status, body = emu.oauth.token_endpoint(await _params(request), _basic(request))
        return JSONResponse(body, status_code=status)

    @api.post("/oauth/revoke")
    async def oauth_revoke(request: Request) -> Response:
        """RFC 7009: 200 whether or not the token was known."""
        emu: AttioEmulator = request.app.state.emulator
        token = (await _params(request)).get("token", "")
        if not emu.oauth.revoke(token):
            emu.revoke_token(token)
        return JSONResponse({})

    # Attio's consent page is `app.attio.com/authorize`; `/oauth/authorize` is kept as an alias.
    @api.get("/authorize")
    @api.get("/oauth/authorize")
    async def oauth_authorize(request: Request) -> Response:
        """The consent page: Approve or Deny for the default workspace."""
        emu: AttioEmulator = request.app.state.emulator
        query = dict(request.query_params)
        if not query.get("redirect_uri") or query.get("response_type", "code") != "code":
            raise validation_type("redirect_uri and response_type=code are required.")
        return HTMLResponse(emu.oauth.consent_page(query, emu.default_workspace.name))

    @api.post("/authorize")
    @api.post("/oauth/authorize")
    async def oauth_decide(request: Request) -> Response:
        emu: AttioEmulator = request.app.state.emulator
        ws = emu.default_workspace
        try:
            target = emu.oauth.decide(
                await _params(request), subject=ws.id, member_id=ws.admin_member_id
            )
        except ValueError as exc:
            raise validation_type(str(exc)) from exc
        return RedirectResponse(target, status_code=303)

    # ------------------------------------------------------------ objects & attributes

    @api.get("/v2/objects")
    async def list_objects(request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        return {"data": [s.obj.to_json(ws.id) for s in ws.stores.values()]}

    @api.post("/v2/objects")
    async def create_object(request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        data = await read_data(request)
        for key in ("api_slug", "singular_noun", "plural_noun"):
            if not isinstance(data.get(key), str):
                raise validation_type(f'"{key}" is required.')
        obj = ws.create_object(data["api_slug"], data["singular_noun"], data["plural_noun"])
        return {"data": obj.to_json(ws.id)}

    @api.get("/v2/objects/{object_ref}")
    async def get_object(object_ref: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        return {"data": ws.store(object_ref).obj.to_json(ws.id)}

    @api.get("/v2/{target}/{identifier}/attributes")
    async def list_attributes(target: str, identifier: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        store = _target_store(ws, target, identifier)
        attrs = [ws.attribute_json(store, a) for a in store.obj.attributes.values()]
        offset = _query_int(request, "offset") or 0
        limit = _query_int(request, "limit")
        attrs = attrs[offset:] if limit is None else attrs[offset : offset + limit]
        return {"data": attrs}

    @api.post("/v2/{target}/{identifier}/attributes")
    async def create_attribute(target: str, identifier: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        store = _target_store(ws, target, identifier)
        data = await read_data(request)
        for key in ("title", "api_slug", "type"):
            if not isinstance(data.get(key), str):
                raise validation_type(f'"{key}" is required.')
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        ref = (config or {}).get("record_reference") or {}
        allowed = ref.get("allowed_objects") if isinstance(ref, dict) else None
        attr = ws.create_attribute(
            store.obj.api_slug,
            api_slug=data["api_slug"],
            title=data["title"],
            type_=data["type"],
            is_multiselect=bool(data.get("is_multiselect", False)),
            is_unique=bool(data.get("is_unique", False)),
            is_required=bool(data.get("is_required", False)),
            description=data.get("description")
            if isinstance(data.get("description"), str)
            else None,
            target_object=allowed[0] if isinstance(allowed, list) and allowed else None,
        )
        return {"data": ws.attribute_json(store, attr)}

    @api.get("/v2/{target}/{identifier}/attributes/{attribute}")
    async def get_attribute(
        target: str, identifier: str, attribute: str, request: Request
    ) -> dict[str, Any]:
        ws, _ = auth(request)
        store = _target_store(ws, target, identifier)
        attr = store.obj.attribute(attribute)
        if attr is None:
            raise not_found(f'Attribute "{attribute}" not found.')
        return {"data": ws.attribute_json(store, attr)}

    # ------------------------------------------------------------ records

    @api.post("/v2/objects/{object_ref}/records/query")
    async def query_records(object_ref: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        body = await read_json(request, required=False)
        if not isinstance(body, dict):
            raise validation_type("Request body must be a JSON object.")
        result = ws.query(
            object_ref, body.get("filter"), body.get("sorts"), body.get("limit"), body.get("offset")
        )
        with ws.lock:
            return {"data": [ws.record_json(result.store, r) for r in result.records]}

    @api.post("/v2/objects/{object_ref}/records")
    async def create_record(object_ref: str, request: Request) -> dict[str, Any]:
        ws, actor = auth(request)
        data = await read_data(request)
        if "values" not in data:
            raise validation_type('"data.values" is required.')
        record = ws.create_record(object_ref, data["values"], actor)
        store = ws.store(object_ref)
        return {"data": ws.record_json(store, record)}

    @api.put("/v2/objects/{object_ref}/records")
    async def assert_record(object_ref: str, request: Request) -> dict[str, Any]:
        ws, actor = auth(request)
        matching = request.query_params.get("matching_attribute")
        if not matching:
            raise validation_type('Query parameter "matching_attribute" is required.')
        data = await read_data(request)
        if "values" not in data:
            raise validation_type('"data.values" is required.')
        record = ws.assert_record(object_ref, matching, data["values"], actor)
        return {"data": ws.record_json(ws.store(object_ref), record)}

    @api.get("/v2/objects/{object_ref}/records/{record_id}")
    async def get_record(object_ref: str, record_id: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        store, record = ws.get_record(object_ref, record_id)
        return {"data": ws.record_json(store, record)}

    async def _update(object_ref: str, record_id: str, request: Request, mode: Any) -> Any:
        ws, actor = auth(request)
        data = await read_data(request)
        if "values" not in data:
            raise validation_type('"data.values" is required.')
        record = ws.update_record(object_ref, record_id, data["values"], actor, mode)
        return {"data": ws.record_json(ws.store(object_ref), record)}

    @api.patch("/v2/objects/{object_ref}/records/{record_id}")
    async def patch_record(object_ref: str, record_id: str, request: Request) -> dict[str, Any]:
        result: dict[str, Any] = await _update(object_ref, record_id, request, "append")
        return result

    @api.put("/v2/objects/{object_ref}/records/{record_id}")
    async def put_record(object_ref: str, record_id: str, request: Request) -> dict[str, Any]:
        result: dict[str, Any] = await _update(object_ref, record_id, request, "overwrite")
        return result

    @api.delete("/v2/objects/{object_ref}/records/{record_id}")
    async def delete_record(object_ref: str, record_id: str, request: Request) -> dict[str, Any]:
        ws, actor = auth(request)
        ws.delete_record(object_ref, record_id, actor)
        return {}

    @api.get("/v2/objects/{object_ref}/records/{record_id}/attributes/{attribute}/values")
    async def record_values(
        object_ref: str, record_id: str, attribute: str, request: Request
    ) -> dict[str, Any]:
        ws, _ = auth(request)
        store, record = ws.get_record(object_ref, record_id)
        attr = store.obj.attribute(attribute)
        if attr is None:
            raise not_found(f'Attribute "{attribute}" not found.')
        historic = request.query_params.get("show_historic", "false").lower() == "true"
        values = record.values.get(attr.api_slug, [])
        return {"data": [v.to_json() for v in values if historic or v.active_until is None]}

    # ------------------------------------------------------------ notes

    @api.post("/v2/notes")
    async def create_note(request: Request) -> dict[str, Any]:
        ws, actor = auth(request)
        note = ws.create_note(await read_data(request), actor)
        return {"data": note.to_json(ws.id)}

    @api.get("/v2/notes")
    async def list_notes(request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        q = request.query_params
        notes = ws.list_notes(
            q.get("parent_object"),
            q.get("parent_record_id"),
            _query_int(request, "limit"),
            _query_int(request, "offset"),
        )
        return {"data": [n.to_json(ws.id) for n in notes]}

    @api.get("/v2/notes/{note_id}")
    async def get_note(note_id: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        return {"data": ws.get_note(note_id).to_json(ws.id)}

    @api.delete("/v2/notes/{note_id}")
    async def delete_note(note_id: str, request: Request) -> dict[str, Any]:
        ws, actor = auth(request)
        ws.delete_note(note_id, actor)
        return {}

    # ------------------------------------------------------------ tasks

    @api.post("/v2/tasks")
    async def create_task(request: Request) -> dict[str, Any]:
        ws, actor = auth(request)
        task = ws.create_task(await read_data(request), actor)
        return {"data": task.to_json(ws.id)}

    @api.get("/v2/tasks")
    async def list_tasks(request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        q = request.query_params
        completed = q.get("is_completed")
        tasks = ws.list_tasks(
            limit=_query_int(request, "limit"),
            offset=_query_int(request, "offset"),
            sort=q.get("sort"),
            linked_object=q.get("linked_object"),
            linked_record_id=q.get("linked_record_id"),
            is_completed=None if completed is None else completed.lower() == "true",
        )
        return {"data": [t.to_json(ws.id) for t in tasks]}

    @api.get("/v2/tasks/{task_id}")
    async def get_task(task_id: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        return {"data": ws.get_task(task_id).to_json(ws.id)}

    @api.delete("/v2/tasks/{task_id}")
    async def delete_task(task_id: str, request: Request) -> dict[str, Any]:
        ws, actor = auth(request)
        ws.delete_task(task_id, actor)
        return {}

    # ------------------------------------------------------------ workspace members

    @api.get("/v2/workspace_members")
    async def list_members(request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        return {"data": [m.to_json(ws.id) for m in ws.members.values()]}

    @api.get("/v2/workspace_members/{member_id}")
    async def get_member(member_id: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        return {"data": ws.get_member(member_id).to_json(ws.id)}

    # ------------------------------------------------------------ webhooks

    @api.post("/v2/webhooks")
    async def create_webhook(request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        emu: AttioEmulator = request.app.state.emulator
        hook = ws.create_webhook(await read_data(request), emu.allow_http_targets)
        return {"data": hook.to_json(ws.id, with_secret=True)}

    @api.get("/v2/webhooks")
    async def list_webhooks(request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        request.app.state.emulator.refresh_webhook_status(ws)
        hooks = list(ws.webhooks.values())
        offset = _query_int(request, "offset") or 0
        limit = _query_int(request, "limit")
        hooks = hooks[offset:] if limit is None else hooks[offset : offset + limit]
        return {"data": [h.to_json(ws.id) for h in hooks]}

    @api.get("/v2/webhooks/{webhook_id}")
    async def get_webhook(webhook_id: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        request.app.state.emulator.refresh_webhook_status(ws)
        return {"data": ws.get_webhook(webhook_id).to_json(ws.id)}

    @api.patch("/v2/webhooks/{webhook_id}")
    async def update_webhook(webhook_id: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        emu: AttioEmulator = request.app.state.emulator
        hook = ws.update_webhook(webhook_id, await read_data(request), emu.allow_http_targets)
        return {"data": hook.to_json(ws.id)}

    @api.delete("/v2/webhooks/{webhook_id}")
    async def delete_webhook(webhook_id: str, request: Request) -> dict[str, Any]:
        ws, _ = auth(request)
        ws.delete_webhook(webhook_id)
        return {}


def _target_store(ws: Workspace, target: str, identifier: str) -> Any:
    if target != "objects":
        raise not_found(f'Unknown target "{target}" (the emulator serves objects, not lists).')
    return ws.store(identifier)


__all__ = ["OPERATIONS", "create_app", "error_body", "format_ts", "operation_of"]
