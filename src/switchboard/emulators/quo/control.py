"""The control surface `/_emulator/...` (no auth): workspaces, knobs, faults, logs, simulation.

Documented with request/response examples in docs/emulators.md.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from switchboard.emulators.quo.emulator import QuoEmulator, workspace_kwargs
from switchboard.emulators.quo.state import Workspace

# Knobs accepted in the faults body too (they live in settings): the "slower bulk processing",
# "eventual visibility", "key propagation delay" and "rate-limit value" faults.
SETTING_FAULTS = {
    "bulk_delay_s": "bulkDelayS",
    "bulkDelayS": "bulkDelayS",
    "bulk_visibility_jitter_s": "bulkVisibilityJitterS",
    "bulkVisibilityJitterS": "bulkVisibilityJitterS",
    "contacts_order": "contactsOrder",
    "contactsOrder": "contactsOrder",
    "key_propagation_s": "keyPropagationS",
    "keyPropagationS": "keyPropagationS",
    "rate_limit": "rateLimit",
    "rateLimit": "rateLimit",
}

CALL_FIELDS = {
    "direction": "direction",
    "outcome": "outcome",
    "duration": "duration",
    "phoneNumberId": "phone_number_id",
    "userId": "user_id",
    "participants": "participants",
    "participantCount": "participant_count",
    "recording": "recording",
    "summary": "summary",
    "transcript": "transcript",
    "voicemail": "voicemail",
    "status": "status",
    "answeredBy": "answered_by",
    "forwardedTo": "forwarded_to",
    "emptyParticipants": "empty_participants",
    "ringing": "ringing",
    "shuffleParticipants": "shuffle_participants",
    "delays": "delays",
    "delayScale": "delay_scale",
}
MESSAGE_FIELDS = {
    "direction": "direction",
    "text": "text",
    "phoneNumberId": "phone_number_id",
    "participant": "participant",
    "userId": "user_id",
    "failed": "failed",
}


Endpoint = Callable[[Request], Awaitable[Any]]


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _kwargs(body: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    unknown = set(body) - set(names) - {"workspace", "apiKey", "workspaceId"}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    return {names[k]: v for k, v in body.items() if k in names}


def build_control_router(emu: QuoEmulator) -> APIRouter:
    router = APIRouter(prefix="/_emulator")
    initial = dict(emu.settings.to_api())

    def summary(ws: Workspace) -> dict[str, Any]:
        return ws.summary(emu.keys_of(ws.id))

    def find(ref: str) -> Workspace:
        try:
            return emu.workspace(ref)
        except KeyError as exc:
            raise LookupError(f"unknown workspace or api key: {ref}") from exc

    def ws_ref(body: dict[str, Any]) -> str:
        ref = body.get("workspace") or body.get("workspaceId") or body.get("apiKey")
        if not ref:
            if len(emu.workspaces) == 1:
                return next(iter(emu.workspaces))
            raise ValueError("say which workspace: 'workspace' (id or api key)")
        return str(ref)

    def route(method: str, path: str, status: int = 200) -> Callable[[Endpoint], Endpoint]:
        def register(fn: Endpoint) -> Endpoint:
            async def endpoint(request: Request) -> Response:
                try:
                    result = await fn(request)
                except LookupError as exc:
                    return _bad(str(exc.args[0]) if exc.args else "not found", 404)
                except (ValueError, TypeError, ValidationError) as exc:
                    return _bad(str(exc))
                except TimeoutError as exc:
                    return _bad(str(exc), 504)
                if isinstance(result, Response):
                    return result
                return JSONResponse(result, status_code=status)

            endpoint.__name__ = fn.__name__
            router.add_api_route(path, endpoint, methods=[method])
            return fn

        return register

    @route("GET", "/media/{kind}/{name}")
    async def media(request: Request) -> Any:
        """Audio for the recording and voicemail URLs when `mediaUrl` points here: a few
        deterministic bytes per file (an MP3 frame header, then the name)."""
        name = request.path_params["name"]
        body = b"ID3\x03\x00\x00\x00\x00\x00\x00" + name.encode()
        return Response(body, media_type="audio/mpeg")

    @route("GET", "/health")
    async def health(request: Request) -> Any:
        return {"ok": True, "emulator": "quo", "profile": emu.settings.profile}

    @route("GET", "/settings")
    async def get_settings(request: Request) -> Any:
        return emu.settings.to_api()

    @route("PATCH", "/settings")
    async def patch_settings(request: Request) -> Any:
        return emu.apply_settings(await _body(request)).to_api()

    @route("POST", "/reset")
    async def reset(request: Request) -> Any:
        body = await _body(request)
        emu.reset(keep_workspaces=bool(body.get("keepWorkspaces", False)))
        emu.apply_settings(initial)
        return {"ok": True, "workspaces": len(emu.workspaces)}

    @route("POST", "/workspaces", status=201)
    async def create_workspace(request: Request) -> Any:
        ws = emu.create_workspace(**workspace_kwargs(await _body(request)))
        return summary(ws)

    @route("GET", "/workspaces")
    async def list_workspaces(request: Request) -> Any:
        return {"data": [summary(ws) for ws in emu.workspaces.values()]}

    @route("GET", "/workspaces/{ref}")
    async def get_workspace(request: Request) -> Any:
        return summary(find(request.path_params["ref"]))

    @route("PATCH", "/workspaces/{ref}")
    async def patch_workspace(request: Request) -> Any:
        ws = find(request.path_params["ref"])
        body = await _body(request)
        unknown = set(body) - {"name", "bulk"}
        if unknown:
            raise ValueError(f"unknown fields: {sorted(unknown)}")
        if "bulk" in body:
            if body["bulk"] not in ("enabled", "forbidden", "missing"):
                raise ValueError("bulk must be enabled, forbidden or missing")
            ws.bulk = body["bulk"]
        if "name" in body:
            ws.name = str(body["name"])
        return summary(ws)

    @route("POST", "/workspaces/{ref}/api-keys", status=201)
    async def add_key(request: Request) -> Any:
        ws = find(request.path_params["ref"])
        body = await _body(request)
        emu.add_api_key(
            ws.id, str(body.get("apiKey") or ""), propagation_s=body.get("propagationS")
        )
        return summary(ws)

    @route("POST", "/workspaces/{ref}/contacts", status=201)
    async def seed_contacts(request: Request) -> Any:
        ws = find(request.path_params["ref"])
        body = await _body(request)
        items = body.get("contacts")
        if not isinstance(items, list):
            raise ValueError("body must be {'contacts': [CreateContact, ...]}")
        from switchboard.emulators.quo.state import QuoError

        # `asUser: true` creates them as a user of the Quo app would: contact.updated fires.
        operation = "app" if body.get("asUser") else "seed"
        out = []
        for item in items:
            try:
                out.append(emu.create_contact(ws, item, operation=operation).to_api())
            except QuoError as exc:
                raise ValueError(f"contact {item!r}: {exc.status} {exc.message}") from exc
        return {"data": out}

    @route("GET", "/workspaces/{ref}/contacts")
    async def all_contacts(request: Request) -> Any:
        ws = find(request.path_params["ref"])
        emu.visible_contacts(ws)  # processes due bulk jobs
        now = emu.clock()
        return {
            "data": [{**c.to_api(), "visible": c.visible_at <= now} for c in ws.contacts.values()]
        }

    @route("PATCH", "/workspaces/{ref}/contacts/{contactId}")
    async def edit_contact(request: Request) -> Any:
        """Edit a contact as a user of the Quo app (fires contact.updated)."""
        from switchboard.emulators.quo.state import QuoError

        ws = find(request.path_params["ref"])
        try:
            contact = emu.update_contact(ws, request.path_params["contactId"], await _body(request))
        except QuoError as exc:
            if exc.status == 404:
                raise LookupError(exc.message) from exc
            raise ValueError(f"{exc.status} {exc.message}") from exc
        return {"data": contact.to_api()}

    @route("DELETE", "/workspaces/{ref}/contacts/{contactId}")
    async def remove_contact(request: Request) -> Any:
        """Delete a contact as a user of the Quo app (fires contact.deleted)."""
        from switchboard.emulators.quo.state import QuoError

        ws = find(request.path_params["ref"])
        try:
            emu.delete_contact(ws, request.path_params["contactId"])
        except QuoError as exc:
            raise LookupError(exc.message) from exc
        return {"ok": True}

    @route("GET", "/workspaces/{ref}/bulk-jobs")
    async def bulk_jobs(request: Request) -> Any:
        ws = find(request.path_params["ref"])
        emu.visible_contacts(ws)
        return {"data": [j.to_api() for j in ws.bulk_jobs]}

    @route("GET", "/workspaces/{ref}/webhooks")
    async def workspace_webhooks(request: Request) -> Any:
        ws = find(request.path_params["ref"])
        return {"data": [{**h.to_api(), "version": h.version} for h in ws.webhooks.values()]}

    # ---------------------------------------------------------------- faults

    @route("GET", "/faults")
    async def get_faults(request: Request) -> Any:
        return emu.faults.config.model_dump()

    async def _set_faults(request: Request, replace: bool) -> Any:
        body = await _body(request)
        knobs = {SETTING_FAULTS[k]: body.pop(k) for k in list(body) if k in SETTING_FAULTS}
        if knobs:
            emu.apply_settings(knobs)
        if replace:
            emu.faults.clear()
        cfg = emu.faults.update(body)
        return {**cfg.model_dump(), "settings": emu.settings.to_api()}

    @route("PUT", "/faults")
    async def put_faults(request: Request) -> Any:
        return await _set_faults(request, replace=True)

    @route("PATCH", "/faults")
    async def patch_faults(request: Request) -> Any:
        return await _set_faults(request, replace=False)

    @route("DELETE", "/faults")
    async def clear_faults(request: Request) -> Any:
        emu.faults.clear()
        emu.apply_settings({k: initial[k] for k in set(SETTING_FAULTS.values())})
        return {**emu.faults.config.model_dump(), "settings": emu.settings.to_api()}

    # ---------------------------------------------------------------- request log

    @route("GET", "/requests")
    async def requests(request: Request) -> Any:
        q = request.query_params
        since = q.get("since")
        entries = emu.log.entries(
            since=float(since) if since else None,
            key=q.get("key"),
            operation=q.get("operation"),
        )
        limit = q.get("limit")
        if limit:
            entries = entries[-int(limit) :]
        return {"data": [e.to_dict() for e in entries], "total": len(entries)}

    @route("DELETE", "/requests")
    async def clear_requests(request: Request) -> Any:
        emu.log.clear()
        emu.limiter.reset()
        return {"ok": True}

    @route("GET", "/stats")
    async def stats(request: Request) -> Any:
        return emu.log.stats()

    # ---------------------------------------------------------------- simulation

    @route("POST", "/calls", status=201)
    async def simulate_call(request: Request) -> Any:
        body = await _body(request)
        ref = ws_ref(body)
        find(ref)
        return await emu.simulate_call(ref, **_kwargs(body, CALL_FIELDS))

    @route("POST", "/calls/{callId}/summary", status=201)
    async def simulate_summary(request: Request) -> Any:
        body = await _body(request)
        names = {
            "summary": "summary",
            "nextSteps": "next_steps",
            "jobs": "jobs",
            "delayS": "delay_s",
        }
        try:
            return await emu.simulate_summary(request.path_params["callId"], **_kwargs(body, names))
        except KeyError as exc:
            raise LookupError(f"unknown call: {request.path_params['callId']}") from exc

    @route("POST", "/calls/{callId}/transcript", status=201)
    async def simulate_transcript(request: Request) -> Any:
        body = await _body(request)
        names = {"dialogue": "dialogue", "delayS": "delay_s"}
        try:
            return await emu.simulate_transcript(
                request.path_params["callId"], **_kwargs(body, names)
            )
        except KeyError as exc:
            raise LookupError(f"unknown call: {request.path_params['callId']}") from exc

    @route("POST", "/messages", status=201)
    async def simulate_message(request: Request) -> Any:
        body = await _body(request)
        ref = ws_ref(body)
        find(ref)
        return await emu.simulate_message(ref, **_kwargs(body, MESSAGE_FIELDS))

    @route("GET", "/deliveries")
    async def deliveries(request: Request) -> Any:
        return {
            "data": [d.to_dict() for d in emu.deliverer.deliveries],
            "pending": emu.deliverer.pending() + len(emu._phase_tasks),
        }

    @route("POST", "/deliveries/wait")
    async def wait_deliveries(request: Request) -> Any:
        timeout = float(request.query_params.get("timeout", "30"))
        await emu.drain(timeout)
        return {"data": [d.to_dict() for d in emu.deliverer.deliveries], "pending": 0}

    @route("DELETE", "/deliveries")
    async def clear_deliveries(request: Request) -> Any:
        emu.deliverer.deliveries.clear()
        return {"ok": True}

    return router
