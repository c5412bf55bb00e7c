"""The Attio emulator's control surface, under `/_emulator` (no auth, never rate-limited or
fault-injected, not in the request log). `{ws}` is a workspace id, slug, or `default`.

    GET    /_emulator/health
    POST   /_emulator/reset
    GET    /_emulator/workspaces                         POST {name?, slug?, token?}
    POST   /_emulator/workspaces/{ws}/tokens   {token?, level?, member_id?}  -> {token}
    POST   /_emulator/workspaces/{ws}/oauth/codes  {client_id?, redirect_uri?, scope?} -> {code}
    POST   /_emulator/oauth/clients                      {client_id, client_secret}
    GET|PUT /_emulator/oauth        settings {access_token_lifetime_s, refresh_tokens,
                                    rotate_refresh_tokens, refresh_token_lifetime_s,
                                    code_lifetime_s} (PUT) and counters (GET: refreshes, ...)
    POST   /_emulator/oauth/revoke-grants  {workspace?}   the user removed the app: every
                                    refresh token (of that workspace) stops working
    POST   /_emulator/workspaces/{ws}/seed               {people, companies?, seed?}
    POST   /_emulator/workspaces/{ws}/objects            {api_slug, singular_noun, plural_noun}
    POST   /_emulator/workspaces/{ws}/objects/{object}/records             {values}
    PATCH  /_emulator/workspaces/{ws}/objects/{object}/records/{id}        {values} (append)
    PUT    /_emulator/workspaces/{ws}/objects/{object}/records/{id}        {values} (overwrite)
    DELETE /_emulator/workspaces/{ws}/objects/{object}/records/{id}
    POST   /_emulator/workspaces/{ws}/objects/{object}/records/merge
                                                  {primary_record_id, secondary_record_id}
    GET    /_emulator/requests?since=&operation=&key=     DELETE /_emulator/requests
    GET    /_emulator/stats
    GET|PUT|PATCH|DELETE /_emulator/faults
    GET|PUT /_emulator/rate-limits                 {reads_per_second, writes_per_second}
    GET|PUT /_emulator/webhook-delivery            {max_attempts, backoff_s, time_scale, timeout_s}
    GET    /_emulator/webhook-events               events dispatched per webhook (or dropped)
    GET    /_emulator/webhook-deliveries           every delivery attempt
    POST   /_emulator/webhooks/drain               wait for pending deliveries

Record writes made here act as the workspace's admin member (as if done in the Attio app) and
fire webhooks exactly like API writes.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from switchboard.emulators.attio.emulator import AttioEmulator
from switchboard.emulators.attio.errors import AttioError, parse_json, validation_type
from switchboard.emulators.attio.workspace import Workspace
from switchboard.emulators.oauth import OAuthSettings


def _emu(request: Request) -> AttioEmulator:
    emu: AttioEmulator = request.app.state.emulator
    return emu


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise validation_type("Request body must be a JSON object.")
    return body


def workspace_json(emu: AttioEmulator, ws: Workspace) -> dict[str, Any]:
    return {
        "workspace_id": ws.id,
        "name": ws.name,
        "slug": ws.slug,
        "default": ws is emu.default_workspace,
        "tokens": [t.value for t in emu.tokens.values() if t.workspace_id == ws.id],
        "objects": {slug: s.obj.id for slug, s in ws.stores.items()},
        "admin_member_id": ws.admin_member_id,
        "counts": {slug: len(s.records) for slug, s in ws.stores.items()}
        | {"notes": len(ws.notes), "tasks": len(ws.tasks), "webhooks": len(ws.webhooks)},
    }


def control_router() -> APIRouter:
    router = APIRouter(prefix="/_emulator")

    @router.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        return {"ok": True, "service": "attio", "default_workspace": emu.default_workspace.id}

    @router.post("/reset")
    async def reset(request: Request) -> dict[str, Any]:
        _emu(request).reset()
        return {"ok": True}

    # ------------------------------------------------------------ workspaces

    @router.get("/workspaces")
    async def list_workspaces(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        return {"data": [workspace_json(emu, ws) for ws in emu.workspaces.values()]}

    @router.post("/workspaces")
    async def create_workspace(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        ws = emu.create_workspace(
            str(body.get("name") or "Workspace"), body.get("slug"), token=body.get("token")
        )
        return workspace_json(emu, ws)

    @router.get("/workspaces/{ws_ref}")
    async def get_workspace(ws_ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        return workspace_json(emu, emu.workspace(ws_ref))

    @router.post("/workspaces/{ws_ref}/tokens")
    async def issue_token(ws_ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        level = body.get("level", "workspace")
        if level not in ("workspace", "member"):
            raise validation_type('"level" must be "workspace" or "member".')
        ws = emu.workspace(ws_ref)
        member_id = body.get("member_id")
        if member_id is not None:
            ws.get_member(str(member_id))
        token = emu.issue_token(ws, body.get("token"), level=level, member_id=member_id)
        return {"token": token.value, "workspace_id": token.workspace_id, "level": token.level}

    @router.delete("/tokens/{token}")
    async def revoke_token(token: str, request: Request) -> dict[str, Any]:
        _emu(request).revoke_token(token)
        return {"ok": True}

    @router.post("/workspaces/{ws_ref}/oauth/codes")
    async def oauth_code(ws_ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        kwargs: dict[str, Any] = {}
        if isinstance(body.get("scope"), str):
            kwargs["scope"] = body["scope"]
        code = emu.issue_oauth_code(
            emu.workspace(ws_ref),
            client_id=body.get("client_id"),
            redirect_uri=body.get("redirect_uri"),
            **kwargs,
        )
        return {"code": code}

    @router.post("/oauth/clients")
    async def oauth_client(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        client_id, secret = body.get("client_id"), body.get("client_secret")
        if not isinstance(client_id, str) or not isinstance(secret, str):
            raise validation_type('"client_id" and "client_secret" are required.')
        emu.register_oauth_client(client_id, secret)
        return {"client_id": client_id}

    @router.get("/oauth")
    async def oauth_state(request: Request) -> dict[str, Any]:
        return _emu(request).oauth.stats_json()

    @router.put("/oauth")
    async def oauth_settings(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        merged = {**emu.oauth.settings.model_dump(), **(await _body(request))}
        try:
            emu.oauth.settings = OAuthSettings.model_validate(merged)
        except ValidationError as exc:
            raise validation_type(str(exc.errors()[0]["msg"])) from exc
        return emu.oauth.stats_json()

    @router.post("/oauth/revoke-grants")
    async def oauth_revoke_grants(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        ref = (await _body(request)).get("workspace")
        subject = None if ref is None else emu.workspace(str(ref)).id
        return {"revoked": emu.oauth.revoke_subject(subject)}

    @router.post("/workspaces/{ws_ref}/seed")
    async def seed(ws_ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        people, companies, seed_n = (
            body.get("people", 100),
            body.get("companies"),
            body.get("seed", 0),
        )
        if not isinstance(people, int) or people < 0 or not isinstance(seed_n, int):
            raise validation_type('"people" and "seed" must be non-negative integers.')
        if companies is not None and (not isinstance(companies, int) or companies < 0):
            raise validation_type('"companies" must be a non-negative integer.')
        return emu.seed(emu.workspace(ws_ref), people, companies, seed_n).to_json()

    @router.post("/workspaces/{ws_ref}/objects")
    async def create_object(ws_ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        ws = emu.workspace(ws_ref)
        body = await _body(request)
        slug = body.get("api_slug")
        if not isinstance(slug, str):
            raise validation_type('"api_slug" is required.')
        obj = ws.create_object(
            slug, str(body.get("singular_noun") or slug), str(body.get("plural_noun") or slug)
        )
        return obj.to_json(ws.id)

    # ------------------------------------------------------------ records (fire webhooks)

    @router.post("/workspaces/{ws_ref}/objects/{object_ref}/records/merge")
    async def merge(ws_ref: str, object_ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        ws = emu.workspace(ws_ref)
        body = await _body(request)
        primary, secondary = body.get("primary_record_id"), body.get("secondary_record_id")
        if not isinstance(primary, str) or not isinstance(secondary, str):
            raise validation_type('"primary_record_id" and "secondary_record_id" are required.')
        record = emu.merge_records(ws, object_ref, primary, secondary)
        return {"data": ws.record_json(ws.store(object_ref), record)}

    @router.post("/workspaces/{ws_ref}/objects/{object_ref}/records")
    async def create_record(ws_ref: str, object_ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        ws = emu.workspace(ws_ref)
        body = await _body(request)
        record = emu.create_record(ws, object_ref, body.get("values", {}))
        return {"data": ws.record_json(ws.store(object_ref), record)}

    async def _update(
        ws_ref: str, object_ref: str, record_id: str, request: Request, overwrite: bool
    ) -> dict[str, Any]:
        emu = _emu(request)
        ws = emu.workspace(ws_ref)
        body = await _body(request)
        record = emu.update_record(
            ws, object_ref, record_id, body.get("values", {}), overwrite=overwrite
        )
        return {"data": ws.record_json(ws.store(object_ref), record)}

    @router.patch("/workspaces/{ws_ref}/objects/{object_ref}/records/{record_id}")
    async def patch_record(
        ws_ref: str, object_ref: str, record_id: str, request: Request
    ) -> dict[str, Any]:
        return await _update(ws_ref, object_ref, record_id, request, False)

    @router.put("/workspaces/{ws_ref}/objects/{object_ref}/records/{record_id}")
    async def put_record(
        ws_ref: str, object_ref: str, record_id: str, request: Request
    ) -> dict[str, Any]:
        return await _update(ws_ref, object_ref, record_id, request, True)

    @router.delete("/workspaces/{ws_ref}/objects/{object_ref}/records/{record_id}")
    async def delete_record(
        ws_ref: str, object_ref: str, record_id: str, request: Request
    ) -> dict[str, Any]:
        emu = _emu(request)
        emu.delete_record(emu.workspace(ws_ref), object_ref, record_id)
        return {}

    # ------------------------------------------------------------ request log

    @router.get("/requests")
    async def requests(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        q = request.query_params
        since = float(q["since"]) if q.get("since") else None
        entries = emu.log.entries(since=since, key=q.get("key"), operation=q.get("operation"))
        return {"data": [e.to_dict() for e in entries]}

    @router.delete("/requests")
    async def clear_requests(request: Request) -> dict[str, Any]:
        _emu(request).log.clear()
        return {"ok": True}

    @router.get("/stats")
    async def stats(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        out = emu.log.stats()
        out["webhookEvents"] = len(emu.dispatched)
        out["webhookDeliveries"] = len(emu.deliverer.deliveries)
        return out

    # ------------------------------------------------------------ faults & knobs

    @router.get("/faults")
    async def get_faults(request: Request) -> dict[str, Any]:
        return _emu(request).faults.config.model_dump()

    @router.put("/faults")
    async def put_faults(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        try:
            emu.faults.set(type(emu.faults.config).model_validate(body))
        except ValidationError as exc:
            raise validation_type(f"Invalid fault config: {exc.errors()[:1]}") from exc
        return emu.faults.config.model_dump()

    @router.patch("/faults")
    async def patch_faults(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        try:
            return emu.faults.update(body).model_dump()
        except ValidationError as exc:
            raise validation_type(f"Invalid fault config: {exc.errors()[:1]}") from exc

    @router.delete("/faults")
    async def clear_faults(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        emu.faults.clear()
        return emu.faults.config.model_dump()

    @router.get("/rate-limits")
    async def get_limits(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        return {
            "reads_per_second": emu.reads_per_second,
            "writes_per_second": emu.writes_per_second,
        }

    @router.put("/rate-limits")
    async def put_limits(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        reads = body.get("reads_per_second", emu.reads_per_second)
        writes = body.get("writes_per_second", emu.writes_per_second)
        if not isinstance(reads, int) or not isinstance(writes, int) or reads < 0 or writes < 0:
            raise validation_type("Rate limits are non-negative integers (0 = unlimited).")
        emu.set_rate_limits(reads, writes)
        return {"reads_per_second": reads, "writes_per_second": writes}

    @router.get("/webhook-delivery")
    async def get_delivery(request: Request) -> dict[str, Any]:
        return _emu(request).webhook_settings()

    @router.put("/webhook-delivery")
    async def put_delivery(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        try:
            emu.set_webhook_delivery(
                max_attempts=_opt(body, "max_attempts", int),
                backoff_s=_opt(body, "backoff_s", float),
                time_scale=_opt(body, "time_scale", float),
                timeout_s=_opt(body, "timeout_s", float),
            )
        except (TypeError, ValueError) as exc:
            raise validation_type(str(exc)) from exc
        return emu.webhook_settings()

    @router.get("/webhook-events")
    async def webhook_events(request: Request) -> dict[str, Any]:
        return {"data": [d.to_json() for d in list(_emu(request).dispatched)]}

    @router.get("/webhook-deliveries")
    async def webhook_deliveries(request: Request) -> dict[str, Any]:
        return {"data": [d.to_dict() for d in list(_emu(request).deliverer.deliveries)]}

    @router.post("/webhooks/drain")
    async def drain(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        try:
            await emu.drain_webhooks(float(body.get("timeout", 30)))
        except TimeoutError as exc:
            raise AttioError(408, "timeout", str(exc)) from exc
        return {"pending": emu.deliverer.pending()}

    return router


def _opt(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f'"{key}" must be a number.')
    return kind(value)
