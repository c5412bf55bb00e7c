"""Records of one object, their value history, and the equality indexes that keep queries fast.

Every non-system attribute is indexed by value identity (E.164 phone, lower-cased email, domain,
full name, referenced record id, text ...) over *current* values only, so a phone filter never
matches a number the person used to have, and a lookup over 10,000 people is a dict access.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from switchboard.emulators.attio.errors import (
    uniqueness_conflict,
    validation_type,
    value_not_found,
)
from switchboard.emulators.attio.schema import AttributeDef, ObjectDef
from switchboard.emulators.attio.values import (
    Actor,
    Value,
    WriteContext,
    actor_json,
    format_ts,
    identity,
    parse_input,
)

WriteMode = Literal["overwrite", "append"]


@dataclass
class Record:
    id: str
    object_slug: str
    created_at: datetime
    updated_at: datetime
    created_by: Actor
    seq: int
    values: dict[str, list[Value]] = field(default_factory=dict)
    # (updated_at, include_historic, attribute count) -> the record's JSON, reused until a write
    json_cache: tuple[Any, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def current(self, slug: str) -> list[Value]:
        return [v for v in self.values.get(slug, ()) if v.active_until is None]


@dataclass
class PendingWrite:
    """Parsed, validated values for one attribute, not applied yet."""

    attr: AttributeDef
    data: list[dict[str, Any]]


class ObjectStore:
    """The records of one object, in creation order, with equality indexes."""

    def __init__(self, obj: ObjectDef) -> None:
        self.obj = obj
        self.records: dict[str, Record] = {}
        # (created_at, seq, id), sorted: `created_at`-ordered scans start at their lower bound.
        self.by_created: list[tuple[datetime, int, str]] = []
        self.index: dict[str, dict[Any, set[str]]] = defaultdict(lambda: defaultdict(set))
        # Ids of records merged away, so reads of them answer 404 like any deleted record.
        self.merged_into: dict[str, str] = {}

    # ---------------------------------------------------------------- indexes

    def lookup(self, slug: str, key: Any) -> set[str]:
        bucket = self.index.get(slug)
        if bucket is None:
            return set()
        return bucket.get(key, set())

    def _index(self, rid: str, slug: str, value: Value) -> None:
        key = identity(value)
        if key is not None:
            self.index[slug][key].add(rid)

    def _unindex(self, record: Record, slug: str, value: Value) -> None:
        key = identity(value)
        if key is None:
            return
        if any(identity(v) == key for v in record.current(slug) if v is not value):
            return
        bucket = self.index[slug].get(key)
        if bucket is not None:
            bucket.discard(record.id)
            if not bucket:
                del self.index[slug][key]

    def add(self, record: Record) -> None:
        self.records[record.id] = record
        entry = (record.created_at, record.seq, record.id)
        if not self.by_created or self.by_created[-1] < entry:
            self.by_created.append(entry)
        else:
            bisect.insort(self.by_created, entry)
        for slug, values in record.values.items():
            if slug in ("created_at", "created_by", "record_id"):
                continue
            for value in values:
                if value.active_until is None:
                    self._index(record.id, slug, value)

    def remove(self, record: Record) -> None:
        for slug, values in record.values.items():
            for value in values:
                if value.active_until is None:
                    key = identity(value)
                    bucket = self.index.get(slug, {}).get(key)
                    if bucket is not None:
                        bucket.discard(record.id)
                        if not bucket:
                            del self.index[slug][key]
        self.records.pop(record.id, None)
        entry = (record.created_at, record.seq, record.id)
        at = bisect.bisect_left(self.by_created, entry)
        if at < len(self.by_created) and self.by_created[at] == entry:
            del self.by_created[at]

    # ---------------------------------------------------------------- writes

    def prepare(
        self, raw_values: Any, ctx: WriteContext, record_id: str | None
    ) -> list[PendingWrite]:
        """Parse and validate every written value before anything changes (writes are atomic)."""
        if not isinstance(raw_values, dict):
            raise validation_type('"values" must be an object keyed by attribute slug or ID.')
        pending: list[PendingWrite] = []
        for key, raw in raw_values.items():
            attr = self.obj.attribute(key)
            if attr is None:
                raise value_not_found(
                    f'Cannot find attribute with slug/ID "{key}" on object "{self.obj.api_slug}".'
                )
            if not attr.is_writable:
                raise validation_type(f'Attribute "{attr.api_slug}" is read-only.')
            items = raw if isinstance(raw, list) else ([] if raw is None else [raw])
            if not attr.is_multiselect and len(items) > 1:
                raise validation_type(
                    f'Attribute "{attr.api_slug}" accepts a single value, got {len(items)}.'
                )
            data = [
                parse_input(attr.type, attr.api_slug, item, attr.target_object, ctx)
                for item in items
            ]
            if attr.is_unique:
                self._check_unique(attr, data, record_id)
            pending.append(PendingWrite(attr, data))
        return pending

    def _check_unique(
        self, attr: AttributeDef, data: list[dict[str, Any]], record_id: str | None
    ) -> None:
        for item in data:
            key = identity(Value(attr.type, item, datetime.min, ("system", None)))
            holders = self.lookup(attr.api_slug, key) - ({record_id} if record_id else set())
            if holders:
                raise uniqueness_conflict(
                    f'The value "{key}" provided for attribute "{attr.api_slug}" conflicts with '
                    f"an existing record ({next(iter(holders))}): it must be unique."
                )

    def apply(
        self,
        record: Record,
        pending: list[PendingWrite],
        mode: WriteMode,
        actor: Actor,
        now: datetime,
    ) -> list[AttributeDef]:
        """Apply prepared writes; returns the attributes whose current values changed."""
        changed: list[AttributeDef] = []
        for write in pending:
            if self._apply_one(record, write, mode, actor, now):
                changed.append(write.attr)
        if changed:
            record.updated_at = now
        return changed

    def _apply_one(
        self, record: Record, write: PendingWrite, mode: WriteMode, actor: Actor, now: datetime
    ) -> bool:
        attr = write.attr
        slug = attr.api_slug
        history = record.values.setdefault(slug, [])
        current = [v for v in history if v.active_until is None]
        new_values = [Value(attr.type, d, now, actor) for d in write.data]
        changed = False
        if attr.is_multiselect:
            new_keys = {identity(v) for v in new_values}
            if mode == "overwrite":
                for old in current:
                    if identity(old) not in new_keys:
                        old.active_until = now
                        self._unindex(record, slug, old)
                        changed = True
            present = {identity(v) for v in history if v.active_until is None}
            for value in new_values:
                key = identity(value)
                if key in present:
                    continue
                present.add(key)
                history.append(value)
                self._index(record.id, slug, value)
                changed = True
        else:
            new: Value | None = new_values[0] if new_values else None
            previous: Value | None = current[0] if current else None
            if previous is not None and new is not None and previous.data == new.data:
                return False
            if previous is not None:
                previous.active_until = now
                self._unindex(record, slug, previous)
                changed = True
            if new is not None:
                history.append(new)
                self._index(record.id, slug, new)
                changed = True
        return changed

    # ---------------------------------------------------------------- output

    def record_json(
        self,
        record: Record,
        workspace_id: str,
        web_base: str,
        *,
        include_historic: bool,
    ) -> dict[str, Any]:
        """The record as Attio shows it. Cached per record until its next write (every write
        that changes a value moves `updated_at`); callers must not mutate the result."""
        key = (record.updated_at, include_historic, len(self.obj.attributes), workspace_id)
        if record.json_cache is not None and record.json_cache[0] == key:
            return record.json_cache[1]
        out = self._record_json(record, workspace_id, web_base, include_historic=include_historic)
        record.json_cache = (key, out)
        return out

    def _record_json(
        self,
        record: Record,
        workspace_id: str,
        web_base: str,
        *,
        include_historic: bool,
    ) -> dict[str, Any]:
        values: dict[str, list[dict[str, Any]]] = {}
        for slug in self.obj.attributes:
            if slug == "record_id":
                continue
            stored = record.values.get(slug, ())
            values[slug] = [
                v.to_json() for v in stored if include_historic or v.active_until is None
            ]
        return {
            "id": {
                "workspace_id": workspace_id,
                "object_id": self.obj.id,
                "record_id": record.id,
            },
            "created_at": format_ts(record.created_at),
            # Emulator extension (not in Attio's API): last change of any current value.
            "updated_at": format_ts(record.updated_at),
            "web_url": f"{web_base}/{self.obj.singular_noun.lower()}/{record.id}",
            "values": values,
        }


def system_values(created_at: datetime, actor: Actor) -> dict[str, list[Value]]:
    """The read-only values every record has: when and by whom it was created."""
    return {
        "created_at": [
            Value("timestamp", {"value": format_ts(created_at)}, created_at, ("system", None))
        ],
        "created_by": [
            Value(
                "actor-reference",
                {"referenced_actor_type": actor[0], "referenced_actor_id": actor[1]},
                created_at,
                ("system", None),
            )
        ],
    }


__all__ = ["ObjectStore", "PendingWrite", "Record", "WriteMode", "actor_json", "system_values"]
