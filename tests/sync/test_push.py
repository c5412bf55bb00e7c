from __future__ import annotations

import pytest

from switchboard.http import ApiError
from switchboard.quo.models import ContactInput
from switchboard.store import Database
from switchboard.sync import mappings, push, runs
from switchboard.sync.ports import ContactRef
from switchboard.sync.transform import PreparedPage, SyncSettings, prepare_people
from tests.sync.fakes import FakeCrm, FakeQuo, person

C = "conn_t"
SETTINGS = SyncSettings(default_region="US", source="switchboard-attio")


async def _page(crm: FakeCrm, people: list, next_cursor: str | None = None) -> PreparedPage:
    contacts, skips = await prepare_people(crm, people, SETTINGS)
    return PreparedPage(tuple(contacts), tuple(skips), next_cursor, len(people))


async def _run_page(
    db: Database, quo: FakeQuo, page: PreparedPage, run_id: str, *, resumed: bool = False
) -> push.PageResults:
    with db.session() as s:
        runs.create(s, run_id, C, "initial")
    results = await push.push_page(db, quo, C, page, SETTINGS, resumed=resumed)
    push.commit_page_results(db, C, run_id, 0, page, results, SETTINGS)
    return results


async def test_first_run_creates_then_rerun_costs_no_quo_writes(db: Database) -> None:
    crm = FakeCrm()
    people = [person("p1", "+15550100100"), person("p2"), person("p3", "+15550100100")]
    quo = FakeQuo()
    page = await _page(crm, people)
    r = await _run_page(db, quo, page, "r1")
    assert dict(r.counts) == {"created": 2, "skipped": 1}
    assert len(quo.contacts) == 2  # shared phones are fine: one contact per person
    with db.session() as s:
        assert mappings.people_with_phone(s, C, "+15550100100") == ["p1", "p3"]

    quo.calls.clear()
    r = await _run_page(db, quo, await _page(crm, people), "r2")
    assert r.counts["unchanged"] == 2 and quo.calls == []

    changed = [person("p1", "+15550100100", first="Ada2"), *people[1:]]
    r = await _run_page(db, quo, await _page(crm, changed), "r3")
    assert r.counts["updated"] == 1 and r.counts["unchanged"] == 1
    assert quo.calls == ["update"]
    assert quo.by_external("p1")[0]["defaultFields"]["firstName"] == "Ada2"


async def test_resumed_page_never_duplicates(db: Database) -> None:
    crm = FakeCrm()
    quo = FakeQuo()
    people = [person(f"p{i}", f"+1555010010{i}") for i in range(5)]
    page = await _page(crm, people)
    # an interrupted first attempt created three contacts, then the process died
    await quo.create_many([c.contact_input() for c in page.contacts[:3]])
    r = await _run_page(db, quo, page, "r1", resumed=True)
    assert r.counts["created"] == 5
    assert all(len(quo.by_external(f"p{i}")) == 1 for i in range(5))
    assert len(quo.contacts) == 5


async def test_contact_deleted_in_quo_is_recreated_on_update(db: Database) -> None:
    crm = FakeCrm()
    quo = FakeQuo()
    await _run_page(db, quo, await _page(crm, [person("p1", "+15550100100")]), "r1")
    quo.contacts.clear()
    r = await _run_page(db, quo, await _page(crm, [person("p1", "+15550100100", first="B")]), "r2")
    assert r.counts["updated"] == 1
    assert len(quo.by_external("p1")) == 1


async def test_sync_person_create_update_gone_and_only_ours(db: Database) -> None:
    crm = FakeCrm()
    quo = FakeQuo()
    p = person("p1", "+15550100100")
    res = await push.sync_person(db, quo, crm, C, "p1", p, SETTINGS)
    assert res.outcome == "created"
    assert (await push.sync_person(db, quo, crm, C, "p1", p, SETTINGS)).outcome == "unchanged"
    # a duplicate create (mapping lost) recovers through the 409 path, no second contact
    with db.session() as s:
        mappings.remove(s, C, "p1")
    res = await push.sync_person(db, quo, crm, C, "p1", person("p1", "+15550100199"), SETTINGS)
    assert res.outcome == "updated" and len(quo.by_external("p1")) == 1
    # phone removed → our contact goes
    res = await push.sync_person(db, quo, crm, C, "p1", person("p1"), SETTINGS)
    assert res.outcome == "skipped" and res.reason == "no_phone" and not quo.contacts
    # gone: nothing to delete twice
    assert (await push.sync_person(db, quo, crm, C, "p1", None, SETTINGS)).outcome == "gone"
    # a contact someone else created is never deleted
    quo.contacts["X1"] = {"id": "X1", "externalId": "p7", "source": "csv-import"}
    res = await push.sync_person(db, quo, crm, C, "p7", person("p7", "+15550100107"), SETTINGS)
    assert res.outcome == "updated"
    res = await push.remove_person(db, quo, C, "p7")
    assert res.reason == "not_ours" and "X1" in quo.contacts


async def test_merge_keeps_survivor_removes_loser(db: Database) -> None:
    crm = FakeCrm([person("s", "+15550100100"), person("l", "+15550100101")])
    quo = FakeQuo()
    for pid in ("s", "l"):
        await push.sync_person(db, quo, crm, C, pid, crm.people[pid], SETTINGS)
    survivor_contact = quo.by_external("s")[0]["id"]
    # the merge: loser gone, survivor has both numbers
    del crm.people["l"]
    crm.put(person("s", "+15550100100", "+15550100101"))
    for _ in range(2):  # Attio fires one event per original; both are handled idempotently
        await push.merge_people(db, quo, crm, C, "s", "l", SETTINGS)
    assert list(quo.contacts) == [survivor_contact]
    with db.session() as s:
        assert mappings.people_with_phone(s, C, "+15550100101") == ["s"]


async def test_merge_event_naming_the_loser_first_still_keeps_the_survivor(db: Database) -> None:
    crm = FakeCrm([person("s", "+15550100100"), person("l", "+15550100101")])
    quo = FakeQuo()
    for pid in ("s", "l"):
        await push.sync_person(db, quo, crm, C, pid, crm.people[pid], SETTINGS)
    del crm.people["l"]
    res = await push.merge_people(db, quo, crm, C, "l", "s", SETTINGS)  # ids swapped
    assert res.outcome == "unchanged"
    assert [c["externalId"] for c in quo.contacts.values()] == ["s"]


class _RefusingQuo(FakeQuo):
    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    async def update(self, contact_id: str, contact: ContactInput) -> ContactRef | None:
        raise ApiError(
            provider="quo",
            operation="contacts.update",
            status=self.status,
            code="0801400",
            message="refused",
        )


async def test_refused_update_is_a_failure_with_reason_but_transient_errors_retry(
    db: Database,
) -> None:
    crm = FakeCrm()
    ok = FakeQuo()
    await _run_page(db, ok, await _page(crm, [person("p1", "+15550100100")]), "r1")
    changed = await _page(crm, [person("p1", "+15550100100", first="New")])
    refused = _RefusingQuo(400)
    results = await push.push_page(db, refused, C, changed, SETTINGS)
    assert results.counts["failed"] == 1
    assert results.issues[0][:2] == ("p1", "failed") and "quo_400" in results.issues[0][2]
    with pytest.raises(ApiError):
        await push.push_page(db, _RefusingQuo(503), C, changed, SETTINGS)
