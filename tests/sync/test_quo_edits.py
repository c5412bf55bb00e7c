"""Two-way contacts (`switchboard.sync.quo_edits`) under a real runtime with fake clients: each
policy's answer to an edit and a deletion made in Quo, and the echo of Switchboard's own writes
costing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.crm.base import Person, PersonEdit, UpdateNotSupported
from switchboard.dispatch import Dispatch, Ignore, InboundEvent
from switchboard.runtime import Runtime
from switchboard.sync import clients, mappings
from switchboard.sync.incremental import route_change
from switchboard.sync.push import sync_person
from switchboard.sync.quo_edits import apply_quo_contact, route_quo_contact
from switchboard.sync.transform import SyncSettings
from tests.sync.conftest import runtime_with_connection
from tests.sync.fakes import FakeCrm, FakeQuo, person

C = "conn_2way"
PHONE = "+15550100001"


@pytest.fixture
def rt(tmp_path: Path, sqlite_url: str) -> Iterator[Runtime]:
    yield from runtime_with_connection(tmp_path, sqlite_url, C)


class Stack:
    def __init__(self, rt: Runtime, policy: str) -> None:
        self.rt = rt
        self.crm = FakeCrm([person("p1", PHONE)])
        self.quo = FakeQuo()
        self.settings = SyncSettings(source="switchboard-attio", quo_contact_policy=policy)

        async def factory(connection_id: str) -> clients.SyncClients:
            return clients.SyncClients(connection_id, "attio", self.settings, self.crm, self.quo)

        clients.set_factory(factory)

    async def synced(self) -> dict[str, Any]:
        """p1 synced CRM → Quo; the contact as Quo delivers it."""
        result = await sync_person(
            self.rt.db, self.quo, self.crm, C, "p1", self.crm.people["p1"], self.settings
        )
        assert result.outcome == "created"
        self.quo.calls.clear()
        return self.contact()

    def contact(self) -> dict[str, Any]:
        (found,) = self.quo.by_external("p1")
        return dict(found)

    def edit_in_quo(self, **fields: Any) -> dict[str, Any]:
        found = self.quo.by_external("p1")[0]
        found["defaultFields"] = {**found["defaultFields"], **fields}
        return self.contact()

    def mapping(self) -> mappings.Mapping | None:
        with self.rt.db.session() as s:
            return mappings.get(s, C, "p1")


async def test_crm_wins_overwrites_an_edit_and_its_echo_costs_nothing(rt: Runtime) -> None:
    st = Stack(rt, "crm_wins")
    await st.synced()
    edited = st.edit_in_quo(firstName="Edited", company="Quo Inc")
    result = await apply_quo_contact(C, "contact.updated", edited)
    assert result["outcome"] == "reasserted"
    fields = st.contact()["defaultFields"]
    assert fields["firstName"] == "Ada" and fields.get("company") is None
    assert st.quo.calls == ["get", "update"] and st.crm.updates == []

    st.quo.calls.clear()
    echo = await apply_quo_contact(C, "contact.updated", st.contact())
    assert echo["outcome"] == "echo" and st.quo.calls == []  # not even a read
    stale = await apply_quo_contact(C, "contact.updated", edited)  # the edit, redelivered late
    assert stale["outcome"] == "stale" and st.quo.writes() == 0


async def test_crm_wins_recreates_a_deleted_contact(rt: Runtime) -> None:
    st = Stack(rt, "crm_wins")
    old = await st.synced()
    st.quo.contacts.pop(old["id"])
    result = await apply_quo_contact(C, "contact.deleted", old)
    assert result["outcome"] == "recreated"
    new = st.contact()
    assert new["id"] != old["id"] and new["defaultFields"]["firstName"] == "Ada"
    mapping = st.mapping()
    assert mapping is not None and mapping.quo_contact_id == new["id"]
    late = await apply_quo_contact(C, "contact.updated", old)  # the old id's events are stale
    assert late == {"outcome": "ignored", "reason": "not_linked", "quo_contact_id": old["id"]}


async def test_quo_edits_go_to_the_crm_without_writing_quo_back(rt: Runtime) -> None:
    st = Stack(rt, "quo_edits_to_crm")
    await st.synced()
    edited = st.edit_in_quo(
        lastName="Byron",
        phoneNumbers=[{"name": "phone", "value": "+15550100002"}],
        emails=[{"name": "email", "value": "ada@quo.example"}],
    )
    result = await apply_quo_contact(C, "contact.updated", edited)
    assert result["outcome"] == "written_to_crm"
    assert st.crm.updates == [
        ("p1", PersonEdit("Ada", "Byron", ("+15550100002",), ("ada@quo.example",)))
    ]
    assert st.quo.writes() == 0
    mapping = st.mapping()
    assert mapping is not None and mapping.phones == ("+15550100002",)

    # The CRM's change webhook for our own write: the CRM → Quo sync finds nothing to do.
    again = await sync_person(rt.db, st.quo, st.crm, C, "p1", st.crm.people["p1"], st.settings)
    assert again.outcome == "unchanged" and st.quo.writes() == 0
    assert (await apply_quo_contact(C, "contact.updated", edited))["outcome"] == "echo"
    assert len(st.crm.updates) == 1


async def test_quo_edits_normalised_by_the_crm_are_written_back_once(rt: Runtime) -> None:
    st = Stack(rt, "quo_edits_to_crm")
    await st.synced()
    edited = st.edit_in_quo(firstName="  Ada  ")

    async def trimming(person_id: str, edit: PersonEdit) -> Person | None:
        trimmed = PersonEdit((edit.first_name or "").strip(), edit.last_name, (PHONE,), ())
        return await FakeCrm.update_person(st.crm, person_id, trimmed)

    st.crm.update_person = trimming  # type: ignore[method-assign]
    result = await apply_quo_contact(C, "contact.updated", edited)
    assert result["outcome"] == "written_to_crm"
    assert st.quo.calls.count("update") == 1 and st.contact()["defaultFields"]["firstName"] == "Ada"
    assert (await apply_quo_contact(C, "contact.updated", st.contact()))["outcome"] == "echo"


async def test_quo_deletion_unlinks_and_keeps_the_crm_person(rt: Runtime) -> None:
    st = Stack(rt, "quo_edits_to_crm")
    old = await st.synced()
    st.quo.contacts.pop(old["id"])
    result = await apply_quo_contact(C, "contact.deleted", old)
    assert result["outcome"] == "unlinked"
    assert st.mapping() is None and "p1" in st.crm.people
    assert st.quo.calls == [] and st.crm.updates == []


async def test_a_crm_that_cannot_update_people_fails_the_event(rt: Runtime) -> None:
    st = Stack(rt, "quo_edits_to_crm")
    await st.synced()

    async def refuse(person_id: str, edit: PersonEdit) -> Person | None:
        raise UpdateNotSupported("no")

    st.crm.update_person = refuse  # type: ignore[method-assign]
    result = await apply_quo_contact(C, "contact.updated", st.edit_in_quo(firstName="X"))
    assert result["outcome"] == "failed" and "crm_cannot_update_people" in result["reason"]


def _event(event_type: str, resource: dict[str, Any], **settings: Any) -> InboundEvent:
    payload = {"type": event_type, "data": {"object": resource}}
    return InboundEvent("ev1", C, "quo", event_type, resource.get("id"), payload, settings)


def test_routing_shares_the_partition_of_the_persons_crm_changes() -> None:
    decision = route_quo_contact(_event("contact.updated", {"id": "CT1", "externalId": "p1"}))
    crm = route_change(InboundEvent("ev2", C, "attio", "record.updated", "p1", {}, {}))
    assert isinstance(decision, Dispatch) and isinstance(crm, Dispatch)
    assert (decision.queue, decision.partition_key) == (crm.queue, crm.partition_key)
    assert isinstance(route_quo_contact(_event("contact.deleted", {"id": "CT1"})), Ignore)
    off = _event("contact.updated", {"id": "CT1", "externalId": "p1"}, sync_contacts=False)
    assert isinstance(route_quo_contact(off), Ignore)
