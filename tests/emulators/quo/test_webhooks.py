"""Simulated calls and messages deliver signed webhooks shaped like fixtures/quo-webhooks/*.json.

The emulator runs as a separate server; the receiver runs in a thread of the test process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchboard.emulators.common import ServerThread, run_in_thread
from tests.emulators.quo.conftest import Quo
from tests.fixtures import QUO_WEBHOOKS

FIXTURES = QUO_WEBHOOKS


@dataclass
class Receiver:
    server: ServerThread
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url + "/hooks/quo"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]

    def by_type(self) -> dict[str, tuple[dict[str, str], bytes]]:
        return {json.loads(body)["type"]: (h, body) for h, body in self.received}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    async def hook(request: Request) -> Response:
        rec = holder[0]
        body = await request.body()
        with rec.lock:
            if rec.fail_first > 0:
                rec.fail_first -= 1
                return Response(status_code=500)
            rec.received.append((dict(request.headers), body))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hooks/quo", hook, methods=["POST"])])
    with run_in_thread(app) as server:
        holder.append(Receiver(server))
        yield holder[0]


def verify_legacy(headers: dict[str, str], body: bytes, key: str) -> None:
    scheme, version, ts, sig = headers["openphone-signature"].split(";")
    assert (scheme, version) == ("hmac", "1")
    assert abs(int(ts) / 1000 - time.time()) < 300
    mac = hmac.new(base64.b64decode(key), f"{ts}.".encode() + body, hashlib.sha256).digest()
    assert hmac.compare_digest(base64.b64encode(mac).decode(), sig)


def verify_standard(headers: dict[str, str], body: bytes, key: str) -> None:
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(int(ts) - time.time()) < 300
    secret = base64.b64decode(key.removeprefix("whsec_"))
    mac = hmac.new(secret, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    assert expected in headers["webhook-signature"].split()


def shape(value: Any) -> Any:
    """Keys (recursively) and JSON types, ignoring values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if value is not None else None


def assert_like_fixture(event: dict[str, Any], fixture: str) -> None:
    expected = json.loads((FIXTURES / fixture).read_text())
    assert set(event) == set(expected)
    assert set(event["data"]) == set(expected["data"])
    assert set(event["data"]["object"]) == set(expected["data"]["object"]), fixture
    for key, value in expected["data"]["object"].items():
        got = event["data"]["object"][key]
        if value is not None and got is not None:
            assert type(got) is type(value) or {type(got), type(value)} <= {int, float}, key
    assert event["object"] == "event" and event["apiVersion"] == "v4"
    assert event["id"].startswith("EV")
    assert event["data"]["deepLink"].startswith("https://")


def subscribe(quo: Quo, receiver: Receiver, version: int = 1, **extra: Any) -> dict[str, str]:
    keys = {}
    for kind, events in (
        ("calls", ["call.completed", "call.recording.completed"]),
        ("call-summaries", ["call.summary.completed"]),
        ("call-transcripts", ["call.transcript.completed"]),
        ("messages", ["message.received", "message.delivered"]),
    ):
        resp = quo.api(
            "POST",
            f"/v{version}/webhooks/{kind}",
            json={"url": receiver.url, "events": events, **extra},
        )
        assert resp.status_code == 201, resp.text
        keys[kind] = resp.json()["data"]["key"]
    return keys


def wait(quo: Quo) -> list[dict[str, Any]]:
    return list(quo.control("POST", "/deliveries/wait?timeout=20").json()["data"])


