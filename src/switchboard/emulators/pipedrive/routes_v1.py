"""Pipedrive API v1 routes (`/v1`): leads (list), call logs (incl. the multipart recording
upload), notes, users (list, `me`, `find`) and webhooks. Lists page with `start`/`limit`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from switchboard.emulators.pipedrive.api import (
    auth,
    json_body,
    offset_page,
    path_int,
    q_bool,
    q_int,
    q_time,
    v1_sort,
)
from switchboard.emulators.pipedrive.emulator import WEBHOOKS_PER_USER
from switchboard.emulators.pipedrive.entities import Recording, Webhook
from switchboard.emulators.pipedrive.errors import (
    PipedriveError,
    bad_request,
    webhook_invalid,
)

EVENT_ACTIONS = ("create", "change", "delete", "*")
EVENT_OBJECTS = (
    "activity",
    "deal",
    "lead",
    "note",
    "organization",
    "person",
    "pipeline",
    "product",
    "stage",
    "user",
    "*",
)


def router() -> APIRouter:
    api = APIRouter(prefix="/v1")

    # ------------------------------------------------------------ leads

    @api.get("/leads")
    async def list_leads(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        owner, person = q_int(request, "owner_id"), q_int(request, "person_id")
        org = q_int(request, "organization_id")
        since = q_time(request, "updated_since")
        with co.lock:
            leads = [
                lead
                for lead in co.leads.values()
                if not lead.is_archived
                and (owner is None or lead.owner_id == owner)
                and (person is None or lead.person_id == person)
                and (org is None or lead.organization_id == org)
                and (since is None or lead.update_time >= since)
            ]
            leads = sorted(leads, key=lambda lead: lead.add_time)
            leads = v1_sort(
                request,
                leads,
                {
                    "id": lambda x: x.id,
                    "title": lambda x: x.title,
                    "add_time": lambda x: x.add_time,
                    "update_time": lambda x: x.update_time,
                },
            )
            page, info = offset_page(request, leads)
            data = [lead.to_v1(co) for lead in page]
        info.pop("next_start", None)  # the leads document pages without next_start
        return {"success": True, "data": data, "additional_data": info}

    # ------------------------------------------------------------ call logs

    @api.get("/callLogs")
    async def list_call_logs(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        with co.lock:
            logs = [log for log in co.call_logs.values() if log.user_id == caller.user.id]
            logs.sort(key=lambda log: log.start_time, reverse=True)
            page, info = offset_page(request, logs)
            data = [log.to_v1(co) for log in page]
        info.pop("next_start", None)
        return {"success": True, "data": data, "additional_data": {"pagination": info}}

    @api.post("/callLogs")
    async def add_call_log(request: Request) -> dict[str, Any]:
        caller = auth(request)
        log = caller.company.create_call_log(
            await json_body(request), caller.user.id, caller.source
        )
        return {"success": True, "data": log.to_v1(caller.company)}

    @api.get("/callLogs/{log_id}")
    async def get_call_log(log_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        return {"success": True, "data": caller.company.call_log(log_id).to_v1(caller.company)}

    @api.delete("/callLogs/{log_id}")
    async def delete_call_log(log_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        caller.company.delete_call_log(log_id, caller.user.id, caller.source)
        return {"success": True}

    @api.post("/callLogs/{log_id}/recordings")
    async def add_recording(log_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        caller.company.call_log(log_id)  # 404 before reading the upload
        if "multipart/form-data" not in request.headers.get("content-type", ""):
            raise bad_request('The recording must be sent as multipart/form-data "file".')
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise bad_request('"file" is required.')
        data = await upload.read()
        if not data:
            raise bad_request('"file" is empty.')
        caller.company.attach_recording(
            log_id,
            Recording(
                upload.filename or "recording",
                upload.content_type or "application/octet-stream",
                data,
            ),
        )
        return {"success": True}

    # ------------------------------------------------------------ notes

    @api.get("/notes")
    async def list_notes(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        filters = {k: q_int(request, k) for k in ("user_id", "deal_id", "person_id", "org_id")}
        lead = request.query_params.get("lead_id") or None
        since = q_time(request, "updated_since")
        with co.lock:
            notes = [
                n
                for n in co.notes.values()
                if all(v is None or getattr(n, k) == v for k, v in filters.items())
                and (lead is None or n.lead_id == lead)
                and (since is None or n.update_time >= since)
            ]
            notes = v1_sort(
                request,
                sorted(notes, key=lambda n: n.id),
                {
                    "id": lambda n: n.id,
                    "add_time": lambda n: n.add_time,
                    "update_time": lambda n: n.update_time,
                    "content": lambda n: n.content,
                },
            )
            page, info = offset_page(request, notes)
            data = [n.to_v1(co, caller.user) for n in page]
        return {"success": True, "data": data, "additional_data": {"pagination": info}}

    @api.post("/notes")
    async def add_note(request: Request) -> dict[str, Any]:
        caller = auth(request)
        note = caller.company.create_note(await json_body(request), caller.user.id, "api")
        return {"success": True, "data": note.to_v1(caller.company, caller.user)}

    @api.get("/notes/{note_id}")
    async def get_note(note_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        note = caller.company.note(path_int(note_id))
        return {"success": True, "data": note.to_v1(caller.company, caller.user)}

    @api.put("/notes/{note_id}")
    async def update_note(note_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        note = caller.company.update_note(
            path_int(note_id), await json_body(request), caller.user.id, "api"
        )
        return {"success": True, "data": note.to_v1(caller.company, caller.user)}

    @api.delete("/notes/{note_id}")
    async def delete_note(note_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        caller.company.delete_note(path_int(note_id), caller.user.id, "api")
        return {"success": True, "data": True}

    # ------------------------------------------------------------ users

    @api.get("/users")
    async def list_users(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        with co.lock:
            users = sorted(co.users.values(), key=lambda u: u.id)
        return {"success": True, "data": [u.to_json(co, me=caller.user) for u in users]}

    @api.get("/users/me")
    async def me(request: Request) -> dict[str, Any]:
        caller = auth(request)
        data = caller.user.to_json(caller.company, me=caller.user)
        co = caller.company
        data |= {
            "company_id": co.id,
            "company_name": co.name,
            "company_domain": co.domain,
            "company_country": "US",
            "company_industry": "software",
            "language": {"language_code": "en", "country_code": "US"},
        }
        return {"success": True, "data": data}

    @api.get("/users/find")
    async def find_users(request: Request) -> dict[str, Any]:
        caller = auth(request)
        term = (request.query_params.get("term") or "").strip()
        if not term:
            raise bad_request('"term" is required.')
        by_email = bool(q_bool(request, "search_by_email"))
        found = caller.company.find_users(term, by_email)
        return {
            "success": True,
            "data": [u.to_json(caller.company, me=caller.user) for u in found],
        }

    # ------------------------------------------------------------ webhooks

    @api.get("/webhooks")
    async def list_webhooks(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        hooks = [h.to_v1(co) for h in co.webhooks.values() if not h.removed]
        return {"success": True, "status": "ok", "data": hooks}

    @api.post("/webhooks")
    async def add_webhook(request: Request) -> JSONResponse:
        caller = auth(request)
        co = caller.company
        body = await json_body(request)
        errors: dict[str, str] = {}
        for key in ("subscription_url", "event_action", "event_object", "name"):
            if not isinstance(body.get(key), str) or not body[key]:
                errors[key] = f'"{key}" is required.'
        url = body.get("subscription_url")
        if isinstance(url, str) and url:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                errors["subscription_url"] = '"subscription_url" must be a valid URL.'
        if body.get("event_action") and body.get("event_action") not in EVENT_ACTIONS:
            errors["event_action"] = f'"event_action" must be one of {", ".join(EVENT_ACTIONS)}.'
        if body.get("event_object") and body.get("event_object") not in EVENT_OBJECTS:
            errors["event_object"] = f'"event_object" must be one of {", ".join(EVENT_OBJECTS)}.'
        version = body.get("version", "2.0")
        if version not in ("1.0", "2.0"):
            errors["version"] = '"version" must be "1.0" or "2.0".'
        for key in ("http_auth_user", "http_auth_password"):
            if body.get(key) is not None and not isinstance(body[key], str):
                errors[key] = f'"{key}" must be a string.'
        user_id = body.get("user_id", caller.user.id)
        if not isinstance(user_id, int) or user_id not in co.users:
            errors["user_id"] = '"user_id" must be an existing user.'
        if errors:
            raise webhook_invalid(errors)
        if not co.users[caller.user.id].is_admin:
            raise PipedriveError(403, "Only admins can create webhooks.")
        owned = [h for h in co.webhooks.values() if h.user_id == user_id and not h.removed]
        if len(owned) >= WEBHOOKS_PER_USER:
            raise webhook_invalid(
                {"subscription_url": f"A user can have at most {WEBHOOKS_PER_USER} webhooks."}
            )
        hook = co.add_webhook(
            Webhook(
                0,
                user_id,
                body["subscription_url"],
                body["event_action"],
                body["event_object"],
                body["name"],
                version,
                co.clock(),
                type="application" if caller.token.kind == "oauth" else "general",
                http_auth_user=body.get("http_auth_user"),
                http_auth_password=body.get("http_auth_password"),
            )
        )
        return JSONResponse(
            {"success": True, "status": "ok", "data": hook.to_v1(co)}, status_code=201
        )

    @api.delete("/webhooks/{webhook_id}")
    async def delete_webhook(webhook_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        hook = co.webhooks.get(path_int(webhook_id))
        if hook is None or hook.removed:
            raise PipedriveError(
                404,
                "Webhook not found",
                extra={"status": "error", "errors": {"id": "Webhook not found"}},
            )
        hook.removed = True  # retries still in flight stop, as for a deleted subscription
        del co.webhooks[hook.id]
        return {"success": True, "status": "ok"}

    return api
