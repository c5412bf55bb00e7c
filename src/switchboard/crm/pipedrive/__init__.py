"""The Pipedrive connector: Switchboard's CRM contract for Pipedrive.

    from switchboard.crm.pipedrive import PipedriveConnector

    connector = PipedriveConnector(token, base_url="https://api.pipedrive.com")

Public API:
- `PipedriveConnector` — the `switchboard.crm.base.CrmConnector` for one Pipedrive company.
- `pipedrive_limiters(token, database_url=..., redis_url=...)` — the token's 2-second burst
  window and daily token budget, shareable across processes.
- `verify_webhook`, `parse_webhook` — HTTP Basic check and payload parsing without a connector.
"""

from switchboard.crm.pipedrive._budget import BURST_LIMIT, pipedrive_limiters
from switchboard.crm.pipedrive._connector import PIPEDRIVE_API_URL, PipedriveConnector
from switchboard.crm.pipedrive._webhooks import parse as parse_webhook
from switchboard.crm.pipedrive._webhooks import verify as verify_webhook

__all__ = [
    "BURST_LIMIT",
    "PIPEDRIVE_API_URL",
    "PipedriveConnector",
    "parse_webhook",
    "pipedrive_limiters",
    "verify_webhook",
]
