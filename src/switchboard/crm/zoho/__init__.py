"""The Zoho CRM connector: Switchboard's CRM contract for Zoho CRM v8.

    from switchboard.crm.zoho import ZohoConnector

    connector = ZohoConnector(credential, base_url="https://www.zohoapis.eu")

Public API:
- `ZohoConnector` — the `switchboard.crm.base.CrmConnector` for one Zoho org (Contacts and
  optionally Leads; calls as Calls records, texts as Notes; one watch channel).
- `zoho_limiters(identity, database_url=..., redis_url=...)` — the org's concurrency budget and
  the low-credit sync budget, shareable across processes.
- `ZohoGrant`, `exchange_code`, `authorize_url`, `data_centre` — OAuth (see `_oauth`).
- `verify_webhook`, `parse_webhook` — channel-token check and notification parsing.
"""

from switchboard.crm.zoho._connector import ZOHO_API_URL, ZohoConnector, zoho_limiters
from switchboard.crm.zoho._oauth import (
    AccessTokens,
    ZohoGrant,
    authorize_url,
    data_centre,
    exchange_code,
)
from switchboard.crm.zoho._webhooks import parse as parse_webhook
from switchboard.crm.zoho._webhooks import verify as verify_webhook

__all__ = [
    "ZOHO_API_URL",
    "AccessTokens",
    "ZohoConnector",
    "ZohoGrant",
    "authorize_url",
    "data_centre",
    "exchange_code",
    "parse_webhook",
    "verify_webhook",
    "zoho_limiters",
]
