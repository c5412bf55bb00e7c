"""Every operation the Attio emulator serves, success and error paths, validated against Attio's
OpenAPI document (see tests/emulators/attio/spec.py for how `nullable` and error codes are
treated). Runs twice: in-process over httpx's ASGI transport, and over real HTTP against
`switchboard emulate attio` as a separate process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from switchboard.emulators.attio import AttioEmulator, create_app
from tests.emulators.attio.spec import validate
from tests.servers import RunningServer, cli_server

TOKEN = "contract-token"
MISSING = "00000000-0000-4000-8000-000000000000"
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
def attio_server() -> Iterator[RunningServer]:
    with cli_server(
        "emulate", "attio", "--token", TOKEN, "--seed", "3", ready_path="/_emulator/health"
    ) as srv:
        yield srv


@pytest.fixture(params=["asgi", "http"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if request.param == "asgi":
        emu = AttioEmulator(token=TOKEN, seed_value=3)
        transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=create_app(emu))
        base = "https://api.attio.test"
    else:
        server: RunningServer = request.getfixturevalue("attio_server")
        transport = httpx.AsyncHTTPTransport()
        base = server.url
    async with httpx.AsyncClient(
        transport=transport, base_url=base, headers=headers, timeout=10
    ) as client:
        api = Api(client, request.param)
        await api.control("POST", "/reset")
        await api.control("PUT", "/webhook-delivery", json={"max_attempts": 1})
        yield api


async def _person(api: Api, **values: Any) -> dict[str, Any]:
    values = values or {"name": "Ada Lovelace", "phone_numbers": ["+14155550134"]}
    body = await api.call("POST", "/v2/objects/people/records", json={"data": {"values": values}})
    return dict(body["data"])


async def test_self_objects_and_attributes(api: Api) -> None:
    me = await api.call("GET", "/v2/self")
    assert me["active"] is True and me["workspace_id"]
    objects = await api.call("GET", "/v2/objects")
    assert {o["api_slug"] for o in objects["data"]} >= {"people", "companies"}
    people = await api.call("GET", "/v2/objects/people")
    by_id = await api.call("GET", f"/v2/objects/{people['data']['id']['object_id']}")
    assert by_id["data"]["api_slug"] == "people"
    await api.call("GET", "/v2/objects/nope", 404)
    created = await api.call(
        "POST",
        "/v2/objects",
        json={"data": {"api_slug": "deals", "singular_noun": "Deal", "plural_noun": "Deals"}},
    )
    assert created["data"]["api_slug"] == "deals"
    await api.call(
        "POST",
        "/v2/objects",
        409,
        json={"data": {"api_slug": "deals", "singular_noun": "Deal", "plural_noun": "Deals"}},
    )
    attrs = await api.call("GET", "/v2/objects/people/attributes")
    slugs = {a["api_slug"] for a in attrs["data"]}
    assert {"name", "email_addresses", "phone_numbers", "job_title", "company"} <= slugs
    await api.call("GET", "/v2/objects/people/attributes/phone_numbers")
    await api.call("GET", "/v2/objects/people/attributes/nope", 404)
    new_attr = await api.call(
        "POST",
        "/v2/objects/deals/attributes",
        json={
            "data": {
                "title": "Amount",
                "api_slug": "amount",
                "type": "number",
                "description": None,
                "is_required": False,
                "is_unique": False,
                "is_multiselect": False,
                "config": {},
            }
        },
    )
    assert new_attr["data"]["type"] == "number"
    await api.call(
        "POST",
        "/v2/objects/deals/attributes",
        409,
        json={"data": {"title": "Amount", "api_slug": "amount", "type": "number"}},
    )
    await api.call(
        "POST",
        "/v2/objects/deals/attributes",
        400,
        json={"data": {"title": "Bad", "api_slug": "bad", "type": "hologram"}},
    )
    await api.call(
        "POST",
        "/v2/objects/nope/attributes",
        404,
        json={"data": {"title": "X", "api_slug": "x", "type": "text"}},
    )
    deal = await api.call(
        "POST", "/v2/objects/deals/records", json={"data": {"values": {"amount": 12.5}}}
    )
    assert deal["data"]["values"]["amount"][0]["value"] == 12.5


async def test_record_crud(api: Api) -> None:
    company = await api.call(
        "POST",
        "/v2/objects/companies/records",
        json={"data": {"values": {"name": "Acme", "domains": ["acme.test"]}}},
    )
    cid = company["data"]["id"]["record_id"]
    person = await _person(
        api,
        name=[{"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace"}],
        email_addresses=["ada@acme.test"],
        phone_numbers=[{"original_phone_number": "020 7946 0123", "country_code": "GB"}],
        job_title="Engineer",
        company=[{"target_object": "companies", "target_record_id": cid}],
    )
    rid = person["id"]["record_id"]
    phone = person["values"]["phone_numbers"][0]
    assert phone["phone_number"] == phone["normalized_phone_number"] == "+442079460123"
    assert phone["original_phone_number"] == "020 7946 0123" and phone["country_code"] == "GB"
    got = await api.call("GET", f"/v2/objects/people/records/{rid}")
    assert got["data"]["values"]["company"][0]["target_record_id"] == cid
    await api.call("GET", f"/v2/objects/people/records/{MISSING}", 404)
    await api.call("GET", f"/v2/objects/nope/records/{rid}", 404)

    patched = await api.call(
        "PATCH",
        f"/v2/objects/people/records/{rid}",
        json={"data": {"values": {"phone_numbers": ["+14155550134"]}}},
    )
    current = [
        v["phone_number"]
        for v in patched["data"]["values"]["phone_numbers"]
        if v["active_until"] is None
    ]
    assert current == ["+442079460123", "+14155550134"]
    await api.call(
        "PATCH", f"/v2/objects/people/records/{MISSING}", 404, json={"data": {"values": {}}}
    )
    await api.call(
        "PATCH",
        f"/v2/objects/people/records/{rid}",
        400,
        json={"data": {"values": {"phone_numbers": ["not a phone"]}}},
    )
    put = await api.call(
        "PUT",
        f"/v2/objects/people/records/{rid}",
        json={"data": {"values": {"phone_numbers": ["+14155550199"]}}},
    )
    phones = put["data"]["values"]["phone_numbers"]
    assert [v["phone_number"] for v in phones if v["active_until"] is None] == ["+14155550199"]
    assert all(v["active_until"] for v in phones if v["phone_number"] != "+14155550199")
    await api.call(
        "PUT", f"/v2/objects/people/records/{MISSING}", 404, json={"data": {"values": {}}}
    )
    await api.call(
        "PUT", f"/v2/objects/people/records/{rid}", 400, json={"data": {"values": {"nope": 1}}}
    )
    values = await api.call(
        "GET",
        f"/v2/objects/people/records/{rid}/attributes/phone_numbers/values?show_historic=true",
    )
    assert len(values["data"]) == 3
    await api.call("GET", f"/v2/objects/people/records/{rid}/attributes/nope/values", 404)

    await api.call("DELETE", f"/v2/objects/people/records/{rid}")
    await api.call("DELETE", f"/v2/objects/people/records/{rid}", 404)
    await api.call("GET", f"/v2/objects/people/records/{rid}", 404)


async def test_create_and_assert_errors(api: Api) -> None:
    await api.call(
        "POST", "/v2/objects/people/records", 400, json={"data": {"values": {"nope": "x"}}}
    )
    await api.call("POST", "/v2/objects/nope/records", 404, json={"data": {"values": {}}})
    await api.call("POST", "/v2/objects/people/records", 400, content=b"{not json")
    await api.call("POST", "/v2/objects/people/records", 400, json={"values": {}})
    await _person(api, email_addresses=["dup@acme.test"])
    dup = await api.call(
        "POST",
        "/v2/objects/people/records",
        400,
        json={"data": {"values": {"email_addresses": ["DUP@acme.test"]}}},
    )
    assert dup["code"] == "uniqueness_conflict"

    body = {"data": {"values": {"email_addresses": ["new@acme.test"], "job_title": "CEO"}}}
    made = await api.call(
        "PUT", "/v2/objects/people/records?matching_attribute=email_addresses", json=body
    )
    body["data"]["values"]["job_title"] = "CTO"
    again = await api.call(
        "PUT", "/v2/objects/people/records?matching_attribute=email_addresses", json=body
    )
    assert again["data"]["id"] == made["data"]["id"]
    assert [v["value"] for v in again["data"]["values"]["job_title"] if not v["active_until"]] == [
        "CTO"
    ]
    await api.call(
        "PUT", "/v2/objects/nope/records?matching_attribute=email_addresses", 404, json=body
    )
    await api.call("PUT", "/v2/objects/people/records?matching_attribute=job_title", 400, json=body)
    await api.call("PUT", "/v2/objects/people/records", 400, json=body)


async def test_query(api: Api) -> None:
    a = await _person(api, name="Ada Lovelace", phone_numbers=["+14155550134"])
    b = await _person(api, name="Alan Turing", phone_numbers=["+442079460123"])
    q = "/v2/objects/people/records/query"
    res = await api.call("POST", q, json={"filter": {"phone_numbers": "+14155550134"}})
    assert [r["id"]["record_id"] for r in res["data"]] == [a["id"]["record_id"]]
    res = await api.call(
        "POST",
        q,
        json={
            "filter": {"$or": [{"name": {"full_name": {"$eq": "Alan Turing"}}}, {"name": "x"}]},
            "sorts": [{"attribute": "created_at", "direction": "desc"}],
            "limit": 10,
            "offset": 0,
        },
    )
    assert [r["id"]["record_id"] for r in res["data"]] == [b["id"]["record_id"]]
    await api.call("POST", q, json={})
    await api.call("POST", q, 400, json={"filter": {"nope": "x"}})
    await api.call("POST", q, 400, json={"filter": {"$and": "x"}})
    await api.call("POST", q, 400, json={"filter": {"name": {"$like": "x"}}})
    await api.call("POST", q, 400, json={"filter": {"created_at": {"$gt": "yesterday"}}})
    await api.call("POST", q, 400, content=b"[")
    await api.call("POST", "/v2/objects/nope/records/query", 404, json={})


async def test_notes(api: Api) -> None:
    person = await _person(api)
    rid = person["id"]["record_id"]
    note = await api.call(
        "POST",
        "/v2/notes",
        json={
            "data": {
                "parent_object": "people",
                "parent_record_id": rid,
                "title": "Call with Ada",
                "format": "markdown",
                "content": "**Inbound call** — 3 min",
                "created_at": "2026-01-02T03:04:05.123456789Z",
            }
        },
    )
    nid = note["data"]["id"]["note_id"]
    assert note["data"]["created_at"] == "2026-01-02T03:04:05.123456000Z"
    assert note["data"]["content_plaintext"] == "Inbound call — 3 min"
    listed = await api.call("GET", f"/v2/notes?parent_object=people&parent_record_id={rid}")
    assert [n["id"]["note_id"] for n in listed["data"]] == [nid]
    await api.call("GET", f"/v2/notes/{nid}")
    await api.call("GET", f"/v2/notes/{MISSING}", 404)
    await api.call("GET", "/v2/notes?parent_object=nope", 404)
    await api.call(
        "POST",
        "/v2/notes",
        404,
        json={
            "data": {
                "parent_object": "people",
                "parent_record_id": MISSING,
                "title": "t",
                "format": "plaintext",
                "content": "c",
            }
        },
    )
    await api.call("DELETE", f"/v2/notes/{nid}")
    await api.call("DELETE", f"/v2/notes/{nid}", 404)


async def test_tasks_members_webhooks(api: Api) -> None:
    person = await _person(api)
    members = await api.call("GET", "/v2/workspace_members")
    mid = members["data"][0]["id"]["workspace_member_id"]
    await api.call("GET", f"/v2/workspace_members/{mid}")
    await api.call("GET", f"/v2/workspace_members/{MISSING}", 404)

    task_body = {
        "data": {
            "content": "Call back Ada",
            "format": "plaintext",
            "deadline_at": "2026-12-01T09:00:00Z",
            "is_completed": False,
            "linked_records": [
                {"target_object": "people", "target_record_id": person["id"]["record_id"]}
            ],
            "assignees": [
                {"referenced_actor_type": "workspace-member", "referenced_actor_id": mid}
            ],
        }
    }
    task = await api.call("POST", "/v2/tasks", json=task_body)
    tid = task["data"]["id"]["task_id"]
    listed = await api.call("GET", f"/v2/tasks?linked_record_id={person['id']['record_id']}")
    assert [t["id"]["task_id"] for t in listed["data"]] == [tid]
    await api.call("GET", f"/v2/tasks/{tid}")
    await api.call("GET", f"/v2/tasks/{MISSING}", 404)
    await api.call("POST", "/v2/tasks", 400, json={"data": {"content": "x" * 2001}})
    task_body["data"]["linked_records"][0]["target_record_id"] = MISSING
    await api.call("POST", "/v2/tasks", 404, json=task_body)
    await api.call("DELETE", f"/v2/tasks/{tid}")
    await api.call("DELETE", f"/v2/tasks/{tid}", 404)

    subs = [{"event_type": "record.created", "filter": None}]
    hook = await api.call(
        "POST",
        "/v2/webhooks",
        json={"data": {"target_url": "https://hooks.invalid/a", "subscriptions": subs}},
    )
    assert hook["data"]["secret"]
    wid = hook["data"]["id"]["webhook_id"]
    listed = await api.call("GET", "/v2/webhooks")
    assert all("secret" not in h for h in listed["data"])
    got = await api.call("GET", f"/v2/webhooks/{wid}")
    assert "secret" not in got["data"]
    await api.call("GET", f"/v2/webhooks/{uuid.uuid4()}", 404)
    patched = await api.call(
        "PATCH", f"/v2/webhooks/{wid}", json={"data": {"target_url": "https://hooks.invalid/b"}}
    )
    assert patched["data"]["target_url"] == "https://hooks.invalid/b"
    await api.call("PATCH", f"/v2/webhooks/{MISSING}", 404, json={"data": {}})
    await api.call(
        "POST",
        "/v2/webhooks",
        400,
        json={"data": {"target_url": "http://127.0.0.1:9/x", "subscriptions": subs}},
    )
    await api.call(
        "POST",
        "/v2/webhooks",
        400,
        json={
            "data": {
                "target_url": "https://hooks.invalid/a",
                "subscriptions": [{"event_type": "record.exploded", "filter": None}],
            }
        },
    )
    await api.call("DELETE", f"/v2/webhooks/{wid}")
    await api.call("DELETE", f"/v2/webhooks/{wid}", 404)


async def test_self_for_workspace_and_member_tokens(api: Api) -> None:
    """`GET /v2/self` answers exactly Attio's current shape (the stored document plus
    `token_level`, nothing else) for a workspace token and a member token."""
    for level in ("workspace", "member"):
        issued = await api.control("POST", "/workspaces/default/tokens", json={"level": level})
        auth = {"Authorization": f"Bearer {issued['token']}"}
        me = await api.call("GET", "/v2/self", headers=auth)
        assert me["token_level"] == level and me["active"] is True
        assert me["sub"] == me["workspace_id"] == issued["workspace_id"]
        assert me["exp"] is None and me["aud"] == me["client_id"]


async def test_self_for_an_expiring_oauth_token(api: Api) -> None:
    await api.control("PUT", "/oauth", json={"access_token_lifetime_s": 600})
    code = (await api.control("POST", "/workspaces/default/oauth/codes", json={}))["code"]
    form = {"grant_type": "authorization_code", "code": code, "client_id": "app-1"}
    token = (await api.client.post("/oauth/token", data=form)).json()
    me = await api.call(
        "GET", "/v2/self", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert me["client_id"] == "app-1" and me["token_level"] == "workspace"
    assert 590 <= me["exp"] - me["iat"] <= 601
    await api.control("PUT", "/oauth", json={"access_token_lifetime_s": None})


async def test_auth_errors(api: Api) -> None:
    for method, path in [("GET", "/v2/self"), ("GET", "/v2/objects"), ("GET", "/v2/notes")]:
        resp = await api.client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert resp.status_code == 401
        validate(method, path, 401, resp.json())
        assert resp.json()["type"] == "auth_error"


def test_the_validator_is_not_vacuous() -> None:
    import jsonschema

    good_value = {
        "active_from": "2026-01-01T00:00:00.000000000Z",
        "active_until": None,
        "created_by_actor": {"type": "system", "id": None},
        "attribute_type": "text",
        "value": "x",
    }
    record = {
        "id": {"workspace_id": MISSING, "object_id": MISSING, "record_id": MISSING},
        "created_at": "2026-01-01T00:00:00.000000000Z",
        "web_url": "https://app.attio.com/w/person/x",
        "values": {"job_title": [good_value]},
    }
    path = f"/v2/objects/people/records/{MISSING}"
    validate("GET", path, 200, {"data": record})
    for bad in (
        {"data": {**record, "web_url": None}},
        {"data": {**record, "id": {"record_id": "not-a-uuid"}}},
        {"data": {**record, "values": {"job_title": [{**good_value, "extra": 1}]}}},
        {"data": {**record, "values": {"job_title": [{**good_value, "active_until": 5}]}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate("GET", path, 200, bad)
    with pytest.raises(jsonschema.ValidationError):
        validate("GET", path, 404, {"status_code": 404, "type": "x", "code": "not_found"})
    me = {
        "active": True,
        "scope": "s",
        "client_id": "c",
        "token_type": "Bearer",
        "exp": None,
        "iat": 1,
        "sub": MISSING,
        "aud": "c",
        "iss": "attio.com",
        "authorized_by_workspace_member_id": MISSING,
        "workspace_id": MISSING,
        "workspace_name": "w",
        "workspace_slug": "w",
        "workspace_logo_url": None,
        "token_level": "member",
    }
    validate("GET", "/v2/self", 200, me)
    validate("GET", "/v2/self", 200, {"active": False})
    for bad_self in (
        {k: v for k, v in me.items() if k != "token_level"},
        {**me, "token_level": "user"},
        {**me, "extra": 1},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate("GET", "/v2/self", 200, bad_self)


def test_every_served_operation_was_covered(request: pytest.FixtureRequest) -> None:
    """Every operation the emulator serves was seen answering 200 and, where the spec documents
    an error status for it, an error — in both modes. Runs last in this module."""
    from switchboard.emulators.attio.app import OPERATIONS
    from tests.emulators.attio.spec import spec, template_for

    names = {item.name for item in request.session.items}
    if not all(f"{t}[{m}]" in names for t in _SUITE for m in ("asgi", "http")):
        pytest.skip("only meaningful when the whole contract module runs")
    missing = []
    for method, pattern, _ in OPERATIONS:
        path = pattern.pattern.strip("^$").replace("[^/]+", "x")
        path = path.replace("/v2/x/x/attributes", "/v2/objects/x/attributes")
        template = template_for(method, path)
        documented = spec()["paths"][template][method.lower()]["responses"]
        for mode in ("asgi", "http"):
            statuses = {
                st for m, me, t, st in COVERED if m == mode and me == method and t == template
            }
            if 200 not in statuses:
                missing.append((mode, method, template, 200))
            errors = {int(code) for code in documented if code != "200"}
            if errors and not statuses & errors:
                missing.append((mode, method, template, sorted(errors)))
    assert not missing, missing


_SUITE = [
    "test_self_objects_and_attributes",
    "test_record_crud",
    "test_create_and_assert_errors",
    "test_query",
    "test_notes",
    "test_tasks_members_webhooks",
    "test_auth_errors",
    "test_self_for_workspace_and_member_tokens",
    "test_self_for_an_expiring_oauth_token",
]
