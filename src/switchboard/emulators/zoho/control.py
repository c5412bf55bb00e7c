"""The Zoho emulator's control surface, under `/_emulator` (no auth, not logged, no faults, no
limits). `{org}` is an org id, name, or `default`.

    GET    /_emulator/health                    POST /_emulator/reset
    GET    /_emulator/clock                     POST /_emulator/clock {advance_s}
    GET    /_emulator/orgs                      POST {name?, dc?, edition?, users?}
    GET    /_emulator/orgs/{org}
    PUT    /_emulator/orgs/{org}/limits         {credits_per_day?, max_concurrency?}
    POST   /_emulator/orgs/{org}/tokens         {token?, ttl_s?, scope?} -> {access_token}
    POST   /_emulator/orgs/{org}/oauth/codes    {client_id?, redirect_uri?, scope?} -> {code}
    POST   /_emulator/oauth/clients             {client_id, client_secret}
    POST   /_emulator/orgs/{org}/seed           {contacts?, leads?, accounts?, seed?}
    POST   /_emulator/orgs/{org}/records/{module}           {values}  (notifies)
    PUT    /_emulator/orgs/{org}/records/{module}/{id}      {values}  (notifies)
    DELETE /_emulator/orgs/{org}/records/{module}/{id}                (notifies)
    GET    /_emulator/orgs/{org}/channels       every channel, expired ones too
    (every /orgs route also answers under /workspaces; seed also takes people / companies)
    GET    /_emulator/requests?since=&operation=&key=       DELETE /_emulator/requests
    GET    /_emulator/stats
    GET|PUT|PATCH|DELETE /_emulator/faults
    GET|PUT /_emulator/notify-delivery          {max_attempts, backoff_s, time_scale, timeout_s}
    GET    /_emulator/notifications             every notification built
    GET    /_emulator/deliveries                every delivery attempt (also /webhook-deliveries)
    POST   /_emulator/notifications/drain       wait for pending deliveries (also /webhooks/drain)

Record edits made here act as the org's admin (as if done in Zoho's UI) and notify watch
channels exactly like API writes.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from switchboard.emulators.zoho.context import emulator_of, read_json
from switchboard.emulators.zoho.emulator import ZohoEmulator
from switchboard.emulators.zoho.errors import ZohoError, invalid_body
from switchboard.emulators.zoho.org import Org, format_time
from switchboard.emulators.zoho.routes_records import module_of, record_id
from switchboard.emulators.zoho.seed import seed_org
from switchboard.emulators.zoho.watch import channel_json


async def _body(request: Request) -> dict[str, Any]:
    if not (await request.body()).strip():
        return {}
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid_body("body")
    return body


def _number(body: dict[str, Any], key: str, *, minimum: float = 0) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid_body(f'"{key}" must be a number', f"$.{key}")
    if value < minimum:
        raise invalid_body(f'"{key}" must be at least {minimum}', f"$.{key}")
    return float(value)


def org_json(emu: ZohoEmulator, org: Org) -> dict[str, Any]:
    return {
        "org_id": org.id,
        "workspace_id": org.id,
        "name": org.name,
        "dc": org.dc,
        "edition": org.edition,
        "default": org is emu.default_org,
        "users": [u.minified() for u in org.users],
        "tokens": [t.value for t in emu.access_tokens.values() if t.org_id == org.id],
        "counts": {m: len(r) for m, r in org.records.items()}
        | {"Notes": len(org.notes), "channels": len(emu.live_channels(org))},
        "credits_per_day": org.credits_per_day,
        "credits_used": emu.credits_used(org),
        "max_concurrency": org.max_concurrency,
    }


def _one(emu: ZohoEmulator, org: Org, module: str, results: list[Any]) -> dict[str, Any]:
    res = results[0]
    if not res.ok or res.record is None:
        raise ZohoError(400, res.error["code"], res.error["message"], res.error["details"])
    return {"data": org.record_json(res.record)}


def control_router() -> APIRouter:
    router = APIRouter(prefix="/_emulator")

    @router.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        return {
            "ok": True,
            "service": "zoho",
            "default_org": emu.default_org.id,
            "default_token": emu.default_token,
        }

    @router.post("/reset")
    async def reset(request: Request) -> dict[str, Any]:
        emulator_of(request).reset()
        return {"ok": True}

    @router.get("/clock")
    async def clock(request: Request) -> dict[str, Any]:
        now = emulator_of(request).now()
        return {"now": now, "iso": format_time(now)}

    @router.post("/clock")
    async def advance(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        seconds = _number(await _body(request), "advance_s") or 0.0
        now = emu.advance(seconds)
        return {"now": now, "iso": format_time(now)}

    @router.get("/orgs")
    @router.get("/workspaces")
    async def orgs(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        return {"data": [org_json(emu, o) for o in emu.orgs.values()]}

    @router.post("/orgs")
    @router.post("/workspaces")
    async def create_org(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        body = await _body(request)
        users = _number(body, "users", minimum=1)
        org = emu.create_org(
            str(body.get("name") or "Org"),
            dc=str(body.get("dc") or "us"),
            edition=body.get("edition") if isinstance(body.get("edition"), str) else None,
            users=int(users or 1),
        )
        return org_json(emu, org)

    @router.get("/orgs/{org_ref}")
    @router.get("/workspaces/{org_ref}")
    async def get_org(org_ref: str, request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        return org_json(emu, emu.org(org_ref))

    @router.put("/orgs/{org_ref}/limits")
    @router.put("/workspaces/{org_ref}/limits")
    async def limits(org_ref: str, request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        org = emu.org(org_ref)
        body = await _body(request)
        credits = _number(body, "credits_per_day", minimum=1)
        concurrency = _number(body, "max_concurrency", minimum=1)
        if credits is not None:
            org.credits_override = int(credits)
        if concurrency is not None:
            org.concurrency_override = int(concurrency)
        return org_json(emu, org)

    @router.post("/orgs/{org_ref}/tokens")
    @router.post("/workspaces/{org_ref}/tokens")
    async def token(org_ref: str, request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        body = await _body(request)
        ttl = _number(body, "ttl_s", minimum=1) or 3600.0
        value = body.get("token") if isinstance(body.get("token"), str) else None
        kwargs: dict[str, Any] = {}
        if isinstance(body.get("scope"), str):
            kwargs["scope"] = body["scope"]
        issued = emu.issue_access_token(emu.org(org_ref), value, ttl_s=ttl, **kwargs)
        return {"access_token": issued.value, "org_id": issued.org_id, "dc": issued.dc}

    @router.post("/orgs/{org_ref}/oauth/codes")
    @router.post("/workspaces/{org_ref}/oauth/codes")
    async def code(org_ref: str, request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        body = await _body(request)
        kwargs: dict[str, Any] = {}
        if isinstance(body.get("scope"), str):
            kwargs["scope"] = body["scope"]
        org = emu.org(org_ref)
        issued = emu.issue_code(
            org,
            client_id=body.get("client_id") if isinstance(body.get("client_id"), str) else None,
            redirect_uri=body.get("redirect_uri")
            if isinstance(body.get("redirect_uri"), str)
            else None,
            **kwargs,
        )
        return {"code": issued, "location": org.dc}

    @router.post("/oauth/clients")
    async def client(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        body = await _body(request)
        cid, secret = body.get("client_id"), body.get("client_secret")
        if not isinstance(cid, str) or not isinstance(secret, str):
            raise invalid_body('"client_id" and "client_secret" are required')
        emu.register_client(cid, secret)
        return {"client_id": cid}

    @router.post("/orgs/{org_ref}/seed")
    @router.post("/workspaces/{org_ref}/seed")
    async def seed(org_ref: str, request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        body = await _body(request)
        # `people` / `companies` are the other emulators' names for the same counts.
        body.setdefault("contacts", body.get("people"))
        body.setdefault("accounts", body.get("companies"))
        counts = {k: _number(body, k) for k in ("contacts", "leads", "accounts", "seed")}
        return seed_org(
            emu,
            emu.org(org_ref),
            contacts=int(counts["contacts"] or 0),
            leads=int(counts["leads"] or 0),
            accounts=None if counts["accounts"] is None else int(counts["accounts"]),
            seed=int(counts["seed"] or 0),
        ).to_json()

    @router.post("/orgs/{org_ref}/records/{module}")
    @router.post("/workspaces/{org_ref}/records/{module}")
    async def create_record(org_ref: str, module: str, request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        org, module = emu.org(org_ref), module_of(module)
        body = await _body(request)
        return _one(emu, org, module, emu.create_records(org, module, [body.get("values", {})]))

    @router.put("/orgs/{org_ref}/records/{module}/{rid}")
    @router.put("/workspaces/{org_ref}/records/{module}/{rid}")
    async def update_record(
        org_ref: str, module: str, rid: str, request: Request
    ) -> dict[str, Any]:
        emu = emulator_of(request)
        org, module = emu.org(org_ref), module_of(module)
        body = await _body(request)
        results = emu.update_records(org, module, [body.get("values", {})], [record_id(rid)])
        return _one(emu, org, module, results)

    @router.delete("/orgs/{org_ref}/records/{module}/{rid}")
    @router.delete("/workspaces/{org_ref}/records/{module}/{rid}")
    async def delete_record(
        org_ref: str, module: str, rid: str, request: Request
    ) -> dict[str, Any]:
        emu = emulator_of(request)
        org, module = emu.org(org_ref), module_of(module)
        results = emu.delete_records(org, module, [record_id(rid)])
        if not results[0].ok:
            raise ZohoError(404, "INVALID_DATA", "the id given seems to be invalid", {"id": rid})
        return {"ok": True}

    @router.get("/orgs/{org_ref}/channels")
    @router.get("/workspaces/{org_ref}/channels")
    async def channels(org_ref: str, request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        org = emu.org(org_ref)
        now = emu.now()
        return {
            "data": [
                channel_json(org, c)
                | {"expired": c.expiry <= now, "explicit_expiry": c.explicit_expiry}
                for c in org.channels.values()
            ]
        }

    # ------------------------------------------------------------ log, stats, faults

    @router.get("/requests")
    async def requests(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        q = request.query_params
        since = float(q["since"]) if q.get("since") else None
        entries = emu.log.entries(since=since, key=q.get("key"), operation=q.get("operation"))
        return {"data": [e.to_dict() for e in entries]}

    @router.delete("/requests")
    async def clear_requests(request: Request) -> dict[str, Any]:
        emulator_of(request).log.clear()
        return {"ok": True}

    @router.get("/stats")
    async def stats(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        out = emu.log.stats()
        out["notifications"] = len(emu.notifications)
        out["deliveries"] = len(emu.deliverer.deliveries)
        out["creditsUsed"] = {o.id: emu.credits_used(o) for o in emu.orgs.values()}
        return out

    @router.get("/faults")
    async def get_faults(request: Request) -> dict[str, Any]:
        return emulator_of(request).faults.config.model_dump()

    @router.put("/faults")
    async def put_faults(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        body = await _body(request)
        try:
            emu.faults.set(type(emu.faults.config).model_validate(body))
        except ValidationError as exc:
            raise invalid_body("invalid data") from exc
        return emu.faults.config.model_dump()

    @router.patch("/faults")
    async def patch_faults(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        body = await _body(request)
        try:
            return emu.faults.update(body).model_dump()
        except ValidationError as exc:
            raise invalid_body("invalid data") from exc

    @router.delete("/faults")
    async def clear_faults(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        emu.faults.clear()
        return emu.faults.config.model_dump()

    @router.get("/notify-delivery")
    async def get_delivery(request: Request) -> dict[str, Any]:
        return emulator_of(request).notify_settings()

    @router.put("/notify-delivery")
    async def put_delivery(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        body = await _body(request)
        attempts = _number(body, "max_attempts", minimum=1)
        try:
            emu.set_notify_delivery(
                max_attempts=None if attempts is None else int(attempts),
                backoff_s=_number(body, "backoff_s"),
                time_scale=_number(body, "time_scale"),
                timeout_s=_number(body, "timeout_s", minimum=0.1),
            )
        except ValueError as exc:
            raise invalid_body(str(exc)) from exc
        return emu.notify_settings()

    @router.get("/notifications")
    async def notifications(request: Request) -> dict[str, Any]:
        return {"data": [n.to_json() for n in list(emulator_of(request).notifications)]}

    @router.get("/deliveries")
    @router.get("/webhook-deliveries")
    async def deliveries(request: Request) -> dict[str, Any]:
        return {"data": [d.to_dict() for d in list(emulator_of(request).deliverer.deliveries)]}

    @router.post("/notifications/drain")
    @router.post("/webhooks/drain")
    async def drain(request: Request) -> dict[str, Any]:
        emu = emulator_of(request)
        body = await _body(request)
        try:
            await emu.drain(_number(body, "timeout") or 30.0)
        except TimeoutError as exc:
            raise ZohoError(408, "TIMEOUT", str(exc)) from exc
        return {"pending": emu.deliverer.pending()}

    return router
