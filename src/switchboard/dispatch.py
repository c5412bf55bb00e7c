"""Dispatch: from a ledger row to a routing decision to an enqueued workflow — in one place.

    from switchboard import dispatch

    dispatch.register_handler("quo", "call.", route_call)    # exact type, "prefix." or "*"
    event = dispatch.inbound_event(record, settings)           # a ledger row + settings
    decision = dispatch.route(event)                           # Dispatch | Ignore, pure
    dispatch.apply(event, decision)                            # enqueue, or record the ignore
    dispatch.submit(event)                                     # route + apply
    dispatch.replay(db, event_id)                              # a failed event, new workflow id
    dispatch.replay_many(db, event_ids)                        # each failed event once
    dispatch.sweep_undispatched(db)                            # accepted rows nobody enqueued
    dispatch.recover_stuck_events(db, older_than_s)            # rows whose workflow ended early

Routers are looked up most specific first — exact type, then the longest registered prefix
ending in ".", then "*"; for a registered CRM the pseudo-provider `crm` is consulted after the
concrete one, so a CRM-generic handler registers once: `register_handler("crm", "*", route)`.
No router → the event is recorded as `ignored` and still acknowledged. A router must be fast
and pure (it runs in the webhook request path). `Dispatch(processor, queue, partition_key)`
enqueues `switchboard.workflows.run_event` with workflow id = ledger event id (exactly-once
start; see `switchboard.workflows` for processors and queues).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dbos import DBOS

from switchboard import context, ledger, workflows
from switchboard.connections import get_settings_for
from switchboard.crm import registry
from switchboard.logs import get_logger, mask_text
from switchboard.store.db import Database

log = get_logger("switchboard.dispatch")


@dataclass(frozen=True)
class InboundEvent:
    """What a router sees: the ledger row just written plus the connection's settings."""

    id: str
    connection_id: str
    provider: str
    event_type: str
    resource_id: str | None
    payload: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dispatch:
    """Run processor `processor` for this event on `queue`, serialised per `partition_key`."""

    processor: str
    queue: str
    partition_key: str


@dataclass(frozen=True)
class Ignore:
    """Acknowledge and record the event as ignored, with a reason (e.g. line not enabled)."""

    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


Router = Callable[[InboundEvent], Dispatch | Ignore]

_routers: dict[tuple[str, str], Router] = {}


def register_handler(provider: str, event_type: str, router: Router) -> None:
    """Route events of `provider` whose type is `event_type` (exact), starts with it (when it
    ends with "."), or any type (`"*"`). Re-registering the same key replaces the router."""
    _routers[(provider, event_type)] = router


def find_router(provider: str, event_type: str) -> Router | None:
    providers = [provider, "crm"] if registry.find(provider) is not None else [provider]
    for prov in providers:
        exact = _routers.get((prov, event_type))
        if exact is not None:
            return exact
        best: tuple[int, Router] | None = None
        for (p, pattern), router in _routers.items():
            if p != prov or pattern == "*":
                continue
            matches = (pattern.endswith(".") and event_type.startswith(pattern)) or (
                any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(event_type, pattern)
            )
            if matches and (best is None or len(pattern) > best[0]):
                best = (len(pattern), router)
        if best is not None:
            return best[1]
        star = _routers.get((prov, "*"))
        if star is not None:
            return star
    return None


def route(event: InboundEvent) -> Dispatch | Ignore:
    """The decision for one event; a router that raises is treated as an ignore with reason."""
    router = find_router(event.provider, event.event_type)
    if router is None:
        return Ignore(f"no handler for {event.provider} event type {event.event_type!r}")
    try:
        decision = router(event)
    except Exception as exc:  # a router bug must not turn into a 500 for the provider
        log.error("router_failed", event_id=event.id, error=mask_text(repr(exc)))
        return Ignore(f"router error: {mask_text(str(exc))[:300]}")
    if isinstance(decision, Dispatch) and not workflows.has_processor(decision.processor):
        return Ignore(f"no processor named {decision.processor!r}")
    return decision


def submit(event: InboundEvent, *, workflow_id: str | None = None) -> Dispatch | Ignore:
    """Route the event and enqueue `run_event` (or record the ignore). Idempotent: the workflow
    id defaults to the event id, so dispatching the same event twice starts it once."""
    decision = route(event)
    apply(event, decision, workflow_id=workflow_id)
    return decision


def apply(
    event: InboundEvent, decision: Dispatch | Ignore, *, workflow_id: str | None = None
) -> None:
    """Carry out a routing decision: record the ignore, or enqueue `run_event`."""
    if isinstance(decision, Ignore):
        ledger.finish(
            context.current().db,
            event.id,
            "ignored",
            reason=decision.reason,
            detail=decision.detail,
            only_from=("accepted",),
        )
        return
    workflows.enqueue(
        decision.queue,
        workflows.run_event,
        event.id,
        decision.processor,
        partition_key=decision.partition_key,
        workflow_id=workflow_id or event.id,
    )


