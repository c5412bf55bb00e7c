"""AttioConnector request shapes and outcome mapping, through httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from switchboard.crm.attio import AttioConnector
from switchboard.crm.base import CrmNote, Person
from switchboard.http import ApiError, RequestInfo, RetryPolicy
from switchboard.sync.contacts import people_to_contacts

TOKEN = "attio-token-unit-0123456789"
PEOPLE_OBJECT = "obj-people-1"

Handler = Callable[[httpx.Request], httpx.Response]


def person_record(
    rid: str, *, company: str | None = None, phone: str = "+15550001111"
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": [
            {"first_name": "Ada", "last_name": "L", "full_name": "Ada L", "active_until": None}
        ],
        "phone_numbers": [
            {"phone_number": phone, "original_phone_number": phone, "active_until": None}
        ],
    }
    if company:
        values["company"] = [
            {"target_object": "companies", "target_record_id": company, "active_until": None}
        ]
    return {
        "id": {"workspace_id": "w", "object_id": PEOPLE_OBJECT, "record_id": rid},
        "created_at": "2024-01-01T00:00:00.000000000Z",
        "web_url": f"https://app.attio.com/w/person/{rid}",
        "values": values,
    }


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "status_code": status,
            "type": "invalid_request_error",
            "code": code,
            "message": code,
        },
    )


class Recorder:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.infos: list[RequestInfo] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def connector(self) -> AttioConnector:
        return AttioConnector(
            TOKEN,
            "https://attio.test",
            limiters={},
            retry=RetryPolicy(max_attempts=2, base_delay=0.0),
            transport=httpx.MockTransport(self),
            hook=self.infos.append,
        )

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


async def test_requests_carry_bearer_token_and_budgets() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/self":
            return httpx.Response(
                200, json={"active": True, "workspace_id": "w1", "workspace_name": "Acme"}
            )
        return httpx.Response(200, json={"data": []})

    rec = Recorder(handler)
    connector = rec.connector()
    assert await connector.check_credentials() == {"workspace_id": "w1", "workspace_name": "Acme"}
    await connector.list_people_page(None)
    await connector.aclose()
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in rec.requests)
    # A record query is a POST but spends the read budget.
    assert [i.budget for i in rec.infos] == ["read", "read"]


async def test_inactive_token_is_refused() -> None:
    rec = Recorder(lambda _r: httpx.Response(200, json={"active": False}))
    with pytest.raises(ValueError):
        await rec.connector().check_credentials()


async def test_scan_sorts_by_created_at_and_pages_with_keyset() -> None:
    pages = [
        [person_record("a"), person_record("b")],
        # The boundary instant's ids come back again (>=) and are dropped client-side.
        [person_record("b"), person_record("a"), person_record("c")],
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": pages.pop(0)})

    rec = Recorder(handler)
    connector = rec.connector()
    first = await connector.list_people_page(None, limit=2)
    assert [p.id for p in first.people] == ["a", "b"] and first.next_cursor
    second = await connector.list_people_page(first.next_cursor, limit=2)
    assert [p.id for p in second.people] == ["c"] and second.next_cursor is None
    body0, body1 = rec.bodies()
    assert body0 == {"sorts": [{"attribute": "created_at", "direction": "asc"}], "limit": 2}
    assert "offset" not in body1
    assert body1["filter"] == {"created_at": {"$gte": "2024-01-01T00:00:00.000000000Z"}}
    assert body1["limit"] == 4  # the page size plus the two ids already returned at that instant
    with pytest.raises(ValueError):
        await connector.list_people_page("garbage-cursor")


async def test_scan_continues_when_a_full_answer_is_trimmed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        limit = json.loads(request.content)["limit"]
        return httpx.Response(200, json={"data": [person_record(f"r{i}") for i in range(limit)]})

    connector = Recorder(handler).connector()
    first = await connector.list_people_page(None, limit=3)
    second = await connector.list_people_page(first.next_cursor, limit=3)
    # r0..r2 were seen; the answer r0..r5 yields r3..r5 and the scan is not over.
    assert [p.id for p in second.people] == ["r3", "r4", "r5"] and second.next_cursor


async def test_get_person_404_is_gone() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/gone"):
            return error(404, "not_found")
        return httpx.Response(200, json={"data": person_record("here")})

    connector = Recorder(handler).connector()
    assert await connector.get_person("gone") is None
    person = await connector.get_person("here")
    assert person is not None and person.phones == ("+15550001111",)


async def test_get_person_other_errors_raise_without_token() -> None:
    connector = Recorder(lambda _r: error(403, "forbidden")).connector()
    with pytest.raises(ApiError) as info:
        await connector.get_person("x")
    assert info.value.status == 403 and TOKEN not in str(info.value)


async def test_find_by_phone_uses_exact_filter_and_drops_non_current_matches() -> None:
    stale = person_record("stale", phone="+15559999999")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [person_record("p1"), stale]})

    rec = Recorder(handler)
    found = await rec.connector().find_people_by_phone("+15550001111")
    assert [p.id for p in found] == ["p1"]
    assert rec.requests[0].url.path == "/v2/objects/people/records/query"
    assert rec.bodies()[0]["filter"] == {"phone_numbers": "+15550001111"}


async def test_people_to_contacts_one_company_query() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v2/objects/companies/records/query"
        ids = json.loads(request.content)["filter"]["record_id"]["$in"]
        return httpx.Response(
            200,
            json={
                "data": [
                    {
                        "id": {"record_id": i},
                        "values": {"name": [{"value": f"Co {i}", "active_until": None}]},
                    }
                    for i in ids
                ]
            },
        )

    rec = Recorder(handler)
    people = [
        Person(
            id="p1", first_name="Ada", company_id="c1", phones=("+15550001111",), job_title="CTO"
        ),
        Person(id="p2", full_name="Grace Brewster Hopper", company_id="c2"),
        Person(id="p3", emails=("linus@example.com",), company_id="c1"),
        Person(id="p4", phones=("+15550002222",), web_url="https://x/" + "y" * 300),
    ]
    contacts = await people_to_contacts(rec.connector(), people, "switchboard-attio")
    assert len(rec.requests) == 1
    assert rec.bodies()[0]["filter"] == {"record_id": {"$in": ["c1", "c2"]}}
    apis = [c.to_api() for c in contacts]
    assert apis[0] == {
        "defaultFields": {
            "firstName": "Ada",
            "company": "Co c1",
            "role": "CTO",
            "emails": [],
            "phoneNumbers": [{"name": "phone", "value": "+15550001111"}],
        },
        "externalId": "p1",
        "source": "switchboard-attio",
    }
    assert (contacts[1].default_fields.first_name, contacts[1].default_fields.last_name) == (
        "Grace",
        "Brewster Hopper",
    )
    assert contacts[2].default_fields.first_name == "linus"
    assert contacts[3].default_fields.first_name == "+15550002222"
    assert contacts[3].source_url is None


async def test_people_to_contacts_without_companies_makes_no_call() -> None:
    rec = Recorder(lambda _r: httpx.Response(500))
    contacts = await people_to_contacts(rec.connector(), [Person(id="p", first_name="A")], "s")
    assert rec.requests == [] and contacts[0].external_id == "p"


async def test_write_and_delete_note() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(
                200, json={"data": {"id": {"workspace_id": "w", "note_id": "n1"}}}
            )
        return error(404, "not_found")

    rec = Recorder(handler)
    connector = rec.connector()
    ref = await connector.write_note(
        CrmNote(
            person_id="p1",
            title="Call with Ada",
            content="**Answered**",
            created_at=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        )
    )
    assert ref.id == "n1"
    assert rec.bodies()[0] == {
        "data": {
            "parent_object": "people",
            "parent_record_id": "p1",
            "title": "Call with Ada",
            "format": "markdown",
            "content": "**Answered**",
            "created_at": "2024-05-01T12:30:00.000000Z",
        }
    }
    await connector.delete_note("n1")  # 404: already gone, fine
    assert rec.infos[0].budget == "write" and rec.infos[1].budget == "write"


async def test_subscribe_filters_to_people_and_caches_object_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/objects/people":
            return httpx.Response(
                200, json={"data": {"id": {"workspace_id": "w", "object_id": PEOPLE_OBJECT}}}
            )
        body = json.loads(request.content)["data"]
        return httpx.Response(
            200,
            json={
                "data": {
                    "id": {"webhook_id": "wh1"},
                    "target_url": body["target_url"],
                    "secret": "s3",
                }
            },
        )

    rec = Recorder(handler)
    connector = rec.connector()
    info = await connector.subscribe("https://sb.example/hooks/attio/abc")
    await connector.subscribe("https://sb.example/hooks/attio/def")
    assert (info.remote_id, info.secret) == ("wh1", "s3")
    paths = [r.url.path for r in rec.requests]
    assert paths == ["/v2/objects/people", "/v2/webhooks", "/v2/webhooks"]
    subs = rec.bodies()[1]["data"]["subscriptions"]
    assert [s["event_type"] for s in subs] == [
        "record.created",
        "record.updated",
        "record.deleted",
        "record.merged",
    ]
    assert all(
        s["filter"]
        == {"$and": [{"field": "id.object_id", "operator": "equals", "value": PEOPLE_OBJECT}]}
        for s in subs
    )


async def test_unsubscribe_404_ok_and_list_pages() -> None:
    hooks = [{"id": {"webhook_id": f"wh{i}"}, "target_url": f"https://t/{i}"} for i in range(130)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return error(404, "not_found")
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        return httpx.Response(200, json={"data": hooks[offset : offset + limit]})

    connector = Recorder(handler).connector()
    await connector.unsubscribe("gone")
    subs = await connector.list_subscriptions()
    assert [s.remote_id for s in subs] == [f"wh{i}" for i in range(130)]
    assert all(s.secret is None for s in subs)


async def test_create_person_reuses_existing_match() -> None:
    created: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/query"):
            return httpx.Response(200, json={"data": [person_record("old")] if created else []})
        created.append(json.loads(request.content))
        return httpx.Response(200, json={"data": person_record("new")})

    connector = Recorder(handler).connector()
    person = await connector.create_person("+15550001111", "Ada Lovelace")
    assert person.id == "new"
    assert created[0] == {
        "data": {
            "values": {
                "phone_numbers": ["+15550001111"],
                "name": [
                    {"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace"}
                ],
            }
        }
    }
    again = await connector.create_person("+15550001111")
    assert again.id == "old" and len(created) == 1


async def test_changed_since_uses_server_filter_when_offered() -> None:
    rec = Recorder(lambda _r: httpx.Response(200, json={"data": [person_record("new")]}))
    changed = await rec.connector().list_people_changed_since(datetime(2025, 1, 1, tzinfo=UTC))
    assert [p.id for p in changed] == ["new"]
    assert rec.bodies()[0]["filter"] == {"updated_at": {"$gte": "2025-01-01T00:00:00.000000Z"}}


async def test_changed_since_falls_back_to_scan_when_filter_refused() -> None:
    old = person_record("old")
    new = person_record("new")
    new["values"]["phone_numbers"][0]["active_from"] = "2025-03-01T00:00:00.000000000Z"

    def handler(request: httpx.Request) -> httpx.Response:
        if "updated_at" in json.dumps(json.loads(request.content).get("filter")):
            return error(400, "filter_error")
        return httpx.Response(200, json={"data": [old, new]})

    rec = Recorder(handler)
    connector = rec.connector()
    changed = await connector.list_people_changed_since(datetime(2025, 1, 1))
    assert [p.id for p in changed] == ["new"]
    await connector.list_people_changed_since(datetime(2025, 1, 1))
    # The refusal is remembered: the second call goes straight to the scan.
    assert len(rec.requests) == 3


async def test_find_by_phone_normalises_its_argument() -> None:
    rec = Recorder(lambda _r: httpx.Response(200, json={"data": [person_record("p1")]}))
    connector = rec.connector()
    assert [p.id for p in await connector.find_people_by_phone("+1 (555) 000-1111")] == ["p1"]
    assert rec.bodies()[0]["filter"] == {"phone_numbers": "+15550001111"}
    assert await connector.find_people_by_phone("not a phone") == []
    assert len(rec.requests) == 1


class NoteServer:
    """Notes endpoint whose first create may take effect and then lose its response."""

    def __init__(self, first_create: str) -> None:
        self.first_create = first_create  # "lost" | "500" | "ok"
        self.notes: list[dict[str, Any]] = []
        self.posts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.params["parent_record_id"] == "p1"
            return httpx.Response(200, json={"data": self.notes})
        self.posts += 1
        data = json.loads(request.content)["data"]
        if self.posts == 1 and self.first_create == "500":
            return error(500, "internal")
        note = {
            "id": {"workspace_id": "w", "note_id": f"n{len(self.notes) + 1}"},
            "parent_object": "people",
            "parent_record_id": data["parent_record_id"],
            "title": data["title"],
            "content_markdown": data["content"],
            "content_plaintext": data["content"],
            "created_at": data["created_at"].replace("Z", "000Z"),
        }
        self.notes.append(note)
        if self.posts == 1 and self.first_create == "lost":
            raise httpx.ReadTimeout("response lost", request=request)
        return httpx.Response(200, json={"data": note})


CALL_NOTE = CrmNote(
    person_id="p1",
    title="Call",
    content="**Answered**",
    created_at=datetime(2024, 5, 1, tzinfo=UTC),
)


async def test_a_note_whose_response_was_lost_is_not_written_twice() -> None:
    server = NoteServer("lost")
    ref = await Recorder(server).connector().write_note(CALL_NOTE)
    assert (ref.id, server.posts, len(server.notes)) == ("n1", 1, 1)


async def test_a_note_that_failed_with_500_is_sent_again() -> None:
    server = NoteServer("500")
    ref = await Recorder(server).connector().write_note(CALL_NOTE)
    assert (ref.id, server.posts, len(server.notes)) == ("n1", 2, 1)


async def test_replace_never_mistakes_the_old_note_for_the_new_one() -> None:
    server = NoteServer("ok")
    connector = Recorder(server).connector()
    old = await connector.write_note(CALL_NOTE)
    server.posts = 0
    server.first_create = "500"  # the replacement's first create fails, nothing written
    deleted: list[str] = []

    async def record_delete(note_id: str) -> None:
        deleted.append(note_id)

    connector.delete_note = record_delete  # type: ignore[method-assign]
    new = await connector.replace_note(old.id, CALL_NOTE)  # identical title/content/time
    assert new.id != old.id and server.posts == 2 and deleted == [old.id]


async def test_a_rejected_note_is_not_retried() -> None:
    rec = Recorder(lambda _r: error(400, "validation_type"))
    with pytest.raises(ApiError):
        await rec.connector().write_note(CALL_NOTE)
    assert len(rec.requests) == 1


async def test_a_person_whose_create_response_was_lost_is_found_not_duplicated() -> None:
    people: list[dict[str, Any]] = []
    posts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal posts
        if request.url.path.endswith("/query"):
            return httpx.Response(200, json={"data": people})
        posts += 1
        people.append(person_record("new"))
        raise httpx.ConnectError("reset", request=request)

    person = await Recorder(handler).connector().create_person("+15550001111")
    assert (person.id, posts) == ("new", 1)
