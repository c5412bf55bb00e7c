"""One Quo event (or a voicemail follow-up) end to end, as plain async functions over `Services`.

`switchboard.activity.workflows` runs these as DBOS steps; tests call them directly with fakes.
Each function is idempotent with respect to the database, so re-running one that was in flight at
a crash is harmless:

- `plan_event` merges the event into the stored facts (`activity_resources.data`, a join that
  ignores order and repetition), checks the connection settings, resolves the external
  participants (fetching the call only when the payload listed none), looks each number up once
  per call (lookups are stored on the resource and reused by every later phase), and renders one
  note per matched person. It returns a JSON-able plan; it writes nothing to the CRM except,
  with auto-create on, a person for an unknown number (guarded by a search first, see `people`).
- `write_note` makes one planned note current (`notes.sync_note`).
- `fetch_voicemail` folds the call's voicemail into the facts and says whether it is ready.

Request budget per `call.completed` (payload complete, caches warm): 0 Quo requests, and at most
one CRM search (none when the number is in the sync mapping) plus one note create.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from switchboard.activity import facts as F
from switchboard.activity import intents
from switchboard.activity._db import run_db
from switchboard.activity.directory import Directory
from switchboard.activity.events import CALL_EVENTS, HANDLED_EVENTS, MESSAGE_EVENTS
from switchboard.activity.notes import NoteKey, NoteResult, sync_note
from switchboard.activity.participants import external_participants
from switchboard.activity.people import UNKNOWN_CALLER, Lookup, find_person
from switchboard.activity.ports import QuoNotFound, QuoReader, QuoRequestRefused
from switchboard.activity.render import (
    LineInfo,
    NotRenderable,
    RenderContext,
    render_note,
)
from switchboard.activity.settings import ActivitySettings
from switchboard.crm import registry
from switchboard.crm.base import ActivityFacts, CrmConnector, CrmNote, NoteFormat
from switchboard.quo.events import resource_id_of
from switchboard.store.db import Database
from switchboard.store.models import ActivityResource, Event


@dataclass
class Services:
    """Everything processing one connection's events needs."""

    db: Database
    connection_id: str
    quo: QuoReader
    crm: CrmConnector
    settings: ActivitySettings
    directory: Directory
    connection_settings: Mapping[str, Any] = field(default_factory=dict)
    """The connection's effective settings, handed to the CRM with each note it writes."""


# ------------------------------------------------------------------------------ facts storage
def _load_resource(
    db: Database, connection_id: str, rtype: str, rid: str
) -> tuple[F.Facts, dict[str, Any]]:
    with db.session() as s:
        row = s.scalars(
            select(ActivityResource).where(
                ActivityResource.connection_id == connection_id,
                ActivityResource.resource_id == rid,
            )
        ).first()
        data = dict(row.data) if row is not None and row.data else {}
        lookups = dict(row.lookups or {}) if row is not None else {}
    if data:
        return F.facts_from_data(data), lookups
    empty: F.Facts = F.MessageFacts.empty(rid) if rtype == "message" else F.CallFacts.empty(rid)
    return empty, lookups


def _save_resource(
    db: Database,
    connection_id: str,
    rtype: str,
    rid: str,
    facts: F.Facts | None = None,
    lookups: Mapping[str, Any] | None = None,
) -> None:
    for _ in range(2):
        try:
            with db.session() as s:
                row = _resource_row(s, connection_id, rtype, rid)
                if facts is not None:
                    # Merge with what is stored: a join, so a re-run or a racing replay converges.
                    stored = F.facts_from_data(row.data) if row.data else None
                    merged = F.merge_facts(stored, facts) if stored is not None else facts
                    row.data = merged.to_data()
                if lookups is not None:
                    row.lookups = {**(row.lookups or {}), **lookups}
            return
        except IntegrityError:
            continue


def _resource_row(s: Session, connection_id: str, rtype: str, rid: str) -> ActivityResource:
    """The stored facts row of one call or message, created empty on first sight (a racing
    creator makes the caller's transaction fail with IntegrityError; callers retry once)."""
    row = s.scalars(
        select(ActivityResource).where(
            ActivityResource.connection_id == connection_id,
            ActivityResource.resource_id == rid,
        )
    ).first()
    if row is None:
        row = ActivityResource(
            connection_id=connection_id, resource_type=rtype, resource_id=rid, data={}, lookups={}
        )
        s.add(row)
    return row