def inbound_event(record: ledger.EventRecord, settings: Mapping[str, Any]) -> InboundEvent:
    """The event a router sees for a ledger row (the webhook ack, a replay, the sweeper)."""
    return InboundEvent(
        id=record.id,
        connection_id=record.connection_id,
        provider=record.provider,
        event_type=record.event_type,
        resource_id=record.resource_id,
        payload=record.payload,
        settings=dict(settings),
    )


def replay(db: Database, event_id: str, *, force: bool = False) -> str:
    """Re-run a failed event (any final status with `force`) under a new workflow id.

    Returns the new workflow id. Raises `ledger.EventNotFound` / `ledger.ReplayRefused`.
    """
    record, workflow_id = ledger.reopen_for_replay(db, event_id, force=force)
    settings = get_settings_for(db, record.connection_id)
    submit(inbound_event(record, settings), workflow_id=workflow_id)
    return workflow_id


def replay_many(db: Database, event_ids: Iterable[str]) -> dict[str, Any]:
    """Replay each failed event once (see `replay`). An event no longer failed — replayed
    already by an earlier or concurrent bulk action — is counted as refused, not run twice.
    Returns {"replayed": [...event ids], "refused": {event id: reason}}."""
    replayed: list[str] = []
    refused: dict[str, str] = {}
    for event_id in dict.fromkeys(event_ids):
        try:
            replay(db, event_id)
        except (ledger.EventNotFound, ledger.ReplayRefused) as exc:
            refused[event_id] = str(exc)
        else:
            replayed.append(event_id)
    return {"replayed": replayed, "refused": refused}


def sweep_undispatched(db: Database, older_than_s: float = 10.0) -> int:
    """Dispatch events left `accepted` with no DBOS workflow (crash between the ledger insert
    and the enqueue). Events already enqueued (a backlog) are skipped with one batched lookup,
    so a deep queue costs no extra writes. Returns how many were dispatched."""
    stale = ledger.undispatched(db, older_than_s=older_than_s)
    if not stale:
        return 0
    # The workflow responsible for the row: the event id, or a replay's own id (a replayed
    # row is `accepted` again under `<event id>:replay:<n>` while its replay waits).
    responsible = {ev.id: ledger.workflow_id_of(ev) for ev in stale}
    known = {
        wf.workflow_id
        for wf in DBOS.list_workflows(
            workflow_ids=list(responsible.values()), load_input=False, load_output=False
        )
    }
    n = 0
    for ev in stale:
        if responsible[ev.id] in known:
            continue
        submit(
            inbound_event(ev, get_settings_for(db, ev.connection_id)),
            workflow_id=responsible[ev.id],
        )
        n += 1
    return n


#: A re-dispatched event whose workflows keep finishing without finishing the row is given up
#: (recorded `failed`) after this many re-dispatches, so a poisoned row cannot loop forever.
MAX_REDISPATCHES = 5


def recover_stuck_events(db: Database, older_than_s: float) -> dict[str, int]:
    """Get every ledger row left `accepted`/`processing` for `older_than_s` moving again (the
    runtime's watchdog; `switchboard.runtime` describes each case). Returns how many rows were
    dispatched, re-dispatched and given up."""
    stuck = ledger.stuck(db, older_than_s=older_than_s)
    counts = {"dispatched": 0, "redispatched": 0, "given_up": 0}
    if not stuck:
        return counts
    wids = {ev.id: ledger.workflow_id_of(ev) for ev in stuck}
    found = {
        wf.workflow_id: wf
        for wf in DBOS.list_workflows(
            workflow_ids=list(wids.values()), load_input=False, load_output=False
        )
    }
    for ev in stuck:
        wid = wids[ev.id]
        wf = found.get(wid)
        status = wf.status if wf is not None else None
        if status in ("ENQUEUED", "DELAYED"):
            continue  # a backlog: the queue will get to it
        if status == "PENDING":
            # running, or an orphan of this executor (`resume_orphans` re-enqueues it) or
            # of another one (its own watchdog, or the recovery of dead executors)
            continue
        if status is None and ev.status == "accepted":
            _resubmit(db, ev, wid)  # the enqueue was lost; same id, so at most once
            counts["dispatched"] += 1
            continue
        if status not in (None, "SUCCESS", "ERROR"):
            continue  # CANCELLED or dead-lettered on purpose: an operator's call
        current = ledger.get_event(db, ev.id)
        if current is None or current.status not in ("accepted", "processing"):
            continue  # finished meanwhile
        if int(current.detail.get("redispatches", 0)) >= MAX_REDISPATCHES:
            ledger.finish(
                db, ev.id, "failed", reason="stuck: its workflows ended without "
                f"finishing it {MAX_REDISPATCHES} times", only_from=("accepted", "processing"),
            )  # fmt: skip
            counts["given_up"] += 1
            continue
        handed = ledger.redispatch(db, ev.id, expected_workflow_id=wid)
        if handed is not None:
            _resubmit(db, current, handed[0])
            counts["redispatched"] += 1
    if any(counts.values()):
        log.warning("stuck_events_recovered", **counts)
    return counts


def _resubmit(db: Database, ev: ledger.EventRecord, workflow_id: str) -> None:
    submit(inbound_event(ev, get_settings_for(db, ev.connection_id)), workflow_id=workflow_id)
