"""Watch channels and notifications: the channel's token echoed in every notification, one
notification per API call with every id, expiry after one hour without `channel_expiry`,
`NOT_SUBSCRIBED` after expiry, renewal, retries, control-surface edits that notify."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.emulators.zoho.conftest import Zoho

URL = "https://hooks.test/zoho"


def _iso(zoho: Zoho, seconds: float) -> str:
    at = datetime.fromtimestamp(zoho.emu.now(), UTC) + timedelta(seconds=seconds)
    return at.replace(microsecond=0).isoformat()


async def _watch(zoho: Zoho, channel_id: int = 1001, **extra: Any) -> None:
    item = {
        "channel_id": channel_id,
        "events": ["Contacts.all", "Leads.all"],
        "notify_url": URL,
        "token": "tok-1001",
        **extra,
    }
    await zoho.ok("POST", "/crm/v8/actions/watch", 201, json={"watch": [item]})


def _bodies(zoho: Zoho) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in zoho.receiver.deliveries]


async def test_notifications_carry_token_ids_and_operation(zoho: Zoho) -> None:
    await _watch(zoho, channel_expiry=_iso(zoho, 7 * 86400 - 60), return_affected_field_values=True)
    body = {"data": [{"Last_Name": "Ada"}, {"Last_Name": "Alan"}, {"First_Name": "x"}]}
    made = await zoho.ok("POST", "/crm/v8/Contacts", 207, json=body)
    ids = [d["details"]["id"] for d in made["data"][:2]]
    await zoho.ok("PUT", f"/crm/v8/Contacts/{ids[0]}", json={"data": [{"Mobile": "+15550001"}]})
    await zoho.ok("DELETE", f"/crm/v8/Contacts?ids={ids[1]}")
    await zoho.create("Accounts", Account_Name="Not watched")
    await zoho.emu.drain()
    bodies = _bodies(zoho)
    assert [b["operation"] for b in bodies] == ["insert", "update", "delete"]
    insert, update, delete = bodies
    assert insert["ids"] == ids and insert["module"] == "Contacts"
    assert insert["token"] == "tok-1001" and insert["channel_id"] == 1001
    assert insert["resource_uri"] == "https://www.zohoapis.com/crm/v8/Contacts"
    assert isinstance(insert["server_time"], int) and insert["query_params"] == {}
    assert update["ids"] == [ids[0]]
    assert update["affected_fields"] == [{ids[0]: ["Mobile"]}]
    assert update["affected_values"] == [{"id": ids[0], "Mobile": "+15550001"}]
    assert delete["ids"] == [ids[1]]
    assert all(r.headers["content-type"] == "application/json" for r in zoho.receiver.deliveries)


async def test_channel_without_expiry_dies_after_one_hour(zoho: Zoho) -> None:
    await _watch(zoho)
    listed = await zoho.ok("GET", "/crm/v8/actions/watch")
    expiry = datetime.fromisoformat(listed["watch"][0]["channel_expiry"]).timestamp()
    assert 3590 <= expiry - zoho.emu.now() <= 3600
    zoho.emu.advance(3599)
    await zoho.create("Contacts", Last_Name="Still heard")
    zoho.emu.advance(2)
    await zoho.create("Contacts", Last_Name="Unheard")
    await zoho.emu.drain()
    assert len(zoho.receiver.deliveries) == 1
    assert (await zoho.api("GET", "/crm/v8/actions/watch")).status_code == 204
    renew = {"watch": [{"channel_id": 1001, "channel_expiry": _iso(zoho, 86400)}]}
    answer = await zoho.ok("PATCH", "/crm/v8/actions/watch", 202, json=renew)
    assert answer["watch"][0]["code"] == "NOT_SUBSCRIBED"
    # Re-subscribing with the same id works.
    await _watch(zoho, channel_expiry=_iso(zoho, 86400))
    await zoho.create("Contacts", Last_Name="Heard again")
    await zoho.emu.drain()
    assert len(zoho.receiver.deliveries) == 2


async def test_week_channel_outlives_an_hour_and_renews(zoho: Zoho) -> None:
    await _watch(zoho, channel_expiry=_iso(zoho, 7 * 86400))
    too_far = {"watch": [{"channel_id": 1001, "channel_expiry": _iso(zoho, 8 * 86400)}]}
    assert (await zoho.ok("PATCH", "/crm/v8/actions/watch", 202, json=too_far))["watch"][0][
        "code"
    ] == "INVALID_DATA"
    zoho.emu.advance(6 * 86400)
    renew = {"watch": [{"channel_id": 1001, "channel_expiry": _iso(zoho, 7 * 86400)}]}
    await zoho.ok("PATCH", "/crm/v8/actions/watch", json=renew)
    zoho.emu.advance(3 * 86400)
    await zoho.create("Leads", Last_Name="Lead", Company="Acme")
    await zoho.emu.drain()
    assert [b["module"] for b in _bodies(zoho)] == ["Leads"]
    # PUT without channel_expiry resets the channel to one hour.
    put = {"channel_id": 1001, "events": ["Leads.all"], "notify_url": URL, "token": "t2"}
    await zoho.ok("PUT", "/crm/v8/actions/watch", json={"watch": [put]})
    zoho.emu.advance(3601)
    assert (await zoho.api("GET", "/crm/v8/actions/watch")).status_code == 204


async def test_channel_ids_are_per_org(zoho: Zoho) -> None:
    other = zoho.emu.create_org("Other")
    other_token = zoho.emu.issue_access_token(other).value
    await _watch(zoho, 77)
    item = {"channel_id": 77, "events": ["Contacts.create"], "notify_url": URL + "/b", "token": "b"}
    await zoho.ok(
        "POST",
        "/crm/v8/actions/watch",
        201,
        json={"watch": [item]},
        headers={"Authorization": f"Zoho-oauthtoken {other_token}"},
    )
    await zoho.create("Contacts", Last_Name="Only org one")
    await zoho.emu.drain()
    assert [str(r.url) for r in zoho.receiver.deliveries] == [URL]
    assert _bodies(zoho)[0]["token"] == "tok-1001"


async def test_failed_deliveries_are_retried(zoho: Zoho) -> None:
    zoho.receiver.fail_first = 2
    await _watch(zoho)
    await zoho.create("Contacts", Last_Name="Retry")
    await zoho.emu.drain()
    attempts = [d.attempt for d in zoho.emu.deliverer.deliveries]
    statuses = [d.status for d in zoho.emu.deliverer.deliveries]
    assert attempts == [1, 2, 3] and statuses == [500, 500, 200]


async def test_control_edits_notify(zoho: Zoho) -> None:
    await _watch(zoho)
    made = await zoho.ok(
        "POST", "/_emulator/orgs/default/records/Contacts", json={"values": {"Last_Name": "UI"}}
    )
    rid = made["data"]["id"]
    await zoho.ok(
        "PUT",
        f"/_emulator/orgs/default/records/Contacts/{rid}",
        json={"values": {"Phone": "+14155550111"}},
    )
    await zoho.ok("DELETE", f"/_emulator/orgs/default/records/Contacts/{rid}")
    await zoho.emu.drain()
    assert [(b["operation"], b["ids"]) for b in _bodies(zoho)] == [
        ("insert", [rid]),
        ("update", [rid]),
        ("delete", [rid]),
    ]
    channels = await zoho.ok("GET", "/_emulator/orgs/default/channels")
    assert channels["data"][0]["explicit_expiry"] is False
    log = await zoho.ok("GET", "/_emulator/notifications")
    assert len(log["data"]) == 3


async def test_empty_body_knob(zoho: Zoho) -> None:
    await zoho.ok("PATCH", "/_emulator/faults", json={"notify_empty_body_rate": 1})
    await _watch(zoho)
    await zoho.create("Contacts", Last_Name="Ada")
    await zoho.emu.drain()
    contents = sorted(r.content for r in zoho.receiver.deliveries)
    assert contents[0] == b"" and json.loads(contents[1])["operation"] == "insert"


def test_python_api_edits_notify_through_a_server_thread() -> None:
    import httpx

    from switchboard.emulators.common import run_in_thread
    from switchboard.emulators.zoho import create_app
    from tests.emulators.zoho.conftest import TOKEN, Receiver, make_emulator

    emu = make_emulator()
    receiver = Receiver()
    emu.deliverer.transport = httpx.MockTransport(receiver)
    with run_in_thread(create_app(emu)) as srv:
        item = {"channel_id": 5, "events": ["Contacts.all"], "notify_url": URL, "token": "t"}
        resp = httpx.post(
            srv.url + "/crm/v8/actions/watch",
            json={"watch": [item]},
            headers={"Authorization": f"Zoho-oauthtoken {TOKEN}"},
        )
        assert resp.status_code == 201
        seeded = emu.seed(emu.default_org, contacts=3)
        assert len(seeded.contacts) == 3 and receiver.deliveries == []  # seeding is silent
        results = emu.create_records(emu.default_org, "Contacts", [{"Last_Name": "From test"}])
        emu.drain_sync()
    assert [json.loads(r.content)["ids"] for r in receiver.deliveries] == [[results[0].record.id]]
