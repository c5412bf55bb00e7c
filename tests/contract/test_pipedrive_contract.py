"""Every operation the Pipedrive emulator serves, success and error paths, validated against
Pipedrive's own OpenAPI documents (see tests/emulators/pipedrive/spec.py for the relaxations).
Runs twice: in-process over httpx's ASGI transport, and over real HTTP against the emulator served
by uvicorn in a background thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest

from switchboard.emulators.common import ServerThread, run_in_thread
from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
from tests.emulators.pipedrive.spec import spec, template_for, validate

TOKEN = "contract-token"
MISSING_LEAD = "00000000-0000-4000-8000-000000000000"
# (mode, method, template, status) seen over the whole module, for the coverage check at the end
COVERED: set[tuple[str, str, str, int]] = set()


@dataclass
class Api:
    client: httpx.AsyncClient
    mode: str

    async def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        resp = await self.client.request(method, path, **kw)
        assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
        body = resp.json()
        template = validate(method, path, resp.status_code, body)
        COVERED.add((self.mode, method, template, resp.status_code))
        return body

    async def control(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self.client.request(method, "/_emulator" + path, **kw)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def pipedrive_server() -> Iterator[ServerThread]:
    emu = PipedriveEmulator(token=TOKEN, seed_value=3, rate_limits=False)
    with run_in_thread(create_app(emu)) as server:
        yield server


@pytest.fixture(params=["asgi", "http"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    headers = {"x-api-token": TOKEN}
    if request.param == "asgi":
        emu = PipedriveEmulator(token=TOKEN, seed_value=3, rate_limits=False)
        transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=create_app(emu))
        base = "https://api.pipedrive.test"
    else:
        server: ServerThread = request.getfixturevalue("pipedrive_server")
        transport = httpx.AsyncHTTPTransport()
        base = server.url
    async with httpx.AsyncClient(
        transport=transport, base_url=base, headers=headers, timeout=10
    ) as client:
        api = Api(client, request.param)
        await api.control("POST", "/reset")
        yield api


async def _person(api: Api, **body: Any) -> dict[str, Any]:
    body = body or {"name": "Ada Lovelace", "phones": [{"value": "+1 (415) 555-0134"}]}
    created = await api.call("POST", "/api/v2/persons", json=body)
    return dict(created["data"])


async def test_persons(api: Api) -> None:
    org = (await api.call("POST", "/api/v2/organizations", json={"name": "Acme"}))["data"]
    ada = await _person(
        api,
        name="Ada Lovelace",
        org_id=org["id"],
        phones=[{"value": "+1 (415) 555-0134", "primary": True, "label": "mobile"}],
        emails=[{"value": "ada@example.test", "primary": True, "label": "work"}],
    )
    assert ada["phones"][0]["value"] == "+1 (415) 555-0134"  # stored as typed
    assert ada["first_name"] == "Ada" and ada["org_id"] == org["id"]
    await _person(api, name="Grace Hopper", phones=[{"value": "4155550199"}])
    await api.call("POST", "/api/v2/persons", 400, json={"phones": []})
    await api.call("POST", "/api/v2/persons", 400, json={"name": "X", "org_id": 999_999})

    got = await api.call("GET", f"/api/v2/persons/{ada['id']}")
    assert got["data"]["emails"][0]["value"] == "ada@example.test"
    await api.call("GET", "/api/v2/persons/999999", 404)

    page1 = await api.call("GET", "/api/v2/persons", params={"limit": 1})
    assert len(page1["data"]) == 1 and page1["additional_data"]["next_cursor"]
    page2 = await api.call(
        "GET",
        "/api/v2/persons",
        params={"limit": 1, "cursor": page1["additional_data"]["next_cursor"]},
    )
    assert page2["data"][0]["id"] != page1["data"][0]["id"]
    assert page2["additional_data"]["next_cursor"] is None
    by_ids = await api.call("GET", "/api/v2/persons", params={"ids": str(ada["id"])})
    assert [p["id"] for p in by_ids["data"]] == [ada["id"]]
    await api.call("GET", "/api/v2/persons", 400, params={"limit": 501})
    await api.call("GET", "/api/v2/persons", 400, params={"cursor": "not-a-cursor"})
    await api.call("GET", "/api/v2/persons", 400, params={"sort_by": "name"})

    updated = await api.call(
        "PATCH", f"/api/v2/persons/{ada['id']}", json={"phones": [{"value": "+44 20 7946 0958"}]}
    )
    assert [p["value"] for p in updated["data"]["phones"]] == ["+44 20 7946 0958"]
    await api.call("PATCH", "/api/v2/persons/999999", 404, json={"name": "Nobody"})
    await api.call("PATCH", f"/api/v2/persons/{ada['id']}", 400, json={"name": ""})

    deleted = await api.call("DELETE", f"/api/v2/persons/{ada['id']}")
    assert deleted["data"]["id"] == ada["id"]
    await api.call("DELETE", f"/api/v2/persons/{ada['id']}", 404)


async def test_person_search(api: Api) -> None:
    org = (await api.call("POST", "/api/v2/organizations", json={"name": "Globex"}))["data"]
    ada = await _person(
        api, name="Ada Lovelace", org_id=org["id"], phones=[{"value": "(415) 555-0134"}]
    )
    await _person(api, name="Ada Byron", phones=[{"value": "+14155550134"}])
    exact = await api.call(
        "GET",
        "/api/v2/persons/search",
        params={"term": "(415) 555-0134", "fields": "phone", "exact_match": "true"},
    )
    items = exact["data"]["items"]
    assert [i["item"]["id"] for i in items] == [ada["id"]]
    assert items[0]["item"]["phones"] == ["(415) 555-0134"]  # plain strings in search hits
    assert items[0]["item"]["organization"]["name"] == "Globex"
    fuzzy = await api.call("GET", "/api/v2/persons/search", params={"term": "Ada"})
    assert len(fuzzy["data"]["items"]) == 2
    await api.call("GET", "/api/v2/persons/search", 400, params={"term": "A"})
    await api.call("GET", "/api/v2/persons/search", 400, params={"term": "Ada", "fields": "x"})


async def test_organizations(api: Api) -> None:
    org = (await api.call("POST", "/api/v2/organizations", json={"name": "Initech"}))["data"]
    await api.call("POST", "/api/v2/organizations", 400, json={"name": ""})
    other = (await api.call("POST", "/api/v2/organizations", json={"name": "Hooli"}))["data"]
    listed = await api.call(
        "GET", "/api/v2/organizations", params={"ids": f"{org['id']},{other['id']}"}
    )
    assert {o["name"] for o in listed["data"]} == {"Initech", "Hooli"}
    await api.call("GET", "/api/v2/organizations", 400, params={"ids": "a,b"})
    await api.call("GET", f"/api/v2/organizations/{org['id']}")
    await api.call("GET", "/api/v2/organizations/424242", 404)
    renamed = await api.call(
        "PATCH", f"/api/v2/organizations/{org['id']}", json={"name": "Initrode"}
    )
    assert renamed["data"]["name"] == "Initrode"
    await api.call("PATCH", "/api/v2/organizations/424242", 404, json={"name": "X"})
    await api.call("DELETE", f"/api/v2/organizations/{org['id']}")
    await api.call("DELETE", f"/api/v2/organizations/{org['id']}", 404)


async def test_deals_and_leads(api: Api) -> None:
    ada = await _person(api)
    await api.control(
        "POST", "/companies/default/deals", json={"title": "Big", "person_id": ada["id"]}
    )
    await api.control(
        "POST",
        "/companies/default/deals",
        json={"title": "Won", "person_id": ada["id"], "status": "won"},
    )
    open_deals = await api.call(
        "GET",
        "/api/v2/deals",
        params={
            "person_id": ada["id"],
            "status": "open",
            "sort_by": "update_time",
            "sort_direction": "desc",
            "limit": 1,
        },
    )
    assert [d["title"] for d in open_deals["data"]] == ["Big"]
    await api.call("GET", "/api/v2/deals", 400, params={"status": "maybe"})
    big = open_deals["data"][0]
    one = await api.call("GET", f"/api/v2/deals/{big['id']}")
    assert one["data"]["person_id"] == ada["id"]
    await api.call("GET", "/api/v2/deals/999999", 404)

    await api.control(
        "POST", "/companies/default/leads", json={"title": "Lead A", "person_id": ada["id"]}
    )
    leads = await api.call(
        "GET", "/v1/leads", params={"person_id": ada["id"], "sort": "update_time DESC"}
    )
    assert [lead["title"] for lead in leads["data"]] == ["Lead A"]
    assert leads["additional_data"]["more_items_in_collection"] is False
    await api.call("GET", "/v1/leads", 400, params={"sort": "nope DESC"})


async def test_activities(api: Api) -> None:
    ada = await _person(api)
    act = await api.call(
        "POST",
        "/api/v2/activities",
        json={"subject": "Call Ada", "type": "call", "person_id": ada["id"], "done": True},
    )
    assert act["data"]["participants"] == [{"person_id": ada["id"], "primary": True}]
    await api.call("POST", "/api/v2/activities", 400, json={"person_id": 987654})
    listed = await api.call("GET", "/api/v2/activities", params={"person_id": ada["id"]})
    assert [a["id"] for a in listed["data"]] == [act["data"]["id"]]
    await api.call("GET", "/api/v2/activities", 400, params={"done": "perhaps"})
    await api.call("GET", f"/api/v2/activities/{act['data']['id']}")
    await api.call("GET", "/api/v2/activities/777777", 404)
    patched = await api.call(
        "PATCH", f"/api/v2/activities/{act['data']['id']}", json={"subject": "Called Ada"}
    )
    assert patched["data"]["subject"] == "Called Ada"
    await api.call("PATCH", "/api/v2/activities/777777", 404, json={"subject": "x"})
    await api.call("DELETE", f"/api/v2/activities/{act['data']['id']}")
    await api.call("DELETE", f"/api/v2/activities/{act['data']['id']}", 404)


async def test_call_logs(api: Api) -> None:
    ada = await _person(api)
    body = {
        "to_phone_number": "+1 (415) 555-0134",
        "from_phone_number": "+14155550100",
        "outcome": "connected",
        "start_time": "2026-12-01 10:00:00",
        "end_time": "2026-12-01 10:00:42",
        "duration": "42",
        "person_id": ada["id"],
        "note": "<p>Hello</p>",
    }
    created = await api.call("POST", "/v1/callLogs", json=body)
    log = created["data"]
    assert log["duration"] == "42" and log["start_time"] == "2026-12-01T10:00:00.000Z"
    assert log["has_recording"] is False and log["activity_id"]
    await api.call("POST", "/v1/callLogs", 400, json={**body, "outcome": "maybe"})
    await api.call(
        "POST", "/v1/callLogs", 400, json={k: v for k, v in body.items() if k != "end_time"}
    )
    await api.call(
        "POST", "/v1/callLogs", 400, json={**body, "deal_id": 1, "lead_id": MISSING_LEAD}
    )
    await api.call("POST", "/v1/callLogs", 404, json={**body, "activity_id": 5_555_555})
    member = await api.control(
        "POST", "/companies/default/users", json={"name": "Mo", "email": "mo@example.test"}
    )
    issued = await api.control("POST", "/companies/default/tokens", json={"user_id": member["id"]})
    admin = (await api.call("GET", "/v1/users/me"))["data"]["id"]
    await api.call(  # a user without account-settings access logs only their own calls
        "POST",
        "/v1/callLogs",
        403,
        json={**body, "user_id": admin},
        headers={"x-api-token": issued["token"]},
    )

    got = await api.call("GET", f"/v1/callLogs/{log['id']}")
    assert got["data"]["person_id"] == ada["id"]
    await api.call("GET", "/v1/callLogs/CAnope", 404)
    listed = await api.call("GET", "/v1/callLogs", params={"limit": 10})
    assert [c["id"] for c in listed["data"]] == [log["id"]]

    files = {"file": ("call.mp3", b"ID3fake-audio", "audio/mpeg")}
    await api.call("POST", f"/v1/callLogs/{log['id']}/recordings", files=files)
    assert (await api.call("GET", f"/v1/callLogs/{log['id']}"))["data"]["has_recording"] is True
    await api.call("POST", f"/v1/callLogs/{log['id']}/recordings", 409, files=files)
    await api.call("POST", "/v1/callLogs/CAnope/recordings", 404, files=files)

    await api.call("DELETE", f"/v1/callLogs/{log['id']}")
    await api.call("DELETE", f"/v1/callLogs/{log['id']}", 410)
    await api.call("DELETE", "/v1/callLogs/CAnope", 404)


async def test_notes(api: Api) -> None:
    ada = await _person(api)
    note = await api.call(
        "POST", "/v1/notes", json={"content": "<p>Texted</p>", "person_id": ada["id"]}
    )
    assert note["data"]["person"]["name"] == ada["name"]
    await api.call("POST", "/v1/notes", 400, json={"content": "<p>Orphan</p>"})
    listed = await api.call("GET", "/v1/notes", params={"person_id": ada["id"]})
    assert [n["id"] for n in listed["data"]] == [note["data"]["id"]]
    await api.call("GET", f"/v1/notes/{note['data']['id']}")
    await api.call("GET", "/v1/notes/31337", 404)
    edited = await api.call(
        "PUT", f"/v1/notes/{note['data']['id']}", json={"content": "<p>Edited</p>"}
    )
    assert edited["data"]["content"] == "<p>Edited</p>"
    await api.call("PUT", "/v1/notes/31337", 404, json={"content": "x"})
    assert (await api.call("DELETE", f"/v1/notes/{note['data']['id']}"))["data"] is True
    await api.call("DELETE", f"/v1/notes/{note['data']['id']}", 404)


async def test_users(api: Api) -> None:
    me = await api.call("GET", "/v1/users/me")
    assert me["data"]["is_you"] is True
    await api.control(
        "POST", "/companies/default/users", json={"name": "Sam Seller", "email": "sam@example.test"}
    )
    found = await api.call(
        "GET", "/v1/users/find", params={"term": "sam@example.test", "search_by_email": 1}
    )
    assert [u["name"] for u in found["data"]] == ["Sam Seller"]
    await api.call("GET", "/v1/users/find", 400)
    listed = await api.call("GET", "/v1/users")
    assert "sam@example.test" in [u["email"] for u in listed["data"]]


async def test_webhooks(api: Api) -> None:
    body = {
        "subscription_url": "https://app.example.test/hooks/pipedrive",
        "event_action": "*",
        "event_object": "person",
        "name": "switchboard",
        "http_auth_user": "u",
        "http_auth_password": "p",
    }
    created = await api.call("POST", "/v1/webhooks", 201, json=body)
    assert created["data"]["version"] == "2.0" and created["data"]["is_active"] == 1
    await api.call("POST", "/v1/webhooks", 400, json={**body, "event_action": "merge"})
    await api.call("POST", "/v1/webhooks", 400, json={**body, "name": ""})
    listed = await api.call("GET", "/v1/webhooks")
    assert [w["id"] for w in listed["data"]] == [created["data"]["id"]]
    await api.call("DELETE", f"/v1/webhooks/{created['data']['id']}")
    await api.call("DELETE", f"/v1/webhooks/{created['data']['id']}", 404)


async def test_auth_errors(api: Api) -> None:
    for method, path in sorted(_concrete_paths()):
        await api.call(method, path, 401, headers={"x-api-token": "wrong"})
    # An OAuth token without the scope an operation needs → 403.
    code = (await api.control("POST", "/companies/default/oauth/codes", json={"scope": "base"}))[
        "code"
    ]
    token = await api.client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code},
        auth=("app", "secret"),
    )
    bearer = {"x-api-token": "", "Authorization": f"Bearer {token.json()['access_token']}"}
    await api.call("GET", "/v1/callLogs", 403, headers=bearer)
    await api.call("POST", "/v1/webhooks", 403, headers=bearer, json={})
    await api.call("GET", "/v1/users/me", headers=bearer)


def _concrete_paths() -> set[tuple[str, str]]:
    from switchboard.emulators.pipedrive.operations import OPERATIONS

    out = set()
    for op in OPERATIONS:
        path = op.pattern.pattern.strip("^$").replace("[^/]+", "1")
        out.add((op.method, path))
    return out


def test_validator_rejects_wrong_shapes() -> None:
    """The checks are real: a wrong type, a bad enum, a non-error body for an error fail."""
    good = {
        "success": True,
        "data": {
            "id": "CA1",
            "outcome": "connected",
            "to_phone_number": "1",
            "start_time": "2026-12-01T10:00:00.000Z",
            "end_time": "2026-12-01T10:00:00.000Z",
        },
    }
    validate("GET", "/v1/callLogs/CA1", 200, good)
    for bad in (
        {**good, "data": {**good["data"], "outcome": "maybe"}},
        {**good, "data": {**good["data"], "start_time": "yesterday"}},
        {**good, "data": {k: v for k, v in good["data"].items() if k != "outcome"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate("GET", "/v1/callLogs/CA1", 200, bad)
    with pytest.raises((jsonschema.ValidationError, AssertionError)):
        validate("GET", "/api/v2/persons/1", 404, {"success": False})


def test_every_served_operation_was_covered(request: pytest.FixtureRequest) -> None:
    """Every served operation was seen answering 2xx and, where the document lists an error
    status for it, one of those errors — in both modes. Runs last in this module."""
    from switchboard.emulators.pipedrive.operations import OPERATIONS

    names = {item.name for item in request.session.items}
    if not all(f"{t}[{m}]" in names for t in _SUITE for m in ("asgi", "http")):
        pytest.skip("only meaningful when the whole contract module runs")
    missing = []
    for op in OPERATIONS:
        path = op.pattern.pattern.strip("^$").replace("[^/]+", "1")
        version, doc_path, template = template_for(op.method, path)
        documented = spec(version)["paths"][doc_path][op.method.lower()]["responses"]
        ok = {int(c) for c in documented if c.startswith("2")}
        errors = {int(c) for c in documented if not c.startswith("2")} - {500}
        for mode in ("asgi", "http"):
            seen = {s for m, me, t, s in COVERED if m == mode and me == op.method and t == template}
            if not seen & ok:
                missing.append((mode, op.method, template, sorted(ok)))
            if errors and not seen & errors:
                missing.append((mode, op.method, template, sorted(errors)))
            if not any(s >= 400 for s in seen):
                missing.append((mode, op.method, template, "no error path"))
    assert not missing, missing


_SUITE = [
    "test_persons",
    "test_person_search",
    "test_organizations",
    "test_deals_and_leads",
    "test_activities",
    "test_call_logs",
    "test_notes",
    "test_users",
    "test_webhooks",
    "test_auth_errors",
]
