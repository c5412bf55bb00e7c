"""Contract: every operation of the Quo spec, success and documented error paths, each response
body validated against the spec's response schema for that status (tests/data/quo-openapi.json).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from switchboard.emulators.quo import QuoEmulator, create_app

SPEC = json.loads((Path(__file__).parents[1] / "data" / "quo-openapi.json").read_text())
OPERATIONS = {
    op["operationId"]: (method, path)
    for path, item in SPEC["paths"].items()
    for method, op in item.items()
    if isinstance(op, dict) and "operationId" in op
}
covered: dict[str, set[int]] = {}

# jsonschema only checks date-time / uri with optional packages; check them here.
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value:
        raise ValueError(value)
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = urlparse(value)
    return bool(parsed.scheme and parsed.netloc)


def validate(operation: str, resp: httpx.Response, status: int) -> dict[str, Any] | None:
    """Assert the status and validate the body against the spec's schema for it."""
    assert resp.status_code == status, f"{operation}: {resp.status_code} {resp.text}"
    covered.setdefault(operation, set()).add(status)
    method, path = OPERATIONS[operation]
    response = SPEC["paths"][path][method]["responses"][str(status)]
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        assert resp.content == b""
        return None
    body = resp.json()
    validator = Draft202012Validator(
        {**schema, "components": SPEC["components"]},
        format_checker=FORMATS,
    )
    errors = list(validator.iter_errors(body))
    assert not errors, f"{operation} {status}: {errors[0].message} at {list(errors[0].path)}"
    return dict(body)


