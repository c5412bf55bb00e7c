"""Activity logging on DBOS: the webhook router, the per-event processor, the voicemail follow-up.

Request path (web process, no I/O beyond what ingestion already did): `route_quo` classifies the
verified, ledgered Quo event. `call.ringing`, unknown types, disabled kinds and lines that are
not enabled are answered `Ignore(reason)` (recorded on the ledger event, still 2xx). Everything
else is dispatched to the processor `activity.quo` on the `activity` queue, partitioned by
`<connection id>:<call or message id>`, so all phases of one call (and both events of one
message) run one at a time, in whatever order they arrived.

Worker (`process_quo_event`, inside the `run_event` workflow whose id is the ledger event id):

1. step `plan` — merge the event into the stored facts, resolve participants and people, render
   (see `processor.plan_event`); checkpointed as a JSON plan.
2. one step `write_note` per matched person (`notes.sync_note`: exactly one note per
   (call/message, person), crash-safe).
3. for an unanswered incoming call without its voicemail: enqueue the `voicemail_followup`
   workflow *delayed* (DBOS `delay_seconds`: the row waits as DELAYED in the database, holds no
   worker and no partition, and survives restarts) on the same partition, with workflow id
   `vm:<connection>:<call>:<attempt>` so it is scheduled once however often the call's events
   are processed. It fetches the voicemail; while Quo still processes it, it re-enqueues itself
   with a doubled delay (≤ `voicemail_attempts`); when ready it re-plans the call from the stored
   facts and updates the notes through the same `write_note` step.

The outcome (status, reason, participants, lookups with their source and candidates, notes with
the action taken) becomes the ledger event's status/reason/detail, visible in
`switchboard events --connection ID` and replayable with `switchboard events replay EVENT_ID`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

from switchboard import clients as client_factories
from switchboard import connections, ledger
from switchboard.activity.directory import Directory
from switchboard.activity.events import classify
from switchboard.activity.processor import (
    Services,
    fetch_voicemail,
    kind_disabled_reason,
    line_disabled_reason,
    plan_event,
    plan_refresh,
    write_note,
)
from switchboard.activity.quo_reader import QuoClientReader
from switchboard.activity.settings import ActivitySettings
from switchboard.dispatch import Dispatch, Ignore, InboundEvent, register_handler
from switchboard.logs import get_logger
from switchboard.runtime import runtime
from switchboard.workflows import Outcome, processor

log = get_logger(__name__)

PROCESSOR = "activity.quo"
QUEUE = "activity"
PARTICIPANT_RETRIES = 3


def partition_key(connection_id: str, resource_id: str) -> str:
    return f"{connection_id}:{resource_id}"


# ------------------------------------------------------------------------------ routing
def route_quo(event: InboundEvent) -> Dispatch | Ignore:
    """Request-path decision for one Quo event (pure, no I/O)."""
    classified = classify({**event.payload, "type": event.event_type or event.payload.get("type")})
    if not classified.handled or not classified.resource_id:
        return Ignore(classified.ignored_reason or "no resource id", {"type": event.event_type})
    settings = ActivitySettings.from_connection_settings(event.settings)
    reason = kind_disabled_reason(settings, classified.event_type)
    if reason:
        return Ignore(reason)
    obj = (event.payload.get("data") or {}).get("object") or {}
    line_id = obj.get("phoneNumberId") if isinstance(obj, Mapping) else None
    if line_id is not None:
        reason = line_disabled_reason(settings, str(line_id))
        if reason:
            return Ignore(reason, {"line": line_id})
    return Dispatch(PROCESSOR, QUEUE, partition_key(event.connection_id, classified.resource_id))


register_handler("quo", "call.", route_quo)
register_handler("quo", "message.", route_quo)
register_handler("quo", "*", route_quo)


# ------------------------------------------------------------------------------ services
ServicesFactory = Callable[[str], Awaitable[Services]]
_factory: ServicesFactory | None = None


def set_services_factory(factory: ServicesFactory | None) -> None:
    """Override how a connection's services are built (tests); None restores the default."""
    global _factory
    _factory = factory


async def services_for(connection_id: str) -> Services:
    if _factory is not None:
        return await _factory(connection_id)
    return await _default_services(connection_id)


async def _default_services(connection_id: str) -> Services:

    db = runtime().db
    stored = await asyncio.to_thread(connections.get_settings_for, db, connection_id)
    quo_client, crm = await client_factories.clients_of(connection_id)
    quo = QuoClientReader(quo_client)
    return Services(
        db=db,
        connection_id=connection_id,
        quo=quo,
        crm=crm,
        settings=ActivitySettings.from_connection_settings(stored),
        directory=Directory(db, connection_id, quo),
        connection_settings=stored,
    )


# ------------------------------------------------------------------------------ steps
@DBOS.step()
async def plan_step(event_id: str) -> dict[str, Any]:

    event = await asyncio.to_thread(ledger.get_event, runtime().db, event_id)
    if event is None:
        raise LookupError(f"ledger event {event_id} not found")
    svc = await services_for(event.connection_id)
    plan = await plan_event(svc, event.event_type, event.payload)
    plan["connection_id"] = event.connection_id
    return plan


