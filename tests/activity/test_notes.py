"""One note per (resource, person), replace only on change, and no duplicate after a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchboard.activity.notes import NoteKey, stored_record, sync_note
from switchboard.crm.base import CrmNote
from switchboard.store.db import Database
from tests.activity.conftest import CONN
from tests.activity.fakes import Crash, FakeCrm

KEY = NoteKey(CONN, "call", "ACcall0001", "person1")
WHEN = datetime(2026, 3, 2, 15, 4, 2, 120000, tzinfo=UTC)


def note(content: str) -> CrmNote:
    return CrmNote(person_id="person1", title="☎️ Call A → B", content=content, created_at=WHEN)


async def test_create_then_unchanged_then_replace(db: Database, crm: FakeCrm) -> None:
    first = await sync_note(db, crm, KEY, note("v1"))
    assert first.action == "created"
    again = await sync_note(db, crm, KEY, note("v1"))
    assert again.action == "unchanged" and again.note_id == first.note_id
    assert crm.requests == ["notes.create"]

    second = await sync_note(db, crm, KEY, note("v2"))
    assert second.action == "replaced" and second.deleted == [first.note_id]
    assert crm.requests == ["notes.create", "notes.create", "notes.delete"]  # new, then old gone
    assert [n["content"] for n in crm.notes_for("person1")] == ["v2"]
    rec = stored_record(db, KEY)
    assert rec is not None and rec["note_id"] == second.note_id and rec["stale_note_ids"] == []


async def test_crash_after_create_is_recovered_without_duplicate(
    db: Database, crm: FakeCrm
) -> None:
    crm.crash_after_write = 1
    with pytest.raises(Crash):
        await sync_note(db, crm, KEY, note("v1"))
    assert len(crm.notes_for("person1")) == 1  # the CRM has it; our record does not
    rec = stored_record(db, KEY)
    assert rec is not None and rec["note_id"] is None and rec["pending_hash"]

    rerun = await sync_note(db, crm, KEY, note("v1"))  # DBOS re-runs the in-flight step
    assert rerun.action == "adopted"
    assert [n["content"] for n in crm.notes_for("person1")] == ["v1"]
    assert crm.requests.count("notes.create") == 1


async def test_crash_during_replace_recovers_and_cleans_up(db: Database, crm: FakeCrm) -> None:
    first = await sync_note(db, crm, KEY, note("v1"))
    crm.crash_after_write = 1
    with pytest.raises(Crash):
        await sync_note(db, crm, KEY, note("v2"))
    assert len(crm.notes_for("person1")) == 2
    rerun = await sync_note(db, crm, KEY, note("v2"))
    assert rerun.action == "adopted" and rerun.deleted == [first.note_id]
    assert [n["content"] for n in crm.notes_for("person1")] == ["v2"]


async def test_crash_before_delete_of_old_note(db: Database, crm: FakeCrm) -> None:
    await sync_note(db, crm, KEY, note("v1"))
    crm.crash_before_delete = 1
    with pytest.raises(Crash):
        await sync_note(db, crm, KEY, note("v2"))
    assert len(crm.notes_for("person1")) == 2  # new written first: never zero notes
    rerun = await sync_note(db, crm, KEY, note("v2"))
    assert rerun.action == "unchanged" and len(rerun.deleted) == 1
    assert [n["content"] for n in crm.notes_for("person1")] == ["v2"]


async def test_interrupted_write_of_content_that_changed_since(db: Database, crm: FakeCrm) -> None:
    crm.crash_after_write = 1
    with pytest.raises(Crash):
        await sync_note(db, crm, KEY, note("v1"))
    # Before the re-run, more facts arrived: the orphan holds outdated content.
    rerun = await sync_note(db, crm, KEY, note("v2"))
    assert rerun.action == "created" and len(rerun.deleted) == 1
    assert [n["content"] for n in crm.notes_for("person1")] == ["v2"]


async def test_other_notes_on_the_person_are_left_alone(db: Database, crm: FakeCrm) -> None:
    other = await crm.write_note(
        CrmNote("person1", "☎️ Call A → B", "older call", datetime(2026, 1, 1, tzinfo=UTC))
    )
    crm.crash_after_write = 1
    with pytest.raises(Crash):
        await sync_note(db, crm, KEY, note("v1"))
    await sync_note(db, crm, KEY, note("v1"))
    assert other.id in crm.notes and len(crm.notes_for("person1")) == 2


async def test_connector_without_listing_logs_and_writes(db: Database) -> None:
    crm = FakeCrm(can_list_notes=False)
    crm.crash_after_write = 1
    with pytest.raises(Crash):
        await sync_note(db, crm, KEY, note("v1"))
    result = await sync_note(db, crm, KEY, note("v1"))
    assert result.action == "created"  # cannot verify: documented duplicate window


async def test_a_look_alike_note_of_another_call_is_left_alone(db: Database, crm: FakeCrm) -> None:
    # Same contact, line and second: same title and timestamp, different call (content).
    other = await crm.write_note(CrmNote("person1", "☎️ Call A → B", "the other call", WHEN))
    crm.crash_after_write = 1
    with pytest.raises(Crash):
        await sync_note(db, crm, KEY, note("v1"))
    rerun = await sync_note(db, crm, KEY, note("v1"))
    assert rerun.action == "adopted" and rerun.recovered != [other.id]
    assert other.id in crm.notes and len(crm.notes_for("person1")) == 2


async def test_an_adopted_note_is_completed_by_the_connector(db: Database, crm: FakeCrm) -> None:
    """A write of several requests (a call log, then its recording) cut off after the first is
    finished by the connector when recovery adopts it, and whenever it is found current."""
    completed: list[tuple[str, str]] = []

    async def complete(note_id: str, wanted: CrmNote) -> None:
        completed.append((note_id, wanted.content))

    crm.complete_note = complete  # type: ignore[method-assign]
    crm.crash_after_write = 1
    with pytest.raises(Crash):
        await sync_note(db, crm, KEY, note("v1"))
    rerun = await sync_note(db, crm, KEY, note("v1"))
    assert rerun.action == "adopted"
    assert completed == [(rerun.note_id, "v1")]
    assert (await sync_note(db, crm, KEY, note("v1"))).action == "unchanged"
    assert completed == [(rerun.note_id, "v1")] * 2  # current again: finished if need be
