"""The tiny CRM's one registry record."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from switchboard.crm.base import ConnectorConfig
from switchboard.crm.registry import CrmProvider, EmulatorRef, RateBudget, WebhookCodec
from tests.crm.tiny import codec
from tests.crm.tiny.connector import API_URL, NAME, READ, WRITE, TinyConnector


class TinySettings(BaseModel):
    """The tiny CRM's own per-connection settings (beside the common ones)."""

    model_config = ConfigDict(extra="forbid")

    data_centre: Literal["us", "eu"] = "us"
    log_calls_as: Literal["notes", "call_records"] = "notes"


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
    settings=TinySettings,
    emulator=EmulatorRef(
        command="tests.crm.tiny.emulator:command", hosting="tests.crm.tiny.emulator:host"
    ),
)