def test_call_with_recording_and_summary_delivers_three_signed_events(
    quo: Quo, receiver: Receiver
) -> None:
    from switchboard.quo import signatures

    quo.control(
        "POST",
        "/workspaces/k1/contacts",
        json={
            "contacts": [
                {
                    "defaultFields": {
                        "firstName": "Dana",
                        "phoneNumbers": [{"name": "m", "value": "+15550142231"}],
                    },
                    "externalId": "crm-1",
                }
            ]
        },
    )
    keys = subscribe(quo, receiver, resourceIds=[quo.line_id])
    call = quo.control(
        "POST",
        "/calls",
        json={
            "outcome": "answered",
            "recording": True,
            "summary": {
                "summary": ["Caller asked to move the date."],
                "nextSteps": ["Confirm by email."],
                "jobs": [
                    {
                        "icon": "✍️",
                        "name": "Message taking",
                        "result": {"data": [{"name": "Callback number", "value": "+15550142231"}]},
                    }
                ],
            },
            "ringing": False,
        },
    ).json()
    deliveries = wait(quo)
    assert {d["eventType"] for d in deliveries} == {
        "call.completed",
        "call.recording.completed",
        "call.summary.completed",
    }
    got = receiver.by_type()
    assert set(got) == {"call.completed", "call.recording.completed", "call.summary.completed"}
    key_for = {
        "call.completed": keys["calls"],
        "call.recording.completed": keys["calls"],
        "call.summary.completed": keys["call-summaries"],
    }
    for event_type, (headers, body) in got.items():
        verify_legacy(headers, body, key_for[event_type])
        assert signatures.verify(headers, body, key_for[event_type]) == "legacy"
        with pytest.raises(signatures.SignatureError):
            signatures.verify(headers, body + b" ", key_for[event_type])
    completed = json.loads(got["call.completed"][1])
    assert_like_fixture(completed, "call.completed.answered-incoming.json")
    assert completed["data"]["object"]["id"] == call["callId"]
    assert completed["data"]["object"]["recordings"] is None
    assert len(completed["data"]["object"]["contactIds"]) == 1
    recording = json.loads(got["call.recording.completed"][1])
    assert_like_fixture(recording, "call.recording.completed.json")
    assert set(recording["data"]["object"]["recordings"][0]) == {
        "id",
        "duration",
        "startTime",
        "type",
        "url",
    }
    summary = json.loads(got["call.summary.completed"][1])
    assert_like_fixture(summary, "call.summary.completed.json")
    assert summary["data"]["object"]["callId"] == call["callId"]
    assert summary["data"]["object"]["jobs"][0]["name"] == "Message taking"
    # Readable through the REST API as well.
    rest = quo.api("GET", f"/v1/call-summaries/{call['callId']}").json()["data"]
    assert rest["status"] == "completed" and rest["summary"] == ["Caller asked to move the date."]


def test_standard_webhooks_for_v2_and_transcript(quo: Quo, receiver: Receiver) -> None:
    from switchboard.quo import signatures

    keys = subscribe(quo, receiver, version=2)
    quo.control("POST", "/calls", json={"recording": True, "summary": True, "transcript": True})
    wait(quo)
    got = receiver.by_type()
    assert set(got) == {
        "call.completed",
        "call.recording.completed",
        "call.summary.completed",
        "call.transcript.completed",
    }
    headers, body = got["call.transcript.completed"]
    verify_standard(headers, body, keys["call-transcripts"])
    assert signatures.verify(headers, body, keys["call-transcripts"]) == "standard"
    assert "openphone-signature" not in headers
    assert_like_fixture(json.loads(body), "call.transcript.completed.json")


def test_only_matching_events_and_resource_ids(quo: Quo, receiver: Receiver) -> None:
    other = quo.control(
        "POST",
        "/workspaces",
        json={
            "apiKey": "k2",
            "phoneNumbers": [
                {"number": "+15550100100", "name": "Front Desk", "symbol": "📞"},
                {"number": "+15550100200", "name": "Sales", "symbol": "💼"},
            ],
        },
    ).json()
    front, sales = (p["id"] for p in other["phoneNumbers"])
    resp = quo.api(
        "POST",
        "/v1/webhooks/calls",
        key="k2",
        json={"url": receiver.url, "events": ["call.completed"], "resourceIds": [sales]},
    )
    assert resp.status_code == 201
    quo.control(
        "POST", "/calls", json={"workspace": "k2", "phoneNumberId": front, "recording": True}
    )
    quo.control(
        "POST", "/calls", json={"workspace": "k2", "phoneNumberId": sales, "recording": True}
    )
    quo.control("POST", "/calls", json={"workspace": "k1"})  # another workspace entirely
    wait(quo)
    events = receiver.events()
    assert [e["type"] for e in events] == ["call.completed"]
    assert events[0]["data"]["object"]["phoneNumberId"] == sales


def test_outcomes_and_empty_participants(quo: Quo, receiver: Receiver) -> None:
    subscribe(quo, receiver)
    quo.control("POST", "/calls", json={"outcome": "voicemail", "emptyParticipants": True})
    wait(quo)
    (event,) = receiver.events()
    obj = event["data"]["object"]
    assert obj["participants"] == [] and obj["answeredAt"] is None and obj["status"] == "completed"
    assert_like_fixture(event, "call.completed.empty-participants.json")
    rest = quo.api("GET", f"/v1/calls/{obj['id']}").json()["data"]
    assert len(rest["participants"]) == 2  # the REST resource keeps them
    receiver.received.clear()
    quo.control("POST", "/calls", json={"outcome": "ai-handled"})
    quo.control("POST", "/calls", json={"direction": "outgoing"})
    wait(quo)
    ai, out = (e["data"]["object"] for e in receiver.events())
    assert ai["answeredBy"].startswith("SY")
    assert out["direction"] == "outgoing" and out["initiatedBy"].startswith("US")
    assert out["participants"][0] == "+15550100100"
    orders = set()
    for _ in range(12):
        call = quo.control("POST", "/calls", json={"shuffleParticipants": True}).json()["call"]
        orders.add(tuple(call["participants"]))
    assert len(orders) == 2


