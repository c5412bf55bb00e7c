"""Exactly one CRM note per (call or message, person), kept current, safe under re-execution.

The activity record (`activity_records`, one row per connection + resource + person) is the
source of truth: the CRM note id it currently points at, the hash of the content that note holds,
a *write intent* (`pending_hash`, `pending_since`) and the ids of replaced notes still to delete
(`stale_note_ids`). The CRM has no note update and no idempotency key for note creation, so
`sync_note` is written so that running it any number of times — including a re-run of an
attempt that was killed at any instruction — converges on one note with the wanted content:

1. **Unchanged** — the record's note already holds this content hash: no CRM request.
2. **Recover** — a write intent is still set: an earlier attempt got as far as (maybe) creating
   a note and died before recording its id. The person's notes are listed; a note the record
   does not know, with this note's title and back-dated `created_at` (as the connector lists
   them, `CrmConnector.as_listed`), whose content hashes to
   the pending intent, is an orphan of that attempt. If the intent is the content wanted now,
   the orphan is adopted as the current note; otherwise it is queued for deletion and the
   wanted content written. (The hash check matters: another call or text with the same contact
   and line in the same second has the same title and timestamp, and is left alone.)
3. **Intent** — commit `pending_hash = hash, pending_since = now` *before* the create request.
4. **Create** the new note at the CRM.
5. **Record** in one transaction: the new note id and hash become current, the previous note id
   (if any) joins `stale_note_ids`, the intent is cleared.
6. **Delete** stale notes (the CRM treats an already-deleted note as success), removing each id
   from the record after its delete.

A kill between 3 and 5 leaves the intent set, so the re-run takes path 2 and finds the note
step 4 created instead of creating a second one (and lets the connector finish it,
`complete_note`, also called whenever the note is found current: a call log whose recording
upload was cut off gets it). A kill between 5 and
6 leaves the old note in `stale_note_ids`; the re-run deletes it (1 then 6). A kill before 3
did nothing at the CRM. Enrichment therefore replaces a note (create new, then delete old)
only when the content changed, and a failure between create and delete leaves a note rather
than none. A CRM that updates records in place (`CrmConnector.updates_in_place`, e.g. a Calls
module) gets `replace_note` at step 4 instead: the record keeps its id, a re-run repeats the
idempotent update, and nothing becomes stale.

Work on one resource is serialised by the activity queue (partitioned by call/message id), so
no two `sync_note` calls for the same record run at the same time.

Path 2 lists the person's notes through the connector contract (`CrmConnector.list_notes`). A
connector that cannot list notes (returns None) cannot recover path 2 and logs
`note_write_unverifiable` (a duplicate is then possible only if the process died inside steps
3–5).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from switchboard.activity._db import run_db
from switchboard.crm.base import CrmConnector, CrmNote
from switchboard.logs import get_logger
from switchboard.store.db import Database
from switchboard.store.models import ActivityRecord, utcnow

log = get_logger(__name__)

#: "superseded": the facts grew since the plan and the re-plan has no note for the person.
NoteAction = Literal["created", "replaced", "unchanged", "adopted", "superseded"]


@dataclass(frozen=True)
class NoteKey:
    connection_id: str
    resource_type: str
    resource_id: str
    person_id: str


@dataclass(frozen=True)
class ExistingNote:
    """A note as listed from the CRM (only what recovery compares)."""

    id: str
    title: str | None
    content: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class NoteResult:
    person_id: str
    action: NoteAction
    note_id: str
    deleted: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "action": self.action,
            "note_id": self.note_id,
            "deleted": self.deleted,
            "recovered": self.recovered,
        }


@dataclass(frozen=True)
class _Record:
    note_id: str | None
    content_hash: str | None
    pending_hash: str | None
    stale: tuple[str, ...]


def content_hash(note: CrmNote) -> str:
    created = _utc(note.created_at).isoformat() if note.created_at else None
    blob = json.dumps(
        [note.title, note.content, note.content_format, created], ensure_ascii=False
    ).encode()
    return hashlib.sha256(blob).hexdigest()


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    # CRMs keep note timestamps to the millisecond or the second.
    return abs((_utc(a) - _utc(b)).total_seconds()) < 1.0


# ------------------------------------------------------------------------------ record storage
def _where(key: NoteKey) -> Any:
    return (
        (ActivityRecord.connection_id == key.connection_id)
        & (ActivityRecord.resource_id == key.resource_id)
        & (ActivityRecord.person_id == key.person_id)
    )


def _update(db: Database, key: NoteKey, **values: Any) -> None:
    with db.session() as s:
        row = s.scalars(select(ActivityRecord).where(_where(key))).one()
        for name, value in values.items():
            setattr(row, name, value)


def _record_written(
    db: Database, key: NoteKey, note_id: str, digest: str
) -> tuple[str | None, tuple[str, ...]]:
    """Make `note_id` current; the previous note (if any) becomes stale.
    Returns (the previous note id, the stale ids now to delete)."""
    with db.session() as s:
        row = s.scalars(select(ActivityRecord).where(_where(key))).one()
        previous = row.note_id
        stale = list(row.stale_note_ids or [])
        if previous and previous != note_id and previous not in stale:
            stale.append(previous)
        row.note_id = note_id
        row.content_hash = digest
        row.pending_hash = None
        row.pending_since = None
        row.stale_note_ids = stale
        row.writes = (row.writes or 0) + 1
        return previous, tuple(stale)


def _add_stale(db: Database, key: NoteKey, note_ids: Sequence[str]) -> None:
    with db.session() as s:
        row = s.scalars(select(ActivityRecord).where(_where(key))).one()
        stale = list(row.stale_note_ids or [])
        stale.extend(n for n in note_ids if n not in stale and n != row.note_id)
        row.stale_note_ids = stale


def _drop_stale(db: Database, key: NoteKey, note_id: str) -> None:
    with db.session() as s:
        row = s.scalars(select(ActivityRecord).where(_where(key))).one()
        row.stale_note_ids = [n for n in (row.stale_note_ids or []) if n != note_id]


def stored_record(db: Database, key: NoteKey) -> dict[str, Any] | None:
    """The record as stored (tests and diagnostics)."""
    with db.session() as s:
        row = s.scalars(select(ActivityRecord).where(_where(key))).first()
        if row is None:
            return None
        return {
            "note_id": row.note_id,
            "content_hash": row.content_hash,
            "pending_hash": row.pending_hash,
            "stale_note_ids": list(row.stale_note_ids or []),
            "writes": row.writes,
        }


# ------------------------------------------------------------------------------ chaos
_CHAOS_ENV = "SWITCHBOARD_CHAOS_EXIT_AFTER_NOTE_CREATE"


def _chaos_exit(point: str) -> None:
    """Fault injection for the kill test. With probability `$SWITCHBOARD_CHAOS_EXIT_AFTER_
    NOTE_CREATE` the process dies (`os._exit`, as abrupt as SIGKILL) right after the CRM created
    a note and before its id is recorded: the worst moment for duplicates. Unset in production.
    """
    rate = os.environ.get(_CHAOS_ENV)
    if rate and random.random() < float(rate):
        log.warning("chaos_exit", point=point)
        os._exit(137)


# ------------------------------------------------------------------------------ note listing
async def list_person_notes(connector: CrmConnector, person_id: str) -> list[ExistingNote] | None:
    """The person's notes, or None when this connector cannot list notes."""
    stored = await connector.list_notes(person_id)
    if stored is None:
        return None
    return [_existing(n) for n in stored]