def merge_into_resource(
    db: Database,
    connection_id: str,
    event_type: str,
    payload: Mapping[str, Any],
    settings: ActivitySettings | None = None,
) -> F.Facts:
    """Fold one webhook envelope into the stored facts, in one transaction; returns the merged
    facts. With `settings`, also fold in the other ledgered phases of the same call (enabled
    kinds only) that are still queued behind this one: the merge is a join, so their own turn
    later changes nothing, and the note is written complete once instead of once per phase."""
    obj = (payload.get("data") or {}).get("object") or {}
    rid = resource_id_of(event_type, obj)
    if not rid:
        raise ValueError(f"{event_type}: no call or message id")
    rtype = "message" if event_type in MESSAGE_EVENTS else "call"
    for _ in range(2):
        try:
            with db.session() as s:
                row = _resource_row(s, connection_id, rtype, rid)
                facts: F.Facts
                if row.data:
                    facts = F.facts_from_data(row.data)
                elif rtype == "message":
                    facts = F.MessageFacts.empty(rid)
                else:
                    facts = F.CallFacts.empty(rid)
                facts = facts.apply_event(event_type, payload)
                if settings is not None:
                    siblings = s.execute(
                        select(Event.event_type, Event.payload).where(
                            Event.connection_id == connection_id,
                            Event.provider == "quo",
                            Event.resource_id == rid,
                            Event.status.in_(("accepted", "processing", "processed", "failed")),
                        )
                    ).all()
                    for sibling_type, sibling_payload in siblings:
                        if sibling_type not in HANDLED_EVENTS:
                            continue
                        if kind_disabled_reason(settings, sibling_type) is not None:
                            continue
                        try:
                            facts = facts.apply_event(sibling_type, dict(sibling_payload or {}))
                        except ValueError:
                            continue  # a malformed sibling is reported on its own turn
                row.data = facts.to_data()
                return facts
        except IntegrityError:
            continue
    raise RuntimeError(f"activity resource {rid} could not be stored")


# ------------------------------------------------------------------------------ planning
def _plan(
    status: str,
    reason: str | None,
    rtype: str,
    rid: str,
    notes: list[dict[str, Any]] | None = None,
    detail: dict[str, Any] | None = None,
    voicemail_followup: bool = False,
) -> dict[str, Any]:
    return {
        "status": status,
        "reason": reason,
        "resource_type": rtype,
        "resource_id": rid,
        "notes": notes or [],
        "detail": detail or {},
        "voicemail_followup": voicemail_followup,
    }


def kind_disabled_reason(settings: ActivitySettings, event_type: str) -> str | None:
    if event_type in CALL_EVENTS and not settings.log_calls:
        return "calls are not logged on this connection (log_calls off)"
    if event_type in MESSAGE_EVENTS and not settings.log_messages:
        return "messages are not logged on this connection (log_messages off)"
    if event_type == "call.summary.completed" and not settings.log_summaries:
        return "AI summaries are not logged on this connection (log_summaries off)"
    if event_type == "call.transcript.completed" and not settings.log_transcripts:
        return "transcripts are not logged on this connection (log_transcripts off)"
    return None


def line_disabled_reason(settings: ActivitySettings, line_id: str | None) -> str | None:
    if settings.line_enabled(line_id):
        return None
    return f"line {line_id or '(none)'} is not enabled for logging on this connection"


