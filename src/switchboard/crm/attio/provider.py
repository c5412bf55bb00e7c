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
from switchboard.crm.attio._oauth import ATTIO_APP_URL
from switchboard.crm.base import ConnectorConfig
from switchboard.crm.registry import AuthSpec, CrmProvider, EmulatorRef, RateBudget, WebhookCodec


def _connect(config: ConnectorConfig) -> AttioConnector:
    limiters = config.limiters
    if limiters is None and (config.database_url or config.redis_url):
        limiters = attio_limiters(
            config.token,
            database_url=config.database_url,
            redis_url=config.redis_url,
            clock=config.clock,
        )
    return AttioConnector(
        config.token,
        config.base_url or ATTIO_API_URL,
        limiters=limiters,
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
    auth=AuthSpec(
        kinds=("token", "oauth"),
        authorize_url=f"{ATTIO_APP_URL}/authorize",
        token_url=f"{ATTIO_APP_URL}/oauth/token",
    ),
    emulator=EmulatorRef(
        command="switchboard.emulators.attio.cli:command",
        hosting="switchboard.emulators.attio.hosting:host",
    ),
)
