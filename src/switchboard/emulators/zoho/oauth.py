"""Zoho's accounts server: `/oauth/v2/auth` (consent, auto-approved for the org named by `org`
or the default org), `/oauth/v2/token` (authorization code and refresh token grants) and
`/oauth/v2/token/revoke`.

Parameters may come in the query string (as Zoho documents them) or a form body. The redirect
carries `code`, `location` (the DC) and `accounts-server`; token answers carry `api_domain`.
At most 10 access tokens per 10 minutes per refresh token; beyond that `Access Denied`.
OAuth errors answer `{"error": ...}` with status `oauth_error_status` (a fault knob; 200 by
default, as Zoho's accounts server does).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from switchboard.emulators.zoho.context import emulator_of
from switchboard.emulators.zoho.emulator import ACCESS_TOKEN_TTL_S, ZohoEmulator
from switchboard.emulators.zoho.scopes import FULL_SCOPE

TOO_MANY = "You have made too many requests continuously. Please try again after some time."


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        form = await request.form()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _error(emu: ZohoEmulator, error: str, **extra: Any) -> JSONResponse:
    status = int(getattr(emu.faults.config, "oauth_error_status", 200))
    return JSONResponse({"error": error, **extra}, status_code=status)


def oauth_router() -> APIRouter:
    router = APIRouter(prefix="/oauth/v2")

    @router.get("/auth")
    async def authorize(request: Request) -> Response:
        emu = emulator_of(request)
        q = request.query_params
        client_id, redirect_uri = q.get("client_id"), q.get("redirect_uri")
        if not client_id or not redirect_uri or q.get("response_type") != "code":
            return _error(emu, "invalid_request")
        if emu.clients and client_id not in emu.clients:
            return _error(emu, "invalid_client")
        dc = request.scope.get("zoho_dc", "us")
        candidates = [o for o in emu.orgs.values() if o.dc == dc]
        org = emu.orgs.get(q.get("org", "")) or (
            emu.default_org if emu.default_org.dc == dc else (candidates[0] if candidates else None)
        )
        if org is None or org.dc != dc:
            return _error(emu, "invalid_request", error_description="no org in this data centre")
        code = emu.issue_code(
            org,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=q.get("scope") or FULL_SCOPE,
        )
        params = {
            "code": code,
            "location": org.dc,
            "accounts-server": request.scope.get("zoho_accounts", ""),
        }
        if q.get("state"):
            params["state"] = q["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(redirect_uri + sep + urlencode(params), status_code=302)

    @router.post("/token")
    async def token(request: Request) -> Response:
        emu = emulator_of(request)
        p = await _params(request)
        dc = request.scope.get("zoho_dc", "us")
        api_domain = request.scope.get("zoho_api", "")
        grant = p.get("grant_type")
        client_id, secret = p.get("client_id", ""), p.get("client_secret", "")
        if grant == "authorization_code":
            out = emu.exchange_code(dc, p.get("code", ""), client_id, secret, p.get("redirect_uri"))
            if isinstance(out, str):
                return _error(emu, out)
            access, refresh = out
            return JSONResponse(
                {
                    "access_token": access.value,
                    "refresh_token": refresh.value,
                    "scope": access.scope,
                    "api_domain": api_domain,
                    "token_type": "Bearer",
                    "expires_in": ACCESS_TOKEN_TTL_S,
                }
            )
        if grant == "refresh_token":
            got = emu.refresh(dc, p.get("refresh_token", ""), client_id, secret)
            if got == "Access Denied":
                return JSONResponse(
                    {"error_description": TOO_MANY, "error": "Access Denied", "status": "failure"},
                    status_code=400,
                )
            if isinstance(got, str):
                return _error(emu, got)
            return JSONResponse(
                {
                    "access_token": got.value,
                    "scope": got.scope,
                    "api_domain": api_domain,
                    "token_type": "Bearer",
                    "expires_in": ACCESS_TOKEN_TTL_S,
                }
            )
        return _error(emu, "unsupported_grant_type")

    @router.post("/token/revoke")
    async def revoke(request: Request) -> Response:
        emu = emulator_of(request)
        p = await _params(request)
        emu.revoke(p.get("token", ""))
        return JSONResponse({"status": "success"})

    return router
