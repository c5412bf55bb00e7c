"""The connector contract kit, run for PipedriveConnector against the Pipedrive emulator over
real HTTP (everything else comes from the registry record)."""

from __future__ import annotations

from tests.crm.kit import ConnectorContractKit


class TestPipedriveConnectorContract(ConnectorContractKit):
    crm = "pipedrive"
