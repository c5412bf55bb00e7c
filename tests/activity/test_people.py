"""Phone → person: mapping first, exact CRM search second, deterministic preference."""

from __future__ import annotations

from datetime import UTC, datetime

from switchboard.activity.people import choose_person, find_person
from switchboard.crm.base import Person
from switchboard.store.db import Database
from switchboard.store.models import ContactMapping, MappingPhone
from tests.activity.conftest import CONN
from tests.activity.fakes import FakeCrm

PHONE = "+15550142231"


def t(day: int) -> datetime:
    return datetime(2026, 1, day, tzinfo=UTC)


def map_person(db: Database, external_id: str, phone: str, updated: datetime | None) -> None:
    with db.session() as s:
        s.add(ContactMapping(connection_id=CONN, external_id=external_id, crm_updated_at=updated))
        s.add(MappingPhone(connection_id=CONN, phone=phone, external_id=external_id))


async def test_mapping_first_without_crm_request(db: Database, crm: FakeCrm) -> None:
    map_person(db, "synced1", PHONE, t(1))
    crm.add_person("other", PHONE, t(9))
    lk = await find_person(db, crm, CONN, PHONE)
    assert (lk.person_id, lk.source) == ("synced1", "mapping")
    assert crm.requests == []


async def test_several_mapped_people_most_recent_wins(db: Database, crm: FakeCrm) -> None:
    map_person(db, "old", PHONE, t(1))
    map_person(db, "new", PHONE, t(5))
    map_person(db, "unknown_age", PHONE, None)
    lk = await find_person(db, crm, CONN, PHONE)
    assert lk.person_id == "new" and lk.candidates == ["new", "old", "unknown_age"]


async def test_crm_search_prefers_synced_then_recent_then_id(db: Database, crm: FakeCrm) -> None:
    crm.add_person("b_recent", PHONE, t(9))
    crm.add_person("a_synced", PHONE, t(1))
    with db.session() as s:  # synced by us, but its mapping phones are stale
        s.add(ContactMapping(connection_id=CONN, external_id="a_synced"))
    lk = await find_person(db, crm, CONN, PHONE)
    assert (lk.person_id, lk.source) == ("a_synced", "crm_search")
    assert crm.requests == ["people.search"]


def test_choose_person_is_deterministic() -> None:
    people = [
        Person("p2", updated_at=t(3)),
        Person("p1", updated_at=t(3)),
        Person("p3", updated_at=t(2)),
        Person("p0"),
    ]
    for order in (people, list(reversed(people))):
        chosen = choose_person(order, set())
        assert chosen is not None and chosen.id == "p1"
    chosen = choose_person(people, {"p3"})
    assert chosen is not None and chosen.id == "p3"


async def test_unknown_caller_is_an_outcome(db: Database, crm: FakeCrm) -> None:
    lk = await find_person(db, crm, CONN, PHONE)
    assert lk.person_id is None and lk.source == "none" and lk.reason == "unknown caller"


async def test_auto_create_searches_first_so_a_rerun_does_not_create_twice(
    db: Database, crm: FakeCrm
) -> None:
    first = await find_person(db, crm, CONN, PHONE, auto_create=True)
    assert first.source == "created"
    again = await find_person(db, crm, CONN, PHONE, auto_create=True)  # re-run of the step
    assert again.person_id == first.person_id and again.source == "crm_search"
    assert crm.requests.count("people.create") == 1
