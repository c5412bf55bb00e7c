"""Making a connection from the browser or the admin API: live checks first, then one store.

    quo = await check_quo_key(key, base_url)                 # lines, bulk contacts, webhooks
    crm = await check_crm(crm, token, base_url)              # the account the token opens
    info = await create(db, box, NewConnection(...), tokens=oauth_tokens)   # + setup queued
    await rotate_credentials(db, box, info, quo_api_key=..., crm_token=..., tokens=...)

Every check runs before anything is stored, and each failure is `OnboardingRefused` with a
message an admin can act on (a wrong key, a workspace without bulk contacts, a webhooks
generation that does not answer). A connection is stored in one transaction — with its OAuth
tokens when signed in — so a failure leaves nothing half-made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard import clients, connections, reconnect, setup
from switchboard.connection_settings import InvalidSettings, validate_settings
from switchboard.crm import registry
from switchboard.crypto import SecretBox
from switchboard.http import ApiError, RetryPolicy
from switchboard.logs import mask_text, register_secret
from switchboard.oauth import NEEDS_REAUTH, TokenSet, forget_tokens, save_tokens
from switchboard.store.db import Database

# A check should answer in seconds: a couple of quick retries on 429/5xx, no long waits.
_CHECK_RETRY = RetryPolicy(max_attempts=2, max_delay=1.0)


class OnboardingRefused(ValueError):
    """A check failed; nothing was stored. `field` names the input at fault."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class QuoLine:
    id: str
    number: str
    name: str


@dataclass(frozen=True)
class QuoCheck:
    lines: list[QuoLine]
    bulk_contacts: bool
    webhooks: dict[str, bool]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": [line.__dict__ for line in self.lines],
            "bulk_contacts": self.bulk_contacts,
            "webhooks": self.webhooks,
        }


async def check_quo_key(api_key: str, base_url: str, *, require_bulk: bool = True) -> QuoCheck:
    """The key works and lists its lines; bulk contacts and the webhook generations answer."""
    register_secret(api_key)
    quo = clients.build_quo_client(api_key, base_url, retry=_CHECK_RETRY)
    try:
        try:
            numbers = await quo.list_phone_numbers()
        except ApiError as exc:
            if exc.status in (401, 403):
                raise OnboardingRefused(
                    "Quo rejects this API key: check that it was copied whole and is active "
                    "(a key created in the last minute may not work yet)",
                    "quo_api_key",
                ) from None
            raise OnboardingRefused(
                f"Quo could not be reached to check the key: {mask_text(exc.message)[:200]}",
                "quo_api_key",
            ) from None
        lines = [QuoLine(n.id, n.number or "", n.name or "") for n in numbers]
        bulk = await _bulk_contacts_available(quo)
        if require_bulk and not bulk:
            raise OnboardingRefused(
                "this Quo workspace has no bulk contacts endpoint (granted to integration "
                "partners): ask Quo to enable it for the key, or allow the slower one-by-one "
                "sync",
                "quo_api_key",
            )
        webhooks = {v: await _webhooks_answer(quo, v) for v in ("v1", "v2")}
        if not webhooks["v1"]:
            raise OnboardingRefused(
                "Quo's webhooks (v1) do not answer for this key, so calls and texts could not "
                "be received: check the key's permissions",
                "quo_api_key",
            )
        return QuoCheck(lines, bulk, webhooks)
    finally:
        await quo.aclose()


async def _bulk_contacts_available(quo: Any) -> bool:
    """An empty bulk create: 404/403 means the key has no bulk endpoint; anything else that
    is not a network failure means it has (an empty batch creates nothing)."""
    try:
        await quo.bulk_create_contacts([])
    except ApiError as exc:
        return exc.status not in (403, 404)
    return True


async def _webhooks_answer(quo: Any, version: str) -> bool:
    try:
        await quo.list_webhooks(version=version)
    except ApiError:
        return False
    return True


async def check_crm(
    crm: str, token: str, base_url: str | None, *, bearer: bool = False
) -> dict[str, str]:
    """The CRM account the token opens (`check_credentials` of its connector); `bearer`: the
    token is an OAuth access token."""
    provider = registry.get(crm)
    register_secret(token)
    connector = clients.build_crm_connector(
        crm, token, base_url or provider.api_url, retry=_CHECK_RETRY, bearer=bearer
    )
    try:
        return dict(await connector.check_credentials())
    except (ApiError, ValueError) as exc:
        detail = exc.message if isinstance(exc, ApiError) else str(exc)
        raise OnboardingRefused(
            f"{provider.token_rejected}: {mask_text(detail)[:200]}", "crm_token"
        ) from None
    finally:
        await connector.aclose()


