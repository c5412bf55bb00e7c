"""The dated API generation (profile 2026-03-30): version header, cursors, the /webhooks
resource, the new event catalogue and envelope, retries on the documented schedule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.emulators.quo.conftest import Quo
from tests.emulators.quo.test_webhooks import Receiver, receiver, verify_standard

__all__ = ["receiver"]

V = {"Quo-Api-Version": "2026-03-30"}


@pytest.fixture
def dated(quo: Quo) -> Iterator[Quo]:
    quo.control("PATCH", "/settings", json={"profile": "2026-03-30", "webhookScheduleScale": 0})
    yield quo


def wait(quo: Quo) -> None:
    quo.control("POST", "/deliveries/wait?timeout=20")


def create_hook(quo: Quo, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    resp = quo.api("POST", "/webhooks", headers=V, json={"url": url, "events": events, **extra})
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


def test_version_header_is_required_and_both_spellings_work(dated: Quo) -> None:
    missing = dated.api("GET", "/users")
    assert missing.status_code == 400
    assert set(missing.json()) >= {"title", "message", "docs", "trace", "errors"}
    assert dated.api("GET", "/users", headers=V).status_code == 200
    beta = dated.api("GET", "/users", headers={"x-quo-api-version": "2026-03-30"})
    assert beta.status_code == 200
    assert dated.api("GET", "/users", headers={"Quo-Api-Version": "2025-01-01"}).status_code == 400


def test_not_served_outside_its_profile(quo: Quo) -> None:
    assert quo.api("GET", "/users", headers=V).status_code == 404
    assert quo.api("GET", "/v1/users").status_code == 200


def test_cursor_lists(dated: Quo) -> None:
    seeded = [
        {"defaultFields": {"firstName": f"P{i}", "phoneNumbers": []}, "externalId": f"e{i}"}
        for i in range(12)
    ]
    dated.control("POST", "/workspaces/k1/contacts", json={"contacts": seeded})
    first = dated.api("GET", "/contacts", headers=V, params={"limit": 5}).json()
    assert len(first["data"]) == 5 and first["nextCursor"]
    seen = [c["id"] for c in first["data"]]
    cursor = first["nextCursor"]
    while cursor:
        page = dated.api("GET", "/contacts", headers=V, params={"limit": 5, "after": cursor}).json()
        seen += [c["id"] for c in page["data"]]
        cursor = page["nextCursor"]
    assert len(seen) == len(set(seen)) == 12
    assert dated.api("GET", "/contacts", headers=V, params={"limit": 51}).status_code == 400
    assert dated.api("GET", "/contacts", headers=V, params={"after": "junk"}).status_code == 400
    assert len(dated.api("GET", "/contacts", headers=V).json()["data"]) == 10


def test_webhook_lifecycle(dated: Quo, receiver: Receiver) -> None:
    hook = create_hook(dated, receiver.url, ["call.missed", "contact.updated"], status="disabled")
    assert hook["key"].startswith("whsec_") and hook["status"] == "disabled"
    assert dated.api("GET", "/webhooks", headers=V).json()["data"][0]["id"] == hook["id"]
    assert dated.api("GET", "/v1/webhooks").json()["data"] == []  # not a legacy webhook
    enabled = dated.api("PATCH", f"/webhooks/{hook['id']}", headers=V, json={"status": "enabled"})
    assert enabled.json()["data"]["status"] == "enabled"
    rotated = dated.api("POST", f"/webhooks/{hook['id']}/rotate", headers=V).json()["data"]
    assert rotated["key"] != hook["key"] and rotated["key"].startswith("whsec_")
    bad = dated.api("POST", "/webhooks", headers=V, json={"url": receiver.url, "events": ["x.y"]})
    assert bad.status_code == 400
    assert dated.api("DELETE", f"/webhooks/{hook['id']}", headers=V).status_code == 204
    assert dated.api("GET", f"/webhooks/{hook['id']}", headers=V).status_code == 404


def test_test_delivery_reaches_a_disabled_webhook_and_shows_in_history(
    dated: Quo, receiver: Receiver
) -> None:
    hook = create_hook(dated, receiver.url, ["call.completed"], status="disabled")
    sent = dated.api(
        "POST", f"/webhooks/{hook['id']}/events/test", headers=V, json={"eventType": "call.missed"}
    )
    assert sent.status_code == 202
    wait(dated)
    headers, body = receiver.received[0]
    verify_standard(headers, body, hook["key"])
    event = json.loads(body)
    assert event["type"] == "call.missed" and event["apiVersion"] == "2026-03-30"
    history = dated.api("GET", f"/webhooks/{hook['id']}/events", headers=V).json()["data"]
    rows = [(e["id"], e["status"], e["test"]) for e in history]
    assert rows == [(event["id"], "delivered", True)]


def test_new_catalogue_envelope_and_contact_events(dated: Quo, receiver: Receiver) -> None:
    events = ["call.missed", "call.voicemail.completed", "call.completed", "message.failed",
              "contact.updated", "contact.deleted"]  # fmt: skip
    hook = create_hook(dated, receiver.url, events)
    dated.control("POST", "/calls", json={"outcome": "voicemail"})
    dated.control("POST", "/messages", json={"direction": "outgoing", "failed": True})
    made = dated.api(
        "POST", "/v1/contacts", json={"defaultFields": {"firstName": "Ann", "phoneNumbers": []}}
    ).json()["data"]
    dated.control("PATCH", f"/workspaces/k1/contacts/{made['id']}",
                  json={"defaultFields": {"lastName": "Lee"}})  # fmt: skip
    dated.control("DELETE", f"/workspaces/k1/contacts/{made['id']}")
    wait(dated)
    got = receiver.events()
    types = [e["type"] for e in got]
    assert sorted(types) == sorted(
        ["call.missed", "call.completed", "call.voicemail.completed", "message.failed",
         "contact.updated", "contact.updated", "contact.deleted"]
    )  # fmt: skip
    for headers, body in receiver.received:
        verify_standard(headers, body, hook["key"])
    by = {e["type"]: e for e in got}
    vm = by["call.voicemail.completed"]["data"]
    assert vm["resource"]["callId"] == by["call.missed"]["data"]["resource"]["id"]
    assert by["call.missed"]["data"]["context"]["contacts"]["lookupStatus"] in ("matched", "none")
    assert by["contact.deleted"]["data"]["resource"]["id"] == made["id"]
    assert by["contact.deleted"]["data"]["resource"]["defaultFields"]["lastName"] == "Lee"


def test_failed_deliveries_follow_the_schedule_and_can_be_retried(
    dated: Quo, receiver: Receiver
) -> None:
    dated.control("PATCH", "/settings", json={"webhookRetryScheduleS": [0, 1, 1]})
    hook = create_hook(dated, receiver.url, ["call.completed"])
    receiver.fail_first = 5
    dated.control("POST", "/calls", json={"outcome": "answered", "ringing": False})
    wait(dated)
    history = dated.api("GET", f"/webhooks/{hook['id']}/events", headers=V).json()["data"]
    assert len(history) == 1 and history[0]["status"] == "failed"
    assert [a["status"] for a in history[0]["attempts"]] == [500, 500, 500]
    receiver.fail_first = 0
    eid = history[0]["id"]
    retried = dated.api("POST", f"/webhooks/{hook['id']}/events/{eid}/retry", headers=V)
    assert retried.status_code == 202
    wait(dated)
    one = dated.api("GET", f"/webhooks/{hook['id']}/events/{eid}", headers=V).json()["data"]
    assert one["status"] == "delivered" and one["payload"]["id"] == eid
    assert [json.loads(b)["id"] for _, b in receiver.received] == [eid]


def test_default_schedule_is_the_documented_one(dated: Quo) -> None:
    settings = httpx.get(dated.url + "/_emulator/settings").json()
    assert settings["webhookRetryScheduleS"] == [0, 5, 300, 1800, 7200, 18000, 36000, 36000]
