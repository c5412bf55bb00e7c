"""Webhooks: signed deliveries, stable Idempotency-Key across retries and duplicates, subscription
filters, event shapes (fixtures), the https rule, and the drop/duplicate fault knobs."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx

from switchboard.emulators.attio import create_app
from tests.emulators.attio.conftest import TOKEN, Attio, Receiver

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "attio-webhooks"


def _events(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.content)["events"][0] for r in receiver.deliveries]


def _verify(request: httpx.Request, secret: str) -> None:
    expected = hmac.new(secret.encode(), request.content, hashlib.sha256).hexdigest()
    assert request.headers["Attio-Signature"] == expected
    assert request.headers["X-Attio-Signature"] == expected
    assert expected == expected.lower()


async def test_deliveries_are_signed_over_the_raw_body(attio: Attio) -> None:
    hook = await attio.subscribe(["record.created", "record.updated", "record.deleted"])
    person = await attio.create_person(name="Ada")
    rid = person["id"]["record_id"]
    await attio.ok(
        "PATCH",
        f"/v2/objects/people/records/{rid}",
        json={"data": {"values": {"job_title": "CEO", "phone_numbers": ["+14155550134"]}}},
    )
    await attio.ok("DELETE", f"/v2/objects/people/records/{rid}")
    await attio.emu.drain_webhooks()
    for request in attio.receiver.deliveries:
        _verify(request, hook["secret"])
        body = json.loads(request.content)
        assert body["webhook_id"] == hook["id"]["webhook_id"]
        assert request.url == "https://hooks.test/attio"
    events = _events(attio.receiver)
    assert [e["event_type"] for e in events] == [
        "record.created",
        "record.updated",
        "record.updated",
        "record.deleted",
    ]
    attrs = await attio.ok("GET", "/v2/objects/people/attributes")
    by_slug = {a["api_slug"]: a["id"]["attribute_id"] for a in attrs["data"]}
    assert {events[1]["id"]["attribute_id"], events[2]["id"]["attribute_id"]} == {
        by_slug["job_title"],
        by_slug["phone_numbers"],
    }
    assert all(e["id"]["record_id"] == rid for e in events)
    assert events[0]["actor"]["type"] == "api-token"
    keys = [r.headers["Idempotency-Key"] for r in attio.receiver.deliveries]
    assert len(set(keys)) == 4


async def test_event_shapes_match_the_fixtures(attio: Attio) -> None:
    await attio.subscribe(["record.created", "record.updated", "record.deleted", "record.merged"])
    emu, ws = attio.emu, attio.ws
    a = emu.create_record(ws, "people", {"name": "A"})
    b = emu.create_record(ws, "people", {"name": "B"})
    emu.update_record(ws, "people", a.id, {"job_title": "CEO"})
    merged = emu.merge_records(ws, "people", a.id, b.id)
    emu.delete_record(ws, "people", merged.id)
    await emu.drain_webhooks()
    events = {}
    for event in _events(attio.receiver):
        events.setdefault(event["event_type"], []).append(event)
    for name in ("record.created", "record.updated", "record.deleted", "record.merged"):
        fixture = json.loads((FIXTURES / f"{name}.json").read_text())["events"][0]
        for event in events[name]:
            assert set(event) == set(fixture), name
            assert set(event["id"]) == set(fixture["id"]), name
            assert event["actor"] == {"type": "workspace-member", "id": ws.admin_member_id}
    merged_events = events["record.merged"]
    assert [e["id"]["record_id"] for e in merged_events] == [merged.id, merged.id]
    assert sorted(e["duplicate_record_id"] for e in merged_events) == sorted([a.id, b.id])


async def test_failing_receiver_gets_redeliveries_with_the_same_key(attio: Attio) -> None:
    hook = await attio.subscribe(["record.created"])
    attio.receiver.fail_first = 3
    await attio.create_person(name="Ada")
    await attio.emu.drain_webhooks()
    deliveries = attio.receiver.deliveries
    assert len(deliveries) == 4
    assert len({r.headers["Idempotency-Key"] for r in deliveries}) == 1
    assert len({r.content for r in deliveries}) == 1
    for request in deliveries:
        _verify(request, hook["secret"])
    attempts = (await attio.ok("GET", "/_emulator/webhook-deliveries"))["data"]
    assert [(d["attempt"], d["status"]) for d in attempts] == [
        (1, 500),
        (2, 500),
        (3, 500),
        (4, 200),
    ]


async def test_retries_stop_after_max_attempts(attio: Attio) -> None:
    await attio.subscribe(["record.created"])
    await attio.ok("PUT", "/_emulator/webhook-delivery", json={"max_attempts": 3})
    attio.receiver.fail_first = 100
    await attio.create_person(name="Ada")
    await attio.emu.drain_webhooks()
    assert len(attio.receiver.deliveries) == 3


async def test_filters_limit_events_to_the_subscribed_object(attio: Attio) -> None:
    await attio.subscribe(["record.created", "record.deleted"], object_slug="people")
    company = await attio.ok(
        "POST", "/v2/objects/companies/records", json={"data": {"values": {"name": "Acme"}}}
    )
    await attio.ok("DELETE", f"/v2/objects/companies/records/{company['data']['id']['record_id']}")
    person = await attio.create_person(name="Ada")
    await attio.emu.drain_webhooks()
    people_id = await attio.object_id("people")
    events = _events(attio.receiver)
    assert [e["event_type"] for e in events] == ["record.created"]
    assert events[0]["id"] == {
        "workspace_id": attio.ws.id,
        "object_id": people_id,
        "record_id": person["id"]["record_id"],
    }


async def test_not_equals_and_or_filters(attio: Attio) -> None:
    people_id = await attio.object_id("people")
    companies_id = await attio.object_id("companies")
    not_people = {"$and": [{"field": "id.object_id", "operator": "not_equals", "value": people_id}]}
    either = {
        "$or": [
            {"field": "id.object_id", "operator": "equals", "value": people_id},
            {"field": "id.object_id", "operator": "equals", "value": companies_id},
        ]
    }
    a = await attio.ok(
        "POST",
        "/v2/webhooks",
        json={
            "data": {
                "target_url": "https://hooks.test/not-people",
                "subscriptions": [{"event_type": "record.created", "filter": not_people}],
            }
        },
    )
    await attio.ok(
        "POST",
        "/v2/webhooks",
        json={
            "data": {
                "target_url": "https://hooks.test/either",
                "subscriptions": [{"event_type": "record.created", "filter": either}],
            }
        },
    )
    await attio.create_person(name="Ada")
    await attio.ok(
        "POST", "/v2/objects/companies/records", json={"data": {"values": {"name": "Acme"}}}
    )
    await attio.emu.drain_webhooks()
    urls = sorted(str(r.url) for r in attio.receiver.deliveries)
    assert urls == [
        "https://hooks.test/either",
        "https://hooks.test/either",
        "https://hooks.test/not-people",
    ]
    # PATCH changes the subscriptions; DELETE stops deliveries
    await attio.ok(
        "PATCH",
        f"/v2/webhooks/{a['data']['id']['webhook_id']}",
        json={"data": {"subscriptions": [{"event_type": "record.deleted", "filter": None}]}},
    )
    for hook in (await attio.ok("GET", "/v2/webhooks"))["data"]:
        if hook["target_url"].endswith("either"):
            await attio.ok("DELETE", f"/v2/webhooks/{hook['id']['webhook_id']}")
    attio.receiver.deliveries.clear()
    await attio.create_person(name="Grace")
    await attio.emu.drain_webhooks()
    assert attio.receiver.deliveries == []


async def test_dropped_delivery_is_never_sent(attio: Attio) -> None:
    await attio.subscribe(["record.created"])
    await attio.ok("PATCH", "/_emulator/faults", json={"webhook_drop_count": 1})
    first = await attio.create_person(name="Dropped")
    second = await attio.create_person(name="Delivered")
    await attio.emu.drain_webhooks()
    delivered = [e["id"]["record_id"] for e in _events(attio.receiver)]
    assert delivered == [second["id"]["record_id"]]
    log = (await attio.ok("GET", "/_emulator/webhook-events"))["data"]
    assert [(e["record_id"], e["status"]) for e in log] == [
        (first["id"]["record_id"], "dropped"),
        (second["id"]["record_id"], "scheduled"),
    ]


async def test_duplicate_deliveries_share_the_key(attio: Attio) -> None:
    await attio.subscribe(["record.created"])
    await attio.ok(
        "PATCH",
        "/_emulator/faults",
        json={"webhook_duplicate_rate": 1.0, "webhook_reorder_jitter_s": 0.01},
    )
    for name in ("A", "B", "C"):
        await attio.create_person(name=name)
    await attio.emu.drain_webhooks()
    keys = [r.headers["Idempotency-Key"] for r in attio.receiver.deliveries]
    assert len(keys) == 6 and len(set(keys)) == 3
    assert all(keys.count(k) == 2 for k in keys)


async def test_target_url_rule(make_emulator: Any) -> None:
    subs = [{"event_type": "record.created", "filter": None}]
    for allow, url, status in [
        (False, "https://hooks.test/x", 200),
        (False, "http://127.0.0.1:9000/x", 400),
        (True, "http://127.0.0.1:9000/x", 200),
        (True, "http://localhost:9000/x", 200),
        (True, "http://example.com/x", 400),
        (True, "ftp://127.0.0.1/x", 400),
    ]:
        emu = make_emulator(allow_http_targets=allow)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(emu)),
            base_url="https://api.attio.test",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client:
            resp = await client.post(
                "/v2/webhooks", json={"data": {"target_url": url, "subscriptions": subs}}
            )
            assert resp.status_code == status, (allow, url, resp.text)
            if status == 400:
                assert resp.json()["code"] == "validation_type"


async def test_secret_only_at_creation(attio: Attio) -> None:
    hook = await attio.subscribe(["record.created"])
    wid = hook["id"]["webhook_id"]
    assert len(hook["secret"]) >= 32
    assert "secret" not in (await attio.ok("GET", f"/v2/webhooks/{wid}"))["data"]
    patched = await attio.ok(
        "PATCH", f"/v2/webhooks/{wid}", json={"data": {"target_url": "https://hooks.test/b"}}
    )
    assert "secret" not in patched["data"]


async def test_notes_fire_note_events(attio: Attio) -> None:
    await attio.subscribe(["note.created", "note.deleted"], object_slug=None)
    person = await attio.create_person(name="Ada")
    note = await attio.ok(
        "POST",
        "/v2/notes",
        json={
            "data": {
                "parent_object": "people",
                "parent_record_id": person["id"]["record_id"],
                "title": "t",
                "format": "plaintext",
                "content": "c",
            }
        },
    )
    await attio.ok("DELETE", f"/v2/notes/{note['data']['id']['note_id']}")
    await attio.emu.drain_webhooks()
    assert [e["event_type"] for e in _events(attio.receiver)] == ["note.created", "note.deleted"]


async def test_webhook_degrades_after_exhausted_retries_and_patch_reactivates(
    attio: Attio,
) -> None:
    hook = await attio.subscribe(["record.created"])
    wid = hook["id"]["webhook_id"]
    await attio.ok("PUT", "/_emulator/webhook-delivery", json={"max_attempts": 2})
    attio.receiver.fail_first = 2
    await attio.create_person(name="Lost")
    await attio.emu.drain_webhooks()
    assert (await attio.ok("GET", f"/v2/webhooks/{wid}"))["data"]["status"] == "degraded"
    listed = (await attio.ok("GET", "/v2/webhooks"))["data"]
    assert [h["status"] for h in listed] == ["degraded"]
    patched = await attio.ok(
        "PATCH", f"/v2/webhooks/{wid}", json={"data": {"target_url": "https://hooks.test/attio"}}
    )
    assert patched["data"]["status"] == "active"
    await attio.create_person(name="Delivered")
    await attio.emu.drain_webhooks()
    assert (await attio.ok("GET", f"/v2/webhooks/{wid}"))["data"]["status"] == "active"


async def test_reorder_fault_changes_arrival_order(attio: Attio) -> None:
    await attio.subscribe(["record.created"])
    await attio.ok("PATCH", "/_emulator/faults", json={"webhook_reorder_jitter_s": 0.2})
    created = [(await attio.create_person(name=f"P{i}"))["id"]["record_id"] for i in range(8)]
    await attio.emu.drain_webhooks()
    arrived = [e["id"]["record_id"] for e in _events(attio.receiver)]
    assert sorted(arrived) == sorted(created) and arrived != created
