"""Records: Attio's value model (history, append vs overwrite), filters, sorts, pagination,
asserts, merges, and bad input answered with Attio 4xx bodies (never a 500)."""

from __future__ import annotations

from typing import Any

from tests.emulators.attio.conftest import Attio

Q = "/v2/objects/people/records/query"


def _ids(body: dict[str, Any]) -> list[str]:
    return [r["id"]["record_id"] for r in body["data"]]


def _current(record: dict[str, Any], slug: str, field: str) -> list[Any]:
    return [v[field] for v in record["values"][slug] if v["active_until"] is None]


async def _query(attio: Attio, **body: Any) -> list[str]:
    return _ids(await attio.ok("POST", Q, json=body))


async def test_invalid_write_changes_nothing(attio: Attio) -> None:
    person = await attio.create_person(name="Ada Lovelace", phone_numbers=["+14155550134"])
    rid = person["id"]["record_id"]
    # a national number without a country code is not a valid number: 400, nothing written
    resp = await attio.api(
        "PUT",
        f"/v2/objects/people/records/{rid}",
        json={"data": {"values": {"job_title": "CEO", "phone_numbers": ["(415) 555-0199"]}}},
    )
    assert resp.status_code == 400 and resp.json()["code"] == "validation_type"
    got = (await attio.ok("GET", f"/v2/objects/people/records/{rid}"))["data"]
    assert got["values"]["job_title"] == []
    assert _current(got, "phone_numbers", "phone_number") == ["+14155550134"]


async def test_history_and_phone_filters(attio: Attio) -> None:
    person = await attio.create_person(
        name="Ada Lovelace", phone_numbers=["+14155550134", "+442079460123"]
    )
    rid = person["id"]["record_id"]
    assert await _query(attio, filter={"phone_numbers": "+14155550134"}) == [rid]
    assert await _query(attio, filter={"phone_numbers": "+44 20 7946 0123"}) == [rid]
    updated = await attio.ok(
        "PUT",
        f"/v2/objects/people/records/{rid}",
        json={
            "data": {
                "values": {
                    "phone_numbers": [
                        {"original_phone_number": "(415) 555-0199", "country_code": "US"},
                        "+442079460123",
                    ]
                }
            }
        },
    )
    record = updated["data"]
    assert _current(record, "phone_numbers", "phone_number") == ["+442079460123", "+14155550199"]
    old = [v for v in record["values"]["phone_numbers"] if v["phone_number"] == "+14155550134"]
    assert len(old) == 1 and old[0]["active_until"] is not None
    # historic values never match, current ones do (both field names)
    assert await _query(attio, filter={"phone_numbers": "+14155550134"}) == []
    assert await _query(
        attio, filter={"phone_numbers": {"normalized_phone_number": {"$eq": "+14155550199"}}}
    ) == [rid]
    assert await _query(
        attio, filter={"phone_numbers": {"phone_number": {"$in": ["+1", "+442079460123"]}}}
    ) == [rid]


async def test_current_only_view(make_emulator: Any) -> None:
    emu = make_emulator(include_historic_values=False)
    ws = emu.default_workspace
    rec = emu.create_record(ws, "people", {"phone_numbers": ["+14155550134"]})
    emu.update_record(ws, "people", rec.id, {"phone_numbers": ["+14155550199"]})
    store, record = ws.get_record("people", rec.id)
    shown = ws.record_json(store, record)["values"]["phone_numbers"]
    assert [v["phone_number"] for v in shown] == ["+14155550199"]


async def test_patch_appends_put_overwrites(attio: Attio) -> None:
    person = await attio.create_person(email_addresses=["a@x.test"], job_title="CEO")
    rid = person["id"]["record_id"]
    path = f"/v2/objects/people/records/{rid}"
    patched = await attio.ok(
        "PATCH", path, json={"data": {"values": {"email_addresses": ["b@x.test", "A@x.test"]}}}
    )
    assert _current(patched["data"], "email_addresses", "email_address") == [
        "a@x.test",
        "b@x.test",
    ]
    patched = await attio.ok("PATCH", path, json={"data": {"values": {"job_title": "CTO"}}})
    assert _current(patched["data"], "job_title", "value") == ["CTO"]
    put = await attio.ok("PUT", path, json={"data": {"values": {"email_addresses": ["c@x.test"]}}})
    assert _current(put["data"], "email_addresses", "email_address") == ["c@x.test"]
    assert _current(put["data"], "job_title", "value") == ["CTO"]  # untouched attribute kept
    assert await _query(attio, filter={"email_addresses": "A@X.test"}) == []
    assert await _query(attio, filter={"email_addresses": "C@X.TEST"}) == [rid]


