"""One Attio workspace: objects, records, notes, tasks, members and webhooks, plus the events its
record changes produce.

All mutations happen under one lock, so the in-process Python API (tests, seeding) and the HTTP
app can touch the same workspace from different threads. Every change to a record calls the
workspace's event listeners (the webhook dispatcher) with Attio-shaped events.

Over 600 lines on purpose: emulator state — every mutation and the events it fires live under
one lock, in one place, so their ordering is evident.
"""

from __future__ import annotations

import bisect
import math
import random
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard.emulators.attio.errors import (
    AttioError,
    missing_value,
    multiple_match_results,
    not_found,
    slug_conflict,
    validation_type,
)
from switchboard.emulators.attio.filters import compile_filter
from switchboard.emulators.attio.records import ObjectStore, Record, WriteMode, system_values
from switchboard.emulators.attio.schema import (
    STANDARD_ATTRIBUTES,
    SYSTEM_ATTRIBUTES,
    AttributeDef,
    ObjectDef,
)
from switchboard.emulators.attio.values import (
    DEFAULT_FIELD,
    Actor,
    Value,
    WriteContext,
    actor_json,
    field_value,
    format_ts,
    identity,
    parse_input,
    parse_ts,
)

Clock = Callable[[], datetime]
EventListener = Callable[["WorkspaceEvent"], None]