def test_messages_fire_received_and_delivered(quo: Quo, receiver: Receiver) -> None:
    keys = subscribe(quo, receiver)
    quo.control("POST", "/messages", json={"direction": "incoming", "text": "Tuesday OK?"})
    sent = quo.api(
        "POST", "/v1/messages", json={"content": "Yes", "from": quo.line_id, "to": ["+15550142231"]}
    )
    assert sent.status_code == 202
    wait(quo)
    got = receiver.by_type()
    received = json.loads(got["message.received"][1])
    assert_like_fixture(received, "message.received.json")
    assert received["data"]["object"]["to"] == "+15550100100"
    delivered = json.loads(got["message.delivered"][1])
    assert_like_fixture(delivered, "message.delivered.json")
    assert delivered["data"]["object"]["id"] == sent.json()["data"]["id"]
    verify_legacy(*got["message.delivered"], keys["messages"])
    rest = quo.api("GET", f"/v1/messages/{sent.json()['data']['id']}").json()["data"]
    assert rest["status"] == "delivered"


def test_duplicate_reorder_and_retry(quo: Quo, receiver: Receiver) -> None:
    subscribe(quo, receiver)
    quo.control("PUT", "/faults", json={"webhook_duplicate_rate": 1.0})
    quo.control("POST", "/calls", json={"recording": True, "summary": True, "ringing": False})
    wait(quo)
    ids = [e["id"] for e in receiver.events()]
    assert len(ids) == 6 and len(set(ids)) == 3
    receiver.received.clear()
    quo.control("PUT", "/faults", json={"webhook_reorder_jitter_s": 0.5})
    orders = set()
    for _ in range(4):
        receiver.received.clear()
        quo.control("POST", "/calls", json={"recording": True, "summary": True, "ringing": False})
        wait(quo)
        orders.add(tuple(e["type"] for e in receiver.events()))
    assert len(orders) > 1, orders
    quo.control("DELETE", "/faults")
    quo.control("PATCH", "/settings", json={"webhookBackoffS": 0.01})
    quo.control("DELETE", "/deliveries")
    receiver.received.clear()
    receiver.fail_first = 2
    quo.control("POST", "/calls", json={"ringing": False})
    deliveries = wait(quo)
    assert [d["status"] for d in deliveries] == [500, 500, 204]
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]
    assert len(receiver.events()) == 1


def test_ringing_event_shape(quo: Quo, receiver: Receiver) -> None:
    resp = quo.api(
        "POST", "/v1/webhooks/calls", json={"url": receiver.url, "events": ["call.ringing"]}
    )
    key = resp.json()["data"]["key"]
    quo.control("POST", "/calls", json={"outcome": "answered"})
    wait(quo)
    ((headers, body),) = receiver.received
    verify_legacy(headers, body, key)
    event = json.loads(body)
    assert_like_fixture(event, "call.ringing.json")
    obj = event["data"]["object"]
    assert obj["status"] == "ringing" and obj["answeredAt"] is None and obj["completedAt"] is None


def test_summary_and_transcript_added_later(quo: Quo, receiver: Receiver) -> None:
    subscribe(quo, receiver)
    call_id = quo.control("POST", "/calls", json={"ringing": False}).json()["callId"]
    assert quo.api("GET", f"/v1/call-summaries/{call_id}").status_code == 404
    quo.control("POST", f"/calls/{call_id}/summary", json={"summary": ["Later."], "nextSteps": []})
    quo.control("POST", f"/calls/{call_id}/transcript", json={})
    wait(quo)
    assert sorted(e["type"] for e in receiver.events()) == [
        "call.completed",
        "call.summary.completed",
        "call.transcript.completed",
    ]
    summary = quo.api("GET", f"/v1/call-summaries/{call_id}").json()["data"]
    assert summary["summary"] == ["Later."] and summary["status"] == "completed"
    assert quo.api("GET", f"/v1/call-transcripts/{call_id}").json()["data"]["status"] == "completed"
    resp = quo.http.post(quo.url + "/_emulator/calls/ACnope/summary", json={})
    assert resp.status_code == 404