async def test_shared_phone_finds_everyone(attio: Attio) -> None:
    a = await attio.create_person(name="Ann", phone_numbers=["+14155550100"])
    b = await attio.create_person(name="Bob", phone_numbers=["+14155550100", "+14155550101"])
    found = await _query(attio, filter={"phone_numbers": "+14155550100"})
    assert sorted(found) == sorted([a["id"]["record_id"], b["id"]["record_id"]])


async def test_verbose_filters(attio: Attio) -> None:
    ada = (await attio.create_person(name="Ada Lovelace", job_title="Engineer"))["id"]["record_id"]
    alan = (await attio.create_person(name="Alan Turing", job_title="Mathematician"))["id"][
        "record_id"
    ]
    grace = (await attio.create_person(name="Grace Hopper"))["id"]["record_id"]
    assert await _query(attio, filter={"name": "ada lovelace"}) == [ada]
    assert await _query(attio, filter={"name": {"first_name": {"$starts_with": "al"}}}) == [alan]
    assert await _query(attio, filter={"name": {"full_name": {"$contains": "OPP"}}}) == [grace]
    assert await _query(attio, filter={"$not": {"name": "Ada Lovelace"}}) == [alan, grace]
    assert await _query(
        attio, filter={"$or": [{"job_title": "Engineer"}, {"job_title": "Mathematician"}]}
    ) == [ada, alan]
    assert await _query(
        attio, filter={"$and": [{"job_title": {"$not_empty": True}}, {"name": {"$contains": "t"}}]}
    ) == [alan]
    assert await _query(attio, filter={"job_title": {"$not_empty": False}}) == [grace]
    assert await _query(attio, filter={"record_id": {"$in": [grace, ada, "nope"]}}) == [ada, grace]
    assert await _query(attio, filter={"record_id": alan, "name": "Alan Turing"}) == [alan]
    # Negating or or-ing an index-only condition must still see its candidate set.
    assert await _query(attio, filter={"$not": {"record_id": {"$in": [ada]}}}) == [alan, grace]
    assert await _query(
        attio, filter={"$or": [{"record_id": ada}, {"job_title": {"$not_empty": False}}]}
    ) == [ada, grace]


async def test_timestamps_and_changed_since(attio: Attio) -> None:
    first = await attio.create_person(name="First")
    second = await attio.create_person(name="Second")
    assert first["created_at"] < second["created_at"]
    after_first = await _query(attio, filter={"created_at": {"$gt": first["created_at"]}})
    assert after_first == [second["id"]["record_id"]]
    assert await _query(
        attio,
        filter={
            "created_at": {"$gte": first["created_at"], "$lte": first["created_at"]},
        },
    ) == [first["id"]["record_id"]]
    mark = second["updated_at"]
    await attio.ok(
        "PATCH",
        f"/v2/objects/people/records/{first['id']['record_id']}",
        json={"data": {"values": {"job_title": "CEO"}}},
    )
    changed = await _query(
        attio,
        filter={"updated_at": {"$gt": mark}},
        sorts=[{"attribute": "updated_at", "direction": "asc"}],
    )
    assert changed == [first["id"]["record_id"]]
    # a no-op write changes nothing
    same = await attio.ok(
        "PATCH",
        f"/v2/objects/people/records/{first['id']['record_id']}",
        json={"data": {"values": {"job_title": "CEO"}}},
    )
    assert await _query(attio, filter={"updated_at": {"$gt": same["data"]["updated_at"]}}) == []