WEBHOOK_EVENT_TYPES = frozenset(
    {
        "call-recording.created",
        "comment.created",
        "comment.resolved",
        "comment.unresolved",
        "comment.deleted",
        "list.created",
        "list.updated",
        "list.deleted",
        "list-attribute.created",
        "list-attribute.updated",
        "list-entry.created",
        "list-entry.updated",
        "list-entry.deleted",
        "object-attribute.created",
        "object-attribute.updated",
        "note.created",
        "note-content.updated",
        "note.updated",
        "note.deleted",
        "record.created",
        "record.merged",
        "record.updated",
        "record.deleted",
        "task.created",
        "task.updated",
        "task.deleted",
        "workspace-member.created",
    }
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
NOTE_LIST_MAX = 50


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WorkspaceEvent:
    """One webhook event, already in Attio's payload shape (`payload` is the element of
    `events`)."""

    event_type: str
    payload: dict[str, Any]


@dataclass
class Note:
    id: str
    parent_object: str
    parent_record_id: str
    title: str
    content_plaintext: str
    content_markdown: str
    created_by: Actor
    created_at: datetime
    seq: int

    def to_json(self, workspace_id: str) -> dict[str, Any]:
        return {
            "id": {"workspace_id": workspace_id, "note_id": self.id},
            "parent_object": self.parent_object,
            "parent_record_id": self.parent_record_id,
            "title": self.title,
            "meeting_id": None,
            "content_plaintext": self.content_plaintext,
            "content_markdown": self.content_markdown,
            "tags": [],
            "created_by_actor": actor_json(self.created_by),
            "created_at": format_ts(self.created_at),
        }


@dataclass
class Task:
    id: str
    content: str
    deadline_at: datetime | None
    is_completed: bool
    linked_records: list[tuple[str, str]]  # (object id, record id)
    assignees: list[str]  # workspace member ids
    created_by: Actor
    created_at: datetime
    seq: int

    def to_json(self, workspace_id: str) -> dict[str, Any]:
        return {
            "id": {"workspace_id": workspace_id, "task_id": self.id},
            "content_plaintext": self.content,
            "deadline_at": format_ts(self.deadline_at) if self.deadline_at else None,
            "is_completed": self.is_completed,
            "linked_records": [
                {"target_object_id": o, "target_record_id": r} for o, r in self.linked_records
            ],
            "assignees": [
                {"referenced_actor_type": "workspace-member", "referenced_actor_id": m}
                for m in self.assignees
            ],
            "created_by_actor": actor_json(self.created_by),
            "created_at": format_ts(self.created_at),
        }


@dataclass
class Member:
    id: str
    first_name: str
    last_name: str
    email_address: str
    access_level: str
    created_at: datetime

    def to_json(self, workspace_id: str) -> dict[str, Any]:
        return {
            "id": {"workspace_id": workspace_id, "workspace_member_id": self.id},
            "first_name": self.first_name,
            "last_name": self.last_name,
            "avatar_url": None,
            "email_address": self.email_address,
            "created_at": format_ts(self.created_at),
            "access_level": self.access_level,
        }


@dataclass
class Webhook:
    id: str
    target_url: str
    subscriptions: list[dict[str, Any]]
    secret: str
    created_at: datetime
    status: str = "active"
    # epoch seconds; deliveries failing for good after this make the webhook "degraded"
    active_since: float = field(default_factory=time.time)

    def to_json(self, workspace_id: str, *, with_secret: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": {"workspace_id": workspace_id, "webhook_id": self.id},
            "target_url": self.target_url,
            "subscriptions": self.subscriptions,
            "status": self.status,
            "created_at": format_ts(self.created_at),
        }
        if with_secret:
            out["secret"] = self.secret
        return out


@dataclass
class QueryResult:
    records: list[Record]
    store: ObjectStore


def _markdown_to_plain(text: str) -> str:
    out = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    out = re.sub(r"^\s{0,3}#{1,6}\s+", "", out, flags=re.MULTILINE)
    out = re.sub(r"(\*\*|__|\*|_|`)", "", out)
    out = re.sub(r"^\s*[-*+]\s+", "- ", out, flags=re.MULTILINE)
    return out


class Workspace:
    """An Attio workspace with the standard objects (people, companies)."""

    def __init__(
        self,
        name: str,
        slug: str | None = None,
        *,
        workspace_id: str | None = None,
        seed: int | None = None,
        clock: Clock = utcnow,
        include_historic_values: bool = True,
    ) -> None:
        self._rng = random.Random(seed) if seed is not None else None
        self.id = workspace_id or self.new_id()
        self.name = name
        self.slug = slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "workspace"
        self.clock = clock
        self.include_historic_values = include_historic_values
        self.lock = threading.RLock()
        self.listeners: list[EventListener] = []
        self._last_ts: datetime | None = None
        self._seq = 0
        self.created_at = self.now()
        self.stores: dict[str, ObjectStore] = {}
        self.notes: dict[str, Note] = {}
        self.notes_by_parent: dict[str, list[str]] = {}
        self.tasks: dict[str, Task] = {}
        self.webhooks: dict[str, Webhook] = {}
        admin = Member(
            self.new_id(), "Emulator", "Admin", f"admin@{self.slug}.example", "admin", self.now()
        )
        self.members: dict[str, Member] = {admin.id: admin}
        self.admin_member_id = admin.id
        for slug_, singular, plural in (
            ("people", "Person", "People"),
            ("companies", "Company", "Companies"),
        ):
            self.create_object(slug_, singular, plural)

    # ---------------------------------------------------------------- basics

    def new_id(self) -> str:
        if self._rng is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def now(self) -> datetime:
        """The clock, made strictly increasing so timestamps order writes unambiguously."""
        ts = self.clock()
        if self._last_ts is not None and ts <= self._last_ts:
            ts = self._last_ts + timedelta(microseconds=1)
        self._last_ts = ts
        return ts

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def web_base(self) -> str:
        return f"https://app.attio.com/{self.slug}"

    def _emit(self, event_type: str, payload: dict[str, Any]) -> None:
        event = WorkspaceEvent(event_type, {"event_type": event_type, **payload})
        for listener in list(self.listeners):
            listener(event)

    # ---------------------------------------------------------------- objects & attributes

    def store(self, slug_or_id: str) -> ObjectStore:
        found = self.stores.get(slug_or_id)
        if found is not None:
            return found
        for store in self.stores.values():
            if store.obj.id == slug_or_id:
                return store
        raise not_found(f'Object with slug/ID "{slug_or_id}" not found.')

    def create_object(self, api_slug: str, singular_noun: str, plural_noun: str) -> ObjectDef:
        with self.lock:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", api_slug or ""):
                raise validation_type(f'"{api_slug}" is not a valid api_slug (snake_case).')
            if api_slug in self.stores:
                raise slug_conflict(f'An object with slug "{api_slug}" already exists.')
            now = self.now()
            obj = ObjectDef(self.new_id(), api_slug, singular_noun, plural_noun, now)
            for slug, title, type_ in SYSTEM_ATTRIBUTES:
                obj.attributes[slug] = AttributeDef(
                    self.new_id(),
                    slug,
                    title,
                    type_,
                    is_system=True,
                    is_writable=False,
                    is_unique=slug == "record_id",
                    created_at=now,
                )
            for slug, title, type_, multi, unique, target in STANDARD_ATTRIBUTES.get(api_slug, []):
                obj.attributes[slug] = AttributeDef(
                    self.new_id(),
                    slug,
                    title,
                    type_,
                    is_multiselect=multi,
                    is_unique=unique,
                    is_system=True,
                    target_object=target,
                    created_at=now,
                )
            self.stores[api_slug] = ObjectStore(obj)
            return obj

    def create_attribute(
        self,
        object_slug: str,
        *,
        api_slug: str,
        title: str,
        type_: str,
        is_multiselect: bool = False,
        is_unique: bool = False,
        is_required: bool = False,
        description: str | None = None,
        target_object: str | None = None,
    ) -> AttributeDef:
        with self.lock:
            store = self.store(object_slug)
            if not re.fullmatch(r"[a-z][a-z0-9_]*", api_slug or ""):
                raise validation_type(f'"{api_slug}" is not a valid api_slug (snake_case).')
            if api_slug in store.obj.attributes:
                raise slug_conflict(f'An attribute with slug "{api_slug}" already exists.')
            if type_ not in DEFAULT_FIELD:
                raise validation_type(f'Attribute type "{type_}" is not supported.')
            if type_ == "record-reference":
                if target_object is None:
                    raise validation_type("A record-reference attribute needs a target object.")
                target_object = self.store(target_object).obj.api_slug
            attr = AttributeDef(
                self.new_id(),
                api_slug,
                title,
                type_,
                is_multiselect=is_multiselect,
                is_unique=is_unique,
                is_required=is_required,
                description=description,
                target_object=target_object,
                created_at=self.now(),
            )
            store.obj.attributes[api_slug] = attr
            return attr

    def attribute_json(self, store: ObjectStore, attr: AttributeDef) -> dict[str, Any]:
        allowed = []
        if attr.target_object and attr.target_object in self.stores:
            allowed = [self.stores[attr.target_object].obj.id]
        return attr.to_json(self.id, store.obj.id, allowed)

    # ---------------------------------------------------------------- records: reads

    def _ctx(self) -> WriteContext:
        def resolve(obj: str, record_id: str) -> str:
            try:
                target = self.store(obj)
            except AttioError as exc:
                raise validation_type(f'Referenced object "{obj}" does not exist.') from exc
            if record_id not in target.records:
                raise validation_type(
                    f'Referenced record "{record_id}" does not exist in "{target.obj.api_slug}".'
                )
            return target.obj.api_slug

        return WriteContext(resolve_reference=resolve)

    def get_record(self, object_slug: str, record_id: str) -> tuple[ObjectStore, Record]:
        with self.lock:
            store = self.store(object_slug)
            record = store.records.get(record_id)
            if record is None:
                raise not_found(f'Record with ID "{record_id}" not found.')
            return store, record

    def record_json(self, store: ObjectStore, record: Record) -> dict[str, Any]:
        # Under the lock: another thread (the Python API) may be writing this record.
        with self.lock:
            return store.record_json(
                record, self.id, self.web_base, include_historic=self.include_historic_values
            )

    def query(
        self,
        object_slug: str,
        filter_: Any = None,
        sorts: Any = None,
        limit: Any = 500,
        offset: Any = 0,
    ) -> QueryResult:
        with self.lock:
            store = self.store(object_slug)
            limit_n = _non_negative_int("limit", 500 if limit is None else limit)
            offset_n = _non_negative_int("offset", 0 if offset is None else offset)
            plan = compile_filter(store, filter_)
            sort_keys = self._compile_sorts(store, sorts)
            wanted = offset_n + limit_n
            if plan.candidates is None and (not sorts or _is_created_asc(sorts)):
                # Creation-ordered scans (the default order, or created_at asc) stop as soon as
                # the page is full, starting at the filter's created_at lower bound if any.
                if sorts:
                    start = 0
                    if plan.created_from is not None:
                        start = bisect.bisect_left(store.by_created, (plan.created_from,))
                    ordered: Any = (store.records[rid] for _, _, rid in store.by_created[start:])
                else:
                    ordered = iter(store.records.values())
                page: list[Record] = []
                for record in ordered:
                    if plan.predicate(record):
                        page.append(record)
                        if len(page) >= wanted:
                            break
                return QueryResult(page[offset_n:wanted], store)
            if plan.candidates is None:
                matched = [r for r in store.records.values() if plan.predicate(r)]
            else:
                matched = [store.records[rid] for rid in plan.candidates if rid in store.records]
                matched = [r for r in matched if plan.predicate(r)]
                matched.sort(key=lambda r: r.seq)
            for key, descending in reversed(sort_keys):
                matched.sort(key=_sort_key(key, descending), reverse=descending)
            return QueryResult(matched[offset_n : offset_n + limit_n], store)

    def _compile_sorts(
        self, store: ObjectStore, sorts: Any
    ) -> list[tuple[Callable[[Record], Any], bool]]:
        if sorts is None:
            return []
        if not isinstance(sorts, list):
            raise validation_type('"sorts" must be a list.')
        out: list[tuple[Callable[[Record], Any], bool]] = []
        for sort in sorts:
            if not isinstance(sort, dict) or sort.get("direction") not in ("asc", "desc"):
                raise validation_type('Each sort needs "direction": "asc" | "desc".')
            if "path" in sort:
                raise validation_type("Path sorts are not supported by the emulator.")
            slug = sort.get("attribute")
            if not isinstance(slug, str):
                raise validation_type('Each sort needs an "attribute".')
            desc = sort["direction"] == "desc"
            if slug == "record_id":
                out.append((lambda r: r.id, desc))
                continue
            if slug == "created_at":
                out.append((lambda r: r.created_at, desc))
                continue
            if slug == "updated_at":
                out.append((lambda r: r.updated_at, desc))
                continue
            attr = store.obj.attribute(slug)
            if attr is None:
                raise validation_type(f'Unknown sort attribute "{slug}".')
            field_name = sort.get("field") or DEFAULT_FIELD.get(attr.type, "value")
            if not isinstance(field_name, str):
                raise validation_type('"field" must be a string.')

            def key(r: Record, s: str = attr.api_slug, f: str = field_name) -> Any:
                current = r.current(s)
                if not current:
                    return None
                v = field_value(current[0], f)
                return v.lower() if isinstance(v, str) else v

            out.append((key, desc))
        return out

    # ---------------------------------------------------------------- records: writes

    def create_record(self, object_slug: str, values: Any, actor: Actor) -> Record:
        with self.lock:
            store = self.store(object_slug)
            pending = store.prepare(values, self._ctx(), None)
            now = self.now()
            rid = self.new_id()
            record = Record(
                rid,
                store.obj.api_slug,
                now,
                now,
                actor,
                self.next_seq(),
                system_values(now, actor),
            )
            store.apply(record, pending, "overwrite", actor, now)
            record.updated_at = now
            store.add(record)
            self._emit_record("record.created", store, record.id, actor)
            return record

    def update_record(
        self, object_slug: str, record_id: str, values: Any, actor: Actor, mode: WriteMode
    ) -> Record:
        with self.lock:
            store, record = self.get_record(object_slug, record_id)
            pending = store.prepare(values, self._ctx(), record.id)
            changed = store.apply(record, pending, mode, actor, self.now())
            for attr in changed:
                self._emit_record("record.updated", store, record.id, actor, attr.id)
            return record

    def assert_record(
        self, object_slug: str, matching_attribute: str, values: Any, actor: Actor
    ) -> Record:
        """PUT /records?matching_attribute=...: update the one record holding the value, or
        create one. Multiselect values are added, not replaced."""
        with self.lock:
            store = self.store(object_slug)
            attr = store.obj.attribute(matching_attribute)
            if attr is None:
                raise validation_type(
                    f'Unknown matching_attribute "{matching_attribute}" on "{store.obj.api_slug}".'
                )
            if not attr.is_unique:
                raise validation_type(
                    f'matching_attribute "{attr.api_slug}" must be a unique attribute.'
                )
            if not isinstance(values, dict):
                raise validation_type('"values" must be an object keyed by attribute slug or ID.')
            raw = values.get(attr.api_slug, values.get(attr.id))
            items = raw if isinstance(raw, list) else ([] if raw is None else [raw])
            if not items:
                raise missing_value(
                    f'The matching attribute "{attr.api_slug}" must be given a value.'
                )
            ids: set[str] = set()
            for item in items:
                data = parse_input(attr.type, attr.api_slug, item, attr.target_object, self._ctx())
                ids |= store.lookup(
                    attr.api_slug, identity(Value(attr.type, data, datetime.min, actor))
                )
            if len(ids) > 1:
                raise multiple_match_results(
                    f'Multiple records match "{attr.api_slug}"; assert needs a unique match.'
                )
            if not ids:
                return self.create_record(object_slug, values, actor)
            return self.update_record(object_slug, next(iter(ids)), values, actor, "append")

    def delete_record(self, object_slug: str, record_id: str, actor: Actor) -> None:
        with self.lock:
            store, record = self.get_record(object_slug, record_id)
            store.remove(record)
            for note_id in self.notes_by_parent.pop(record.id, []):
                self.notes.pop(note_id, None)
            self._emit_record("record.deleted", store, record.id, actor)

    def merge_records(
        self, object_slug: str, primary_id: str, secondary_id: str, actor: Actor
    ) -> Record:
        """Merge two records into a new one (Attio's current merge semantics): where both have a
        single value the primary's wins, multiselect values are united; notes move to the new
        record; both originals are gone (404). Fires two `record.merged` events, both carrying
        the new record's id in `id.record_id` and one original each in `duplicate_record_id`."""
        with self.lock:
            if primary_id == secondary_id:
                raise validation_type("Cannot merge a record with itself.")
            store, primary = self.get_record(object_slug, primary_id)
            _, secondary = self.get_record(object_slug, secondary_id)
            now = self.now()
            rid = self.new_id()
            merged = Record(
                rid,
                store.obj.api_slug,
                now,
                now,
                actor,
                self.next_seq(),
                system_values(now, actor),
            )
            for slug, attr in store.obj.attributes.items():
                if attr.is_system and slug in ("created_at", "created_by", "record_id"):
                    continue
                first = primary.current(slug)
                second = secondary.current(slug)
                if attr.is_multiselect:
                    keys = {identity(v) for v in first}
                    chosen = first + [v for v in second if identity(v) not in keys]
                else:
                    chosen = first or second
                if chosen:
                    merged.values[slug] = [
                        Value(v.attribute_type, dict(v.data), v.active_from, v.actor)
                        for v in chosen
                    ]
            store.remove(primary)
            store.remove(secondary)
            store.merged_into[primary.id] = rid
            store.merged_into[secondary.id] = rid
            store.add(merged)
            for old in (primary.id, secondary.id):
                for note_id in self.notes_by_parent.pop(old, []):
                    note = self.notes.get(note_id)
                    if note is not None:
                        note.parent_record_id = rid
                        self.notes_by_parent.setdefault(rid, []).append(note_id)
            for old in (primary.id, secondary.id):
                self._emit_record(
                    "record.merged",
                    store,
                    rid,
                    actor,
                    extra={"duplicate_object_id": store.obj.id, "duplicate_record_id": old},
                )
            return merged

    def _emit_record(
        self,
        event_type: str,
        store: ObjectStore,
        record_id: str,
        actor: Actor,
        attribute_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        ids: dict[str, Any] = {
            "workspace_id": self.id,
            "object_id": store.obj.id,
            "record_id": record_id,
        }
        if attribute_id is not None:
            ids["attribute_id"] = attribute_id
        self._emit(event_type, {"id": ids, "actor": actor_json(actor), **(extra or {})})

    # ---------------------------------------------------------------- notes

    def create_note(self, data: Any, actor: Actor) -> Note:
        with self.lock:
            if not isinstance(data, dict):
                raise validation_type('Body must be {"data": {...}}.')
            for key in ("parent_object", "parent_record_id", "title", "format", "content"):
                if key not in data:
                    raise validation_type(f'Missing required field "{key}".')
            fmt = data["format"]
            if fmt not in ("plaintext", "markdown"):
                raise validation_type('"format" must be "plaintext" or "markdown".')
            title, content = data["title"], data["content"]
            if not isinstance(title, str) or not isinstance(content, str):
                raise validation_type('"title" and "content" must be strings.')
            if not isinstance(data["parent_object"], str) or not isinstance(
                data["parent_record_id"], str
            ):
                raise validation_type('"parent_object" and "parent_record_id" must be strings.')
            store = self.store(data["parent_object"])
            if data["parent_record_id"] not in store.records:
                raise not_found(f'Record with ID "{data["parent_record_id"]}" not found.')
            created_at = self.now()
            if data.get("created_at") is not None:
                try:
                    created_at = parse_ts(data["created_at"])
                except (ValueError, TypeError) as exc:
                    raise validation_type('"created_at" must be an ISO 8601 timestamp.') from exc
            plain = _markdown_to_plain(content) if fmt == "markdown" else content
            note = Note(
                self.new_id(),
                store.obj.api_slug,
                data["parent_record_id"],
                title,
                plain,
                content,
                actor,
                created_at,
                self.next_seq(),
            )
            self.notes[note.id] = note
            self.notes_by_parent.setdefault(note.parent_record_id, []).append(note.id)
            self._emit(
                "note.created",
                {
                    "id": {"workspace_id": self.id, "note_id": note.id},
                    "parent_object_id": store.obj.id,
                    "parent_record_id": note.parent_record_id,
                    "actor": actor_json(actor),
                },
            )
            return note

    def list_notes(
        self,
        parent_object: str | None,
        parent_record_id: str | None,
        limit: Any = 10,
        offset: Any = 0,
    ) -> list[Note]:
        with self.lock:
            limit_n = _non_negative_int("limit", 10 if limit is None else limit)
            offset_n = _non_negative_int("offset", 0 if offset is None else offset)
            if limit_n > NOTE_LIST_MAX:
                raise validation_type(f'"limit" must be at most {NOTE_LIST_MAX}.')
            object_slug = self.store(parent_object).obj.api_slug if parent_object else None
            if parent_record_id is not None:
                notes = [self.notes[n] for n in self.notes_by_parent.get(parent_record_id, [])]
            else:
                notes = list(self.notes.values())
            if object_slug is not None:
                notes = [n for n in notes if n.parent_object == object_slug]
            notes.sort(key=lambda n: (n.created_at, n.seq))
            return notes[offset_n : offset_n + limit_n]

    def get_note(self, note_id: str) -> Note:
        note = self.notes.get(note_id)
        if note is None:
            raise not_found(f'Note with ID "{note_id}" not found.')
        return note

    def delete_note(self, note_id: str, actor: Actor) -> None:
        with self.lock:
            note = self.get_note(note_id)
            del self.notes[note_id]
            siblings = self.notes_by_parent.get(note.parent_record_id, [])
            if note_id in siblings:
                siblings.remove(note_id)
            parent = self.stores.get(note.parent_object)
            self._emit(
                "note.deleted",
                {
                    "id": {"workspace_id": self.id, "note_id": note.id},
                    "parent_object_id": parent.obj.id if parent else None,
                    "parent_record_id": note.parent_record_id,
                    "actor": actor_json(actor),
                },
            )

    # ---------------------------------------------------------------- tasks

    def create_task(self, data: Any, actor: Actor) -> Task:
        with self.lock:
            if not isinstance(data, dict):
                raise validation_type('Body must be {"data": {...}}.')
            for key in (
                "content",
                "format",
                "deadline_at",
                "is_completed",
                "linked_records",
                "assignees",
            ):
                if key not in data:
                    raise validation_type(f'Missing required field "{key}".')
            content = data["content"]
            if not isinstance(content, str) or len(content) > 2000:
                raise validation_type('"content" must be a string of at most 2000 characters.')
            if data["format"] != "plaintext":
                raise validation_type('"format" must be "plaintext".')
            if not isinstance(data["is_completed"], bool):
                raise validation_type('"is_completed" must be a boolean.')
            deadline = None
            if data["deadline_at"] is not None:
                try:
                    deadline = parse_ts(data["deadline_at"])
                except (ValueError, TypeError) as exc:
                    raise validation_type('"deadline_at" must be a timestamp or null.') from exc
            links: list[tuple[str, str]] = []
            if not isinstance(data["linked_records"], list):
                raise validation_type('"linked_records" must be a list.')
            for link in data["linked_records"]:
                if not isinstance(link, dict) or not isinstance(link.get("target_object"), str):
                    raise validation_type("Each linked record needs target_object.")
                store = self.store(link["target_object"])
                rid = link.get("target_record_id")
                if not isinstance(rid, str):
                    raise validation_type("Linked records are referenced by target_record_id.")
                if rid not in store.records:
                    raise not_found(f'Record with ID "{rid}" not found.')
                links.append((store.obj.id, rid))
            assignees: list[str] = []
            if not isinstance(data["assignees"], list):
                raise validation_type('"assignees" must be a list.')
            for a in data["assignees"]:
                assignees.append(self._member_ref(a))
            task = Task(
                self.new_id(),
                content,
                deadline,
                data["is_completed"],
                links,
                assignees,
                actor,
                self.now(),
                self.next_seq(),
            )
            self.tasks[task.id] = task
            self._emit(
                "task.created",
                {"id": {"workspace_id": self.id, "task_id": task.id}, "actor": actor_json(actor)},
            )
            return task

    def _member_ref(self, ref: Any) -> str:
        actor_id = ref.get("referenced_actor_id") if isinstance(ref, dict) else None
        if isinstance(actor_id, str) and actor_id in self.members:
            return actor_id
        if isinstance(ref, dict) and isinstance(ref.get("workspace_member_email_address"), str):
            for m in self.members.values():
                if m.email_address == ref["workspace_member_email_address"]:
                    return m.id
        raise not_found("Workspace member not found.")

    def list_tasks(
        self,
        *,
        limit: Any = None,
        offset: Any = 0,
        sort: str | None = None,
        linked_object: str | None = None,
        linked_record_id: str | None = None,
        is_completed: bool | None = None,
    ) -> list[Task]:
        with self.lock:
            limit_n = _non_negative_int("limit", 500 if limit is None else limit)
            offset_n = _non_negative_int("offset", 0 if offset is None else offset)
            tasks = list(self.tasks.values())
            if linked_object is not None:
                object_id = self.store(linked_object).obj.id
                tasks = [t for t in tasks if any(o == object_id for o, _ in t.linked_records)]
            if linked_record_id is not None:
                tasks = [
                    t for t in tasks if any(r == linked_record_id for _, r in t.linked_records)
                ]
            if is_completed is not None:
                tasks = [t for t in tasks if t.is_completed == is_completed]
            if sort not in (None, "created_at:asc", "created_at:desc"):
                raise validation_type('"sort" must be created_at:asc or created_at:desc.')
            tasks.sort(key=lambda t: t.seq, reverse=sort == "created_at:desc")
            return tasks[offset_n : offset_n + limit_n]

    def get_task(self, task_id: str) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise not_found(f'Task with ID "{task_id}" not found.')
        return task

    def delete_task(self, task_id: str, actor: Actor) -> None:
        with self.lock:
            self.get_task(task_id)
            del self.tasks[task_id]
            self._emit(
                "task.deleted",
                {"id": {"workspace_id": self.id, "task_id": task_id}, "actor": actor_json(actor)},
            )

    # ---------------------------------------------------------------- members

    def get_member(self, member_id: str) -> Member:
        member = self.members.get(member_id)
        if member is None:
            raise not_found(f'Workspace member with ID "{member_id}" not found.')
        return member

    # ---------------------------------------------------------------- webhooks

    def _validate_webhook(
        self, data: Any, allow_http: bool, *, partial: bool
    ) -> tuple[str | None, list[dict[str, Any]] | None]:
        if not isinstance(data, dict):
            raise validation_type('Body must be {"data": {...}}.')
        url = data.get("target_url")
        subs = data.get("subscriptions")
        if not partial and (url is None or subs is None):
            raise validation_type('"target_url" and "subscriptions" are required.')
        if url is not None:
            _check_target_url(url, allow_http)
        if subs is not None:
            if not isinstance(subs, list):
                raise validation_type('"subscriptions" must be a list.')
            subs = [_check_subscription(s) for s in subs]
        return url, subs

    def create_webhook(self, data: Any, allow_http: bool) -> Webhook:
        with self.lock:
            url, subs = self._validate_webhook(data, allow_http, partial=False)
            assert url is not None and subs is not None
            hook = Webhook(self.new_id(), url, subs, secrets.token_hex(32), self.now())
            self.webhooks[hook.id] = hook
            return hook

    def get_webhook(self, webhook_id: str) -> Webhook:
        hook = self.webhooks.get(webhook_id)
        if hook is None:
            raise not_found(f'Webhook with ID "{webhook_id}" not found.')
        return hook

    def update_webhook(self, webhook_id: str, data: Any, allow_http: bool) -> Webhook:
        with self.lock:
            hook = self.get_webhook(webhook_id)
            url, subs = self._validate_webhook(data, allow_http, partial=True)
            if url is not None:
                hook.target_url = url
            if subs is not None:
                hook.subscriptions = subs
            hook.status, hook.active_since = "active", time.time()  # an update re-activates
            return hook

    def delete_webhook(self, webhook_id: str) -> None:
        with self.lock:
            self.get_webhook(webhook_id)
            del self.webhooks[webhook_id]


def _is_created_asc(sorts: Any) -> bool:
    return (
        isinstance(sorts, list)
        and len(sorts) == 1
        and isinstance(sorts[0], dict)
        and sorts[0].get("attribute") == "created_at"
        and sorts[0].get("direction") == "asc"
        and "field" not in sorts[0]
    )


def _sort_key(key: Callable[[Record], Any], descending: bool) -> Callable[[Record], Any]:
    """Records without a value sort last in both directions (Python's sort stays stable)."""

    def wrapped(record: Record) -> tuple[bool, Any]:
        value = key(record)
        return (not descending, 0) if value is None else (descending, value)

    return wrapped


def _non_negative_int(name: str, raw: Any) -> int:
    ok = isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw)
    if not ok or raw < 0 or raw != int(raw):
        raise validation_type(f'"{name}" must be a non-negative integer.')
    return int(raw)


def _check_target_url(url: Any, allow_http: bool) -> None:
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        raise validation_type('"target_url" must be a string.')
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and allow_http and (parts.hostname or "") in LOOPBACK_HOSTS:
        return
    if parts.scheme == "http" and allow_http:
        raise validation_type("Plain-HTTP webhook targets must be loopback addresses.")
    raise validation_type('"target_url" must start with https://.')


def _check_subscription(sub: Any) -> dict[str, Any]:
    if not isinstance(sub, dict) or "event_type" not in sub or "filter" not in sub:
        raise validation_type('Each subscription needs "event_type" and "filter".')
    if sub["event_type"] not in WEBHOOK_EVENT_TYPES:
        raise validation_type(f'Unknown event_type "{sub["event_type"]}".')
    flt = sub["filter"]
    if flt is not None:
        if not isinstance(flt, dict) or len(flt) != 1 or next(iter(flt)) not in ("$and", "$or"):
            raise validation_type('A subscription filter is null or {"$and"|"$or": [...]}.')
        conditions = next(iter(flt.values()))
        if not isinstance(conditions, list):
            raise validation_type("Subscription filter conditions must be a list.")
        for cond in conditions:
            if (
                not isinstance(cond, dict)
                or not isinstance(cond.get("field"), str)
                or cond.get("operator") not in ("equals", "not_equals")
                or not isinstance(cond.get("value"), str)
            ):
                raise validation_type(
                    'Each filter condition is {"field", "operator": "equals"|"not_equals", '
                    '"value"}.'
                )
    return {"event_type": sub["event_type"], "filter": flt}


def event_matches(subscription: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Does one event pass a subscription (same event type, filter conditions hold)?"""
    if subscription["event_type"] != payload.get("event_type"):
        return False
    flt = subscription.get("filter")
    if not flt:
        return True
    op, conditions = next(iter(flt.items()))
    results = []
    for cond in conditions:
        actual: Any = payload
        for part in cond["field"].split("."):
            actual = actual.get(part) if isinstance(actual, dict) else None
        equal = actual == cond["value"]
        results.append(equal if cond["operator"] == "equals" else not equal)
    return all(results) if op == "$and" else any(results)


__all__ = [
    "Member",
    "Note",
    "QueryResult",
    "Task",
    "Webhook",
    "Workspace",
    "WorkspaceEvent",
    "event_matches",
]
