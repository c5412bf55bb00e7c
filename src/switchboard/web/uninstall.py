"""A CRM's uninstall callback: `<method> /webhooks/{crm}/uninstall`.

A CRM whose registry record has `OAuthSpec.uninstall` calls this URL (registered in its OAuth
app) when a user removes the app. The request must carry HTTP Basic with this deployment's
client id and secret for that CRM (`SWITCHBOARD_OAUTH_CLIENTS`), compared in constant time;
anything else answers 401 and is recorded like every refused webhook
(`switchboard.web.rejections`). The body names the CRM account; every live connection signed
in with OAuth to that account is disconnected as `switchboard disconnect` does (webhooks at
both providers deleted, secrets wiped, audit row). Connections using a pasted token are left
alone: removing the app does not revoke a personal token.

The answer is honest: 200 only when every cleanup step worked. When one failed (typically the
CRM's webhooks, whose deletion the removed app's revoked token can no longer do) the connection
is still disconnected, the errors are logged, audited (`uninstall`) and shown as the
connection's status message, and the CRM gets 500 with the list.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from switchboard import connections, setup
from switchboard.crm import registry
from switchboard.http import RetryPolicy
from switchboard.logs import get_logger, mask_text
from switchboard.oauth import token_status
from switchboard.store.models import Connection
from switchboard.web import rejections
from switchboard.web.webhooks import Reject, read_body

log = get_logger("switchboard.web.uninstall")

router = APIRouter(tags=["webhooks"])

# The CRM waits for the answer: a provider that does not answer is reported, not waited out.
_TEARDOWN_RETRY = RetryPolicy(max_attempts=2, max_delay=1.0)


def _basic_matches(header: str, client_id: str, client_secret: str) -> bool:
    """`Authorization: Basic` equal to `client_id:client_secret`, compared in constant time."""
    if header[:6].lower() != "basic ":
        return False
    try:
        given = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, f"{client_id}:{client_secret}".encode())


def _signed_in_connections(db: Any, crm: str, account_id: str) -> list[str]:
    with db.session() as s:
        ids = list(
            s.scalars(
                select(Connection.id).where(
                    Connection.crm == crm,
                    Connection.crm_workspace_id == account_id,
                    Connection.disconnected_at.is_(None),
                )
            )
        )
    return [cid for cid in ids if token_status(db, cid) is not None]


def _record_incomplete(
    db: Any, connection_id: str, status: str, display: str, errors: list[str]
) -> None:
    message = f"removed in {display}; cleanup incomplete: " + "; ".join(errors)[:400]
    connections.set_status(db, connection_id, status, message)


async def _uninstall(request: Request, crm: str) -> JSONResponse:
    rt = request.app.state.runtime
    provider = registry.find(crm)
    spec = provider.auth.oauth.uninstall if provider and provider.auth.oauth else None
    client = rt.settings.oauth_clients.get(crm)
    if provider is None or spec is None or client is None or request.method != spec.method:
        return JSONResponse({"ok": False, "error": "no uninstall callback here"}, 404)
    try:
        body = await read_body(request)
        secret = client.client_secret.get_secret_value()
        if not _basic_matches(request.headers.get("authorization", ""), client.client_id, secret):
            raise Reject(401, "uninstall callback without the app's client credentials")
        try:
            account_id = spec.account_of(body)
        except (ValueError, TypeError) as exc:
            raise Reject(400, f"malformed uninstall callback: {mask_text(str(exc))[:200]}") from exc
    except Reject as rej:
        rejections.RECORDER.refused(
            rt.db, connection_id=None, provider=crm, status=rej.status, reason=rej.reason
        )
        return JSONResponse({"ok": False, "error": rej.reason}, status_code=rej.status)
    ids = await asyncio.to_thread(_signed_in_connections, rt.db, crm, account_id)
    outcome: dict[str, list[str]] = {}
    for connection_id in ids:
        status = "disconnected"
        try:
            report = await setup.disconnect_with_own_clients(
                rt.db, rt.box, rt.settings, connection_id, retry=_TEARDOWN_RETRY
            )
            errors = [str(e) for e in report["errors"]]
        except Exception as exc:  # not disconnected: say so, and the CRM may call again
            status = "error"
            errors = [f"disconnect failed: {mask_text(repr(exc))[:300]}"]
        outcome[connection_id] = errors
        if errors:
            await asyncio.to_thread(
                _record_incomplete, rt.db, connection_id, status, provider.display_name, errors
            )
            log.warning(
                "uninstall_cleanup_incomplete", connection_id=connection_id, crm=crm, errors=errors
            )
        await asyncio.to_thread(
            connections.audit,
            rt.db,
            connection_id,
            "uninstall",
            {"crm": crm, "account_id": account_id, "errors": errors[:50]},
        )
        log.info("uninstalled", connection_id=connection_id, crm=crm, complete=not errors)
    failed = {cid: errs for cid, errs in outcome.items() if errs}
    answer = {"ok": not failed, "disconnected": sorted(outcome), "errors": failed}
    return JSONResponse(answer, status_code=500 if failed else 200)


@router.delete("/webhooks/{crm}/uninstall", summary="A CRM's OAuth-app uninstall callback")
async def uninstall_delete(crm: str, request: Request) -> JSONResponse:
    return await _uninstall(request, crm)


@router.post("/webhooks/{crm}/uninstall", include_in_schema=False)
async def uninstall_post(crm: str, request: Request) -> JSONResponse:
    return await _uninstall(request, crm)
