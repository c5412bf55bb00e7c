"""Zoho CRM's registry record: everything the core and the surfaces know about Zoho."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from switchboard.crm.base import ConnectorConfig
from switchboard.crm.registry import AuthSpec, CrmProvider, EmulatorRef, RateBudget, WebhookCodec
from switchboard.crm.zoho import _webhooks
from switchboard.crm.zoho._connector import (
    BUDGET,
    CONCURRENCY_LIMIT,
    ZOHO_API_URL,
    ZohoConnector,
    zoho_limiters,
)
from switchboard.crm.zoho._oauth import DATA_CENTRES, data_centre, parse_credential

PeopleModule = Literal["Contacts", "Leads"]


def _contacts_only() -> list[PeopleModule]:
    return ["Contacts"]


# Credits per rolling 24 h of an Enterprise org with 5 users (50,000 + 1,000 per user).
DAILY_CREDITS = 50_000 + 1_000 * 5


class ZohoSettings(BaseModel):
    """Zoho's own per-connection settings (`switchboard connections settings`)."""

    zoho_modules: list[PeopleModule] = Field(default_factory=_contacts_only, min_length=1)
    """Where people come from and callers are looked up: Contacts, Leads or both."""
    zoho_data_centre: Literal["us", "eu", "in", "au", "cn", "jp", "ca", "sa"] | None = None
    """The org's data centre when the credential is a bare access token (a grant names its
    own): the API host of that DC is used instead of the connection's base URL."""
    zoho_sync_reserve_credits: int = Field(default=5_000, ge=0)
    """Below this many credits left (Zoho's `X-API-CREDITS-REMAINING`), sync slows to one
    request per 30 s so activity logging keeps the rest."""


def _connect(config: ConnectorConfig) -> ZohoConnector:
    settings = ZohoSettings.model_validate(
        {k: v for k, v in config.settings.items() if k in ZohoSettings.model_fields}
    )
    base_url = config.base_url
    default_url = base_url is None or base_url.rstrip("/") == ZOHO_API_URL
    if settings.zoho_data_centre and default_url and parse_credential(config.token) is None:
        base_url = data_centre(settings.zoho_data_centre)[1]
    limiters = config.limiters
    if limiters is None:
        grant = parse_credential(config.token)
        limiters = zoho_limiters(
            grant.key if grant else config.token,
            database_url=config.database_url,
            redis_url=config.redis_url,
            clock=config.clock,
        )
    region = config.settings.get("default_region")
    return ZohoConnector(
        config.token,
        base_url,
        modules=tuple(settings.zoho_modules),
        limiters=limiters,
        retry=config.retry,
        transport=config.transport,
        hook=config.hook,
        timeout=config.timeout,
        clock=config.clock,
        region=str(region) if region else "US",
        database_url=config.database_url,
        sync_reserve_credits=settings.zoho_sync_reserve_credits,
    )


PROVIDER = CrmProvider(
    name="zoho",
    display_name="Zoho CRM",
    api_url=ZOHO_API_URL,
    connector=_connect,
    # No signature: the channel's random token, echoed in every notification body.
    webhooks=WebhookCodec(verify=_webhooks.verify, parse=_webhooks.parse, signs_body=False),
    budgets=(
        RateBudget(
            BUDGET,
            limit=CONCURRENCY_LIMIT.rate,
            window_s=CONCURRENCY_LIMIT.period,
            concurrency=int(CONCURRENCY_LIMIT.rate),
        ),
        RateBudget("daily", unit="credits", daily=DAILY_CREDITS),
    ),
    note_format="plain",
    credential="OAuth credential",
    # The credential is pasted (`connect zoho`): an access token or a grant made with
    # `switchboard.crm.zoho.exchange_code` in the redirect's data centre; the connector refreshes
    # and shares the grant's access tokens itself (`_oauth.AccessTokens`). The core's OAuth
    # sign-in has one token endpoint per CRM, and Zoho's depends on the account's data centre.
    auth=AuthSpec(
        kinds=("token",),
        regions={dc: api for dc, (_accounts, api) in DATA_CENTRES.items()},
    ),
    settings=ZohoSettings,
    emulator=EmulatorRef(
        command="switchboard.emulators.zoho.cli:command",
        hosting="switchboard.emulators.zoho.hosting:host",
    ),
)
