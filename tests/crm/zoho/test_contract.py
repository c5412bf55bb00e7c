"""The connector contract kit, run for ZohoConnector against the Zoho emulator over real HTTP
(everything else comes from the registry record)."""

from __future__ import annotations

import json

from tests.crm.kit import ConnectorContractKit


class TestZohoConnectorContract(ConnectorContractKit):
    crm = "zoho"
    page_size = 200  # Zoho's per_page maximum
    notes_backdated = False

    @staticmethod
    def without_proof(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """Zoho's proof is the channel token echoed in the notification body."""
        payload = json.loads(body)
        payload.pop("token", None)
        return json.dumps(payload).encode(), headers
