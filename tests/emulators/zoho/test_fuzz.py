"""Random junk to every operation: always a Zoho-shaped answer below 500."""

from __future__ import annotations

import json
import random
from typing import Any

from tests.emulators.zoho.conftest import Zoho

SCALARS: list[Any] = [None, True, 0, -1, 1.5, "", "x", "+14155550134", "2026-01-01", [], {}]
KEYS = [
    "data",
    "watch",
    "id",
    "Last_Name",
    "First_Name",
    "Email",
    "Phone",
    "Mobile",
    "Owner",
    "Account_Name",
    "Company",
    "Subject",
    "Call_Type",
    "Call_Start_Time",
    "Call_Duration",
    "Who_Id",
    "What_Id",
    "$se_module",
    "Note_Content",
    "Note_Title",
    "Parent_Id",
    "module",
    "api_name",
    "channel_id",
    "events",
    "notify_url",
    "token",
    "channel_expiry",
    "_delete_events",
    "duplicate_check_fields",
    "return_affected_field_values",
]


def junk(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice(SCALARS)
    if roll < 0.55:
        return [junk(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(KEYS): junk(rng, depth + 1) for _ in range(rng.randrange(1, 4))}


async def test_no_500_on_junk(zoho: Zoho) -> None:
    cid = await zoho.create("Contacts", Last_Name="Ada", Phone="+14155550134")
    zoho.org.credits_override = 10**9
    paths = [
        ("POST", "/crm/v8/Contacts"),
        ("POST", "/crm/v8/Calls"),
        ("POST", "/crm/v8/Leads/upsert"),
        ("PUT", "/crm/v8/Contacts"),
        ("PUT", f"/crm/v8/Contacts/{cid}"),
        ("PUT", f"/crm/v8/Calls/{cid}"),
        ("POST", "/crm/v8/Notes"),
        ("PUT", "/crm/v8/Notes/1"),
        ("POST", "/crm/v8/actions/watch"),
        ("PUT", "/crm/v8/actions/watch"),
        ("PATCH", "/crm/v8/actions/watch"),
        ("PATCH", "/_emulator/faults"),
        ("POST", "/_emulator/orgs/default/seed"),
        ("PUT", "/_emulator/notify-delivery"),
    ]
    rng = random.Random(11)
    for _ in range(500):
        method, path = rng.choice(paths)
        body = junk(rng)
        if rng.random() < 0.6:
            key = "watch" if "watch" in path else "data"
            body = {key: [junk(rng) for _ in range(rng.randrange(1, 3))]}
        resp = await zoho.api(method, path, content=json.dumps(body))
        assert resp.status_code < 500, (method, path, body, resp.text)
        if resp.status_code >= 400:
            answer = resp.json()
            items = answer.get("data") or answer.get("watch") or [answer]
            assert all(i["status"] == "error" for i in items if "code" in i), resp.text


async def test_hostile_queries_and_json(zoho: Zoho) -> None:
    cases = [
        ("GET", "/crm/v8/Contacts?fields=Last_Name&per_page=1e400", None),
        ("GET", "/crm/v8/Contacts?fields=Last_Name&page=-1", None),
        ("GET", "/crm/v8/Contacts/search?criteria=((((", None),
        ("GET", "/crm/v8/Contacts/search?criteria=(Last_Name:in:a\\,b)", None),
        ("GET", "/crm/v8/Contacts/search?criteria=(Last_Name:equals:x)and", None),
        ("POST", "/crm/v8/Contacts", b'{"data": [{"Last_Name": NaN}]}'),
        ("POST", "/crm/v8/Contacts", b'{"data": [{"Last_Name": "\\ud800"}]}'),
        ("POST", "/crm/v8/actions/watch", b'{"watch": [{"channel_id": 1e400}]}'),
        ("PATCH", "/_emulator/faults", b'{"latency_ms": Infinity}'),
        ("POST", "/_emulator/clock", b'{"advance_s": "x"}'),
    ]
    for method, path, content in cases:
        resp = await zoho.api(method, path, content=content)
        assert 200 <= resp.status_code < 500, (path, resp.text)
        if resp.status_code >= 400:
            assert resp.json()["status"] == "error", resp.text
