"""The Attio connector: Switchboard's CRM contract for Attio (REST API v2).

    from switchboard.crm.attio import AttioConnector

    connector = AttioConnector(token, base_url="https://api.attio.com")

Public API:
- `AttioConnector` — the `switchboard.crm.base.CrmConnector` for one Attio workspace.
- `attio_limiters(token, database_url=..., redis_url=...)` — the read (100/s) and write (25/s)
  budgets, shareable across processes.
- OAuth: Attio's endpoints are in its registry record (`provider.PROVIDER.auth.oauth`); the
  flow itself is the core's (`switchboard.oauth`).
- `verify_webhook(raw_body, headers, secret)`, `parse_webhook(raw_body, headers)` — the
  connector's webhook methods without a connector (no network, no credentials).
- `SOURCE` — the Quo contact `source` Switchboard uses for Attio people.
"""

from switchboard.crm.attio._connector import (
    ATTIO_API_URL,
    READ_LIMIT,
    WRITE_LIMIT,
    AttioConnector,
    attio_limiters,
)
from switchboard.crm.attio._webhooks import parse as parse_webhook
from switchboard.crm.attio._webhooks import verify as verify_webhook

SOURCE = "switchboard-attio"

__all__ = [
    "ATTIO_API_URL",
    "READ_LIMIT",
    "SOURCE",
    "WRITE_LIMIT",
    "AttioConnector",
    "attio_limiters",
    "parse_webhook",
    "verify_webhook",
]
