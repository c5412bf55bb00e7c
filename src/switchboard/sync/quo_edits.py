"""Two-way contacts: edits and deletions made in Quo to the contacts Switchboard synced.

Quo's dated webhooks announce `contact.updated` (a contact created or changed) and
`contact.deleted`. `route_quo_contact` sends them to the `crm_events` queue partitioned like the
CRM's own changes of the same person (`<connection>:<externalId>`), so an edit in Quo and a
change in the CRM of one person never run at the same time. What happens is the connection's
`quo_contact_policy`:

| event | `crm_wins` (default) | `quo_edits_to_crm` |
|---|---|---|
| edited in Quo | the CRM's values are written back | names, phones, emails → `update_person` |
| deleted in Quo | the contact is created again | the link is dropped; the CRM person stays |

No ping-pong. Every write Switchboard makes to a contact echoes back as `contact.updated`. The
mapping keeps the fingerprint of the body Switchboard last wrote (`contact_mappings.fingerprint`,
a SHA-256 of the canonical JSON); a delivered contact that reads back to the same fingerprint is
our own write (`echo`) and costs nothing — no Quo read, no write. An event whose content differs
is checked against Quo's *current* contact first (one read): a delivery that is stale by now
(an older edit, redelivered or reordered) changes nothing. Timing plays no part.

Only contacts in the mapping under the same Quo id count: a contact we never synced, or one
replaced since (its old id's events arrive late), is `ignored`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from dbos import DBOS
from pydantic import ValidationError

from switchboard import ledger
from switchboard.crm.base import Person, PersonEdit, UpdateNotSupported
from switchboard.dispatch import Dispatch, Ignore, InboundEvent, register_handler
from switchboard.quo.models import Contact, ContactInput
from switchboard.runtime import runtime
from switchboard.store.db import Database
from switchboard.sync import mappings
from switchboard.sync.clients import SyncClients, clients_for
from switchboard.sync.incremental import QUEUE
from switchboard.sync.ports import ContactRef
from switchboard.sync.push import (
    PersonResult,
    drop_unqualified,
    forget_person,
    record_current,
    sync_person,
    upsert_prepared,
)
from switchboard.sync.transform import PreparedContact, fingerprint, prepare_people
from switchboard.workflows import Outcome, processor

PROCESSOR = "sync.quo_contact"
EVENT_TYPES = ("contact.updated", "contact.deleted")
CRM_WINS = "crm_wins"
QUO_EDITS_TO_CRM = "quo_edits_to_crm"


def _resource(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    return obj if isinstance(obj, Mapping) else {}


def route_quo_contact(event: InboundEvent) -> Dispatch | Ignore:
    if event.event_type not in EVENT_TYPES:
        return Ignore(f"{event.event_type} is not a contact change")
    external_id = _resource(event.payload).get("externalId")
    if not isinstance(external_id, str) or not external_id:
        return Ignore("the contact has no externalId: Switchboard did not sync it")
    if event.settings.get("sync_contacts") is False:
        return Ignore("contact sync is turned off for this connection")
    return Dispatch(PROCESSOR, QUEUE, partition_key=f"{event.connection_id}:{external_id}")


register_handler("quo", "contact.", route_quo_contact)


def contact_fingerprint(contact: Contact) -> str | None:
    """The fingerprint the contact's content would have as a body Switchboard pushes (equal to
    the mapping's when the contact holds exactly what we last wrote); None when it cannot be
    such a body (no externalId)."""
    try:
        body = ContactInput.model_validate(contact.model_dump(by_alias=True)).to_api()
    except ValidationError:
        return None
    return fingerprint(body)


def edit_of(contact: Contact) -> PersonEdit:
    fields = contact.default_fields
    return PersonEdit(
        first_name=fields.first_name or None,
        last_name=fields.last_name or None,
        phones=tuple(dict.fromkeys(contact.phones())),
        emails=tuple(dict.fromkeys(e.value for e in fields.emails if e.value)),
    )


def _mapping(db: Database, connection_id: str, external_id: str) -> mappings.Mapping | None:
    with db.session() as s:
        return mappings.get(s, connection_id, external_id)


_KEPT_OUTCOMES = ("failed", "skipped", "gone", "deleted")


def _result(result: PersonResult, outcome: str) -> dict[str, Any]:
    """The step's answer: `outcome` names what the policy did, unless the person turned out
    to be gone or unqualified in the CRM (then the CRM → Quo rule's own outcome)."""
    return {
        "outcome": result.outcome if result.outcome in _KEPT_OUTCOMES else outcome,
        "reason": result.reason,
        "quo_contact_id": result.quo_contact_id,
    }


async def _crm_side(
    clients: SyncClients, db: Database, external_id: str, person: Person | None
) -> PreparedContact | PersonResult:
    """The contact the CRM's person makes — or, when the person is gone or no longer
    qualifies, the result of applying that (the contact we made is removed)."""
    if person is None:
        return await sync_person(
            db,
            clients.quo,
            clients.connector,
            clients.connection_id,
            external_id,
            None,
            clients.settings,
        )
    prepared, skips = await prepare_people(clients.connector, [person], clients.settings)
    if not prepared:
        reason = skips[0].reason if skips else "not_mappable"
        return await drop_unqualified(db, clients.quo, clients.connection_id, external_id, reason)
    return prepared[0]


async def _settle(
    clients: SyncClients, db: Database, c: PreparedContact, current: Contact | None
) -> PersonResult:
    """Make Quo hold `c`: record it when the contact already does (no write), else write it
    (re-creating a deleted contact)."""
    if current is not None and c.fingerprint == contact_fingerprint(current):
        ref = ContactRef(current.id, current.external_id, current.source)
        await record_current(db, clients.connection_id, c, ref, clients.settings)
        return PersonResult("unchanged", None, current.id)
    return await upsert_prepared(
        db, clients.quo, clients.connection_id, c, clients.settings, force=True
    )


async def _reassert(
    clients: SyncClients, db: Database, external_id: str, current: Contact | None
) -> dict[str, Any]:
    """crm_wins: the CRM's current values go to Quo (a deleted contact is created again)."""
    crm = await _crm_side(clients, db, external_id, await clients.connector.get_person(external_id))
    if isinstance(crm, PersonResult):
        return _result(crm, crm.outcome)
    result = await _settle(clients, db, crm, current)
    if result.outcome == "unchanged":  # Quo already holds the CRM's values
        return _result(result, "in_sync")
    return _result(result, "reasserted" if current is not None else "recreated")


async def _write_to_crm(
    clients: SyncClients, db: Database, external_id: str, current: Contact
) -> dict[str, Any]:
    """quo_edits_to_crm: the contact's names, phones and emails go to the CRM person, then the
    mapping records the CRM's result. Quo is written only when the CRM holds the edit
    differently (e.g. it normalised a number) — once, so both sides converge."""
    before = await _crm_side(
        clients, db, external_id, await clients.connector.get_person(external_id)
    )
    if isinstance(before, PersonResult):
        return _result(before, before.outcome)
    if before.fingerprint == contact_fingerprint(current):
        # Quo holds what the CRM has: our own write, recorded late (no edit to carry over).
        return _result(await _settle(clients, db, before, current), "in_sync")
    try:
        person = await clients.connector.update_person(external_id, edit_of(current))
    except UpdateNotSupported as exc:
        return {"outcome": "failed", "reason": f"crm_cannot_update_people: {exc}"}
    after = await _crm_side(clients, db, external_id, person)
    if isinstance(after, PersonResult):
        return _result(after, after.outcome)
    return _result(await _settle(clients, db, after, current), "written_to_crm")


@DBOS.step(
    name="sync.quo_contact.apply", retries_allowed=True, max_attempts=5, interval_seconds=1.0
)
async def apply_quo_contact(
    connection_id: str, event_type: str, resource: dict[str, Any]
) -> dict[str, Any]:
    """One contact event, idempotent end to end (the step re-runs after a crash)."""
    db = runtime().db
    delivered = Contact.model_validate(resource)
    external_id = delivered.external_id or ""
    m = await asyncio.to_thread(_mapping, db, connection_id, external_id)
    if m is None or m.quo_contact_id != delivered.id:
        return {"outcome": "ignored", "reason": "not_linked", "quo_contact_id": delivered.id}
    clients = await clients_for(connection_id)
    policy = clients.settings.quo_contact_policy
    if event_type == "contact.deleted":
        if policy == QUO_EDITS_TO_CRM:
            await asyncio.to_thread(forget_person, db, connection_id, external_id)
            return {"outcome": "unlinked", "reason": None, "quo_contact_id": delivered.id}
        return await _reassert(clients, db, external_id, None)
    if contact_fingerprint(delivered) == m.fingerprint:
        return {"outcome": "echo", "reason": None, "quo_contact_id": delivered.id}
    current = await clients.quo.get(delivered.id)
    if current is None:  # deleted since: its contact.deleted event decides
        return {"outcome": "ignored", "reason": "deleted_since", "quo_contact_id": delivered.id}
    if contact_fingerprint(current) == m.fingerprint:
        return {"outcome": "stale", "reason": None, "quo_contact_id": delivered.id}
    if policy == QUO_EDITS_TO_CRM:
        return await _write_to_crm(clients, db, external_id, current)
    return await _reassert(clients, db, external_id, current)


@processor(PROCESSOR)
async def process_quo_contact(event_id: str) -> Outcome:
    ev = await asyncio.to_thread(ledger.get_event, runtime().db, event_id)
    if ev is None:
        return Outcome("failed", "event not found")
    resource = dict(_resource(ev.payload))
    if ev.event_type not in EVENT_TYPES or not resource.get("id"):
        return Outcome("ignored", f"{ev.event_type} is not a contact change")
    detail = await apply_quo_contact(ev.connection_id, ev.event_type, resource)
    outcome = detail["outcome"]
    if outcome == "failed":
        return Outcome("failed", detail.get("reason") or "failed", detail)
    if outcome in ("ignored", "echo", "stale", "in_sync"):
        return Outcome("ignored", detail.get("reason") or outcome, detail)
    return Outcome("processed", outcome, detail)
