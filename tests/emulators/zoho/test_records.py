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
