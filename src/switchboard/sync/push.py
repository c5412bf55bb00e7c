"""Pushing prepared contacts to Quo and recording what happened.

Two entry points share one rule set — mapping first, fingerprint decides, Quo writes only for
what changed:

- `push_page` / `commit_page_results`: a page of the initial sync. People with a mapping and an
  equal fingerprint are `unchanged` (no Quo call); with a mapping and a new fingerprint they are
  PATCHed (`updated`; a contact deleted in Quo meanwhile is re-created); the rest go through
  `create_many` (bulk create + verification by externalId). When a page is retried after a crash
  (`resumed`), contacts the first attempt may already have created are looked up by externalId
  first, so a retry never creates a second contact for anyone.
- `sync_person`: one person (webhook or reconciliation): upsert, or remove what we created when
  the person is gone or no longer has a usable phone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from switchboard.crm.base import CrmConnector, Person
from switchboard.http import ApiError
from switchboard.store.db import Database
from switchboard.sync import mappings, runs
from switchboard.sync.ports import ContactRef, PushResult, QuoContacts
from switchboard.sync.transform import PreparedContact, PreparedPage, SyncSettings, prepare_people


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class PageResults:
    """What pushing one page did, ready to be committed in one transaction."""

    saved: list[tuple[PreparedContact, ContactRef]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    issues: list[tuple[str, str, str]] = field(default_factory=list)


def _ours(ref: ContactRef, settings: SyncSettings) -> bool:
    return ref.source is None or ref.source == settings.source


async def push_page(
    db: Database,
    quo: QuoContacts,
    connection_id: str,
    page: PreparedPage,
    settings: SyncSettings,
    *,
    resumed: bool = False,
) -> PageResults:
    out = PageResults()
    for skip in page.skips:
        out.counts["skipped"] += 1
        out.reasons[skip.reason] += 1
        out.issues.append((skip.external_id, "skipped", skip.reason))
    known = await asyncio.to_thread(
        _load_mappings, db, connection_id, [c.external_id for c in page.contacts]
    )
    to_create: list[PreparedContact] = []
    to_update: list[tuple[PreparedContact, str]] = []
    for c in page.contacts:
        m = known.get(c.external_id)
        if m is not None and m.quo_contact_id:
            if m.fingerprint == c.fingerprint:
                out.counts["unchanged"] += 1
            else:
                to_update.append((c, m.quo_contact_id))
        else:
            to_create.append(c)

    foreign: set[str] = set()
    if resumed and to_create:
        existing = await quo.find_by_external_ids([c.external_id for c in to_create])
        fresh = []
        for c in to_create:
            ref = existing.get(c.external_id)
            if ref is None:
                fresh.append(c)
            else:
                # Most likely created by the interrupted attempt: bring it to the current body
                # and count it as the uninterrupted run would have (created, when ours).
                to_update.append((c, ref.id))
                if not _ours(ref, settings):
                    foreign.add(c.external_id)
        to_create = fresh

    for c, contact_id in to_update:
        was_known = c.external_id in known
        try:
            ref = await quo.update(contact_id, c.contact_input())
            if ref is None:
                result = await quo.upsert(c.contact_input())
                if result.contact is None:
                    _fail(out, c, result.reason or "upsert_failed")
                    continue
                ref = result.contact
        except ApiError as exc:
            if not _permanent(exc):
                raise  # transient (5xx, 429, network) after the client's retries: retry the step
            _fail(out, c, _reason(exc))  # this person is refused; the page goes on
            continue
        out.saved.append((c, ref))
        fresh_contact = not was_known and c.external_id not in foreign
        out.counts["created" if fresh_contact else "updated"] += 1

    if to_create:
        results = await quo.create_many([c.contact_input() for c in to_create])
        for c in to_create:
            r = results.get(c.external_id)
            if r is None or r.contact is None:
                _fail(out, c, (r.reason if r else None) or "not_verified")
                continue
            out.saved.append((c, r.contact))
            out.counts[r.outcome] += 1
    return out


def _load_mappings(
    db: Database, connection_id: str, external_ids: list[str]
) -> dict[str, mappings.Mapping]:
    with db.session() as s:
        return mappings.load(s, connection_id, external_ids)


def _get_mapping(db: Database, connection_id: str, external_id: str) -> mappings.Mapping | None:
    with db.session() as s:
        return mappings.get(s, connection_id, external_id)


def _forget(db: Database, connection_id: str, external_id: str) -> None:
    with db.session() as s:
        mappings.remove(s, connection_id, external_id)


def _save(
    db: Database, connection_id: str, c: PreparedContact, ref: ContactRef, settings: SyncSettings
) -> None:
    with db.session() as s:
        mappings.save(
            s,
            connection_id,
            c.external_id,
            quo_contact_id=ref.id,
            phones=c.phones,
            fingerprint=c.fingerprint,
            created_by_us=_ours(ref, settings),
            crm_updated_at=_ts(c.crm_updated_at),
        )


def _permanent(exc: ApiError) -> bool:
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429


def _reason(exc: BaseException) -> str:
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    code = getattr(exc, "code", None)
    label = f"quo_{status}" if status else type(exc).__name__
    return f"{label}:{code}" if code else label


def _fail(out: PageResults, c: PreparedContact, reason: str) -> None:
    out.counts["failed"] += 1
    out.reasons[f"failed:{reason.split(':')[0]}"] += 1
    out.issues.append((c.external_id, "failed", reason))


def commit_page_results(
    db: Database,
    connection_id: str,
    run_id: str,
    page_no: int,
    page: PreparedPage,
    results: PageResults,
    settings: SyncSettings,
) -> bool:
    """Mappings, counters, issues and checkpoint of one page, in one transaction, once."""
    with db.session() as s:
        if runs.page_done(s, run_id, page_no):
            return False
        mappings.save_many(
            s,
            connection_id,
            [
                mappings.NewMapping(
                    external_id=c.external_id,
                    quo_contact_id=ref.id,
                    phones=c.phones,
                    fingerprint=c.fingerprint,
                    created_by_us=_ours(ref, settings),
                    crm_updated_at=_ts(c.crm_updated_at),
                )
                for c, ref in results.saved
            ],
        )
        return runs.commit_page(
            s,
            run_id,
            page_no,
            page.next_cursor,
            {k: v for k, v in results.counts.items() if v},
            {k: v for k, v in results.reasons.items() if v},
            results.issues,
        )


PersonOutcome = Literal["created", "updated", "unchanged", "deleted", "gone", "skipped", "failed"]


@dataclass(frozen=True)
class PersonResult:
    outcome: PersonOutcome
    reason: str | None = None
    quo_contact_id: str | None = None


async def remove_person(
    db: Database, quo: QuoContacts, connection_id: str, external_id: str
) -> PersonResult:
    """Delete the Quo contact we created for this person (only ours) and forget the mapping."""
    m = await asyncio.to_thread(_get_mapping, db, connection_id, external_id)
    if m is None:
        return PersonResult("gone", "not_synced")
    if m.quo_contact_id and m.created_by_us:
        await quo.delete(m.quo_contact_id)
    await asyncio.to_thread(_forget, db, connection_id, external_id)
    return PersonResult("deleted", None if m.created_by_us else "not_ours", m.quo_contact_id)


async def sync_person(
    db: Database,
    quo: QuoContacts,
    connector: CrmConnector,
    connection_id: str,
    external_id: str,
    person: Person | None,
    settings: SyncSettings,
    *,
    force: bool = False,
) -> PersonResult:
    """Bring one person's Quo contact to the CRM's current state (person None = gone).
    `force` writes even when the fingerprint says nothing changed (the contact was edited
    or deleted in Quo)."""
    if person is None:
        result = await remove_person(db, quo, connection_id, external_id)
        return result if result.outcome == "deleted" else PersonResult("gone", result.reason)
    prepared, skips = await prepare_people(connector, [person], settings)
    if not prepared:
        return await drop_unqualified(
            db, quo, connection_id, external_id, skips[0].reason if skips else "not_mappable"
        )
    return await upsert_prepared(db, quo, connection_id, prepared[0], settings, force=force)


async def drop_unqualified(
    db: Database, quo: QuoContacts, connection_id: str, external_id: str, reason: str
) -> PersonResult:
    """The person exists but no longer qualifies (phone removed): the contact we made goes."""
    removed = await remove_person(db, quo, connection_id, external_id)
    return PersonResult("skipped", reason, removed.quo_contact_id)


async def upsert_prepared(
    db: Database,
    quo: QuoContacts,
    connection_id: str,
    c: PreparedContact,
    settings: SyncSettings,
    *,
    force: bool = False,
) -> PersonResult:
    """Mapping first; unchanged fingerprint → nothing (unless `force`); else PATCH, or create
    (409 → update)."""
    external_id = c.external_id
    m = await asyncio.to_thread(_get_mapping, db, connection_id, external_id)
    if not force and m is not None and m.quo_contact_id and m.fingerprint == c.fingerprint:
        return PersonResult("unchanged", None, m.quo_contact_id)
    ref: ContactRef | None = None
    outcome: PersonOutcome = "updated"
    if m is not None and m.quo_contact_id:
        try:
            ref = await quo.update(m.quo_contact_id, c.contact_input())
        except ApiError as exc:
            if not _permanent(exc):
                raise
            return PersonResult("failed", _reason(exc), m.quo_contact_id)
    if ref is None:
        pushed: PushResult = await quo.upsert(c.contact_input())
        if pushed.contact is None:
            return PersonResult("failed", pushed.reason or "upsert_failed")
        ref = pushed.contact
        outcome = "created" if pushed.outcome == "created" else "updated"
    await asyncio.to_thread(_save, db, connection_id, c, ref, settings)
    return PersonResult(outcome, None, ref.id)


async def record_current(
    db: Database, connection_id: str, c: PreparedContact, ref: ContactRef, settings: SyncSettings
) -> None:
    """Record `c` as what the contact `ref` holds, without a Quo write (it already does)."""
    await asyncio.to_thread(_save, db, connection_id, c, ref, settings)


def forget_person(db: Database, connection_id: str, external_id: str) -> None:
    """Drop the link person ↔ contact, touching neither system."""
    _forget(db, connection_id, external_id)


async def merge_people(
    db: Database,
    quo: QuoContacts,
    connector: CrmConnector,
    connection_id: str,
    survivor_id: str,
    loser_id: str,
    settings: SyncSettings,
) -> PersonResult:
    """A CRM merge: the survivor keeps (or gets) its contact, the loser's contact is removed.

    Which id survived is read from the CRM, not trusted from the event (a merge fires one event
    per original, and deliveries are reordered): the record that still exists is synced first,
    then every record that is gone loses its contact."""
    ids = [i for i in dict.fromkeys((survivor_id, loser_id)) if i]
    found = {i: await connector.get_person(i) for i in ids}
    results = [
        await sync_person(db, quo, connector, connection_id, i, found[i], settings)
        for i in sorted(ids, key=lambda i: found[i] is None)
    ]
    return results[0]