def _existing(item: Any) -> ExistingNote:
    def pick(*names: str) -> Any:
        for name in names:
            value = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
            if value is not None:
                return value
        return None

    raw_id = pick("id", "note_id")
    if isinstance(raw_id, dict):
        raw_id = raw_id.get("note_id")
    created = pick("created_at")
    if isinstance(created, str):
        created = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return ExistingNote(
        id=str(raw_id),
        title=pick("title"),
        content=pick("content", "content_markdown"),
        created_at=created,
    )


# ------------------------------------------------------------------------------ the protocol
async def sync_note(
    db: Database, connector: CrmConnector, key: NoteKey, note: CrmNote
) -> NoteResult:
    """Make the one note for `key` hold `note`. Idempotent; see the module docstring."""
    digest = content_hash(note)
    rec, claimed = await run_db(_claim, db, key, digest)
    recovered: list[str] = []
    adopted = False
    if rec.pending_hash is not None and not claimed:
        adopted, recovered = await _recover(db, connector, key, note, digest, rec)
        rec, claimed = await run_db(_claim, db, key, digest)

    stale: tuple[str, ...] = rec.stale
    if not claimed:
        action: NoteAction = "adopted" if adopted else "unchanged"
        note_id = str(rec.note_id)
        # An interrupted write (or an interrupted completion) may have stopped after its first
        # request: whenever the record is current, the connector may finish it.
        await connector.complete_note(note_id, note)
    else:
        if rec.note_id and connector.updates_in_place:
            ref = await connector.replace_note(rec.note_id, note)
        else:
            ref = await connector.write_note(note)
        _chaos_exit("after_note_create")
        previous, stale = await run_db(_record_written, db, key, ref.id, digest)
        action = "replaced" if previous else "created"
        note_id = ref.id
    deleted = await _delete_stale(db, connector, key, note_id, stale)
    return NoteResult(key.person_id, action, note_id, deleted, recovered)


