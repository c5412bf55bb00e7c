"""Record behaviour beyond the documents' shapes: the phone search follows updates, upserts and
deletes across every phone field, in both people modules."""

from __future__ import annotations

from tests.emulators.zoho.conftest import Zoho


async def _ids(zoho: Zoho, module: str, phone: str) -> list[str]:
    resp = await zoho.api("GET", f"/crm/v8/{module}/search?phone={phone}")
    return [r["id"] for r in resp.json()["data"]] if resp.status_code == 200 else []


async def test_phone_search_follows_writes(zoho: Zoho) -> None:
    cid = await zoho.create("Contacts", Last_Name="Ada", Assistant_Phone="+1 (415) 555-0101")
    lid = await zoho.create("Leads", Last_Name="Bea", Company="Acme", Home_Phone="4155550101")
    assert await _ids(zoho, "Contacts", "14155550101") == [cid]
    assert await _ids(zoho, "Leads", "4155550101") == [lid]
    await zoho.ok(
        "PUT", f"/crm/v8/Contacts/{cid}", json={"data": [{"Assistant_Phone": "+14155550102"}]}
    )
    assert await _ids(zoho, "Contacts", "14155550101") == []
    assert await _ids(zoho, "Contacts", "+14155550102") == [cid]
    upsert = {"data": [{"Last_Name": "Ada", "Email": "ada@x.test", "Other_Phone": "+14155550103"}]}
    await zoho.ok("POST", "/crm/v8/Contacts/upsert", json=upsert)
    await zoho.ok("POST", "/crm/v8/Contacts/upsert", json=upsert)
    assert len(await _ids(zoho, "Contacts", "+14155550103")) == 1
    await zoho.ok("DELETE", f"/crm/v8/Contacts/{cid}")
    assert await _ids(zoho, "Contacts", "+14155550102") == []
    both = "/crm/v8/Leads/search?phone=4155550101&criteria=(Company:equals:acme)"
    assert [r["id"] for r in (await zoho.ok("GET", both))["data"]] == [lid]


async def test_page_token_scan_survives_concurrent_creates_and_deletes(zoho: Zoho) -> None:
    await zoho.ok("POST", "/_emulator/orgs/default/seed", json={"contacts": 50})
    ids = sorted(zoho.org.records["Contacts"], key=int)
    url = "/crm/v8/Contacts?fields=Last_Name&per_page=10"
    first = await zoho.ok("GET", url)
    seen = [r["id"] for r in first["data"]]
    assert seen == ids[:10]
    # Between pages: delete records already seen and not yet seen, create new ones.
    await zoho.ok("DELETE", f"/crm/v8/Contacts?ids={','.join(ids[:3] + ids[20:22])}")
    new = [await zoho.create("Contacts", Last_Name=f"New {n}") for n in range(2)]
    token = first["info"]["next_page_token"]
    pages = [first["info"]["page"]]
    while token:
        page = await zoho.ok("GET", f"{url}&page_token={token}")
        seen += [r["id"] for r in page["data"]]
        pages.append(page["info"]["page"])
        token = page["info"].get("next_page_token")
    survivors = [i for i in ids if i not in ids[20:22]]
    assert len(seen) == len(set(seen))
    assert set(seen) == set(survivors) | set(new)
    assert pages == list(range(1, len(pages) + 1))
    await zoho.ok(
        "GET", f"/crm/v8/Leads?fields=Last_Name&page_token={first['info']['next_page_token']}", 400
    )


async def test_if_modified_since_accepts_iso_and_http_dates(zoho: Zoho) -> None:
    await zoho.create("Contacts", Last_Name="Ada")
    url = "/crm/v8/Contacts?fields=Last_Name"
    for since, status in [
        ("2000-01-01T00:00:00+05:30", 200),
        ("Sat, 01 Jan 2000 00:00:00 GMT", 200),
        ("2999-01-01T00:00:00Z", 304),
    ]:
        resp = await zoho.api("GET", url, headers={"If-Modified-Since": since})
        assert resp.status_code == status, since
    assert (await zoho.api("GET", url, headers={"If-Modified-Since": "soon"})).status_code == 400


async def test_emoji_become_question_marks_in_subject_and_title_fields(zoho: Zoho) -> None:
    cid = await zoho.create("Contacts", Last_Name="Ada 😀", Title="CEO 🚀")
    call = {
        "Subject": "📞 Inbound call",
        "Call_Type": "Inbound",
        "Call_Start_Time": "2026-12-05T10:00:00+00:00",
        "Description": "Notes keep 😀",
    }
    made = await zoho.ok("POST", "/crm/v8/Calls", 201, json={"data": [call]})
    call_id = made["data"][0]["details"]["id"]
    got = (await zoho.ok("GET", f"/crm/v8/Calls/{call_id}"))["data"][0]
    assert got["Subject"] == "? Inbound call" and got["Description"] == "Notes keep 😀"
    contact = (await zoho.ok("GET", f"/crm/v8/Contacts/{cid}"))["data"][0]
    assert contact["Title"] == "CEO ?" and contact["Last_Name"] == "Ada 😀"
    note = {
        "Note_Title": "SMS 💬",
        "Note_Content": "hi 👋",
        "Parent_Id": {"module": {"api_name": "Contacts"}, "id": cid},
    }
    made = await zoho.ok("POST", "/crm/v8/Notes", json={"data": [note]})
    got = (await zoho.ok("GET", f"/crm/v8/Notes/{made['data'][0]['details']['id']}"))["data"][0]
    assert (got["Note_Title"], got["Note_Content"]) == ("SMS ?", "hi 👋")


async def test_call_related_to_can_change_and_clear(zoho: Zoho) -> None:
    acct = await zoho.create("Accounts", Account_Name="Zylker")
    lead = await zoho.create("Leads", Last_Name="Bea", Company="Acme")
    call = {
        "Subject": "Outbound call",
        "Call_Type": "Outbound",
        "Call_Start_Time": "2026-12-05T10:00:00+00:00",
        "What_Id": {"id": acct},
        "$se_module": "Accounts",
    }
    call_id = await zoho.create("Calls", **call)
    got = (await zoho.ok("GET", f"/crm/v8/Calls/{call_id}"))["data"][0]
    assert (got["What_Id"], got["$se_module"]) == ({"id": acct, "name": "Zylker"}, "Accounts")
    move = {"What_Id": {"id": lead}, "$se_module": "Leads"}
    await zoho.ok("PUT", f"/crm/v8/Calls/{call_id}", json={"data": [move]})
    assert (await zoho.ok("GET", f"/crm/v8/Calls/{call_id}"))["data"][0]["$se_module"] == "Leads"
    await zoho.ok("PUT", f"/crm/v8/Calls/{call_id}", json={"data": [{"What_Id": None}]})
    got = (await zoho.ok("GET", f"/crm/v8/Calls/{call_id}"))["data"][0]
    assert (got["What_Id"], got["$se_module"]) == (None, None)
    wrong = {"What_Id": {"id": lead}, "$se_module": "Accounts"}  # a lead is not an account
    assert (
        await zoho.api("PUT", f"/crm/v8/Calls/{call_id}", json={"data": [wrong]})
    ).status_code == 400
