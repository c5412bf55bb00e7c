"""The core loop works: create a person, find them by phone, get a webhook for it."""

from __future__ import annotations

from tests.emulators.attio.conftest import Attio


async def test_create_query_and_webhook(attio: Attio) -> None:
    await attio.subscribe(["record.created"])
    person = await attio.create_person(name="Ada Lovelace", phone_numbers=["+1 415 555 0134"])
    found = await attio.ok(
        "POST",
        "/v2/objects/people/records/query",
        json={"filter": {"phone_numbers": "+14155550134"}},
    )
    assert [r["id"]["record_id"] for r in found["data"]] == [person["id"]["record_id"]]
    await attio.emu.drain_webhooks()
    assert len(attio.receiver.deliveries) == 1
