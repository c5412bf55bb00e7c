"""The Pipedrive emulator's control surface, under `/_emulator` (no auth, never rate-limited or
fault-injected, not in the request log). `{co}` is a company id, domain, or `default`.

    GET    /_emulator/health                    POST /_emulator/reset
    GET    /_emulator/companies                 POST {name?, domain?, token?}
    GET    /_emulator/companies/{co}
    POST   /_emulator/companies/{co}/tokens     {token?}                     -> {token}
    POST   /_emulator/companies/{co}/users      {name, email, is_admin?}
    POST   /_emulator/companies/{co}/oauth/codes  {client_id?, redirect_uri?, scope?} -> {code}
    POST   /_emulator/oauth/clients             {client_id, client_secret, uninstall_url?}
    POST   /_emulator/tokens/{token}/expire     an OAuth access token expires now
    GET|PUT /_emulator/oauth   settings {access_token_lifetime_s, refresh_tokens,
                               rotate_refresh_tokens, refresh_token_idle_s, ...} and counters
    POST   /_emulator/oauth/revoke-grants  {company?, client_id?}  the user removed the app:
                                           its refresh and access tokens stop working
    POST   /_emulator/companies/{co}/uninstall  {client_id, url?, revoke_first?}  sends the
                                           uninstall callback (tokens revoked after it answers)
    POST   /_emulator/companies/{co}/seed       {persons, organizations?, deals?, leads?, seed?}
    POST   /_emulator/companies/{co}/persons              (fires webhooks, as a user in the app)
    PATCH  /_emulator/companies/{co}/persons/{id}
    DELETE /_emulator/companies/{co}/persons/{id}
    POST   /_emulator/companies/{co}/persons/merge        {id, merge_with_id} (id is absorbed)
    POST   /_emulator/companies/{co}/organizations | deals | leads
    GET    /_emulator/companies/{co}/call-logs            with recording metadata
    GET    /_emulator/companies/{co}/call-logs/{id}/recording   the uploaded bytes
    GET    /_emulator/companies/{co}/notes
    GET    /_emulator/requests?since=&operation=&key=     DELETE /_emulator/requests
    GET    /_emulator/stats
    GET|PUT|PATCH|DELETE /_emulator/faults
    GET|PUT /_emulator/rate-limits   {enabled, plan, seats, burst_unit, burst_api_token,
                                      burst_oauth, daily_budget, time_scale}
    GET|PUT /_emulator/webhook-delivery  {retry_delays_s, time_scale, timeout_s, remove_after_s}
    GET    /_emulator/webhook-events     GET /_emulator/webhook-deliveries
    POST   /_emulator/webhooks/drain     GET /_emulator/uninstalls
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from switchboard.emulators.oauth import OAuthSettings
from switchboard.emulators.pipedrive.company import Company
from switchboard.emulators.pipedrive.emulator import PipedriveEmulator
from switchboard.emulators.pipedrive.errors import (
    PipedriveError,
    bad_request,
    not_found,
    parse_json,
)


def _emu(request: Request) -> PipedriveEmulator:
    emu: PipedriveEmulator = request.app.state.emulator
    return emu


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.")
    return body


def company_json(emu: PipedriveEmulator, co: Company) -> dict[str, Any]:
    return {
        "id": co.id,
        "name": co.name,
        "domain": co.domain,
        "default": co is emu.default_company,
        "admin_user_id": co.admin_user_id,
        "tokens": [
            t.value for t in emu.tokens.values() if t.company_id == co.id and t.kind == "api"
        ],
        "counts": co.counts(),
    }


def _nonneg_int(body: dict[str, Any], key: str, default: int | None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_request(f'"{key}" must be a non-negative integer.')
    return value


def control_router() -> APIRouter:
    router = APIRouter(prefix="/_emulator")

    @router.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        return {"ok": True, "service": "pipedrive", "default_company": emu.default_company.id}

    @router.post("/reset")
    async def reset(request: Request) -> dict[str, Any]:
        _emu(request).reset()
        return {"ok": True}

    # ------------------------------------------------------------ companies, users, tokens

    @router.get("/companies")
    async def list_companies(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        return {"data": [company_json(emu, co) for co in emu.companies.values()]}

    @router.post("/companies")
    async def create_company(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        co = emu.create_company(
            str(body.get("name") or "Company"), body.get("domain"), token=body.get("token")
        )
        return company_json(emu, co)

    @router.get("/companies/{ref}")
    async def get_company(ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        return company_json(emu, emu.company(ref))

    @router.post("/companies/{ref}/tokens")
    async def issue_token(ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        co = emu.company(ref)
        user_id = body.get("user_id")
        if user_id is not None and user_id not in co.users:
            raise bad_request('"user_id" must be an existing user.')
        token = emu.issue_token(co, body.get("token"), user_id=user_id)
        return {"token": token.value, "company_id": co.id, "user_id": token.user_id}

    @router.post("/companies/{ref}/users")
    async def add_user(ref: str, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        body = await _body(request)
        name, email = body.get("name"), body.get("email")
        if not isinstance(name, str) or not isinstance(email, str):
            raise bad_request('"name" and "email" are required.')
        user = co.add_user(name, email, is_admin=bool(body.get("is_admin", False)))
        return user.to_json(co)

    @router.post("/companies/{ref}/oauth/codes")
    async def oauth_code(ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        kwargs: dict[str, Any] = {}
        if isinstance(body.get("scope"), str):
            kwargs["scope"] = body["scope"]
        code = emu.issue_oauth_code(
            emu.company(ref),
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
            raise bad_request('"client_id" and "client_secret" are required.')
        emu.register_oauth_client(client_id, secret, body.get("uninstall_url"))
        return {"client_id": client_id}

    @router.post("/tokens/{token}/expire")
    async def expire_token(token: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        found = emu.tokens.get(token)
        if found is None:
            raise not_found("Token not found")
        found.expires_at = emu.clock()
        return {"ok": True}

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
            raise bad_request(f"Invalid OAuth settings: {exc.errors()[:1]}") from exc
        return emu.oauth.stats_json()

    @router.post("/oauth/revoke-grants")
    async def oauth_revoke_grants(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        company = emu.company(body["company"]) if body.get("company") is not None else None
        client_id = body.get("client_id") if isinstance(body.get("client_id"), str) else None
        return {"revoked": emu.revoke_app(company, client_id)}

    @router.post("/companies/{ref}/uninstall")
    async def uninstall(ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        client_id = body.get("client_id")
        if not isinstance(client_id, str):
            raise bad_request('"client_id" is required.')
        return await emu.send_uninstall(
            client_id,
            emu.company(ref),
            url=body.get("url"),
            revoke_first=bool(body.get("revoke_first", False)),
        )

    @router.get("/uninstalls")
    async def uninstalls(request: Request) -> dict[str, Any]:
        return {"data": list(_emu(request).uninstalls)}

    @router.post("/companies/{ref}/seed")
    async def seed(ref: str, request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        persons = _nonneg_int(body, "persons", 100) or 0
        return emu.seed(
            emu.company(ref),
            persons,
            organizations=_nonneg_int(body, "organizations", None),
            deals=_nonneg_int(body, "deals", None),
            leads=_nonneg_int(body, "leads", None),
            seed=_nonneg_int(body, "seed", 0) or 0,
        ).to_json()

    # ------------------------------------------------------------ edits as a user (webhooks)

    @router.post("/companies/{ref}/persons/merge")
    async def merge(ref: str, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        body = await _body(request)
        absorbed, survivor = body.get("id"), body.get("merge_with_id")
        if not isinstance(absorbed, int) or not isinstance(survivor, int):
            raise bad_request('"id" and "merge_with_id" are required integers.')
        return {"data": co.merge_persons(absorbed, survivor, co.admin_user_id).to_v2()}

    @router.post("/companies/{ref}/persons")
    async def create_person(ref: str, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        person = co.create_person(await _body(request), co.admin_user_id, "app")
        return {"data": person.to_v2()}

    @router.patch("/companies/{ref}/persons/{person_id}")
    async def update_person(ref: str, person_id: int, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        person = co.update_person(person_id, await _body(request), co.admin_user_id, "app")
        return {"data": person.to_v2()}

    @router.delete("/companies/{ref}/persons/{person_id}")
    async def delete_person(ref: str, person_id: int, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        co.delete_person(person_id, co.admin_user_id, "app")
        return {"data": {"id": person_id}}

    @router.post("/companies/{ref}/organizations")
    async def create_org(ref: str, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        return {
            "data": co.create_organization(await _body(request), co.admin_user_id, "app").to_v2()
        }

    @router.post("/companies/{ref}/deals")
    async def create_deal(ref: str, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        return {"data": co.create_deal(await _body(request), co.admin_user_id, "app").to_v2()}

    @router.post("/companies/{ref}/leads")
    async def create_lead(ref: str, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        return {"data": co.create_lead(await _body(request), co.admin_user_id, "app").to_v1(co)}

    @router.get("/companies/{ref}/call-logs")
    async def call_logs(ref: str, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        out = []
        for log in list(co.call_logs.values()):
            item = log.to_v1(co)
            rec = log.recording
            item["recording"] = (
                {"filename": rec.filename, "content_type": rec.content_type, "size": len(rec.data)}
                if rec
                else None
            )
            out.append(item)
        return {"data": out}

    @router.get("/companies/{ref}/call-logs/{log_id}/recording")
    async def recording(ref: str, log_id: str, request: Request) -> Response:
        co = _emu(request).company(ref)
        rec = co.call_log(log_id).recording
        if rec is None:
            raise not_found("No recording")
        return Response(rec.data, media_type=rec.content_type)

    @router.get("/companies/{ref}/notes")
    async def notes(ref: str, request: Request) -> dict[str, Any]:
        co = _emu(request).company(ref)
        return {"data": [n.to_v1(co) for n in list(co.notes.values())]}

    # ------------------------------------------------------------ request log & stats

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
        out["perStatus429"] = out["perStatus"].get("429", 0)
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
            raise bad_request(f"Invalid fault config: {exc.errors()[:1]}") from exc
        return emu.faults.config.model_dump()

    @router.patch("/faults")
    async def patch_faults(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        try:
            return emu.faults.update(await _body(request)).model_dump()
        except ValidationError as exc:
            raise bad_request(f"Invalid fault config: {exc.errors()[:1]}") from exc

    @router.delete("/faults")
    async def clear_faults(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        emu.faults.clear()
        return emu.faults.config.model_dump()

    @router.get("/rate-limits")
    async def get_limits(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        return {"enabled": emu.rate_limits, **emu.budget.settings()}

    @router.put("/rate-limits")
    async def put_limits(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        if "enabled" in body:
            emu.rate_limits = bool(body["enabled"])
        changes: dict[str, Any] = {}
        for key in ("burst_api_token", "burst_oauth", "daily_budget", "seats"):
            if key in body:
                changes[key] = _nonneg_int(body, key, None)
        for key in ("plan", "burst_unit"):
            if key in body:
                changes[key] = body[key]
        if "time_scale" in body:
            changes["time_scale"] = _positive(body, "time_scale")
        try:
            emu.budget.configure(**changes)
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        return {"enabled": emu.rate_limits, **emu.budget.settings()}

    @router.get("/webhook-delivery")
    async def get_delivery(request: Request) -> dict[str, Any]:
        return _emu(request).webhook_settings()

    @router.put("/webhook-delivery")
    async def put_delivery(request: Request) -> dict[str, Any]:
        emu = _emu(request)
        body = await _body(request)
        delays = body.get("retry_delays_s")
        if delays is not None and (
            not isinstance(delays, list)
            or not all(isinstance(d, int | float) and d >= 0 for d in delays)
        ):
            raise bad_request('"retry_delays_s" must be a list of non-negative numbers.')
        emu.set_webhook_delivery(
            retry_delays_s=delays,
            time_scale=_positive(body, "time_scale"),
            timeout_s=_positive(body, "timeout_s"),
            remove_after_s=_positive(body, "remove_after_s"),
        )
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
            raise PipedriveError(408, str(exc)) from exc
        return {"pending": emu.deliverer.pending()}

    return router


def _positive(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f'"{key}" must be a number.')
    if value < 0:
        raise bad_request(f'"{key}" must not be negative.')
    return float(value)
