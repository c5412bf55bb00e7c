"""Every quirk of reference/quo-api.md, over real HTTP to `switchboard emulate quo` (subprocess)."""

from __future__ import annotations

import concurrent.futures
import time
from typing import Any

import httpx

from tests.emulators.quo.conftest import Quo

CONFLICT = {
    "message": "Failed to create contact",
    "code": "0800409",
    "status": 409,
    "docs": "https://openphone.com/docs",
    "title": "Conflict",
}


def contact(
    external_id: str | None = None, phone: str = "+15550142231", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "defaultFields": {
            "firstName": "Dana",
            "lastName": "Whitfield",
            "phoneNumbers": [{"name": "mobile", "value": phone}],
        },
        **extra,
    }
    if external_id is not None:
        body["externalId"] = external_id
    return body


def test_bare_key_auth(quo: Quo) -> None:
    assert quo.api("GET", "/v1/phone-numbers").status_code == 200
    for headers in ({"Authorization": "Bearer k1"}, {"Authorization": "nope"}):
        resp = quo.http.get(quo.url + "/v1/phone-numbers", headers=headers)
        assert resp.status_code == 401
        body = resp.json()
        assert (
            body["code"] == "0400401" and body["status"] == 401 and body["title"] == "Unauthorized"
        )
    resp = quo.http.get(quo.url + "/v1/contacts")
    assert resp.status_code == 401 and resp.json()["code"] == "0800401"


