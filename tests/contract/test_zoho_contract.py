"""Every operation the Zoho emulator serves, success and error paths, validated against Zoho's
own v8 OpenAPI documents (see tests/emulators/zoho/spec.py for how the documents are read).
Runs twice: in-process over httpx's ASGI transport, and over real HTTP (uvicorn in a thread)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from switchboard.emulators.common import ServerThread, run_in_thread
from switchboard.emulators.zoho import ZohoEmulator, create_app
from tests.emulators.zoho.spec import validate

TOKEN = "1000.contract-token"
MISSING = "4876876000000000001"
# (mode, method, template, status) seen over the whole module, for the coverage check at the end
COVERED: set[tuple[str, str, str, int]] = set()


@dataclass
class Api:
    client: httpx.AsyncClient
    mode: str

    async def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        resp = await self.client.request(method, path, **kw)
        assert resp.status_code == status, f"{method} {path}: {resp.status_code} {resp.text}"
        assert resp.status_code in (204, 304) or resp.headers["content-type"].startswith(
            "application/json"
        )
        body = resp.json() if resp.content else None
        template = validate(method, path, resp.status_code, body)
        COVERED.add((self.mode, method, template, resp.status_code))
        return body

    async def control(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self.client.request(method, "/_emulator" + path, **kw)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def zoho_server() -> Iterator[ServerThread]:
    with run_in_thread(create_app(ZohoEmulator(token=TOKEN, seed=3))) as srv:
        yield srv


@pytest.fixture(params=["asgi", "http"])
async def api(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    headers = {"Authorization": f"Zoho-oauthtoken {TOKEN}"}
    if request.param == "asgi":
        emu = ZohoEmulator(token=TOKEN, seed=3)
        transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=create_app(emu))
        base = "https://www.zohoapis.com"
    else:
        server: ServerThread = request.getfixturevalue("zoho_server")
        transport = httpx.AsyncHTTPTransport()
        base = server.url
    async with httpx.AsyncClient(
        transport=transport, base_url=base, headers=headers, timeout=10
    ) as client:
        api = Api(client, request.param)
        await api.control("POST", "/reset")
        await api.control("PUT", "/notify-delivery", json={"max_attempts": 1})
        yield api


async def _contact(api: Api, **values: Any) -> str:
    values = values or {"First_Name": "Ada", "Last_Name": "Lovelace", "Phone": "+14155550134"}
    body = await api.call("POST", "/crm/v8/Contacts", 201, json={"data": [values]})
    return str(body["data"][0]["details"]["id"])


async def test_metadata_users_org(api: Api) -> None:
    modules = await api.call("GET", "/crm/v8/settings/modules")
    names = {m["api_name"] for m in modules["modules"]}
    assert {"Contacts", "Leads", "Accounts", "Calls", "Notes"} <= names
    one = await api.call("GET", "/crm/v8/settings/modules/Calls")
    assert {f["api_name"] for f in one["modules"][0]["fields"]} >= {"Who_Id", "What_Id"}
    await api.call("GET", "/crm/v8/settings/modules/Nope", 400)
    for module in ("Contacts", "Leads", "Accounts", "Calls", "Notes"):
        fields = await api.call("GET", f"/crm/v8/settings/fields?module={module}")
        assert fields["fields"]
    calls = await api.call("GET", "/crm/v8/settings/fields?module=Calls")
    call_type = next(f for f in calls["fields"] if f["api_name"] == "Call_Type")
    assert [p["actual_value"] for p in call_type["pick_list_values"]] == [
        "Inbound",
        "Outbound",
        "Missed",
    ]
    contacts = await api.call("GET", "/crm/v8/settings/fields?module=Contacts")
    phones = {f["api_name"] for f in contacts["fields"] if f["data_type"] == "phone"}
    assert phones == {"Phone", "Mobile", "Home_Phone", "Other_Phone", "Assistant_Phone"}
    await api.call("GET", "/crm/v8/settings/fields", 400)
    await api.call("GET", "/crm/v8/settings/fields?module=Nope", 400)
    field_id = contacts["fields"][0]["id"]
    await api.call("GET", f"/crm/v8/settings/fields/{field_id}?module=Contacts")
    await api.call("GET", f"/crm/v8/settings/fields/{MISSING}?module=Contacts", 204)
    layouts = await api.call("GET", "/crm/v8/settings/layouts?module=Contacts")
    lid = layouts["layouts"][0]["id"]
    await api.call("GET", f"/crm/v8/settings/layouts/{lid}?module=Contacts")
    await api.call("GET", f"/crm/v8/settings/layouts/{MISSING}?module=Contacts", 204)
    await api.call("GET", "/crm/v8/settings/layouts", 400)

    users = await api.call("GET", "/crm/v8/users?type=CurrentUser")
    uid = users["users"][0]["id"]
    await api.call("GET", "/crm/v8/users")
    await api.call("GET", f"/crm/v8/users/{uid}")
    await api.call("GET", f"/crm/v8/users/{MISSING}", 204)
    await api.call("GET", "/crm/v8/users?type=DeactiveUsers", 204)
    await api.call("GET", "/crm/v8/users?type=Nope", 400)
    org = await api.call("GET", "/crm/v8/org")
    assert org["org"][0]["company_name"]


async def test_record_crud(api: Api) -> None:
    acct = await api.call(
        "POST", "/crm/v8/Accounts", 201, json={"data": [{"Account_Name": "Zylker"}]}
    )
    aid = acct["data"][0]["details"]["id"]
    cid = await _contact(
        api,
        First_Name="Ada",
        Last_Name="Lovelace",
        Email="ada@zylker.test",
        Mobile="+44 20 7946 0123",
        Account_Name={"id": aid},
    )
    got = await api.call("GET", f"/crm/v8/Contacts/{cid}")
    record = got["data"][0]
    assert record["Account_Name"] == {"id": aid, "name": "Zylker"}
    assert record["Full_Name"] == "Ada Lovelace" and len(record["id"]) == 19
    await api.call("GET", f"/crm/v8/Contacts/{MISSING}", 204)
    await api.call("GET", "/crm/v8/Contacts/not-an-id", 400)
    await api.call("GET", f"/crm/v8/Nope/{cid}", 400)

    updated = await api.call(
        "PUT", f"/crm/v8/Contacts/{cid}", json={"data": [{"Title": "Countess"}]}
    )
    assert updated["data"][0]["message"] == "record updated"
    failed = await api.call(
        "PUT", f"/crm/v8/Contacts/{MISSING}", 400, json={"data": [{"Title": "x"}]}
    )
    assert failed["data"][0]["code"] == "INVALID_DATA"
    await api.call("PUT", f"/crm/v8/Contacts/{cid}", 400, json={"data": [{"Email": "nope"}]})
    await api.call("PUT", f"/crm/v8/Contacts/{cid}", 400, content=b"{not json")
    await api.call("PUT", f"/crm/v8/Contacts/{cid}", 400, json={"nodata": []})

    other = await _contact(api, Last_Name="Turing")
    mixed = await api.call(
        "PUT",
        "/crm/v8/Contacts",
        207,
        json={
            "data": [{"id": other, "Title": "Dr"}, {"id": MISSING, "Title": "x"}, {"Title": "y"}]
        },
    )
    assert [d["status"] for d in mixed["data"]] == ["success", "error", "error"]
    await api.call("PUT", "/crm/v8/Contacts", json={"data": [{"id": other, "Title": "Prof"}]})
    await api.call("PUT", "/crm/v8/Nope", 400, json={"data": [{"id": other}]})

    deleted = await api.call("DELETE", f"/crm/v8/Contacts/{cid}")
    assert deleted["data"][0] == {
        "code": "SUCCESS",
        "details": {"id": cid},
        "message": "record deleted",
        "status": "success",
    }
    await api.call("DELETE", f"/crm/v8/Contacts/{cid}", 400)
    await api.call("GET", f"/crm/v8/Contacts/{cid}", 204)
    await api.call("DELETE", f"/crm/v8/Contacts?ids={other},{MISSING}", 207)
    await api.call("DELETE", "/crm/v8/Contacts", 400)
    gone = await api.call("GET", "/crm/v8/Contacts/deleted?type=all")
    assert {d["id"] for d in gone["data"]} == {cid, other}
    await api.call("GET", "/crm/v8/Leads/deleted", 204)
    await api.call("GET", "/crm/v8/Contacts/deleted?type=bogus", 400)


async def test_create_errors_and_calls(api: Api) -> None:
    missing = await api.call("POST", "/crm/v8/Contacts", 400, json={"data": [{"First_Name": "X"}]})
    assert missing["data"][0]["code"] == "MANDATORY_NOT_FOUND"
    assert missing["data"][0]["details"]["api_name"] == "Last_Name"
    await api.call("POST", "/crm/v8/Leads", 400, json={"data": [{"Last_Name": "No Company"}]})
    await api.call("POST", "/crm/v8/Contacts", 400, json={"data": []})
    await api.call("POST", "/crm/v8/Contacts", 400, json={"data": [{"Last_Name": "x"}] * 101})
    await api.call("POST", "/crm/v8/Contacts", 400, json={"data": [{"Last_Name": 5}]})
    await api.call("POST", "/crm/v8/Nope", 400, json={"data": [{"Last_Name": "x"}]})
    cid = await _contact(api)
    lead = await api.call(
        "POST",
        "/crm/v8/Leads",
        201,
        json={"data": [{"Last_Name": "Hopper", "Company": "Navy", "Home_Phone": "+14155550100"}]},
    )
    lid = lead["data"][0]["details"]["id"]
    call = {
        "Subject": "Inbound call with Ada",
        "Call_Type": "Inbound",
        "Call_Start_Time": "2026-12-05T10:00:00+01:00",
        "Call_Duration": "03:25",
        "Description": "Inbound call, 3 min 25 s",
        "Who_Id": {"id": cid},
        "Voice_Recording__s": "https://recordings.test/1.mp3",
    }
    made = await api.call("POST", "/crm/v8/Calls", 201, json={"data": [call]})
    call_id = made["data"][0]["details"]["id"]
    got = await api.call("GET", f"/crm/v8/Calls/{call_id}")
    assert got["data"][0]["Call_Duration_in_seconds"] == 205
    assert got["data"][0]["Who_Id"]["id"] == cid
    related = {**call, "Who_Id": None, "What_Id": {"id": lid}, "$se_module": "Leads"}
    await api.call("POST", "/crm/v8/Calls", 201, json={"data": [related]})
    bad = [
        {**call, "Call_Type": "Voicemail"},
        {**call, "Call_Start_Time": "yesterday"},
        {**call, "Call_Duration": "3 minutes"},
        {**call, "$se_module": "Contacts"},
        {**call, "What_Id": {"id": cid}, "$se_module": "Contacts"},
        {**call, "What_Id": {"id": MISSING}, "$se_module": "Leads"},
        {**call, "Who_Id": {"id": MISSING}},
    ]
    failed = await api.call("POST", "/crm/v8/Calls", 400, json={"data": bad})
    assert all(d["code"] == "INVALID_DATA" for d in failed["data"])


async def test_list_pagination_and_search(api: Api) -> None:
    await api.call("GET", "/crm/v8/Contacts?fields=Last_Name", 204)
    await api.control("POST", "/orgs/default/seed", json={"contacts": 25, "leads": 5})
    await api.call("GET", "/crm/v8/Contacts", 400)  # `fields` is required in v8
    await api.call("GET", "/crm/v8/Contacts?fields=Last_Name&per_page=201", 400)
    await api.call("GET", "/crm/v8/Contacts?fields=Nope", 400)
    await api.call("GET", "/crm/v8/Contacts?fields=Last_Name&sort_by=Nope", 400)
    first = await api.call("GET", "/crm/v8/Contacts?fields=Last_Name,Phone,Mobile&per_page=10")
    assert first["info"]["more_records"] is True and len(first["data"]) == 10
    assert set(first["data"][0]) <= {"id", "Last_Name", "Phone", "Mobile"}
    seen = [r["id"] for r in first["data"]]
    token = first["info"]["next_page_token"]
    while token:
        page = await api.call(
            "GET", f"/crm/v8/Contacts?fields=Last_Name&per_page=10&page_token={token}"
        )
        seen += [r["id"] for r in page["data"]]
        token = page["info"].get("next_page_token")
    assert len(seen) == len(set(seen)) == 25
    page3 = await api.call("GET", "/crm/v8/Contacts?fields=Last_Name&per_page=10&page=3")
    assert page3["info"]["count"] == 5 and page3["info"]["more_records"] is False
    await api.call("GET", "/crm/v8/Contacts?fields=Last_Name&page_token=garbage", 400)
    await api.call("GET", "/crm/v8/Contacts?fields=Last_Name&page=11&per_page=200", 400)
    await api.call(
        "GET",
        "/crm/v8/Contacts?fields=Last_Name",
        304,
        headers={"If-Modified-Since": "2099-01-01T00:00:00+00:00"},
    )
    await api.call(
        "GET",
        "/crm/v8/Contacts?fields=Last_Name",
        headers={"If-Modified-Since": "2000-01-01T00:00:00+00:00"},
    )

    cid = await _contact(api, Last_Name="Babbage", Other_Phone="(415) 555-0199")
    # Phone search compares digits: the +1 country code makes it another number.
    await api.call("GET", "/crm/v8/Contacts/search?phone=%2B1%20415%20555%200199", 204)
    found = await api.call("GET", "/crm/v8/Contacts/search?phone=4155550199")
    assert [r["id"] for r in found["data"]] == [cid]
    await api.call("GET", "/crm/v8/Leads/search?phone=4155550199", 204)
    await api.call("GET", "/crm/v8/Contacts/search?email=nobody@nowhere.test", 204)
    crit = "((Last_Name:equals:Babbage)or(Last_Name:starts_with:zzz))"
    found = await api.call("GET", f"/crm/v8/Contacts/search?criteria={crit}")
    assert [r["id"] for r in found["data"]] == [cid]
    await api.call("GET", "/crm/v8/Contacts/search?criteria=(Last_Name:like:x)", 400)
    await api.call("GET", "/crm/v8/Contacts/search?criteria=(Nope:equals:x)", 400)
    await api.call("GET", "/crm/v8/Contacts/search?criteria=((Last_Name:equals:x)", 400)
    await api.call("GET", "/crm/v8/Contacts/search", 400)
    await api.call("GET", "/crm/v8/Nope/search?phone=1", 400)
    await api.call("GET", "/crm/v8/Contacts/search?word=Babbage")


async def test_upsert(api: Api) -> None:
    body = {"data": [{"Last_Name": "Knuth", "Email": "don@tex.test"}]}
    first = await api.call("POST", "/crm/v8/Contacts/upsert", json=body)
    assert first["data"][0]["action"] == "insert"
    body["data"][0]["Title"] = "Prof"
    again = await api.call("POST", "/crm/v8/Contacts/upsert", json=body)
    assert again["data"][0]["action"] == "update"
    assert again["data"][0]["duplicate_field"] == "Email"
    assert again["data"][0]["details"]["id"] == first["data"][0]["details"]["id"]
    await api.call(
        "POST",
        "/crm/v8/Contacts/upsert",
        400,
        json={"data": [{"Email": "x@y.test"}], "duplicate_check_fields": ["Nope"]},
    )
    await api.call("POST", "/crm/v8/Contacts/upsert", 400, json={"data": [{"Email": "a@b.test"}]})


async def test_notes(api: Api) -> None:
    cid = await _contact(api)
    body = {
        "data": [
            {
                "Note_Title": "SMS",
                "Note_Content": "Hello from Quo",
                "Parent_Id": {"module": {"api_name": "Contacts"}, "id": cid},
            }
        ]
    }
    made = await api.call("POST", "/crm/v8/Notes", json=body)
    nid = made["data"][0]["details"]["id"]
    listed = await api.call("GET", "/crm/v8/Notes")
    assert [n["id"] for n in listed["data"]] == [nid]
    got = await api.call("GET", f"/crm/v8/Notes/{nid}")
    assert got["data"][0]["Parent_Id"]["id"] == cid
    await api.call("GET", f"/crm/v8/Notes/{MISSING}", 204)
    await api.call("PUT", f"/crm/v8/Notes/{nid}", json={"data": [{"Note_Content": "edited"}]})
    await api.call("PUT", f"/crm/v8/Notes/{MISSING}", 400, json={"data": [{"Note_Content": "x"}]})
    bad = {
        "data": [
            {"Note_Content": "x", "Parent_Id": {"module": {"api_name": "Contacts"}, "id": MISSING}}
        ]
    }
    await api.call("POST", "/crm/v8/Notes", 202, json=bad)
    await api.call("POST", "/crm/v8/Notes", 202, json={"data": [{"Note_Title": "no content"}]})
    await api.call("DELETE", f"/crm/v8/Notes/{nid}")
    await api.call("DELETE", f"/crm/v8/Notes/{nid}", 400)
    await api.call("GET", "/crm/v8/Notes", 204)


async def test_watch(api: Api) -> None:
    await api.call("GET", "/crm/v8/actions/watch", 204)
    channel = {
        "channel_id": 1000000068001,
        "events": ["Contacts.all", "Leads.create"],
        "notify_url": "https://hooks.test/zoho",
        "token": "secret-token",
        "channel_expiry": "2099-01-01T00:00:00+00:00",
    }
    await api.call("POST", "/crm/v8/actions/watch", 202, json={"watch": [channel]})  # > 1 week
    clock = await api.control("GET", "/clock")
    from datetime import UTC, datetime, timedelta

    week = datetime.fromtimestamp(clock["now"], UTC) + timedelta(days=6)
    channel["channel_expiry"] = week.replace(microsecond=0).isoformat()
    made = await api.call("POST", "/crm/v8/actions/watch", 201, json={"watch": [channel]})
    assert made["watch"][0]["details"]["events"][0]["channel_id"] == "1000000068001"
    listed = await api.call("GET", "/crm/v8/actions/watch")
    assert listed["watch"][0]["token"] == "secret-token"
    await api.call("GET", "/crm/v8/actions/watch?module=Contacts")
    await api.call("GET", "/crm/v8/actions/watch?channel_id=42", 204)
    invalid = [
        {**channel, "token": "x" * 51},
        {**channel, "events": ["Nope.all"]},
        {**channel, "channel_id": "abc"},
        {k: v for k, v in channel.items() if k != "notify_url"},
    ]
    codes = []
    for item in invalid:  # the document's 202 wrappers each hold one kind of error
        bad = await api.call("POST", "/crm/v8/actions/watch", 202, json={"watch": [item]})
        codes.append(bad["watch"][0]["code"])
    assert codes == ["INVALID_DATA", "INVALID_DATA", "INVALID_DATA", "MANDATORY_NOT_FOUND"]
    await api.call("POST", "/crm/v8/actions/watch", 400, json={"nowatch": []})
    renewed = {"channel_id": 1000000068001, "channel_expiry": channel["channel_expiry"]}
    await api.call("PATCH", "/crm/v8/actions/watch", json={"watch": [renewed]})
    await api.call("PUT", "/crm/v8/actions/watch", json={"watch": [channel]})
    gone = await api.call(
        "PATCH", "/crm/v8/actions/watch", 202, json={"watch": [{**renewed, "channel_id": 7}]}
    )
    assert gone["watch"][0]["code"] == "NOT_SUBSCRIBED"
    await api.call(
        "PUT", "/crm/v8/actions/watch", 202, json={"watch": [{**channel, "channel_id": 7}]}
    )
    dropped = {"channel_id": 1000000068001, "events": ["Leads.create"], "_delete_events": True}
    await api.call("PATCH", "/crm/v8/actions/watch", json={"watch": [dropped]})
    await api.call("DELETE", "/crm/v8/actions/watch", 400)
    await api.call("DELETE", "/crm/v8/actions/watch?channel_ids=1000000068001")
    await api.call("DELETE", "/crm/v8/actions/watch?channel_ids=1000000068001", 202)


async def test_auth_errors(api: Api) -> None:
    await api.call("GET", "/crm/v8/org", 401, headers={"Authorization": ""})
    await api.call("GET", "/crm/v8/org", 401, headers={"Authorization": "Zoho-oauthtoken nope"})
    await api.call(
        "GET", "/crm/v8/Contacts?fields=Last_Name", 401, headers={"Authorization": "Bearer x"}
    )


async def test_related_notes_and_calls(api: Api) -> None:
    contact = await _contact(api)
    await api.call("GET", f"/crm/v8/Contacts/{contact}/Notes", 204)
    note = {"Note_Content": "n", "Parent_Id": {"module": {"api_name": "Contacts"}, "id": contact}}
    await api.call("POST", "/crm/v8/Notes", 200, json={"data": [note]})
    call = {
        "Subject": "Call",
        "Call_Type": "Inbound",
        "Call_Start_Time": "2026-01-02T10:00:00+01:00",
        "Call_Duration": "01:05",
        "Who_Id": {"id": contact},
    }
    await api.call("POST", "/crm/v8/Calls", 201, json={"data": [call]})
    notes = await api.call("GET", f"/crm/v8/Contacts/{contact}/Notes?per_page=10")
    assert [n["Note_Content"] for n in notes["data"]] == ["n"]
    calls = await api.call("GET", f"/crm/v8/Contacts/{contact}/Calls")
    assert [c["Who_Id"]["id"] for c in calls["data"]] == [contact]
    await api.call("GET", f"/crm/v8/Contacts/{MISSING}/Notes", 400)
    await api.call("GET", f"/crm/v8/Contacts/{contact}/Nope", 400)


def test_every_served_operation_is_covered() -> None:
    """Each documented operation the emulator serves was answered with success and an error."""
    served = {
        ("GET", "/crm/v8/settings/modules"),
        ("GET", "/crm/v8/settings/modules/{api_name}"),
        ("GET", "/crm/v8/settings/fields"),
        ("GET", "/crm/v8/settings/fields/{field}"),
        ("GET", "/crm/v8/settings/layouts"),
        ("GET", "/crm/v8/settings/layouts/{id}"),
        ("GET", "/crm/v8/users"),
        ("GET", "/crm/v8/users/{user}"),
        ("GET", "/crm/v8/org"),
        ("GET", "/crm/v8/actions/watch"),
        ("POST", "/crm/v8/actions/watch"),
        ("PUT", "/crm/v8/actions/watch"),
        ("PATCH", "/crm/v8/actions/watch"),
        ("DELETE", "/crm/v8/actions/watch"),
        ("GET", "/crm/v8/Notes"),
        ("POST", "/crm/v8/Notes"),
        ("GET", "/crm/v8/Notes/{id}"),
        ("PUT", "/crm/v8/Notes/{id}"),
        ("DELETE", "/crm/v8/Notes/{id}"),
        ("GET", "/crm/v8/{module_api_name}"),
        ("POST", "/crm/v8/{module_api_name}"),
        ("PUT", "/crm/v8/{module_api_name}"),
        ("DELETE", "/crm/v8/{module_api_name}"),
        ("GET", "/crm/v8/{module_api_name}/{id}"),
        ("PUT", "/crm/v8/{module_api_name}/{id}"),
        ("DELETE", "/crm/v8/{module_api_name}/{id}"),
        ("POST", "/crm/v8/{module_api_name}/upsert"),
        ("GET", "/crm/v8/{module_api_name}/search"),
        ("GET", "/crm/v8/{module_api_name}/deleted"),
        ("GET", "/crm/v8/{module_api_name}/{record_id}/{related_list_api_name}"),
    }
    for mode in ("asgi", "http"):
        seen = {(m, t): set() for m, t in served}
        for m, method, template, status in COVERED:
            if m == mode and (method, template) in seen:
                seen[(method, template)].add(status)
        for op, statuses in seen.items():
            assert any(s < 300 for s in statuses), f"{mode} {op}: no success answer checked"
            if op != ("GET", "/crm/v8/org") and op[1] != "/crm/v8/settings/modules":
                assert any(s != 200 for s in statuses), f"{mode} {op}: no other path"