async def test_sorts_and_pagination(attio: Attio) -> None:
    names = ["Cleo Brown", "Abe Zed", "Bea Young", "Dan Adams", "Eve"]
    ids = [(await attio.create_person(name=n))["id"]["record_id"] for n in names]
    desc = await _query(attio, sorts=[{"attribute": "created_at", "direction": "desc"}])
    assert desc == ids[::-1]
    by_last = await _query(
        attio, sorts=[{"attribute": "name", "field": "last_name", "direction": "asc"}]
    )
    assert by_last == [ids[4], ids[3], ids[0], ids[2], ids[1]]  # Eve's last name is ""
    by_full = await _query(attio, sorts=[{"attribute": "name", "direction": "asc"}])
    assert by_full == [ids[1], ids[2], ids[0], ids[3], ids[4]]
    no_title_last = await _query(attio, sorts=[{"attribute": "job_title", "direction": "desc"}])
    assert no_title_last == ids  # nobody has a value: creation order kept
    pages: list[str] = []
    offset = 0
    while True:
        page = await _query(attio, limit=2, offset=offset)
        pages += page
        if len(page) < 2:
            break
        offset += 2
    assert pages == ids
    assert len(await _query(attio)) == 5  # default limit 500


async def test_assert_and_uniqueness(attio: Attio) -> None:
    path = "/v2/objects/people/records?matching_attribute=email_addresses"
    body = {
        "data": {"values": {"email_addresses": ["x@y.test"], "phone_numbers": ["+14155550134"]}}
    }
    first = await attio.ok("PUT", path, json=body)
    body["data"]["values"]["phone_numbers"] = ["+14155550135"]
    second = await attio.ok("PUT", path, json=body)
    assert first["data"]["id"] == second["data"]["id"]
    assert _current(second["data"], "phone_numbers", "phone_number") == [
        "+14155550134",
        "+14155550135",
    ]  # assert appends multiselect values
    await attio.create_person(email_addresses=["z@y.test"])
    both = {"data": {"values": {"email_addresses": ["x@y.test", "z@y.test"]}}}
    resp = await attio.api("PUT", path, json=both)
    assert resp.status_code == 400 and resp.json()["code"] == "multiple_match_results"
    resp = await attio.api(
        "POST",
        "/v2/objects/people/records",
        json={"data": {"values": {"email_addresses": ["z@y.test"]}}},
    )
    assert resp.status_code == 400 and resp.json()["code"] == "uniqueness_conflict"


async def test_delete_and_merge(attio: Attio) -> None:
    emu, ws = attio.emu, attio.ws
    a = emu.create_record(
        ws,
        "people",
        {"name": "Ada", "phone_numbers": ["+14155550134"], "email_addresses": ["ada@x.test"]},
    )
    b = emu.create_record(
        ws,
        "people",
        {"name": "Ada Lovelace", "phone_numbers": ["+14155550199"], "job_title": "Countess"},
    )
    note = await attio.ok(
        "POST",
        "/v2/notes",
        json={
            "data": {
                "parent_object": "people",
                "parent_record_id": b.id,
                "title": "t",
                "format": "plaintext",
                "content": "c",
            }
        },
    )
    merged = emu.merge_records(ws, "people", a.id, b.id)
    assert merged.id not in (a.id, b.id)
    for gone in (a.id, b.id):
        resp = await attio.api("GET", f"/v2/objects/people/records/{gone}")
        assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    got = (await attio.ok("GET", f"/v2/objects/people/records/{merged.id}"))["data"]
    assert _current(got, "name", "full_name") == ["Ada"]  # primary wins
    assert _current(got, "job_title", "value") == ["Countess"]  # filled from the secondary
    assert sorted(_current(got, "phone_numbers", "phone_number")) == [
        "+14155550134",
        "+14155550199",
    ]
    assert await _query(attio, filter={"phone_numbers": "+14155550199"}) == [merged.id]
    moved = await attio.ok("GET", f"/v2/notes/{note['data']['id']['note_id']}")
    assert moved["data"]["parent_record_id"] == merged.id
    resp = await attio.api("DELETE", f"/v2/objects/people/records/{merged.id}")
    assert resp.status_code == 200 and resp.json() == {}
    assert await _query(attio) == []