@dataclass
class Env:
    emu: QuoEmulator
    http: httpx.AsyncClient
    line: str
    owner: str

    async def call(
        self, method: str, path: str, key: str | None = "k1", **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": key} if key else {}
        return await self.http.request(method, path, headers=headers, **kw)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emu = QuoEmulator(bulk_delay_s=0, phase_delay_scale=0, rate_limit=0)
    emu.apply_settings({"webhookMaxAttempts": 1})
    ws = emu.create_workspace(api_key="k1")
    transport = httpx.ASGITransport(app=create_app(emu))
    async with httpx.AsyncClient(transport=transport, base_url="http://quo.test") as http:
        yield Env(emu, http, next(iter(ws.phone_numbers)), ws.owner_id)
    emu.deliverer.cancel_all()


CONTACT = {
    "defaultFields": {
        "firstName": "Dana",
        "lastName": "Whitfield",
        "company": "Acme",
        "role": "Owner",
        "emails": [{"name": "work", "value": "dana@example.test"}],
        "phoneNumbers": [{"name": "mobile", "value": "+15550142231"}],
    },
    "customFields": [{"key": "inbound-lead", "value": True}, {"key": "tags", "value": ["vip"]}],
    "externalId": "crm-1",
    "source": "attio",
    "sourceUrl": "https://app.attio.com/acme/person/1",
}


async def test_every_operation_needs_the_key(env: Env) -> None:
    for operation, (method, path) in OPERATIONS.items():
        concrete = path.replace("{callId}", "ACx").replace(
            "{id}", "WHx" if "webhooks" in path else "ACx"
        )
        concrete = concrete.replace("{phoneNumberId}", "PNx").replace("{userId}", "USx")
        for key in (None, "wrong"):
            resp = await env.call(method.upper(), concrete, key=key, json={})
            body = validate(operation, resp, 401)
            assert body is not None and body["code"].endswith("401")


async def test_contacts(env: Env) -> None:
    created = validate(
        "createContact_v1", await env.call("POST", "/v1/contacts", json=CONTACT), 201
    )
    assert created is not None
    cid = created["data"]["id"]
    assert {f["key"] for f in created["data"]["customFields"]} == {"inbound-lead", "tags"}
    conflict = validate(
        "createContact_v1", await env.call("POST", "/v1/contacts", json=CONTACT), 409
    )
    assert conflict == {
        "message": "Failed to create contact",
        "code": "0800409",
        "status": 409,
        "docs": "https://openphone.com/docs",
        "title": "Conflict",
    }
    bad_bodies: list[Any] = [
        {},
        {"defaultFields": {}},
        {"defaultFields": {"firstName": 5}},
        {"defaultFields": {"firstName": "A"}, "externalId": 12},
        {"defaultFields": {"firstName": "A", "phoneNumbers": [{"value": "+1555"}]}},
        {"defaultFields": {"firstName": "A"}, "customFields": [{"key": "nope", "value": "x"}]},
        {"defaultFields": {"firstName": "A"}, "source": "openphone"},
        [1, 2],
        "text",
    ]
    for body in bad_bodies:
        resp = await env.call("POST", "/v1/contacts", json=body)
        validate("createContact_v1", resp, 400)
    for raw in (b"{not json", b"", b"\xff\xfe"):
        resp = await env.call("POST", "/v1/contacts", content=raw)
        validate("createContact_v1", resp, 400)

    validate("listContacts_v1", await env.call("GET", "/v1/contacts?externalIds=crm-1"), 200)
    validate(
        "listContacts_v1", await env.call("GET", "/v1/contacts?sources=attio&maxResults=50"), 200
    )
    for query in ("maxResults=0", "maxResults=x", "pageToken=%%%", "externalIds=" + "a" * 76):
        validate("listContacts_v1", await env.call("GET", f"/v1/contacts?{query}"), 400)
    many = "&".join(f"externalIds=e{i}" for i in range(21))
    validate("listContacts_v1", await env.call("GET", f"/v1/contacts?{many}"), 400)

    validate("getContactById_v1", await env.call("GET", f"/v1/contacts/{cid}"), 200)
    validate("getContactById_v1", await env.call("GET", "/v1/contacts/missing"), 404)

    patch = {
        "defaultFields": {"lastName": "Smith"},
        "customFields": [{"key": "tags", "value": ["a"]}],
    }
    updated = validate(
        "updateContactById_v1", await env.call("PATCH", f"/v1/contacts/{cid}", json=patch), 200
    )
    assert updated is not None and updated["data"]["defaultFields"]["lastName"] == "Smith"
    assert updated["data"]["defaultFields"]["firstName"] == "Dana"
    other = CONTACT | {"externalId": "crm-2"}
    await env.call("POST", "/v1/contacts", json=other)
    resp = await env.call("PATCH", f"/v1/contacts/{cid}", json={"externalId": "crm-2"})
    validate("updateContactById_v1", resp, 409)
    resp = await env.call("PATCH", f"/v1/contacts/{cid}", json={"defaultFields": {"firstName": 1}})
    validate("updateContactById_v1", resp, 400)
    resp = await env.call("PATCH", "/v1/contacts/missing", json={"externalId": "x"})
    validate("updateContactById_v1", resp, 404)

    validate("deleteContact_v1", await env.call("DELETE", f"/v1/contacts/{cid}"), 204)
    validate("deleteContact_v1", await env.call("DELETE", f"/v1/contacts/{cid}"), 404)
    validate("getContactCustomFields_v1", await env.call("GET", "/v1/contact-custom-fields"), 200)


async def test_calls_and_artifacts(env: Env) -> None:
    sim = await env.emu.simulate_call(
        "k1", recording=True, summary=True, transcript=True, outcome="answered"
    )
    cid = sim["callId"]
    vm = (
        await env.emu.simulate_call(
            "k1", outcome="voicemail", delays={"voicemail": 999}, delay_scale=1
        )
    )["callId"]
    big = (await env.emu.simulate_call("k1", participant_count=3))["callId"]
    pending = (
        await env.emu.simulate_call(
            "k1", recording=True, summary=True, transcript=True, delay_scale=1
        )
    )["callId"]

    validate("getCallById_v1", await env.call("GET", f"/v1/calls/{cid}"), 200)
    too_many = validate("getCallById_v1", await env.call("GET", f"/v1/calls/{big}"), 400)
    assert too_many is not None and too_many["code"] == "0101400"
    validate("getCallById_v1", await env.call("GET", "/v1/calls/ACmissing"), 404)

    q = f"/v1/calls?phoneNumberId={env.line}&participants=%2B15550142231"
    listed = validate("listCalls_v1", await env.call("GET", q + "&maxResults=2"), 200)
    assert listed is not None and listed["nextPageToken"]
    validate("listCalls_v1", await env.call("GET", f"/v1/calls?phoneNumberId={env.line}"), 400)
    validate("listCalls_v1", await env.call("GET", q + "&maxResults=101"), 400)
    validate("listCalls_v1", await env.call("GET", q + "&createdAfter=yesterday"), 400)
    q404 = "/v1/calls?phoneNumberId=PNmissing&participants=%2B15550142231"
    validate("listCalls_v1", await env.call("GET", q404), 404)

    for operation, path in (
        ("getCallRecordings_v1", "/v1/call-recordings/"),
        ("getCallSummary_v1", "/v1/call-summaries/"),
        ("getCallTranscript_v1", "/v1/call-transcripts/"),
    ):
        done = validate(operation, await env.call("GET", path + cid), 200)
        assert done is not None
        waiting = validate(operation, await env.call("GET", path + pending), 200)
        assert waiting is not None and waiting != done
        validate(operation, await env.call("GET", path + "ACmissing"), 404)
        validate(operation, await env.call("GET", path + "not-a-call"), 400)
    validate("getCallSummary_v1", await env.call("GET", f"/v1/call-summaries/{vm}"), 404)
    validate("getCallTranscript_v1", await env.call("GET", f"/v1/call-transcripts/{vm}"), 404)
    voicemail = validate(
        "getCallVoicemails_v1", await env.call("GET", f"/v1/call-voicemails/{vm}"), 200
    )
    assert voicemail is not None and voicemail["data"]["status"] == "in-progress"
    validate("getCallVoicemails_v1", await env.call("GET", f"/v1/call-voicemails/{cid}"), 404)
    validate("getCallVoicemails_v1", await env.call("GET", "/v1/call-voicemails/nope"), 400)


async def test_messages_and_conversations(env: Env) -> None:
    body = {
        "content": "See you Tuesday",
        "from": env.line,
        "to": ["+15550142231"],
        "setInboxStatus": "done",
    }
    sent = validate("sendMessage_v1", await env.call("POST", "/v1/messages", json=body), 202)
    assert sent is not None
    by_number = body | {"from": "+15550100100"}
    validate("sendMessage_v1", await env.call("POST", "/v1/messages", json=by_number), 202)
    for bad in (
        {},
        body | {"content": "   "},
        body | {"to": []},
        body | {"to": ["+1", "+2"]},
        body | {"from": "PNnotmine"},
        body | {"userId": "USnobody"},
    ):
        validate("sendMessage_v1", await env.call("POST", "/v1/messages", json=bad), 400)
    await env.emu.simulate_message("k1", direction="incoming", text="hi")

    validate("getMessageById_v1", await env.call("GET", f"/v1/messages/{sent['data']['id']}"), 200)
    validate("getMessageById_v1", await env.call("GET", "/v1/messages/ACmissing"), 404)
    q = f"/v1/messages?phoneNumberId={env.line}&participants=%2B15550142231"
    page = validate("listMessages_v1", await env.call("GET", q), 200)
    assert page is not None and page["totalItems"] == 3
    validate(
        "listMessages_v1", await env.call("GET", f"/v1/messages?phoneNumberId={env.line}"), 400
    )
    validate("listMessages_v1", await env.call("GET", q + "&maxResults=0"), 400)
    validate("listMessages_v1", await env.call("GET", q.replace(env.line, "PNnope")), 404)

    convs = validate("listConversations_v1", await env.call("GET", "/v1/conversations"), 200)
    assert convs is not None and len(convs["data"]) == 1
    validate(
        "listConversations_v1",
        await env.call("GET", f"/v1/conversations?phoneNumbers={env.line}&excludeInactive=true"),
        200,
    )
    validate(
        "listConversations_v1",
        await env.call("GET", "/v1/conversations?phoneNumber=%2B15550100100"),
        200,
    )
    validate(
        "listConversations_v1", await env.call("GET", "/v1/conversations?phoneNumbers=bogus"), 400
    )
    validate("listConversations_v1", await env.call("GET", "/v1/conversations?maxResults=500"), 400)


async def test_phone_numbers_and_users(env: Env) -> None:
    numbers = validate("listPhoneNumbers_v1", await env.call("GET", "/v1/phone-numbers"), 200)
    assert numbers is not None and numbers["data"][0]["name"] == "Front Desk"
    assert numbers["data"][0]["symbol"] == "📞"
    validate(
        "listPhoneNumbers_v1", await env.call("GET", f"/v1/phone-numbers?userId={env.owner}"), 200
    )
    validate("listPhoneNumbers_v1", await env.call("GET", "/v1/phone-numbers?userId=bad"), 400)
    validate("getPhoneNumberById_v1", await env.call("GET", f"/v1/phone-numbers/{env.line}"), 200)
    validate("getPhoneNumberById_v1", await env.call("GET", "/v1/phone-numbers/PNmissing"), 404)
    validate("getPhoneNumberById_v1", await env.call("GET", "/v1/phone-numbers/bad"), 400)
    validate("listUsers_v1", await env.call("GET", "/v1/users?maxResults=50"), 200)
    validate("listUsers_v1", await env.call("GET", "/v1/users?maxResults=51"), 400)
    validate("getUserById_v1", await env.call("GET", f"/v1/users/{env.owner}"), 200)
    validate("getUserById_v1", await env.call("GET", "/v1/users/SYsona0001"), 400)
    validate("getUserById_v1", await env.call("GET", "/v1/users/USmissing"), 404)


async def test_webhooks(env: Env) -> None:
    url = "http://127.0.0.1:9/hooks"
    ids = []
    for operation, kind, events in (
        ("createMessageWebhook_v1", "messages", ["message.received", "message.delivered"]),
        (
            "createCallWebhook_v1",
            "calls",
            ["call.completed", "call.ringing", "call.recording.completed"],
        ),
        ("createCallSummaryWebhook_v1", "call-summaries", ["call.summary.completed"]),
        ("createCallTranscriptWebhook_v1", "call-transcripts", ["call.transcript.completed"]),
    ):
        body = {
            "url": url,
            "events": events,
            "resourceIds": [env.line],
            "label": kind,
            "status": "enabled",
        }
        created = validate(
            operation, await env.call("POST", f"/v1/webhooks/{kind}", json=body), 201
        )
        assert created is not None
        ids.append(created["data"]["id"])
        for bad in (
            {"events": events},
            {"url": "not a url", "events": events},
            {"url": url, "events": ["bogus.event"]},
            {"url": url, "events": events, "resourceIds": ["PNunknown"]},
            {"url": url, "events": events, "resourceIds": ["*", env.line]},
            {"url": url, "events": events, "userId": "USnobody"},
            {"url": url, "events": events, "status": "paused"},
        ):
            validate(operation, await env.call("POST", f"/v1/webhooks/{kind}", json=bad), 400)
    listed = validate("listWebhooks_v1", await env.call("GET", "/v1/webhooks"), 200)
    assert listed is not None and len(listed["data"]) == 4
    validate("listWebhooks_v1", await env.call("GET", f"/v1/webhooks?userId={env.owner}"), 200)
    validate("listWebhooks_v1", await env.call("GET", "/v1/webhooks?userId=bad"), 400)
    validate("getWebhookById_v1", await env.call("GET", f"/v1/webhooks/{ids[0]}"), 200)
    validate("getWebhookById_v1", await env.call("GET", "/v1/webhooks/WHmissing"), 404)
    validate("deleteWebhookById_v1", await env.call("DELETE", f"/v1/webhooks/{ids[0]}"), 204)
    validate("deleteWebhookById_v1", await env.call("DELETE", f"/v1/webhooks/{ids[0]}"), 404)
    validate("deleteWebhookById_v1", await env.call("DELETE", "/v1/webhooks/nope"), 400)


def test_zz_every_operation_was_covered() -> None:
    """Runs last in this module: each of the 27 operations was exercised, with a 2xx and a 4xx."""
    if len(covered) < len(OPERATIONS):  # e.g. when a single test was selected
        pytest.skip("run the whole module")
    assert set(covered) == set(OPERATIONS)
    for operation, statuses in covered.items():
        assert any(s < 300 for s in statuses), operation
        assert any(400 <= s < 500 for s in statuses), operation


async def test_invalid_requests_get_spec_4xx_never_500(env: Env) -> None:
    """Bad JSON, missing fields and wrong types on every operation with a body; unknown ids."""
    bodies: list[tuple[str, bytes]] = [
        ("bad json", b"{"),
        ("empty", b""),
        ("array", b"[]"),
        ("string", b'"x"'),
        ("null", b"null"),
        (
            "wrong types",
            json.dumps(
                {
                    "url": 1,
                    "events": "x",
                    "defaultFields": [],
                    "to": 5,
                    "content": 3,
                    "from": False,
                    "externalId": [],
                }
            ).encode(),
        ),
    ]
    created = await env.call("POST", "/v1/contacts", json=CONTACT)
    real = created.json()["data"]["id"]
    for operation, (method, path) in OPERATIONS.items():
        if method not in ("post", "patch"):
            continue
        concrete = path.replace("{id}", real)
        for label, raw in bodies:
            resp = await env.call(method.upper(), concrete, content=raw)
            expected = 400
            body = validate(operation, resp, expected)
            assert body is not None and body["status"] == expected, (operation, label)
    for path in ("/v1/contacts/%00", "/v1/calls/AC%20x", "/v1/users/US" + "x" * 500):
        resp = await env.call("GET", path)
        assert 400 <= resp.status_code < 500
    resp = await env.call("POST", "/v1/contacts/bulk", content=b"{")
    assert resp.status_code == 400 and resp.json()["code"] == "0801400"
    resp = await env.call("POST", "/v1/contacts/bulk", json={"contacts": "x"})
    assert resp.status_code == 400
    resp = await env.call("GET", "/v1/unknown")
    assert resp.status_code == 404 and resp.json()["status"] == 404
    resp = await env.call("PUT", "/v1/contacts")
    assert resp.status_code == 405 and resp.json()["status"] == 405
