"""Seeding is deterministic and realistic; queries over 10,000 people take milliseconds.

Timings are CPU time of this process (`time.process_time`), not wall time: the machine running
the suite is shared, and wall time under load says nothing about the emulator."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import phonenumbers
import pytest

from switchboard.emulators.attio import AttioEmulator, Workspace, create_app


def _snapshot(ws: Workspace) -> list[tuple[str, Any]]:
    out = []
    for record in ws.store("people").records.values():
        values = {slug: [v.data for v in record.current(slug)] for slug in record.values}
        values.pop("created_at")
        values.pop("created_by")
        out.append((record.id, values))
    return out


def test_seed_is_deterministic() -> None:
    runs = []
    for _ in range(2):
        emu = AttioEmulator(seed_value=5)
        emu.seed(emu.default_workspace, people=300, seed=9)
        runs.append(_snapshot(emu.default_workspace))
    assert runs[0] == runs[1]
    other = AttioEmulator(seed_value=5)
    other.seed(other.default_workspace, people=300, seed=10)
    assert _snapshot(other.default_workspace) != runs[0]


def test_seed_mix_is_realistic() -> None:
    emu = AttioEmulator(seed_value=1)
    ws = emu.default_workspace
    result = emu.seed(ws, people=1000, seed=3)
    people = list(ws.store("people").records.values())
    assert result.people == len(people) == 1000
    assert result.companies == len(ws.store("companies").records) == 100
    phones = [[v.data for v in p.current("phone_numbers")] for p in people]
    without = sum(1 for p in phones if not p)
    several = sum(1 for p in phones if len(p) > 1)
    assert 0.04 < without / 1000 < 0.12 and result.people_without_phone == without
    assert several / 1000 > 0.12
    owners = Counter(
        v["phone_number"] for p in phones for v in {x["phone_number"]: x for x in p}.values()
    )
    assert result.shared_phones > 0 and any(n > 1 for n in owners.values())
    countries = Counter(v["country_code"] for p in phones for v in p)
    assert len(countries) >= 8 and countries["US"] > 0.4 * sum(countries.values())
    assert any(v["original_phone_number"] != v["phone_number"] for p in phones for v in p)
    assert all(v["phone_number"] == v["normalized_phone_number"] for p in phones for v in p)
    for value in (v for p in phones for v in p):  # what people typed parses to the same number
        original = value["original_phone_number"]
        region = None if original.startswith("+") else value["country_code"]
        number = phonenumbers.parse(original, region)
        assert phonenumbers.is_valid_number(number)
        assert (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            == (value["phone_number"])
        )
    emails = [v.data["email_address"] for p in people for v in p.current("email_addresses")]
    assert len(emails) == len(set(emails)) and len(emails) > 800
    assert sum(1 for p in people if not p.current("name")) > 0
    assert sum(1 for p in people if p.current("company")) > 500
    created = [p.created_at for p in people]
    assert created == sorted(created) and len(set(created)) == len(created)


@pytest.fixture(scope="module")
def big() -> Iterator[tuple[AttioEmulator, float]]:
    emu = AttioEmulator(seed_value=2, token="perf")
    started = time.process_time()
    emu.seed(emu.default_workspace, people=10_000, seed=1)
    yield emu, time.process_time() - started


def test_seeding_10k_is_fast(big: tuple[AttioEmulator, float]) -> None:
    emu, elapsed = big
    assert len(emu.default_workspace.store("people").records) == 10_000
    assert elapsed < 6.0  # ~2 s of CPU


def test_queries_over_10k_take_milliseconds(big: tuple[AttioEmulator, float]) -> None:
    ws = big[0].default_workspace
    people = list(ws.store("people").records.values())
    numbers = [v.data["phone_number"] for p in people[::50] for v in p.current("phone_numbers")]
    started = time.process_time()
    for number in numbers:
        found = ws.query("people", {"phone_numbers": number}).records
        assert found
    per_lookup_ms = (time.process_time() - started) * 1000 / len(numbers)
    assert per_lookup_ms < 2.0

    ids = [p.id for p in people[:500]]
    started = time.process_time()
    assert len(ws.query("people", {"record_id": {"$in": ids}}).records) == 500
    assert (time.process_time() - started) * 1000 < 50

    started = time.process_time()
    result = ws.query(
        "people",
        {
            "$and": [
                {"name": {"full_name": {"$contains": "an"}}},
                {"phone_numbers": {"$not_empty": True}},
            ]
        },
        sorts=[{"attribute": "created_at", "direction": "asc"}],
    )
    assert result.records
    assert (time.process_time() - started) * 1000 < 250


async def test_full_scan(big: tuple[AttioEmulator, float]) -> None:
    """A created_at-keyed scan in pages of 500 returns everyone exactly once; server-side cost
    (query + serialisation) is measured in-process, one page also goes over the ASGI app."""
    emu = big[0]
    ws = emu.default_workspace
    seen: list[str] = []
    cursor: str | None = None
    started = time.process_time()
    while True:
        flt = {"created_at": {"$gt": cursor}} if cursor else None
        result = ws.query("people", flt, [{"attribute": "created_at", "direction": "asc"}], 500)
        page = [ws.record_json(result.store, r) for r in result.records]
        seen += [r["id"]["record_id"] for r in page]
        if len(page) < 500:
            break
        cursor = page[-1]["created_at"]
    assert len(seen) == len(set(seen)) == 10_000
    assert time.process_time() - started < 4  # ~0.5 s of CPU for 20 pages
    emu.set_rate_limits(0, 0)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(emu)),
        base_url="https://api.attio.test",
        headers={"Authorization": "Bearer perf"},
    ) as client:
        resp = await client.post(
            "/v2/objects/people/records/query",
            json={"filter": {"created_at": {"$gt": cursor}}, "limit": 500},
        )
    assert resp.status_code == 200 and len(resp.json()["data"]) == len(page)
