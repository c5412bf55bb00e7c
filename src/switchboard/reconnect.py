"""Reconnect: replace a connection's CRM token or Quo key after checking it, then replay the
events the rejected one failed (so the connection turns healthy without waiting for traffic).

Shared by `switchboard connections reconnect` and the dashboard's reconnect form.
"""

from __future__ import annotations

import asyncio

from switchboard import clients, connections, dispatch, failures, ledger
from switchboard.crypto import SecretBox
from switchboard.http import ApiError
from switchboard.logs import mask_text, register_secret
from switchboard.store.db import Database


class CredentialsRejected(ValueError):
    """The provider refused the new secret; nothing was stored."""


async def _check(
    info: connections.ConnectionInfo, crm_token: str | None, quo_key: str | None
) -> None:
    if crm_token:
        crm = clients.build_crm_connector(info.crm, crm_token, info.crm_base_url)
        try:
            await crm.check_credentials()
        except ApiError as exc:
            name = failures.provider_label(info.crm)
            what = failures.credential_word(info.crm)
            raise CredentialsRejected(
                f"{name} rejects the new {what} too: {mask_text(str(exc))[:300]}"
            ) from exc
        finally:
            await crm.aclose()
    if quo_key:
        quo = clients.build_quo_client(quo_key, info.quo_base_url)
        try:
            await quo.list_phone_numbers()
        except ApiError as exc:
            raise CredentialsRejected(
                f"Quo rejects the new API key too: {mask_text(str(exc))[:300]}"
            ) from exc
        finally:
            await quo.aclose()


async def reconnect_connection(
    db: Database,
    box: SecretBox,
    info: connections.ConnectionInfo,
    *,
    crm_token: str | None = None,
    quo_api_key: str | None = None,
    check: bool = True,
) -> int:
    """Check, store, and replay the failures the old secret caused. Returns how many events
    were replayed. Raises CredentialsRejected (nothing stored) or ConnectionNotFound."""
    for secret in (crm_token, quo_api_key):
        if secret:
            register_secret(secret)
    if check:
        await _check(info, crm_token, quo_api_key)
    await asyncio.to_thread(
        connections.update_credentials,
        db,
        box,
        info.id,
        crm_token=crm_token,
        quo_api_key=quo_api_key,
    )
    clients.forget(info.id)  # other processes notice the new `credentials_stamp`
    causes = set()
    if crm_token:
        causes.add(f"{info.crm}:auth")
    if quo_api_key:
        causes.add("quo:auth")
    failed = await asyncio.to_thread(ledger.failed_events, db, connection_id=info.id)
    ids = [e.id for e in failed if failures.cause_of(e).key in causes]
    if not ids:
        return 0
    result = await asyncio.to_thread(dispatch.replay_many, db, ids)
    return len(result["replayed"])
