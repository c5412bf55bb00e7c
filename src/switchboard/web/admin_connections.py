"""Admin API: create, delete and rotate the credentials of connections (under /api, in the
OpenAPI document). Checks run live before anything is stored (`switchboard.onboarding`); a
refused check answers 400 with a message naming what is wrong, and nothing is stored.

A connection signed in with OAuth names the completed sign-in (`oauth_state`, from
`/oauth/callback` in the same browser); otherwise it carries a pasted CRM token.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from switchboard import connections, onboarding, setup
from switchboard.config import insecure_http_reason
from switchboard.http import RetryPolicy
from switchboard.oauth import signin
from switchboard.web import security
from switchboard.web.admin import ConnectionOut, SettingsIn
from switchboard.web.oauth_routes import binding_of

router = APIRouter(prefix="/api", tags=["admin"], dependencies=[Depends(security.require_admin)])

_TEARDOWN_RETRY = RetryPolicy(max_attempts=2, max_delay=1.0)
_SECRET = Field(min_length=1, max_length=500)
_URL = Field(default=None, max_length=500)


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    crm: str = Field(min_length=1, max_length=32)
    quo_api_key: str = _SECRET
    quo_base_url: str = Field(default="https://api.openphone.com", max_length=500)
    crm_token: str | None = Field(default=None, min_length=1, max_length=2000)
    oauth_state: str | None = Field(default=None, min_length=1, max_length=100)
    crm_base_url: str | None = _URL
    name: str = Field(default="", max_length=200)
    settings: SettingsIn = Field(default_factory=SettingsIn)
    require_bulk_contacts: bool = True


class CredentialsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quo_api_key: str | None = Field(default=None, min_length=1, max_length=500)
    crm_token: str | None = Field(default=None, min_length=1, max_length=2000)
    oauth_state: str | None = Field(default=None, min_length=1, max_length=100)


class CreatedOut(BaseModel):
    connection: ConnectionOut
    checks: dict[str, Any]
    setup_workflow_id: str | None


class RotatedOut(BaseModel):
    connection: ConnectionOut
    replayed_events: int


class DeletedOut(BaseModel):
    connection_id: str
    report: dict[str, Any]


def _rt(request: Request) -> Any:
    return request.app.state.runtime


def _check_url(rt: Any, url: str | None, field: str) -> None:
    if url is None or rt.settings.allow_insecure_http:
        return
    why = insecure_http_reason(url)
    if why is not None:
        raise HTTPException(400, f"{field}: {why}")


async def _live(rt: Any, connection_id: str) -> connections.ConnectionInfo:
    info = await asyncio.to_thread(connections.find_connection, rt.db, connection_id)
    if info is None:
        raise HTTPException(404, "unknown connection")
    if info.disconnected_at is not None:
        raise HTTPException(409, "connection is disconnected")
    return info


@router.post("/connections", response_model=CreatedOut, status_code=201)
async def create_connection(request: Request, body: ConnectionIn = Body(...)) -> dict[str, Any]:
    """Check the Quo key and the CRM credentials live, store the connection, queue its set-up
    and initial sync."""
    rt = _rt(request)
    _check_url(rt, body.quo_base_url, "quo_base_url")
    _check_url(rt, body.crm_base_url, "crm_base_url")
    if (body.crm_token is None) == (body.oauth_state is None):
        raise HTTPException(400, "give either crm_token or oauth_state (a completed sign-in)")
    tokens = None
    if body.oauth_state is not None:
        tokens = await asyncio.to_thread(
            signin.claim,
            rt.db,
            rt.box,
            body.oauth_state,
            session_id=binding_of(request),
            crm=body.crm,
        )
    new = onboarding.NewConnection(
        crm=body.crm,
        quo_api_key=body.quo_api_key,
        quo_base_url=body.quo_base_url,
        crm_token=body.crm_token,
        crm_base_url=body.crm_base_url,
        name=body.name,
        settings=body.settings.model_dump(exclude_none=True),
        require_bulk=body.require_bulk_contacts,
    )
    created = await onboarding.create(rt.db, rt.box, new, tokens=tokens)
    return {
        "connection": created.info.to_dict(),
        "checks": created.checks,
        "setup_workflow_id": created.setup_workflow_id,
    }


@router.put("/connections/{connection_id}/credentials", response_model=RotatedOut)
async def rotate_credentials(
    connection_id: str, request: Request, body: CredentialsIn = Body(...)
) -> dict[str, Any]:
    """Replace the Quo key and/or the CRM credentials (checked first); events that failed for
    the old ones, or waited for a re-authorisation, are replayed once."""
    rt = _rt(request)
    info = await _live(rt, connection_id)
    if body.crm_token is not None and body.oauth_state is not None:
        raise HTTPException(400, "give crm_token or oauth_state, not both")
    if not (body.quo_api_key or body.crm_token or body.oauth_state):
        raise HTTPException(400, "nothing to rotate: give quo_api_key, crm_token or oauth_state")
    tokens = None
    if body.oauth_state is not None:
        tokens = await asyncio.to_thread(
            signin.claim,
            rt.db,
            rt.box,
            body.oauth_state,
            session_id=binding_of(request),
            crm=info.crm,
        )
    replayed = await onboarding.rotate_credentials(
        rt.db,
        rt.box,
        info,
        quo_api_key=body.quo_api_key,
        crm_token=body.crm_token,
        tokens=tokens,
    )
    fresh = await asyncio.to_thread(connections.get_connection, rt.db, connection_id)
    return {"connection": fresh.to_dict(), "replayed_events": replayed}


@router.delete("/connections/{connection_id}", response_model=DeletedOut)
async def delete_connection(
    connection_id: str,
    request: Request,
    delete_quo_contacts: bool = Query(False),
) -> dict[str, Any]:
    """Disconnect: delete the webhooks Switchboard created at both providers (optionally the
    Quo contacts it created), wipe the secrets, keep the audit trail."""
    rt = _rt(request)
    await _live(rt, connection_id)
    # A short retry: an unreachable provider is reported in `errors`, not waited out by the
    # request; the connection is disconnected here either way.
    report = await setup.disconnect_with_own_clients(
        rt.db,
        rt.box,
        rt.settings,
        connection_id,
        delete_quo_contacts=delete_quo_contacts,
        retry=_TEARDOWN_RETRY,
    )
    return {"connection_id": connection_id, "report": report}
