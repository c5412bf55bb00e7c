"""Pipedrive's registry record: everything the core and the surfaces know about Pipedrive."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from switchboard.crm.base import ConnectorConfig
from switchboard.crm.pipedrive import _webhooks, link_action
from switchboard.crm.pipedrive._connector import (
    BUDGET,
    BURST_LIMIT,
    PIPEDRIVE_API_URL,
    PipedriveConnector,
    pipedrive_limiters,
)
from switchboard.crm.registry import AuthSpec, CrmProvider, EmulatorRef, RateBudget, WebhookCodec

# Token costs (`x-token-cost` in Pipedrive's documents) of the operations the connector sends,
# against the company's daily budget (30,000 × plan multiplier × seats; Professional, 5 seats).
TOKEN_COSTS = {
    "persons.list": 10,
    "persons.changed_since": 10,
    "persons.get": 1,
    "deals.get": 1,
    "persons.search": 20,
    "persons.create": 5,
    "persons.update": 5,
    "organizations.batch": 10,
    "call_logs.create": 10,
    "call_logs.recording": 10,
    "call_logs.delete": 6,
    "call_logs.get": 2,
    "call_logs.list": 20,
    "notes.create": 10,
    "notes.delete": 6,
    "notes.list": 20,
    "users.me": 2,
    "webhooks.create": 10,
    "webhooks.delete": 6,
    "webhooks.list": 10,
}
DAILY_TOKENS = 30_000 * 4 * 5


class PipedriveSettings(BaseModel):
    """Pipedrive's own per-connection settings (`switchboard connections settings`)."""

    # `settings KEY=1337` reads the value as JSON: a numeric id or secret arrives as a number.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    link_action_jwt_secret: str | None = Field(default=None, min_length=1, max_length=500)
    """The "Call with Quo" link action's JWT secret (or the app's client secret when the link
    action has none): the call page verifies Pipedrive's signed token with it."""
    link_action_company_id: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    """The Pipedrive company id link-action tokens must name (optional)."""


def _connect(config: ConnectorConfig) -> PipedriveConnector:
    limiters = config.limiters
    if limiters is None and (config.database_url or config.redis_url):
        limiters = pipedrive_limiters(
            config.token,
            database_url=config.database_url,
            redis_url=config.redis_url,
            clock=config.clock,
        )
    return PipedriveConnector(
        config.token,
        config.base_url or PIPEDRIVE_API_URL,
        limiters=limiters,
        retry=config.retry,
        transport=config.transport,
        hook=config.hook,
        timeout=config.timeout,
        clock=config.clock,
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
        RateBudget(BUDGET, limit=BURST_LIMIT.rate, window_s=BURST_LIMIT.period),
        RateBudget("daily", unit="tokens", costs=TOKEN_COSTS, daily=DAILY_TOKENS),
    ),
    note_format="html",
    credential="API token",
    auth=AuthSpec(kinds=("token",)),
    settings=PipedriveSettings,
    signed_link_proof=link_action.signed_link_proof,
    record_url=person_url,
    emulator=EmulatorRef(
        command="switchboard.emulators.pipedrive.cli:command",
        hosting="switchboard.emulators.pipedrive.hosting:host",
    ),
)