def _claim(db: Database, key: NoteKey, digest: str) -> tuple[_Record, bool]:
    """One transaction: the record as stored, and whether a write of `digest` is now intended
    (intent recorded). Not claimed: the note already holds it, or an earlier intent is pending
    (recover first)."""
    for _ in range(2):
        try:
            with db.session() as s:
                row = s.scalars(select(ActivityRecord).where(_where(key))).first()
                if row is None:
                    row = ActivityRecord(
                        connection_id=key.connection_id,
                        resource_type=key.resource_type,
                        resource_id=key.resource_id,
                        person_id=key.person_id,
                        stale_note_ids=[],
                    )
                    s.add(row)
                rec = _Record(
                    row.note_id, row.content_hash, row.pending_hash, tuple(row.stale_note_ids or ())
                )
                if rec.pending_hash is not None:
                    return rec, False
                if rec.note_id and rec.content_hash == digest:
                    return rec, False
                row.pending_hash = digest
                row.pending_since = utcnow()
                return rec, True
        except IntegrityError:
            continue
    raise RuntimeError(f"activity record for {key} could not be created")


async def _recover(
    db: Database,
    connector: CrmConnector,
    key: NoteKey,
    note: CrmNote,
    digest: str,
    rec: _Record,
) -> tuple[bool, list[str]]:
    """Find notes an interrupted attempt created. Returns (adopted one?, orphan ids found)."""
    existing = await list_person_notes(connector, key.person_id)
    if existing is None:
        log.warning(
            "note_write_unverifiable",
            resource_id=key.resource_id,
            person_id=key.person_id,
            crm=getattr(connector, "name", "?"),
        )
        await run_db(_update, db, key, pending_hash=None, pending_since=None)
        return False, []
    known = {rec.note_id, *rec.stale}
    listed = connector.as_listed(note)
    # An orphan is a note this record does not know that holds exactly what the interrupted
    # attempt meant to write (its hash is the pending intent). Title and back-dated timestamp
    # alone are not enough: another call or text with the same contact and line in the same
    # second has them too, and must be left alone.
    orphans = sorted(
        (
            n
            for n in existing
            if n.id not in known
            and n.title == listed.title
            and _same_instant(n.created_at, listed.created_at)
            and _as_written(n, note) == rec.pending_hash
        ),
        key=lambda n: n.id,
    )
    keep = orphans[0] if orphans and rec.pending_hash == digest else None
    if keep is not None:
        await run_db(_record_written, db, key, keep.id, digest)
    else:
        await run_db(_update, db, key, pending_hash=None, pending_since=None)
    extra = [n.id for n in orphans if keep is None or n.id != keep.id]
    if extra:
        await run_db(_add_stale, db, key, extra)
    if orphans:
        log.warning(
            "note_write_recovered",
            resource_id=key.resource_id,
            person_id=key.person_id,
            adopted=keep.id if keep else None,
            deleting=extra,
        )
    return keep is not None, [n.id for n in orphans]


def _as_written(existing: ExistingNote, note: CrmNote) -> str:
    """The content hash `existing` would have had if we wrote it for `note`'s person and time
    (its title, as listed, already matched `note`'s as the CRM lists it)."""
    return content_hash(
        CrmNote(
            person_id=note.person_id,
            title=note.title,
            content=existing.content or "",
            created_at=note.created_at,
            content_format=note.content_format,
        )
    )


async def _delete_stale(
    db: Database, connector: CrmConnector, key: NoteKey, current: str, stale: tuple[str, ...]
) -> list[str]:
    deleted: list[str] = []
    for note_id in stale:
        if note_id == current:
            continue
        await connector.delete_note(note_id)
        await run_db(_drop_stale, db, key, note_id)
        deleted.append(note_id)
    return deleted
