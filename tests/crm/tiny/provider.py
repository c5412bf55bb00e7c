"""The tiny CRM's one registry record."""

from __future__ import annotations

from switchboard.crm.base import ConnectorConfig
from switchboard.crm.registry import CrmProvider, EmulatorRef, RateBudget, WebhookCodec
from tests.crm.tiny import codec
from tests.crm.tiny.connector import API_URL, NAME, READ, WRITE, TinyConnector


def _connect(config: ConnectorConfig) -> TinyConnector:
    return TinyConnector(config)


PROVIDER = CrmProvider(
    name=NAME,
    display_name="Tiny CRM",
    api_url=API_URL,
    connector=_connect,
    webhooks=WebhookCodec(verify=codec.verify, parse=codec.parse),
    budgets=(RateBudget("read", limit=READ.rate), RateBudget("write", limit=WRITE.rate)),
    note_format="html",
    emulator=EmulatorRef(
        command="tests.crm.tiny.emulator:command", hosting="tests.crm.tiny.emulator:host"
    ),
)