async def plan_event(svc: Services, event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Merge one event and plan the notes it leads to (JSON-able)."""
    obj = (payload.get("data") or {}).get("object") or {}
    rid = resource_id_of(event_type, obj) or ""
    rtype = "message" if event_type in MESSAGE_EVENTS else "call"
    reason = kind_disabled_reason(svc.settings, event_type)
    if reason:
        return _plan("ignored", reason, rtype, rid)
    facts = await run_db(
        merge_into_resource, svc.db, svc.connection_id, event_type, payload, svc.settings
    )
    return await plan_resource(svc, facts, trigger=event_type)


def _with_ringing(db: Database, connection_id: str, facts: F.CallFacts) -> F.CallFacts:
    with db.session() as s:
        payloads = s.scalars(
            select(Event.payload).where(
                Event.connection_id == connection_id,
                Event.provider == "quo",
                Event.resource_id == facts.call_id,
                Event.event_type == "call.ringing",
            )
        ).all()
    merged = facts
    for payload in payloads:
        try:
            merged = merged.apply_event("call.ringing", dict(payload or {}))
        except ValueError:
            continue
    if merged.participants == facts.participants:
        return facts
    # Only the numbers are taken: the ringing snapshot never outranks the completed call.
    merged = facts.model_copy(update={"participants": merged.participants})
    _save_resource(db, connection_id, "call", facts.call_id, facts=merged)
    loaded = _load_resource(db, connection_id, "call", facts.call_id)[0]
    assert isinstance(loaded, F.CallFacts)
    return loaded


async def plan_resource(svc: Services, facts: F.Facts, *, trigger: str) -> dict[str, Any]:
    """The notes the current facts of one call or message should produce."""
    rtype = "message" if isinstance(facts, F.MessageFacts) else "call"
    rid = facts.message_id if isinstance(facts, F.MessageFacts) else facts.call_id
    detail: dict[str, Any] = {"resource": f"{rtype}:{rid}", "trigger": trigger}
    detail["phases"] = list(facts.phases)

    known = facts.has_message if isinstance(facts, F.MessageFacts) else facts.has_call
    if not known:
        return _plan(
            "processed",
            "merged; the note is written once the call itself (call.completed) is known",
            rtype,
            rid,
            detail=detail,
        )
    reason = line_disabled_reason(svc.settings, facts.phone_number_id)
    if reason:
        return _plan("ignored", reason, rtype, rid, detail=detail)

    if isinstance(facts, F.CallFacts) and facts.needs_participants:
        # Quo's empty-participants quirk. The call's `call.ringing` (acknowledged and ignored,
        # but kept in the ledger) lists them: no request, and it works for calls with more than
        # two participants, which `GET /v1/calls/{id}` refuses.
        facts = await run_db(_with_ringing, svc.db, svc.connection_id, facts)
        if not facts.needs_participants:
            detail["participants_from"] = "call.ringing"
    if isinstance(facts, F.CallFacts) and facts.needs_participants:
        try:
            call = await svc.quo.get_call(rid)
        except QuoRequestRefused as exc:
            plan = _plan(
                "skipped",
                f"participants unknown: the payload lists none and Quo refused to list them "
                f"({exc}); retried when the call's call.ringing is in",
                rtype,
                rid,
                detail=detail,
            )
            plan["participants_retry"] = True
            return plan
        except QuoNotFound:
            return _plan("skipped", "the call no longer exists in Quo", rtype, rid, detail=detail)
        await run_db(_save_resource, svc.db, svc.connection_id, rtype, rid, facts.with_call(call))
        facts = (await run_db(_load_resource, svc.db, svc.connection_id, rtype, rid))[0]
        detail["fetched_call"] = True

    phones = await external_participants(svc.directory, facts, svc.settings.default_region)
    detail["participants"] = phones
    voicemail_followup = isinstance(facts, F.CallFacts) and facts.needs_voicemail_fetch
    if not phones:
        return _plan(
            "skipped",
            "no external participant (only the workspace's own numbers)",
            rtype,
            rid,
            detail=detail,
        )

    lookups = await _lookups(svc, facts, rtype, rid, phones)
    detail["lookups"] = [lk.to_json() for lk in lookups]
    ctx_base = await _render_context(svc, facts)
    activity = _activity_facts(facts, ctx_base.lines, await _owner_email(svc, facts))
    notes: list[dict[str, Any]] = []
    seen_people: set[str] = set()
    for lk in lookups:
        if lk.person_id is None or lk.person_id in seen_people:
            continue
        seen_people.add(lk.person_id)
        ctx = RenderContext(
            contact_number=lk.phone,
            lines=ctx_base.lines,
            user_names=ctx_base.user_names,
            include_summary=svc.settings.log_summaries,
            include_transcript=svc.settings.log_transcripts,
            note_format=note_format(svc.crm),
        )
        try:
            rendered = render_note(facts, ctx)
        except NotRenderable as exc:  # has_call/has_message above make this unreachable
            return _plan("processed", f"merged; {exc}", rtype, rid, detail=detail)
        created = facts.created_at
        notes.append(
            {
                "facts": facts_digest(facts),
                "person_id": lk.person_id,
                "phone": lk.phone,
                "title": rendered.title,
                "content": rendered.body,
                "created_at": created.isoformat() if created else None,
                "activity": activity,
            }
        )
    if not notes:
        unknown = ", ".join(lk.phone for lk in lookups)
        return _plan(
            "skipped",
            f"{UNKNOWN_CALLER}: no CRM person has {unknown}",
            rtype,
            rid,
            detail=detail,
            voicemail_followup=False,
        )
    return _plan(
        "write",
        None,
        rtype,
        rid,
        notes=notes,
        detail=detail,
        voicemail_followup=voicemail_followup,
    )


async def _lookups(
    svc: Services, facts: F.Facts, rtype: str, rid: str, phones: list[str]
) -> list[Lookup]:
    _, stored = await run_db(_load_resource, svc.db, svc.connection_id, rtype, rid)
    out: list[Lookup] = []
    fresh: dict[str, Any] = {}
    for phone in phones:
        cached = stored.get(phone)
        if cached is not None:
            out.append(Lookup.from_json(cached))
            continue
        lk = await _pinned(svc, facts, phone)
        if lk is None:
            lk = await find_person(
                svc.db, svc.crm, svc.connection_id, phone, auto_create=svc.settings.auto_create
            )
        fresh[phone] = lk.to_json()
        out.append(lk)
    if fresh:
        await run_db(_save_resource, svc.db, svc.connection_id, rtype, rid, None, fresh)
    return out


async def _pinned(svc: Services, facts: F.Facts, phone: str) -> Lookup | None:
    """The clicked person, when an outgoing call follows a click-to-call click (`intents`)."""
    if not isinstance(facts, F.CallFacts) or facts.direction != "outgoing":
        return None
    line_id, started = facts.phone_number_id, facts.created_at
    if not line_id or started is None:
        return None
    click = await run_db(
        intents.find_pin,
        svc.db,
        svc.connection_id,
        phone=phone,
        line_id=line_id,
        call_started_at=started,
        window_s=svc.settings.click_window_s,
    )
    if click is None:
        return None
    await run_db(intents.mark_pinned, svc.db, click.id, facts.call_id)
    reason = (
        f"click-to-call: {click.person_id} was clicked at {click.clicked_at.isoformat()} "
        f"for {phone} from line {line_id}"
    )
    return Lookup(phone, click.person_id, "click", [click.person_id], reason)


async def _render_context(svc: Services, facts: F.Facts) -> RenderContext:
    lines = {lid: LineInfo.from_quo(line) for lid, line in (await svc.directory.lines()).items()}
    user_ids: set[str] = set()
    if isinstance(facts, F.CallFacts):
        call = facts.call
        if call is not None:
            user_ids.update(u for u in (call.answered_by, call.initiated_by, call.user_id) if u)
            if call.forwarded_to and call.forwarded_to.startswith("US"):
                user_ids.add(call.forwarded_to)
        if facts.transcript is not None:
            user_ids.update(t.user_id for t in facts.transcript.dialogue if t.user_id)
    elif facts.message is not None and facts.message.user_id:
        user_ids.add(facts.message.user_id)
    names: dict[str, str] = {}
    for uid in sorted(user_ids):
        name = await svc.directory.user_name(uid)
        if name:
            names[uid] = name
    return RenderContext(contact_number=None, lines=lines, user_names=names)


async def plan_refresh(svc: Services, rtype: str, rid: str, *, trigger: str) -> dict[str, Any]:
    """Re-plan a resource from its stored facts (after a voicemail arrived)."""
    facts, _ = await run_db(_load_resource, svc.db, svc.connection_id, rtype, rid)
    return await plan_resource(svc, facts, trigger=trigger)


async def _owner_email(svc: Services, facts: F.Facts) -> str | None:
    """The email of the Quo user a call belongs to (see `CallFacts.attributed_user_id`)."""
    if not isinstance(facts, F.CallFacts):
        return None
    return await svc.directory.user_email(facts.attributed_user_id())


# ------------------------------------------------------------------------------ writing
def _activity_facts(
    facts: F.CallFacts | F.MessageFacts, lines: Mapping[str, LineInfo], user_email: str | None
) -> dict[str, Any]:
    """For CRMs that log calls and messages as native records (plain data: a DBOS step
    result; `write_note` turns the timestamps back into datetimes)."""
    line = lines.get(facts.phone_number_id or "")
    line_number = line.number if line is not None else None
    if isinstance(facts, F.MessageFacts):
        message = facts.message
        return {
            "kind": "message",
            "direction": message.direction if message else None,
            "line_number": line_number,
        }
    call = facts.call
    started = call.created_at if call else None
    ended = call.completed_at if call else None
    if started is not None and call is not None and call.duration is not None and ended is None:
        ended = started + timedelta(seconds=call.duration)
    media = [r.url for r in facts.recordings if r.url]
    voicemail = facts.voicemail.url if facts.voicemail is not None else None
    if voicemail:
        media.append(voicemail)
    return {
        "kind": "call",
        "direction": call.direction if call else None,
        "status": call.status if call else None,
        "duration_s": call.duration if call else None,
        "started_at": started.isoformat() if started else None,
        "ended_at": ended.isoformat() if ended else None,
        "line_number": line_number,
        "answered": facts.was_answered,
        "has_voicemail": voicemail is not None,
        "media_urls": media,
        "user_email": user_email,
    }


def _activity(planned: Mapping[str, Any]) -> ActivityFacts | None:
    activity = planned.get("activity")
    if not isinstance(activity, dict):
        return None
    values = dict(activity)
    for name in ("started_at", "ended_at"):
        if isinstance(values.get(name), str):
            values[name] = datetime.fromisoformat(values[name])
    values["media_urls"] = tuple(values.get("media_urls") or ())
    return ActivityFacts(**values, phone=planned.get("phone"))


def note_format(crm: CrmConnector) -> NoteFormat:
    """The note format of the connector's CRM (its registry record); markdown for a connector
    that is not registered (test doubles)."""
    provider = registry.find(crm.name)
    return provider.note_format if provider is not None else "markdown"


def facts_digest(facts: F.Facts) -> str:
    """Which facts a note was rendered from (stored facts only grow: a join)."""
    blob = json.dumps(facts.to_data(), sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def _stored_digest(db: Database, connection_id: str, rtype: str, rid: str) -> str:
    return facts_digest(_load_resource(db, connection_id, rtype, rid)[0])


async def _current_note(
    svc: Services, rtype: str, rid: str, planned: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """`planned`, or the same person's note re-planned from the stored facts when they have
    grown since `planned` was rendered; None when the re-plan has no note for that person.

    A plan is a checkpointed step result: a workflow that planned, died, and was recovered
    behind a later phase of the same call (recovery re-enqueues it) would otherwise write what
    it rendered before that phase — replacing, say, the note with the AI summary by the one
    without it."""
    digest = planned.get("facts")
    if digest is None or digest == await run_db(
        _stored_digest, svc.db, svc.connection_id, rtype, rid
    ):
        return planned
    fresh = await plan_refresh(svc, rtype, rid, trigger="re-planned: facts grew since the plan")
    person = str(planned["person_id"])
    return next((n for n in fresh.get("notes") or [] if str(n["person_id"]) == person), None)


async def write_note(svc: Services, rtype: str, rid: str, planned: Mapping[str, Any]) -> NoteResult:
    """Make the note `planned` for one person current, rendered from the latest facts."""
    current = await _current_note(svc, rtype, rid, planned)
    if current is None:
        return NoteResult(str(planned["person_id"]), "superseded", "")
    planned = current
    created = planned.get("created_at")
    note = CrmNote(
        person_id=str(planned["person_id"]),
        title=str(planned["title"]),
        content=str(planned["content"]),
        created_at=datetime.fromisoformat(created) if created else None,
        content_format=note_format(svc.crm),
        activity=_activity(planned),
        settings=svc.connection_settings,
    )
    key = NoteKey(svc.connection_id, rtype, rid, note.person_id)
    return await sync_note(svc.db, svc.crm, key, note)


# ------------------------------------------------------------------------------ voicemail
async def fetch_voicemail(svc: Services, call_id: str) -> str:
    """Fold the call's voicemail into the facts. Returns `ready`, `processing` or `none`."""
    try:
        resource = await svc.quo.get_call_voicemail(call_id)
    except QuoNotFound:
        return "none"
    facts, _ = await run_db(_load_resource, svc.db, svc.connection_id, "call", call_id)
    assert isinstance(facts, F.CallFacts)
    merged = facts.with_voicemail(resource)
    await run_db(_save_resource, svc.db, svc.connection_id, "call", call_id, merged)
    vm = merged.voicemail
    if vm is not None and vm.status == "completed":
        return "ready"
    return "processing"