def until(predicate: Any, timeout: float = 10.0) -> float:
    """Poll `predicate()` until true; return the seconds it took (fails after `timeout`)."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition never became true"
        time.sleep(0.05)
    return time.monotonic() - started


def test_fresh_key_propagation_delay(quo: Quo) -> None:
    ws = quo.control("POST", "/workspaces", json={"apiKey": "fresh", "keyPropagationS": 30}).json()
    assert quo.api("GET", "/v1/users", key="fresh").status_code == 401
    # A key added to an existing workspace propagates the same way; this one quickly.
    started = time.monotonic()
    quo.control(
        "POST", f"/workspaces/{ws['id']}/api-keys", json={"apiKey": "soon", "propagationS": 0.5}
    )
    until(lambda: quo.api("GET", "/v1/users", key="soon").status_code == 200)
    assert time.monotonic() - started >= 0.5
    assert quo.api("GET", "/v1/users", key="fresh").status_code == 401


def test_single_create_201_and_duplicate_phones_allowed(quo: Quo) -> None:
    a = quo.api("POST", "/v1/contacts", json=contact("crm-1"))
    b = quo.api("POST", "/v1/contacts", json=contact("crm-2"))
    assert a.status_code == b.status_code == 201
    assert a.json()["data"]["id"] != b.json()["data"]["id"]
    assert a.json()["data"]["source"] == "public-api"
    assert a.json()["data"]["createdByUserId"].startswith("US")


def test_duplicate_external_id_409_exact_body(quo: Quo) -> None:
    assert quo.api("POST", "/v1/contacts", json=contact("crm-1")).status_code == 201
    dup = quo.api("POST", "/v1/contacts", json=contact("crm-1", phone="+15550199999"))
    assert dup.status_code == 409
    assert dup.json() == CONFLICT


def test_bulk_202_empty_body_then_delayed_visibility(quo: Quo) -> None:
    quo.control("PATCH", "/settings", json={"bulkDelayS": 1.0})
    started = time.monotonic()
    resp = quo.api(
        "POST", "/v1/contacts/bulk", json={"contacts": [contact(f"b-{i}") for i in range(50)]}
    )
    assert resp.status_code == 202 and resp.content == b""
    ids = "&".join(f"externalIds=b-{i}" for i in range(20))

    def visible() -> list[Any]:
        return list(quo.api("GET", f"/v1/contacts?{ids}&maxResults=50").json()["data"])

    first = visible()
    if time.monotonic() - started < 1.0:  # a heavily loaded machine may take longer
        assert first == []
    until(lambda: bool(visible()))
    assert time.monotonic() - started >= 1.0
    assert len(visible()) == 20
    assert quo.api("GET", "/v1/contacts?maxResults=50").json()["totalItems"] == 50
    (job,) = quo.control("GET", f"/workspaces/{quo.workspace['id']}/bulk-jobs").json()["data"]
    assert job["size"] == 50 and job["created"] == 50 and job["processed"]


def test_bulk_drops_duplicates_silently_and_can_be_unavailable(quo: Quo) -> None:
    assert quo.api("POST", "/v1/contacts", json=contact("x")).status_code == 201
    resp = quo.api("POST", "/v1/contacts/bulk", json={"contacts": [contact("x"), contact("y")]})
    assert resp.status_code == 202
    ws = quo.workspace["id"]
    jobs = quo.control("GET", f"/workspaces/{ws}/bulk-jobs").json()["data"]
    assert jobs[0]["created"] == 1 and jobs[0]["rejected"][0]["status"] == 409
    quo.control("POST", "/workspaces", json={"apiKey": "nobulk", "bulk": "missing"})
    quo.control("POST", "/workspaces", json={"apiKey": "forbid", "bulk": "forbidden"})
    body = {"contacts": [contact("z")]}
    assert quo.api("POST", "/v1/contacts/bulk", key="nobulk", json=body).status_code == 404
    assert quo.api("POST", "/v1/contacts/bulk", key="forbid", json=body).status_code == 403
    quo.control("PATCH", "/workspaces/k1", json={"bulk": "missing"})
    assert quo.api("POST", "/v1/contacts/bulk", json=body).status_code == 404


def test_external_ids_are_repeated_keys_and_limited_to_20(quo: Quo) -> None:
    for i in range(21):
        assert quo.api("POST", "/v1/contacts", json=contact(f"e{i}")).status_code == 201
    twenty = [("externalIds", f"e{i}") for i in range(20)]
    ok = quo.api("GET", "/v1/contacts", params=[*twenty, ("maxResults", "50")])
    assert ok.status_code == 200 and len(ok.json()["data"]) == 20
    over = quo.api("GET", "/v1/contacts", params=[*twenty, ("externalIds", "e20")])
    assert over.status_code == 400
    assert over.json()["code"] == "0801400" and over.json()["status"] == 400
    indexed = quo.api("GET", "/v1/contacts", params={"externalIds[0]": "e1"})
    assert indexed.status_code == 400


def test_max_results_bounds_and_paging(quo: Quo) -> None:
    for i in range(12):
        quo.api("POST", "/v1/contacts", json=contact(f"p{i}"))
    for bad in ("0", "51", "ten"):
        resp = quo.api("GET", f"/v1/contacts?maxResults={bad}")
        assert resp.status_code == 400, bad
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"maxResults": 5, **({"pageToken": token} if token else {})}
        page = quo.api("GET", "/v1/contacts", params=params).json()
        seen += [c["externalId"] for c in page["data"]]
        token = page["nextPageToken"]
        if token is None:
            break
    assert sorted(seen) == sorted(f"p{i}" for i in range(12))
    assert quo.api("GET", "/v1/users?maxResults=51").status_code == 400


def test_source_and_source_url_validation(quo: Quo) -> None:
    for source in (
        "openphone",
        "csv",
        "device",
        "zapier",
        "google-people",
        "other",
        "openphone-x",
        "csv2",
    ):
        resp = quo.api("POST", "/v1/contacts", json=contact(f"s-{source}", source=source))
        assert resp.status_code == 400, source
        assert resp.json()["code"] == "0801400"
    ok = quo.api(
        "POST",
        "/v1/contacts",
        json=contact("s-ok", source="attio", sourceUrl="https://app.attio.com/p/1"),
    )
    assert ok.status_code == 201 and ok.json()["data"]["source"] == "attio"
    assert (
        quo.api("POST", "/v1/contacts", json=contact("u", sourceUrl="not a url")).status_code == 400
    )
    long_url = "https://x.test/" + "a" * 200
    assert (
        quo.api("POST", "/v1/contacts", json=contact("u2", sourceUrl=long_url)).status_code == 400
    )
    assert quo.api("POST", "/v1/contacts", json=contact("a" * 76)).status_code == 400
    assert quo.api("POST", "/v1/contacts", json=contact("")).status_code == 400


def test_rate_limit_429_with_retry_after(quo: Quo) -> None:
    quo.control("PATCH", "/settings", json={"rateLimit": 10})
    quo.control("DELETE", "/requests")

    def one(_: int) -> httpx.Response:
        return httpx.get(quo.url + "/v1/phone-numbers", headers={"Authorization": "k1"})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(one, range(40)))
    limited = [r for r in responses if r.status_code == 429]
    for r in limited:
        assert int(r.headers["Retry-After"]) >= 1
        assert r.json()["status"] == 429 and r.json()["code"] == "0400429"
    stats = quo.control("GET", "/stats").json()
    assert stats["perOperation"]["listPhoneNumbers_v1"] == 40
    assert stats["maxPerSecondByKey"]["k1"] >= 10 or not limited
    accepted = [e for e in quo.control("GET", "/requests").json()["data"] if e["status"] == 200]
    stamps = sorted(e["ts"] for e in accepted)
    # Never more than 10 accepted requests of one key within any one second.
    assert all(stamps[i + 10] - stamps[i] >= 0.99 for i in range(len(stamps) - 10))
    # On a loaded machine the burst above may be slower than 10/s; 2 per minute always trips.
    quo.control("PATCH", "/settings", json={"rateLimit": 2, "rateWindowS": 60})
    codes = [one(i).status_code for i in range(3)]
    assert codes[2] == 429, codes
    assert 1 <= int(one(3).headers["Retry-After"]) <= 60
    # Another key has its own budget.
    quo.control("POST", "/workspaces", json={"apiKey": "other"})
    assert quo.api("GET", "/v1/phone-numbers", key="other").status_code == 200


def test_webhook_profiles(quo: Quo) -> None:
    hook = {"url": "https://example.test/hook", "events": ["call.completed"]}
    v1 = quo.api("POST", "/v1/webhooks/calls", json=hook)
    v2 = quo.api("POST", "/v2/webhooks/calls", json=hook)
    assert v1.status_code == v2.status_code == 201
    assert v2.json()["data"]["key"].startswith("whsec_")
    assert not v1.json()["data"]["key"].startswith("whsec_")
    assert (
        quo.api("GET", "/v2/webhooks").json()["data"]
        == quo.api("GET", "/v1/webhooks").json()["data"]
    )
    quo.control("PATCH", "/settings", json={"profile": "dev-2025-11"})
    assert quo.api("GET", "/v1/webhooks").status_code == 200
    broken = quo.api("GET", "/v2/webhooks")
    assert broken.status_code == 500
    assert broken.json() == {
        "message": "An unknown error occurred while fetching webhooks",
        "code": "0301500",
        "status": 500,
    }
    assert quo.api("POST", "/v2/webhooks/calls", json=hook).status_code == 500
    assert quo.api("POST", "/v1/webhooks/calls", json=hook).status_code == 201


def test_too_many_participants_and_ai_agent_user(quo: Quo) -> None:
    call = quo.control("POST", "/calls", json={"participantCount": 3}).json()
    resp = quo.api("GET", f"/v1/calls/{call['callId']}")
    assert resp.status_code == 400
    assert resp.json()["code"] == "0101400" and resp.json()["title"] == "Too Many Participants"
    ai = quo.control("POST", "/calls", json={"outcome": "ai-handled"}).json()
    answered_by = quo.api("GET", f"/v1/calls/{ai['callId']}").json()["data"]["answeredBy"]
    assert answered_by.startswith("SY")
    user = quo.api("GET", f"/v1/users/{answered_by}")
    assert user.status_code == 400 and user.json()["code"] == "1100400"
    owner = quo.workspace["users"][0]["id"]
    assert quo.api("GET", f"/v1/users/{owner}").status_code == 200


def test_voicemail_404_processing_and_ready(quo: Quo) -> None:
    answered = quo.control("POST", "/calls", json={"outcome": "answered"}).json()
    assert quo.api("GET", f"/v1/call-voicemails/{answered['callId']}").status_code == 404
    slow, soon = (
        quo.control(
            "POST",
            "/calls",
            json={"outcome": "voicemail", "delays": {"voicemail": delay}, "delayScale": 1},
        ).json()["callId"]
        for delay in (60, 0.3)
    )
    call = quo.api("GET", f"/v1/calls/{slow}").json()["data"]
    assert call["status"] == "completed" and call["answeredAt"] is None
    processing = quo.api("GET", f"/v1/call-voicemails/{slow}").json()["data"]
    assert processing["status"] == "in-progress"
    assert processing["recordingUrl"] is None and processing["duration"] is None
    assert processing["transcript"] is None

    def ready() -> bool:
        vm = quo.api("GET", f"/v1/call-voicemails/{soon}").json()["data"]
        return bool(vm["status"] == "completed" and vm["recordingUrl"] and vm["duration"])

    until(ready)


def test_recording_url_null_while_processing(quo: Quo) -> None:
    slow, soon = (
        quo.control(
            "POST", "/calls", json={"recording": 2, "delays": {"recording": d}, "delayScale": 1}
        ).json()["callId"]
        for d in (60, 0.3)
    )
    recs = quo.api("GET", f"/v1/call-recordings/{slow}").json()["data"]
    assert len(recs) == 2 and all(r["url"] is None and r["status"] == "processing" for r in recs)

    def ready() -> bool:
        recs = quo.api("GET", f"/v1/call-recordings/{soon}").json()["data"]
        return all(r["url"] and r["status"] == "completed" for r in recs)

    until(ready)


def test_calls_listing_needs_line_and_one_participant(quo: Quo) -> None:
    call = quo.control("POST", "/calls", json={"participants": ["+15550142231"]}).json()
    ok = quo.api(
        "GET", "/v1/calls", params={"phoneNumberId": quo.line_id, "participants": "+15550142231"}
    )
    assert ok.status_code == 200 and [c["id"] for c in ok.json()["data"]] == [call["callId"]]
    assert quo.api("GET", "/v1/calls", params={"participants": "+15550142231"}).status_code == 400
    two = [("phoneNumberId", quo.line_id), ("participants", "+1555"), ("participants", "+1666")]
    assert quo.api("GET", "/v1/calls", params=two).status_code == 400


def test_messages_rest_to_is_a_list(quo: Quo) -> None:
    sent = quo.api(
        "POST",
        "/v1/messages",
        json={"content": "hello", "from": quo.line_id, "to": ["+15550142231"]},
    )
    assert sent.status_code == 202
    msg = sent.json()["data"]
    assert msg["to"] == ["+15550142231"] and msg["status"] == "queued"
    got = quo.api("GET", f"/v1/messages/{msg['id']}").json()["data"]
    assert got["id"] == msg["id"]


def test_error_codes_follow_seven_digit_scheme(quo: Quo) -> None:
    cases = {
        "/v1/calls/ACnope": "0100404",
        "/v1/call-recordings/ACnope": "0900404",
        "/v1/call-summaries/ACnope": "0500404",
        "/v1/call-transcripts/ACnope": "0600404",
        "/v1/call-voicemails/ACnope": "1200404",
        "/v1/contacts/nope": "0800404",
        "/v1/messages/ACnope": "0200404",
        "/v1/phone-numbers/PNnope": "0400404",
        "/v1/users/USnope": "1100404",
        "/v1/webhooks/WHnope": "0300404",
    }
    for path, code in cases.items():
        body = quo.api("GET", path).json()
        assert body["code"] == code, path
        assert len(body["code"]) == 7 and body["status"] == 404


def test_faults_over_http(quo: Quo) -> None:
    quo.control(
        "PUT",
        "/faults",
        json={"errors": {"listUsers_v1": {"status": 503, "count": 1, "retry_after": 2}}},
    )
    first = quo.api("GET", "/v1/users")
    assert first.status_code == 503 and first.headers["Retry-After"] == "2"
    assert first.json()["code"] == "1101503"
    assert quo.api("GET", "/v1/users").status_code == 200
    quo.control("PUT", "/faults", json={"storm_429": {"duration_s": 30, "retry_after": 3}})
    storm = quo.api("GET", "/v1/users")
    assert storm.status_code == 429 and storm.headers["Retry-After"] == "3"
    quo.control("PUT", "/faults", json={"drop": {"rate": 1, "count": 1}})
    try:
        quo.api("GET", "/v1/users")
        raise AssertionError("connection was not dropped")
    except httpx.TransportError:
        pass
    assert quo.api("GET", "/v1/users").status_code == 200
    quo.control("PUT", "/faults", json={"latency_ms": 300})
    started = time.monotonic()
    assert quo.api("GET", "/v1/users").status_code == 200
    assert time.monotonic() - started >= 0.3
    quo.control("DELETE", "/faults")
    log = quo.control("GET", "/requests?operation=listUsers_v1").json()["data"]
    assert [e["fault"] for e in log] == ["error", None, "storm", "drop", None, "latency"]
    assert log[3]["status"] is None


def test_workspaces_are_isolated(quo: Quo) -> None:
    other = quo.control(
        "POST",
        "/workspaces",
        json={
            "apiKey": "k2",
            "phoneNumbers": [{"number": "+15550100200", "name": "Sales", "symbol": "💼"}],
            "users": [{"email": "ana@example.test", "firstName": "Ana", "lastName": "Lee"}],
        },
    ).json()
    quo.api("POST", "/v1/contacts", json=contact("iso"))
    assert quo.api("GET", "/v1/contacts", key="k2").json()["data"] == []
    numbers = quo.api("GET", "/v1/phone-numbers", key="k2").json()["data"]
    assert [(n["name"], n["symbol"], n["number"]) for n in numbers] == [
        ("Sales", "💼", "+15550100200")
    ]
    assert numbers[0]["users"][0]["email"] == "ana@example.test"
    assert other["phoneNumbers"][0]["id"] == numbers[0]["id"]
