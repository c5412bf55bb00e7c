"""Attio's registry record: everything the core and the surfaces know about Attio."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from switchboard.crm.attio import _webhooks
from switchboard.crm.attio._connector import (
    ATTIO_API_URL,
    READ_LIMIT,
    WRITE_LIMIT,
    AttioConnector,
    attio_limiters,
)
from switchboard.crm.base import ConnectorConfig
from switchboard.crm.registry import (
    AuthSpec,
    CrmProvider,
    EmulatorRef,
    OAuthSpec,
    RateBudget,
    WebhookCodec,
)

ATTIO_APP_URL = "https://app.attio.com"
# What Switchboard asks for: people and companies, notes, webhooks, members (note authors).
ATTIO_SCOPES = (
    "record_permission:read-write",
    "object_configuration:read",
    "note:read-write",
    "webhook:read-write",
    "user_management:read",
)


def _connect(config: ConnectorConfig) -> AttioConnector:
    return AttioConnector(
        config.token,
        config.base_url or ATTIO_API_URL,
        limiters=config.shared_limiters(attio_limiters),
        retry=config.retry,
        transport=config.transport,
        hook=config.hook,
        timeout=config.timeout,
        clock=config.clock,
    )


def person_url(record_id: str, account: Mapping[str, str]) -> str | None:
    """`https://app.attio.com/<workspace slug>/person/<record id>` (a record's `web_url`)."""
    slug = account.get("workspace_slug")
    return f"{ATTIO_APP_URL}/{quote(slug)}/person/{quote(record_id)}" if slug else None


PROVIDER = CrmProvider(
    name="attio",
    display_name="Attio",
    api_url=ATTIO_API_URL,
    connector=_connect,
    # `Attio-Signature` HMAC over the raw body; one delivery may carry several events.
    webhooks=WebhookCodec(verify=_webhooks.verify, parse=_webhooks.parse),
    # GETs and record queries spend `read`; creates, updates and deletes spend `write`.
    budgets=(
        RateBudget("read", limit=READ_LIMIT.rate, window_s=READ_LIMIT.period),
        RateBudget("write", limit=WRITE_LIMIT.rate, window_s=WRITE_LIMIT.period),
    ),
    note_format="markdown",
    credential="token",
    token_rejected="Attio rejects the token",
    record_url=person_url,
    # Attio's OAuth tokens do not expire and come without a refresh token (reference/attio-api.md);
    # PKCE is not documented by Attio, so the flow relies on the client secret and `state`.
    auth=AuthSpec(
        kinds=("token", "oauth"),
        oauth=OAuthSpec(
            authorize_url=f"{ATTIO_APP_URL}/authorize",
            token_url=f"{ATTIO_APP_URL}/oauth/token",
            scopes=ATTIO_SCOPES,
        ),
    ),
    emulator=EmulatorRef(
        command="switchboard.emulators.attio.cli:command",
        hosting="switchboard.emulators.attio.hosting:host",
    ),
)
