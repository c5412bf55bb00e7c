"""The control surface: companies and tokens, seeding, edits as a user, faults with Pipedrive's
error bodies, the request log and stats, reset."""

from __future__ import annotations

from switchboard.emulators.pipedrive import phone_forms
from tests.emulators.pipedrive.conftest import TOKEN, Pd


async def test_companies_are_isolated(pd: Pd) -> None:
    other = await pd.ok("POST", "/_emulator/companies", json={"name": "Other", "token": "t2"})
    assert other["tokens"] == ["t2"] and other["domain"]
    await pd.ok(
        "POST", f"/_emulator/companies/{other['id']}/persons", json={"name": "Only in other"}
    )
    mine = await pd.ok("GET", "/api/v2/persons")
    theirs = await pd.ok("GET", "/api/v2/persons", headers={"x-api-token": "t2"})
    assert mine["data"] == [] and [p["name"] for p in theirs["data"]] == ["Only in other"]
    issued = await pd.ok("POST", "/_emulator/companies/default/tokens", json={})
    assert (
        await pd.client.get("/v1/users/me", headers={"x-api-token": issued["token"]})
    ).is_success
    by_query = await pd.client.get(
        "/v1/users/me", params={"api_token": "t2"}, headers={"x-api-token": ""}
    )
    assert by_query.json()["data"]["company_id"] == other["id"]  # the `api_token` query form
    listed = await pd.ok("GET", "/_emulator/companies")
    assert len(listed["data"]) == 2


async def test_seed_persons_organizations_deals_leads(pd: Pd) -> None:
    result = await pd.ok("POST", "/_emulator/companies/default/seed", json={"persons": 70})
    assert (result["persons"], result["organizations"], result["deals"], result["leads"]) == (
        70,
        7,
        14,
        10,
    )
    counts = (await pd.ok("GET", "/_emulator/companies/default"))["counts"]
    assert counts["persons"] == 70 and counts["deals"] == 14 and counts["leads"] == 10
    page = await pd.ok("GET", "/api/v2/persons", params={"limit": 4})
    typed = [p["phones"][0]["value"] for p in page["data"]]
    assert typed == [phone_forms(200, n)[n] for n in range(4)]  # every form users type
    assert len({len(t) for t in typed}) > 1
    assert pd.receiver.requests == []  # seeding fires no webhooks


async def test_faults_use_pipedrive_error_bodies(pd: Pd) -> None:
    await pd.ok(
        "PUT", "/_emulator/faults", json={"errors": {"getPersons": {"status": 503, "count": 1}}}
    )
    failed = await pd.client.get("/api/v2/persons")
    assert failed.status_code == 503
    assert failed.json()["success"] is False and failed.json()["error"]
    assert (await pd.client.get("/api/v2/persons")).status_code == 200
    await pd.ok(
        "PATCH", "/_emulator/faults", json={"storm_429": {"duration_s": 60, "retry_after": 3}}
    )
    storm = await pd.client.get("/v1/users/me")
    assert storm.status_code == 429 and storm.headers["retry-after"] == "3"
    await pd.ok("DELETE", "/_emulator/faults")
    assert (await pd.client.get("/v1/users/me")).status_code == 200


async def test_request_log_and_stats(pd: Pd) -> None:
    await pd.client.get("/api/v2/persons")
    await pd.client.post("/api/v2/persons", json={"name": "A"})
    await pd.client.get("/v1/users/me", headers={"x-api-token": "bogus"})
    log = (await pd.ok("GET", "/_emulator/requests", params={"key": TOKEN}))["data"]
    assert [e["operation"] for e in log] == ["getPersons", "addPerson"]
    stats = await pd.ok("GET", "/_emulator/stats")
    assert stats["perOperation"] == {"getPersons": 1, "addPerson": 1, "getCurrentUser": 1}
    assert stats["perStatus"] == {"200": 2, "401": 1}
    await pd.ok("DELETE", "/_emulator/requests")
    assert (await pd.ok("GET", "/_emulator/stats"))["total"] == 0


async def test_call_log_recordings_are_inspectable(pd: Pd) -> None:
    log = (
        await pd.ok(
            "POST",
            "/v1/callLogs",
            json={
                "to_phone_number": "+1",
                "outcome": "no_answer",
                "start_time": "2026-12-01 10:00:00",
                "end_time": "2026-12-01 10:00:05",
                "duration": "5",
            },
        )
    )["data"]
    await pd.ok(
        "POST",
        f"/v1/callLogs/{log['id']}/recordings",
        files={"file": ("v.mp3", b"abc", "audio/mpeg")},
    )
    listed = (await pd.ok("GET", "/_emulator/companies/default/call-logs"))["data"]
    assert listed[0]["recording"] == {"filename": "v.mp3", "content_type": "audio/mpeg", "size": 3}
    assert listed[0]["duration"] == "5"  # under 60 s, kept
    raw = await pd.client.get(f"/_emulator/companies/default/call-logs/{log['id']}/recording")
    assert raw.content == b"abc"


async def test_reset_keeps_companies_and_tokens(pd: Pd) -> None:
    await pd.ok("POST", "/_emulator/companies/default/seed", json={"persons": 5})
    await pd.hook()
    await pd.ok("POST", "/_emulator/reset")
    assert (await pd.ok("GET", "/api/v2/persons"))["data"] == []
    assert (await pd.ok("GET", "/v1/webhooks"))["data"] == []
