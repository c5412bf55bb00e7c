"""Random junk to every operation: always an Attio-shaped 4xx (or a 200), never a 500."""

from __future__ import annotations

import json
import random
from typing import Any

from tests.emulators.attio.conftest import Attio

SCALARS: list[Any] = [None, True, 0, -1, 1.5, "", "x", "+14155550134", "2026-01-01", [], {}]
KEYS = [
    "data",
    "values",
    "filter",
    "sorts",
    "limit",
    "offset",
    "name",
    "phone_numbers",
    "email_addresses",
    "company",
    "record_id",
    "created_at",
    "updated_at",
    "$and",
    "$or",
    "$not",
    "$eq",
    "$in",
    "$gt",
    "$contains",
    "$not_empty",
    "full_name",
    "phone_number",
    "target_url",
    "subscriptions",
    "event_type",
    "filter",
    "field",
    "operator",
    "value",
    "parent_object",
    "parent_record_id",
    "title",
    "format",
    "content",
    "attribute",
    "direction",
    "api_slug",
    "type",
    "job_title",
    "target_object",
    "target_record_id",
    "linked_records",
    "assignees",
]


def junk(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice(SCALARS)
    if roll < 0.55:
        return [junk(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(KEYS): junk(rng, depth + 1) for _ in range(rng.randrange(1, 4))}


async def test_no_500_on_junk(attio: Attio) -> None:
    person = await attio.create_person(name="Ada", phone_numbers=["+14155550134"])
    rid = person["id"]["record_id"]
    attio.emu.set_rate_limits(0, 0)
    paths = [
        ("POST", "/v2/objects/people/records/query"),
        ("POST", "/v2/objects/people/records"),
        ("PUT", "/v2/objects/people/records?matching_attribute=email_addresses"),
        ("PATCH", f"/v2/objects/people/records/{rid}"),
        ("PUT", f"/v2/objects/people/records/{rid}"),
        ("POST", "/v2/objects/companies/records/query"),
        ("POST", "/v2/notes"),
        ("POST", "/v2/tasks"),
        ("POST", "/v2/webhooks"),
        ("POST", "/v2/objects"),
        ("POST", "/v2/objects/people/attributes"),
    ]
    rng = random.Random(7)
    for _ in range(400):
        method, path = rng.choice(paths)
        body = junk(rng)
        if rng.random() < 0.5:
            body = {"data": body} if rng.random() < 0.5 else {"data": {"values": body}}
        if rng.random() < 0.5 and "query" in path:
            body = {"filter": junk(rng), "sorts": junk(rng)}
        resp = await attio.api(method, path, content=json.dumps(body))
        assert resp.status_code < 500, (method, path, body, resp.text)
        if resp.status_code >= 400:
            assert set(resp.json()) == {"status_code", "type", "code", "message"}, resp.text


async def test_hostile_json_values(attio: Attio) -> None:
    cases = [
        ("POST", "/v2/objects/people/records/query", b'{"limit": 1e400}'),
        ("POST", "/v2/objects/people/records/query", b'{"offset": NaN}'),
        ("POST", "/v2/objects/people/records/query", b'{"filter": {"job_title": {"$gt": 1e400}}}'),
        ("POST", "/v2/objects/people/records", b'{"data": {"values": {"job_title": "\\ud800"}}}'),
        ("POST", "/v2/notes", b'{"data": {"title": "\\uDFFF"}}'),
        ("PUT", "/_emulator/webhook-delivery", b'{"time_scale": Infinity}'),
        ("PATCH", "/_emulator/faults", b'{"latency_ms": "\\ud83d"}'),
    ]
    for method, path, content in cases:
        resp = await attio.api(method, path, content=content)
        assert resp.status_code == 400, (path, content, resp.text)
        assert resp.json()["code"] in ("validation_type", "filter_error")
