"""Pipedrive's registry record: everything the core and the surfaces know about Pipedrive."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from switchboard.crm.base import ConnectorConfig
from switchboard.crm.pipedrive import _uninstall, _webhooks, link_action
from switchboard.crm.pipedrive._budget import (
    BUDGET,
    BURST_LIMIT,
    DAILY_TOKENS,
    TOKEN_COSTS,
    pipedrive_limiters,
)
from switchboard.crm.pipedrive._connector import PIPEDRIVE_API_URL, PipedriveConnector
from switchboard.crm.pipedrive.settings import PipedriveSettings
from switchboard.crm.registry import (
    AuthSpec,
    CrmProvider,
    EmulatorRef,
    OAuthSpec,
    RateBudget,
    UninstallSpec,
    WebhookCodec,
)

__all__ = ["DAILY_TOKENS", "OAUTH_SCOPES", "PROVIDER", "TOKEN_COSTS", "PipedriveSettings"]

PIPEDRIVE_OAUTH_URL = "https://oauth.pipedrive.com"
#: What the OAuth app must be granted in Pipedrive's Developer Hub. Pipedrive takes an app's
#: scopes from its registration, not from the authorize request, so none are sent.
OAUTH_SCOPES = (
    "contacts:full",
    "activities:full",
    "users:read",
    "search:read",
    "phone-integration",
    "admin",
)


def _connect(config: ConnectorConfig) -> PipedriveConnector:
    return PipedriveConnector(
        config.token,
        config.base_url or PIPEDRIVE_API_URL,
        limiters=config.shared_limiters(pipedrive_limiters),
        retry=config.retry,
        transport=config.transport,
        hook=config.hook,
        timeout=config.timeout,
        clock=config.clock,
        bearer=config.bearer,
    )


def person_url(record_id: str, account: Mapping[str, str]) -> str | None:
    """`https://<company domain>.pipedrive.com/person/<id>` (`GET /v1/users/me` names the
    domain); call logs and notes show on that page."""
    domain = account.get("company_domain")
    if not domain or not record_id.isdigit():
        return None
    return f"https://{quote(domain)}.pipedrive.com/person/{record_id}"


PROVIDER = CrmProvider(
    name="pipedrive",
    display_name="Pipedrive",
    api_url=PIPEDRIVE_API_URL,
    connector=_connect,
    # No signature exists: each subscription carries a random HTTP Basic pair (the secret).
    webhooks=WebhookCodec(verify=_webhooks.verify, parse=_webhooks.parse, signs_body=False),
    budgets=(
        # One limiter enforces both (`_budget`): requests per 2 s, token costs per UTC day.
        RateBudget(BUDGET, limit=BURST_LIMIT.rate, window_s=BURST_LIMIT.period),
        RateBudget("daily", unit="tokens", costs=TOKEN_COSTS, daily=DAILY_TOKENS),
    ),
    note_format="html",
    credential="API token",
    auth=AuthSpec(
        kinds=("token", "oauth"),
        # Access tokens live ~1 h; each refresh answers a new refresh token (one unused for
        # 60 days expires); calls then go to the company's own `api_domain`.
        oauth=OAuthSpec(
            authorize_url=f"{PIPEDRIVE_OAUTH_URL}/oauth/authorize",
            token_url=f"{PIPEDRIVE_OAUTH_URL}/oauth/token",
            client_auth="basic",
            expiring=True,
            rotating_refresh=True,
            base_url_field="api_domain",
            uninstall=UninstallSpec(account_of=_uninstall.account_of, method="DELETE"),
        ),
    ),
    settings=PipedriveSettings,
    signed_link_proof=link_action.signed_link_proof,
    record_url=person_url,
    emulator=EmulatorRef(
        command="switchboard.emulators.pipedrive.cli:command",
        hosting="switchboard.emulators.pipedrive.hosting:host",
    ),
)