BAD_QUERIES: list[Any] = [
    {"filter": "phone"},
    {"filter": {"phone_numbers": ["+1"]}},
    {"filter": {"phone_numbers": {"$eq": {"x": 1}}}},
    {"filter": {"phone_numbers": {"country": "US"}}},
    {"filter": {"$or": {"a": 1}}},
    {"filter": {"$not": [1]}},
    {"filter": {"$xor": []}},
    {"filter": {"record_id": {"$in": "abc"}}},
    {"filter": {"record_id": {"$gt": 3}}},
    {"filter": {"created_at": {"$contains": "2026"}}},
    {"filter": {"updated_at": {"$lt": None}}},
    {"filter": {"name": {"$gt": "x"}}},
    {"filter": {"name": {}}},
    {"filter": {"job_title": {"$not_empty": "yes"}}},
    {"filter": {"path": [["people", "company"]]}},
    {"sorts": "name"},
    {"sorts": [{"attribute": "nope", "direction": "asc"}]},
    {"sorts": [{"attribute": "name", "direction": "sideways"}]},
    {"limit": -1},
    {"limit": "ten"},
    {"offset": 1.5},
    [],
]


async def test_bad_queries_get_attio_400(attio: Attio) -> None:
    for body in BAD_QUERIES:
        resp = await attio.api("POST", Q, json=body)
        assert resp.status_code == 400, (body, resp.text)
        payload = resp.json()
        assert payload["status_code"] == 400 and payload["type"] == "invalid_request_error"
        assert payload["code"] in ("filter_error", "validation_type")


MALFORMED: list[tuple[str, str, bytes]] = [
    ("POST", "/v2/objects/people/records", b"{"),
    ("POST", "/v2/objects/people/records", b'{"data": []}'),
    ("POST", "/v2/objects/people/records", b'{"data": {"values": []}}'),
    ("POST", "/v2/objects/people/records", b'{"data": {"values": {"name": 42}}}'),
    ("POST", "/v2/objects/people/records", b'{"data": {"values": {"name": ["a", "b"]}}}'),
    ("POST", "/v2/objects/people/records", b'{"data": {"values": {"created_at": "x"}}}'),
    ("POST", "/v2/objects/people/records", b'{"data": {"values": {"company": "nope"}}}'),
    ("POST", "/v2/objects/people/records", b'{"data": {"values": {"email_addresses": "x"}}}'),
    ("POST", "/v2/objects/people/records/query", b"\xff\xfe"),
    ("POST", "/v2/notes", b'{"data": {"title": 1}}'),
    ("POST", "/v2/notes", b"null"),
    ("POST", "/v2/webhooks", b'{"data": {"target_url": 5, "subscriptions": []}}'),
    (
        "POST",
        "/v2/webhooks",
        b'{"data": {"target_url": "https://a.test", "subscriptions": [{}]}}',
    ),
    ("POST", "/v2/tasks", b'{"data": {}}'),
    ("GET", "/v2/notes?limit=51", b""),
    ("GET", "/v2/notes?limit=x", b""),
    (
        "POST",
        "/v2/objects",
        b'{"data": {"api_slug": "Bad Slug", "singular_noun": "a", "plural_noun": "b"}}',
    ),
]


async def test_malformed_input_gets_400(attio: Attio) -> None:
    for method, path, content in MALFORMED:
        resp = await attio.api(method, path, content=content)
        assert resp.status_code == 400, (path, content, resp.text)
        assert set(resp.json()) == {"status_code", "type", "code", "message"}


async def test_unknown_things_get_404(attio: Attio) -> None:
    for method, path in [
        ("POST", "/v2/objects/unicorns/records/query"),
        ("GET", "/v2/objects/unicorns"),
        ("GET", "/v2/objects/people/records/not-a-uuid"),
        ("GET", "/v2/lists/sales/attributes"),
        ("GET", "/v2/nothing-here"),
    ]:
        resp = await attio.api(method, path, json={})
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json()["code"] == "not_found"
