"""Incremental sync CRM → Quo: one ledger event → one serialised, idempotent change.

The web app verifies a CRM webhook on its raw body and writes one ledger event per announced
change (`record.created|updated|deleted|merged`, resource id = the record id) before its 2xx.
`route_change` (registered for every CRM through the `crm` pseudo-provider) sends the event to
the `crm_events` queue partitioned by connection + record id, so two deliveries of changes to
one person never run at the same time; the workflow id is the ledger id, so a duplicate delivery
(same idempotency key) never even reaches the queue.

The processor never trusts the payload's view of the record: created/updated fetch the current
person (None = gone, a normal outcome) and upsert it; so duplicates and out-of-order deliveries
converge on the CRM's current state. deleted removes the Quo contact we created (found through
the mapping; contacts we did not create are left alone); merged re-syncs the survivor and removes
the loser's contact.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dbos import DBOS

from switchboard import ledger
from switchboard.dispatch import Dispatch, Ignore, InboundEvent, register_handler
from switchboard.runtime import runtime
from switchboard.sync.clients import clients_for
from switchboard.sync.push import PersonResult, merge_people, remove_person, sync_person
from switchboard.workflows import Outcome, processor

PROCESSOR = "sync.crm_change"
QUEUE = "crm_events"
KINDS = ("created", "updated", "deleted", "merged")


def change_kind(event_type: str) -> str | None:
    kind = event_type.rsplit(".", 1)[-1]
    return kind if kind in KINDS else None


def merged_from(payload: dict[str, Any]) -> str | None:
    """The loser of a merge, whichever way the web layer stored the change."""
    for source in (payload, payload.get("change") or {}):
        if not isinstance(source, dict):
            continue
        for key in ("merged_from_id", "duplicate_record_id"):
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def route_change(event: InboundEvent) -> Dispatch | Ignore:
    if change_kind(event.event_type) is None:
        return Ignore(f"{event.event_type} is not a person change")
    if not event.resource_id:
        return Ignore("the change names no record")
    if event.settings.get("sync_contacts") is False:
        return Ignore("contact sync is turned off for this connection")
    return Dispatch(PROCESSOR, QUEUE, partition_key=f"{event.connection_id}:{event.resource_id}")


register_handler("crm", "record.", route_change)


@DBOS.step(name="sync.change.apply", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
async def apply_change(
    connection_id: str, kind: str, record_id: str, loser_id: str | None
) -> dict[str, Any]:
    """One change, idempotent end to end (the step re-runs after a crash)."""

    db = runtime().db
    clients = await clients_for(connection_id)
    result: PersonResult
    if kind == "deleted":
        result = await remove_person(db, clients.quo, connection_id, record_id)
        if result.outcome != "deleted":
            result = PersonResult("gone", result.reason)
    elif kind == "merged":
        result = await merge_people(
            db,
            clients.quo,
            clients.connector,
            connection_id,
            record_id,
            loser_id or "",
            clients.settings,
        )
    else:
        person = await clients.connector.get_person(record_id)
        result = await sync_person(
            db,
            clients.quo,
            clients.connector,
            connection_id,
            record_id,
            person,
            clients.settings,
        )
    return {
        "outcome": result.outcome,
        "reason": result.reason,
        "quo_contact_id": result.quo_contact_id,
    }


@processor(PROCESSOR)
async def process_crm_change(event_id: str) -> Outcome:

    ev = await asyncio.to_thread(ledger.get_event, runtime().db, event_id)
    if ev is None:
        return Outcome("failed", "event not found")
    kind = change_kind(ev.event_type)
    if kind is None or not ev.resource_id:
        return Outcome("ignored", f"{ev.event_type} is not a person change")
    detail = await apply_change(ev.connection_id, kind, ev.resource_id, merged_from(ev.payload))
    status = "failed" if detail["outcome"] == "failed" else "processed"
    return Outcome(status, detail.get("reason") or detail["outcome"], detail)
