"""The control surface: orgs, seeding (phones over every phone field), tokens, limits, the
request log and stats, injected faults in Zoho's error shape, reset."""

from __future__ import annotations

from switchboard.emulators.zoho.metadata import PHONE_FIELDS
from tests.emulators.zoho.conftest import TOKEN, Zoho


async def test_seed_spreads_phones_and_links_accounts(zoho: Zoho) -> None:
    seeded = await zoho.ok(
        "POST", "/_emulator/orgs/default/seed", json={"contacts": 20, "leads": 5}
    )
    assert (seeded["contacts"], seeded["leads"], seeded["accounts"]) == (20, 5, 2)
    contacts = list(zoho.org.records["Contacts"].values())
    used = {f for rec in contacts for f in PHONE_FIELDS if rec.values.get(f)}
    assert used == set(PHONE_FIELDS)
    assert all(rec.values["Account_Name"]["id"] in zoho.org.records["Accounts"] for rec in contacts)
    # Every seeded number is found by the phone search, whichever field holds it.
    for rec in contacts[:5]:
        number = next(rec.values[f] for f in PHONE_FIELDS if rec.values.get(f))
        found = await zoho.ok("GET", f"/crm/v8/Contacts/search?phone={number[1:]}")
        assert [r["id"] for r in found["data"]] == [rec.id]
    assert zoho.emu.notifications == []  # seeding does not notify


async def test_orgs_tokens_limits_and_clock(zoho: Zoho) -> None:
    made = await zoho.ok(
        "POST", "/_emulator/orgs", json={"name": "Acme", "dc": "au", "edition": "free", "users": 2}
    )
    assert made["dc"] == "au" and made["credits_per_day"] == 5_000 and len(made["users"]) == 2
    token = await zoho.ok("POST", f"/_emulator/orgs/{made['org_id']}/tokens", json={"ttl_s": 60})
    headers = {"Authorization": f"Zoho-oauthtoken {token['access_token']}"}
    assert (await zoho.api("GET", "/au/crm/v8/org", headers=headers)).status_code == 200
    limits = await zoho.ok(
        "PUT", "/_emulator/orgs/Acme/limits", json={"credits_per_day": 7, "max_concurrency": 2}
    )
    assert (limits["credits_per_day"], limits["max_concurrency"], limits["credits_used"]) == (
        7,
        2,
        1,
    )
    code = await zoho.ok("POST", "/_emulator/orgs/Acme/oauth/codes", json={})
    assert code["location"] == "au" and code["code"].startswith("1000.")
    before = (await zoho.ok("GET", "/_emulator/clock"))["now"]
    after = (await zoho.ok("POST", "/_emulator/clock", json={"advance_s": 120}))["now"]
    assert after - before >= 120
    assert (await zoho.api("GET", "/au/crm/v8/org", headers=headers)).status_code == 401
    bad = await zoho.api("POST", "/_emulator/orgs", json={"dc": "mars"})
    assert bad.status_code == 400


async def test_request_log_stats_and_faults(zoho: Zoho) -> None:
    await zoho.ok("GET", "/crm/v8/org")
    await zoho.api("GET", "/crm/v8/Contacts?fields=Last_Name")
    log = await zoho.ok("GET", "/_emulator/requests")
    assert [(e["operation"], e["status"], e["key"]) for e in log["data"]] == [
        ("Get Organization", 200, TOKEN),
        ("Get Records", 204, TOKEN),
    ]
    stats = await zoho.ok("GET", "/_emulator/stats")
    assert stats["perOperation"] == {"Get Organization": 1, "Get Records": 1}
    assert stats["creditsUsed"][zoho.org.id] == 2

    await zoho.ok(
        "PATCH", "/_emulator/faults", json={"errors": {"Get Records": {"status": 500, "count": 1}}}
    )
    failed = await zoho.api("GET", "/crm/v8/Contacts?fields=Last_Name")
    assert failed.status_code == 500
    assert failed.json() == {
        "code": "INTERNAL_ERROR",
        "details": {},
        "message": "Internal server error occurred.",
        "status": "error",
    }
    assert (await zoho.api("GET", "/crm/v8/Contacts?fields=Last_Name")).status_code == 204
    knobs = await zoho.ok("PATCH", "/_emulator/faults", json={"strict_se_module": False})
    assert knobs["strict_se_module"] is False
    cid = await zoho.create("Contacts", Last_Name="Ada")
    lenient = {
        "Subject": "Call",
        "Call_Type": "Outbound",
        "Call_Start_Time": "2026-12-05T10:00:00-05:00",
        "Who_Id": cid,
        "$se_module": "Contacts",
    }
    await zoho.ok("POST", "/crm/v8/Calls", 201, json={"data": [lenient]})

    await zoho.ok("POST", "/_emulator/reset")
    assert (await zoho.ok("GET", "/_emulator/requests"))["data"] == []
    assert (await zoho.api("GET", "/crm/v8/Contacts?fields=Last_Name")).status_code == 204
    assert (await zoho.ok("GET", "/_emulator/faults"))["strict_se_module"] is True


async def test_workspace_aliases(zoho: Zoho) -> None:
    """The other emulators' control-surface names answer too (workspaces = orgs)."""
    seeded = await zoho.ok(
        "POST", "/_emulator/workspaces/default/seed", json={"people": 4, "companies": 1}
    )
    assert (seeded["contacts"], seeded["accounts"]) == (4, 1)
    listed = await zoho.ok("GET", "/_emulator/workspaces")
    assert listed["data"][0]["workspace_id"] == zoho.org.id
    assert (await zoho.ok("POST", "/_emulator/webhooks/drain"))["pending"] == 0
    assert (await zoho.ok("GET", "/_emulator/webhook-deliveries"))["data"] == []
