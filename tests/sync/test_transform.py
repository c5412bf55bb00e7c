from __future__ import annotations

from switchboard.sync.transform import (
    SKIP_INVALID_PHONE,
    SKIP_NO_PHONE,
    SyncSettings,
    fingerprint,
    prepare_people,
    usable_phones,
)
from tests.sync.fakes import FakeCrm, person


def test_usable_phones_reasons_and_normalisation() -> None:
    assert usable_phones(person("a"), "US") == ((), SKIP_NO_PHONE)
    assert usable_phones(person("a", raw=["  "]), "US") == ((), SKIP_NO_PHONE)
    assert usable_phones(person("a", raw=["12"]), "US") == ((), SKIP_INVALID_PHONE)
    # raw values without a country are placed in the connection's region
    assert usable_phones(person("a", raw=["020 7946 0958"]), "GB") == (("+442079460958",), None)
    assert usable_phones(person("a", raw=["(555) 010-0100"]), "US") == (("+15550100100",), None)
    # connector E.164 values win; duplicates collapse in CRM order
    phones, reason = usable_phones(
        person("a", "+15550100101", "+15550100100", "+15550100101", raw=["0207"]), "US"
    )
    assert (phones, reason) == (("+15550100101", "+15550100100"), None)


def test_fingerprint_is_canonical() -> None:
    a = {"externalId": "x", "defaultFields": {"firstName": "A", "lastName": "B"}}
    b = {"defaultFields": {"lastName": "B", "firstName": "A"}, "externalId": "x"}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint({**a, "externalId": "y"})


async def test_prepare_people_skips_and_bodies() -> None:
    crm = FakeCrm()
    people = [
        person("p1", "+15550100100", "+15550100101"),
        person("p2"),
        person("p3", raw=["not a phone"]),
        person("p4", raw=["555 010 0102"]),
    ]
    settings = SyncSettings(default_region="US", source="switchboard-attio")
    contacts, skips = await prepare_people(crm, people, settings)
    assert [(s.external_id, s.reason) for s in skips] == [
        ("p2", SKIP_NO_PHONE),
        ("p3", SKIP_INVALID_PHONE),
    ]
    assert [c.external_id for c in contacts] == ["p1", "p4"]
    p1 = contacts[0]
    assert p1.phones == ("+15550100100", "+15550100101")
    assert p1.body["externalId"] == "p1"
    assert p1.body["source"] == "switchboard-attio"
    assert [n["value"] for n in p1.body["defaultFields"]["phoneNumbers"]] == list(p1.phones)
    assert p1.fingerprint == fingerprint(p1.body)
    assert contacts[1].phones == ("+15550100102",)
    # the same people give the same fingerprints (re-runs cost nothing)
    again, _ = await prepare_people(crm, people, settings)
    assert [c.fingerprint for c in again] == [c.fingerprint for c in contacts]


async def test_create_without_phone_setting() -> None:
    settings = SyncSettings.from_connection({"create_without_phone": True})
    contacts, skips = await prepare_people(FakeCrm(), [person("p2")], settings)
    assert skips == []
    assert contacts[0].phones == ()
    assert SyncSettings.from_connection({}).create_without_phone is False
    assert SyncSettings.from_connection({"default_region": "gb"}).default_region == "GB"


async def test_prepare_people_hands_the_event_loop_back_during_a_page() -> None:
    """A page's transform lets other workflows of the process (calls being logged) run in
    between: a task scheduled alongside gets turns before the page is done."""
    import asyncio

    from switchboard.sync.transform import YIELD_EVERY

    people = [person(f"p{i}", f"+1555010{i:04}") for i in range(4 * YIELD_EVERY)]
    turns_while_preparing = 0
    done = asyncio.Event()

    async def other_workflow() -> None:
        nonlocal turns_while_preparing
        while not done.is_set():
            turns_while_preparing += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_workflow())
    await asyncio.sleep(0)  # the other task is waiting for its turn
    before = turns_while_preparing
    contacts, _ = await prepare_people(FakeCrm(), people, SyncSettings(default_region="US"))
    during = turns_while_preparing - before
    done.set()
    await other
    assert len(contacts) == len(people)
    assert during >= 3, during
