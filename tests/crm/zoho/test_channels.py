"""Zoho watch channels through the connector against the emulator (its clock advanced, not
slept): a unique channel id per subscription, an explicit expiry a week ahead by the server's
clock, renewal when fewer than five days are left, NOT_SUBSCRIBED once expired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from switchboard.crm.base import ConnectorConfig
from switchboard.crm.zoho import ZohoConnector
from switchboard.crm.zoho.provider import PROVIDER
from switchboard.emulators.zoho import ZohoEmulator, create_app

TOKEN = "1000.channel-test-token"
DAY = 86400.0


@pytest.fixture
def emu() -> ZohoEmulator:
    return ZohoEmulator(token=TOKEN, seed=1)


@pytest.fixture
async def zoho(emu: ZohoEmulator) -> AsyncIterator[ZohoConnector]:
    transport = httpx.ASGITransport(app=create_app(emu))
    config = ConnectorConfig(token=TOKEN, base_url="https://www.zohoapis.com", transport=transport)
    connector = PROVIDER.connect(config)
    assert isinstance(connector, ZohoConnector)
    yield connector
    await connector.aclose()


def _expiry(emu: ZohoEmulator, channel_id: str) -> float:
    return emu.default_org.channels[channel_id].expiry


async def test_each_subscription_has_its_own_channel_a_week_ahead(
    emu: ZohoEmulator, zoho: ZohoConnector
) -> None:
    first = await zoho.subscribe("https://sb.example/webhooks/zoho/c1")
    second = await zoho.subscribe("https://sb.example/webhooks/zoho/c2")
    assert first.remote_id != second.remote_id and first.secret != second.secret
    channel = emu.default_org.channels[first.remote_id]
    assert channel.explicit_expiry
    assert 7 * DAY - 120 < channel.expiry - emu.now() <= 7 * DAY
    assert channel.events == ["Contacts.all"]


async def test_renewal_when_fewer_than_five_days_are_left(
    emu: ZohoEmulator, zoho: ZohoConnector
) -> None:
    info = await zoho.subscribe("https://sb.example/webhooks/zoho/c1")
    before = _expiry(emu, info.remote_id)
    emu.advance(1 * DAY)
    await zoho.list_subscriptions()
    assert await zoho.renew_subscription(info.remote_id)
    assert _expiry(emu, info.remote_id) == before  # six days left: nothing sent
    emu.advance(2.5 * DAY)
    await zoho.list_subscriptions()  # learns the expiry and the server's time
    assert await zoho.renew_subscription(info.remote_id)
    renewed = _expiry(emu, info.remote_id)
    assert renewed > before and renewed - emu.now() > 7 * DAY - 180
    emu.advance(6 * DAY)  # past the first expiry, inside the renewed one
    assert info.remote_id in {s.remote_id for s in await zoho.list_subscriptions()}


async def test_an_expired_channel_is_not_subscribed(emu: ZohoEmulator, zoho: ZohoConnector) -> None:
    info = await zoho.subscribe("https://sb.example/webhooks/zoho/c1")
    emu.advance(7 * DAY + 60)
    assert await zoho.list_subscriptions() == []
    assert await zoho.renew_subscription(info.remote_id) is False
    again = await zoho.subscribe("https://sb.example/webhooks/zoho/c1")  # a new one works
    assert again.remote_id != info.remote_id
    assert _expiry(emu, again.remote_id) - emu.now() > 7 * DAY - 180
    await zoho.unsubscribe(info.remote_id)  # gone already: not an error
    # The connector judged by the server's clock (a week and a minute ahead of this one).
    assert zoho.server_now() - datetime.now(UTC) > timedelta(days=7)