@DBOS.step()
async def refresh_step(connection_id: str, call_id: str, trigger: str) -> dict[str, Any]:
    svc = await services_for(connection_id)
    plan = await plan_refresh(svc, "call", call_id, trigger=trigger)
    plan["connection_id"] = connection_id
    return plan


@DBOS.step()
async def write_note_step(
    connection_id: str, resource_type: str, resource_id: str, note: dict[str, Any]
) -> dict[str, Any]:
    svc = await services_for(connection_id)
    result = await write_note(svc, resource_type, resource_id, note)
    return result.to_json()


@DBOS.step()
async def voicemail_fetch_step(connection_id: str, call_id: str) -> dict[str, Any]:
    svc = await services_for(connection_id)
    state = await fetch_voicemail(svc, call_id)
    return {
        "state": state,
        "attempts": svc.settings.voicemail_attempts,
        "delay": svc.settings.voicemail_delay_s,
    }


@DBOS.step()
async def voicemail_delay_step(connection_id: str, attempt: int) -> float:
    svc = await services_for(connection_id)
    return svc.settings.voicemail_delay(attempt)


# ------------------------------------------------------------------------------ workflows
async def execute_plan(plan: dict[str, Any], attempt: int = 0) -> Outcome:
    """Write the planned notes (one step each) and schedule the voicemail follow-up."""
    connection_id = str(plan["connection_id"])
    rtype, rid = str(plan["resource_type"]), str(plan["resource_id"])
    results = [
        await write_note_step(connection_id, rtype, rid, note) for note in plan.get("notes") or []
    ]
    detail = dict(plan.get("detail") or {})
    if results:
        detail["notes"] = results
    if plan.get("voicemail_followup"):
        detail["voicemail_followup"] = await schedule_voicemail(connection_id, rid, 1)
    if plan.get("participants_retry") and attempt < PARTICIPANT_RETRIES:
        detail["participants_retry"] = await schedule_refresh(connection_id, rid, attempt + 1)
    status = "processed" if plan["status"] == "write" else str(plan["status"])
    return Outcome(status=status, reason=plan.get("reason"), detail=detail)


async def schedule_voicemail(connection_id: str, call_id: str, attempt: int) -> str:
    delay = await voicemail_delay_step(connection_id, attempt)
    workflow_id = f"vm:{connection_id}:{call_id}:{attempt}"
    with (
        SetWorkflowID(workflow_id),
        SetEnqueueOptions(
            queue_partition_key=partition_key(connection_id, call_id), delay_seconds=delay
        ),
    ):
        await DBOS.enqueue_workflow_async(
            QUEUE, voicemail_followup, connection_id, call_id, attempt
        )
    return f"{workflow_id} in {delay:g}s"


async def schedule_refresh(connection_id: str, call_id: str, attempt: int) -> str:
    delay = float(min(30.0, 2.0 * 2 ** (attempt - 1)))
    workflow_id = f"refresh:{connection_id}:{call_id}:{attempt}"
    with (
        SetWorkflowID(workflow_id),
        SetEnqueueOptions(
            queue_partition_key=partition_key(connection_id, call_id), delay_seconds=delay
        ),
    ):
        await DBOS.enqueue_workflow_async(QUEUE, refresh_later, connection_id, call_id, attempt)
    return f"{workflow_id} in {delay:g}s"


@DBOS.workflow()
async def refresh_later(connection_id: str, call_id: str, attempt: int) -> str:
    """Re-plan a call whose participants were unknown (its call.ringing may be in by now)."""
    plan = await refresh_step(connection_id, call_id, "participants retry")
    outcome = await execute_plan(plan, attempt)
    return f"{outcome.status}: {outcome.reason or ''}"


@processor(PROCESSOR)
async def process_quo_event(event_id: str) -> Outcome:
    """Runs inside `switchboard.workflows.run_event` (workflow id = ledger event id)."""
    plan = await plan_step(event_id)
    return await execute_plan(plan)


@DBOS.workflow()
async def voicemail_followup(connection_id: str, call_id: str, attempt: int) -> str:
    """Fetch the voicemail of an unanswered call and update its notes (durable, delayed)."""
    fetched = await voicemail_fetch_step(connection_id, call_id)
    state = str(fetched["state"])
    if state == "ready":
        plan = await refresh_step(connection_id, call_id, "voicemail")
        outcome = await execute_plan({**plan, "voicemail_followup": False})
        return f"voicemail logged: {outcome.status}"
    max_attempts = int(fetched["attempts"])
    # A 404 right after the call usually means "not created yet"; give it two tries.
    limit = max_attempts if state == "processing" else min(2, max_attempts)
    if attempt < limit:
        await schedule_voicemail(connection_id, call_id, attempt + 1)
        return f"voicemail {state}; retry {attempt + 1} scheduled"
    log.info("voicemail_not_available", call_id=call_id, state=state, attempts=attempt)
    return f"voicemail {state} after {attempt} attempts; note left without it"
