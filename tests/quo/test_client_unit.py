"""QuoClient wiring without a server: hosts, auth header, limiter choice, request shapes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from switchboard.config import Settings
from switchboard.http import MemoryRateLimiter, SqlRateLimiter
from switchboard.quo.client import QuoClient, base_url_for, is_ai_agent_id
from switchboard.quo.models import ContactInput, DefaultFields, LabeledValue


def test_environments() -> None:
    assert base_url_for("prod") == "https://api.openphone.com"
    assert base_url_for("dev") == "https://dev-public-api.openphone.dev"
    assert base_url_for("local", "http://127.0.0.1:8010/") == "http://127.0.0.1:8010"
    with pytest.raises(ValueError):
        base_url_for("local")
    assert is_ai_agent_id("SY123") and not is_ai_agent_id("US123") and not is_ai_agent_id(None)


async def test_from_settings_shares_the_limit_through_the_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, quo_webhooks_version="v2")
    quo = QuoClient.from_settings("key-abcdef-123", settings, base_url="http://quo.test")
    assert isinstance(quo.limiter, SqlRateLimiter) and quo.webhooks_version == "v2"
    assert "key-abcdef-123" not in quo.limiter.key
    await quo.aclose()
    plain = QuoClient("key-abcdef-123")
    assert isinstance(plain.limiter, MemoryRateLimiter) and plain.base_url.endswith("openphone.com")
    await plain.aclose()


async def test_bare_key_header_and_v2_paths() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": []})

    async with QuoClient(
        "bare-key-123456", base_url="http://quo.test", webhooks_version="v2",
        transport=httpx.MockTransport(handle),
    ) as quo:  # fmt: skip
        assert await quo.list_webhooks() == []
        assert await quo.list_webhooks(version="v1") == []
        with pytest.raises(ValueError):
            await quo.list_contacts(external_ids=[str(i) for i in range(21)])
    assert [r.url.path for r in seen] == ["/v2/webhooks", "/v1/webhooks"]
    assert seen[0].headers["authorization"] == "bare-key-123456"


async def test_an_update_sends_the_whole_contact_with_nulls_for_unset_fields() -> None:
    """So a value a Quo user added (a company) is cleared, and the contact holds exactly what
    Switchboard wrote: its echo then matches the sync mapping's fingerprint."""
    sent: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, json={"data": {"id": "CT1"}})

    contact = ContactInput(
        default_fields=DefaultFields(
            first_name="Ada", phone_numbers=[LabeledValue(name="phone", value="+15550100001")]
        ),
        external_id="p1",
        source="switchboard-attio",
    )
    async with QuoClient(
        "key-123456", base_url="http://quo.test", transport=httpx.MockTransport(handle)
    ) as quo:
        await quo.update_contact("CT1", contact)
    body = json.loads(sent[0])
    assert body["defaultFields"] == {
        "firstName": "Ada",
        "lastName": None,
        "company": None,
        "role": None,
        "emails": [],
        "phoneNumbers": [{"name": "phone", "value": "+15550100001"}],
    }
    assert body["externalId"] == "p1" and "sourceUrl" not in body
