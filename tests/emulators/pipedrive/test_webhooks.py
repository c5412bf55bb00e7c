"""Webhooks: v2 and v1 payloads, the subscription's HTTP Basic pair on every attempt, retries
after 3/30/150 s (recorded by a fake sleep), merges as delete + change, subscription removal."""

from __future__ import annotations

import base64

from tests.emulators.pipedrive.conftest import Pd


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_v2_create_change_delete_with_basic_auth(pd: Pd) -> None:
    hook = await pd.hook()
    person = (
        await pd.ok(
            "POST", "/api/v2/persons", json={"name": "Ada", "phones": [{"value": "(415) 555-0134"}]}
        )
    )["data"]
    await pd.ok("PATCH", f"/api/v2/persons/{person['id']}", json={"name": "Ada Lovelace"})
    await pd.ok("DELETE", f"/api/v2/persons/{person['id']}")
    await pd.emu.drain_webhooks()

    assert [r.headers["authorization"] for r in pd.receiver.requests] == [
        _basic("hook-user", "hook-pass")
    ] * 3
    created, changed, deleted = pd.receiver.bodies()
    meta = created["meta"]
    assert (meta["action"], meta["entity"], meta["version"]) == ("create", "person", "2.0")
    assert meta["entity_id"] == str(person["id"]) and meta["webhook_id"] == str(hook["id"])
    assert meta["attempt"] == 1 and meta["change_source"] == "api"
    assert meta["company_id"] == str(pd.co.id)
    assert created["data"]["phones"][0]["value"] == "(415) 555-0134"  # as typed
    assert created["previous"] is None
    assert changed["meta"]["action"] == "change"
    assert changed["data"]["name"] == "Ada Lovelace"
    assert changed["previous"]["name"] == "Ada" and changed["previous"]["last_name"] is None
    assert deleted["meta"]["action"] == "delete" and deleted["data"] is None
    assert deleted["previous"]["id"] == person["id"]


async def test_no_credentials_when_the_subscription_has_none(pd: Pd) -> None:
    await pd.hook(http_auth_user=None, http_auth_password=None)
    pd.co.create_person({"name": "Grace"}, pd.co.admin_user_id, "app")
    await pd.emu.drain_webhooks()
    assert "authorization" not in pd.receiver.requests[0].headers
    assert pd.receiver.bodies()[0]["meta"]["change_source"] == "app"


async def test_merge_is_delete_with_merged_to_id_then_change(pd: Pd) -> None:
    await pd.hook()
    co = pd.co
    keep = co.create_person({"name": "Ada", "phones": ["+14155550134"]}, co.admin_user_id, "app")
    gone = co.create_person({"name": "Ada L", "phones": ["415-555-0199"]}, co.admin_user_id, "app")
    await pd.emu.drain_webhooks()
    pd.receiver.requests.clear()
    await pd.ok(
        "POST",
        "/_emulator/companies/default/persons/merge",
        json={"id": gone.id, "merge_with_id": keep.id},
    )
    await pd.emu.drain_webhooks()
    deleted, changed = pd.receiver.bodies()
    assert deleted["meta"]["action"] == "delete" and deleted["meta"]["entity_id"] == str(gone.id)
    assert deleted["meta"]["merged_to_id"] == str(keep.id)
    assert changed["meta"]["action"] == "change" and changed["meta"]["entity_id"] == str(keep.id)
    assert [p["value"] for p in changed["data"]["phones"]] == ["+14155550134", "415-555-0199"]
    assert gone.id not in co.persons


async def test_v1_subscription_gets_v1_payloads(pd: Pd) -> None:
    await pd.hook(version="1.0")
    co = pd.co
    a = co.create_person({"name": "A", "phones": ["1"]}, co.admin_user_id, "app")
    b = co.create_person({"name": "B"}, co.admin_user_id, "app")
    co.merge_persons(a.id, b.id, co.admin_user_id)
    await pd.emu.drain_webhooks()
    bodies = pd.receiver.bodies()
    assert [x["event"] for x in bodies] == [
        "added.person",
        "added.person",
        "merged.person",
        "updated.person",
    ]
    assert all(x["v"] == 1 and x["meta"]["object"] == "person" for x in bodies)
    assert bodies[0]["current"]["phone"][0]["value"] == "1"
    assert bodies[2]["meta"]["id"] == a.id and bodies[2]["previous"]["id"] == a.id


async def test_event_filters(pd: Pd) -> None:
    await pd.hook(event_action="delete")
    co = pd.co
    p = co.create_person({"name": "A"}, co.admin_user_id, "app")
    co.create_organization({"name": "Org"}, co.admin_user_id, "app")
    co.delete_person(p.id, co.admin_user_id, "app")
    await pd.emu.drain_webhooks()
    assert [b["meta"]["action"] for b in pd.receiver.bodies()] == ["delete"]


async def test_retries_after_3_30_150_seconds(pd: Pd) -> None:
    await pd.hook()
    pd.receiver.fail_first = 2
    pd.co.create_person({"name": "A"}, pd.co.admin_user_id, "app")
    await pd.emu.drain_webhooks()
    bodies = pd.receiver.bodies()
    assert [b["meta"]["attempt"] for b in bodies] == [1, 2, 3]
    assert len({b["meta"]["id"] for b in bodies}) == 1  # one event, however many attempts
    assert pd.slept == [3.0, 30.0]
    statuses = [(d.attempt, d.status) for d in pd.emu.deliverer.deliveries]
    assert statuses == [(1, 500), (2, 500), (3, 200)]

    pd.receiver.requests.clear()
    pd.slept.clear()
    pd.receiver.always_fail = True
    pd.emu.set_webhook_delivery(time_scale=0.01)
    pd.co.create_person({"name": "B"}, pd.co.admin_user_id, "app")
    await pd.emu.drain_webhooks()
    assert len(pd.receiver.requests) == 4  # one attempt and three retries
    assert pd.slept == [0.03, 0.3, 1.5]


async def test_failing_subscription_is_removed(pd: Pd) -> None:
    hook = await pd.hook()
    pd.emu.set_webhook_delivery(remove_after_s=0)
    pd.receiver.always_fail = True
    pd.co.create_person({"name": "A"}, pd.co.admin_user_id, "app")
    await pd.emu.drain_webhooks()
    assert len(pd.receiver.requests) == 1  # removed at the first failure: no retries
    assert (await pd.ok("GET", "/v1/webhooks"))["data"] == []
    assert pd.co.webhooks[hook["id"]].remove_reason


async def test_duplicate_delivery_fault(pd: Pd) -> None:
    await pd.hook()
    await pd.ok("PATCH", "/_emulator/faults", json={"webhook_duplicate_rate": 1.0})
    pd.co.create_person({"name": "A"}, pd.co.admin_user_id, "app")
    await pd.emu.drain_webhooks()
    first, second = pd.receiver.bodies()
    assert first == second
    events = (await pd.ok("GET", "/_emulator/webhook-events"))["data"]
    assert [e["action"] for e in events] == ["create"]
