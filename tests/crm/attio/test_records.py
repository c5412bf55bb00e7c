"""Attio records → Person, and the keyset scan cursor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard.crm.attio._cursor import ScanCursor, advance, page_request_size, unseen
from switchboard.crm.attio._records import parse_timestamp, phone_e164, to_person


def value(**fields: Any) -> dict[str, Any]:
    return {"active_from": "2024-01-01T00:00:00.000000000Z", "active_until": None, **fields}


def historic(**fields: Any) -> dict[str, Any]:
    return {**value(**fields), "active_until": "2024-06-01T00:00:00.000000000Z"}


def record(
    record_id: str = "r1", created_at: str = "2024-01-01T00:00:00.000000000Z", **values: Any
) -> dict[str, Any]:
    return {
        "id": {"workspace_id": "w", "object_id": "o", "record_id": record_id},
        "created_at": created_at,
        "web_url": f"https://app.attio.com/w/person/{record_id}",
        "values": values,
    }


def test_to_person_uses_current_values_only() -> None:
    person = to_person(
        record(
            name=[value(first_name="Ada", last_name="Lovelace", full_name="Ada Lovelace")],
            email_addresses=[
                value(email_address="ada@example.com"),
                historic(email_address="old@example.com"),
            ],
            phone_numbers=[
                value(
                    original_phone_number="(555) 867-5309",
                    country_code="US",
                    phone_number="+15558675309",
                ),
                value(
                    original_phone_number="+44 20 7946 0958",
                    country_code="GB",
                    normalized_phone_number="+442079460958",
                ),
                historic(
                    original_phone_number="+1 555 000 0000",
                    country_code="US",
                    phone_number="+15550000000",
                ),
            ],
            job_title=[value(value="Engineer")],
            company=[value(target_object="companies", target_record_id="c1")],
        )
    )
    assert person.id == "r1"
    assert (person.first_name, person.last_name, person.full_name) == (
        "Ada",
        "Lovelace",
        "Ada Lovelace",
    )
    assert person.emails == ("ada@example.com",)
    assert person.phones == ("+15558675309", "+442079460958")
    assert person.raw_phones == ("(555) 867-5309", "+44 20 7946 0958")
    assert person.job_title == "Engineer"
    assert person.company_id == "c1"
    assert person.web_url == "https://app.attio.com/w/person/r1"
    assert person.created_at == datetime(2024, 1, 1, tzinfo=UTC)
    # A historic value ended in June: the record changed then.
    assert person.updated_at == datetime(2024, 6, 1, tzinfo=UTC)


def test_to_person_with_no_values() -> None:
    person = to_person(record())
    assert person.phones == () and person.first_name is None and person.company_id is None


def test_phone_falls_back_to_original_with_country() -> None:
    assert (
        phone_e164({"original_phone_number": "020 7946 0958", "country_code": "GB"})
        == "+442079460958"
    )
    assert phone_e164({"original_phone_number": "not a phone"}) is None


def test_parse_timestamp_nanoseconds() -> None:
    assert parse_timestamp("2022-11-21T13:22:49.061281123Z") == datetime(
        2022, 11, 21, 13, 22, 49, 61281, tzinfo=UTC
    )
    assert parse_timestamp("2022-11-21T13:22:49Z") == datetime(2022, 11, 21, 13, 22, 49, tzinfo=UTC)
    assert parse_timestamp("2022-11-21T13:22:49.5+00:00") == datetime(
        2022, 11, 21, 13, 22, 49, 500000, tzinfo=UTC
    )
    assert parse_timestamp("garbage") is None
    assert parse_timestamp(None) is None


def test_cursor_round_trip_and_filter() -> None:
    cursor = ScanCursor(created_at="2024-01-01T00:00:00.000000000Z", seen_ids=("a", "b"))
    assert ScanCursor.decode(cursor.encode()) == cursor
    assert cursor.filter() == {"created_at": {"$gte": "2024-01-01T00:00:00.000000000Z"}}
    assert page_request_size(cursor, 500) == 502
    assert page_request_size(None, 500) == 500
    answer = [record("a"), record("c"), record("b"), record("d")]
    assert [r["id"]["record_id"] for r in unseen(cursor, answer, 1)] == ["c"]


@pytest.mark.parametrize("text", ["", "!!", "eyJ2IjoyfQ", "bm90IGpzb24"])
def test_cursor_decode_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        ScanCursor.decode(text)


def test_advance_carries_ids_at_the_boundary_instant() -> None:
    t1, t2 = "2024-01-01T00:00:01.000000000Z", "2024-01-01T00:00:02.000000000Z"
    first = advance(None, [record("a", t1), record("b", t2), record("c", t2)])
    assert first == ScanCursor(t2, ("b", "c"))
    # Same instant again (a bulk import): the exclusion list accumulates...
    second = advance(first, [record("d", "2024-01-01T00:00:02Z")])
    assert second == ScanCursor("2024-01-01T00:00:02Z", ("b", "c", "d"))
    # ...and resets once the scan moves past it.
    third = advance(second, [record("e", "2024-01-01T00:00:03Z")])
    assert third == ScanCursor("2024-01-01T00:00:03Z", ("e",))
    assert advance(third, []) == third
