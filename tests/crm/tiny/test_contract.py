"""The connector contract kit, run for the tiny CRM: one parameter, everything else from its
registry record."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from switchboard.crm import registry
from tests.crm.kit import ConnectorContractKit
from tests.crm.tiny.provider import PROVIDER


@pytest.fixture(autouse=True, scope="module")
def _registered() -> Iterator[None]:
    registry.register(PROVIDER)
    yield
    registry.unregister(PROVIDER.name)


class TestTinyConnectorContract(ConnectorContractKit):
    crm = "tiny"
    scan_size = 1_500
    page_size = 200