@dataclass(frozen=True)
class NewConnection:
    crm: str
    quo_api_key: str
    quo_base_url: str = "https://api.openphone.com"
    crm_token: str | None = None
    crm_base_url: str | None = None
    name: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    require_bulk: bool = True

    def __repr__(self) -> str:  # never print secrets by accident
        return f"NewConnection(crm={self.crm!r}, name={self.name!r})"


@dataclass(frozen=True)
class Created:
    info: connections.ConnectionInfo
    checks: dict[str, Any]
    setup_workflow_id: str | None


async def create(
    db: Database,
    box: SecretBox,
    new: NewConnection,
    *,
    tokens: TokenSet | None = None,
    start_setup: bool = True,
) -> Created:
    """Check everything, store the connection (with its OAuth tokens), queue its set-up and
    initial sync."""
    provider = registry.find(new.crm)
    if provider is None:
        raise OnboardingRefused(f"unknown CRM {new.crm!r}", "crm")
    token = tokens.access_token if tokens is not None else new.crm_token
    if not token:
        raise OnboardingRefused(
            f"sign in with {provider.display_name} or paste its {provider.credential}",
            "crm_token",
        )
    base_url = (tokens.base_url if tokens else None) or new.crm_base_url or provider.api_url
    try:
        settings = validate_settings(dict(new.settings), new.crm)
    except InvalidSettings as exc:
        raise OnboardingRefused(str(exc), "settings") from None
    quo = await check_quo_key(new.quo_api_key, new.quo_base_url, require_bulk=new.require_bulk)
    known = {line.id for line in quo.lines}
    unknown = [x for x in settings.get("enabled_lines") or [] if x not in known]
    if unknown:
        raise OnboardingRefused(f"not lines of this Quo workspace: {', '.join(unknown)}", "lines")
    account = await check_crm(new.crm, token, base_url, bearer=tokens is not None)
    workspace = account.get("workspace_name")
    info = await asyncio.to_thread(
        _store, db, box, new, token, base_url, settings, account, tokens, workspace
    )
    workflow_id = setup.start_setup(info.id) if start_setup else None
    return Created(info, {"quo": quo.to_dict(), new.crm: account}, workflow_id)


def _store(
    db: Database,
    box: SecretBox,
    new: NewConnection,
    token: str,
    base_url: str,
    settings: dict[str, Any],
    account: Mapping[str, str],
    tokens: TokenSet | None,
    workspace: str | None,
) -> connections.ConnectionInfo:
    info = connections.create_connection(
        db,
        box,
        crm=new.crm,
        quo_api_key=new.quo_api_key,
        crm_token=token,
        quo_base_url=new.quo_base_url,
        crm_base_url=base_url,
        name=new.name or (f"Quo ↔ {workspace}" if workspace else ""),
        crm_workspace_id=account.get("workspace_id"),
        settings=settings,
    )
    if tokens is not None:
        try:
            save_tokens(db, box, info.id, tokens)
        except BaseException:
            forget_tokens(db, info.id)
            connections.delete_connection(db, info.id)
            raise
    return info


async def rotate_credentials(
    db: Database,
    box: SecretBox,
    info: connections.ConnectionInfo,
    *,
    quo_api_key: str | None = None,
    crm_token: str | None = None,
    tokens: TokenSet | None = None,
) -> int:
    """Replace the Quo key and/or the CRM credentials (a pasted token or a new sign-in) after
    checking them; a connection waiting for re-authorisation resumes and the events that failed
    for the old credentials are replayed once. Returns how many were replayed."""
    if quo_api_key:
        await check_quo_key(quo_api_key, info.quo_base_url, require_bulk=False)
    token = tokens.access_token if tokens is not None else crm_token
    if token:
        await check_crm(info.crm, token, info.crm_base_url, bearer=tokens is not None)
    if tokens is not None:
        await asyncio.to_thread(save_tokens, db, box, info.id, tokens)
    elif crm_token:
        # A pasted token replaces a sign-in: its tokens must stop overriding the pasted one.
        await asyncio.to_thread(forget_tokens, db, info.id)
    if info.status == NEEDS_REAUTH and token:
        await asyncio.to_thread(
            connections.set_status, db, info.id, "active", "signed in again; resuming"
        )
    return await reconnect.reconnect_connection(
        db, box, info, crm_token=token, quo_api_key=quo_api_key, check=False
    )
