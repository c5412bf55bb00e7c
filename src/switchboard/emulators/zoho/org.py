"""One Zoho org (the emulator's workspace): users, records of the served modules, notes, deleted
records and watch channels. Pure state and validation; HTTP and notifications live elsewhere.

Write methods return per-record results (`Result`) the way Zoho reports them in `data[]`:
a success carries the record, a failure carries the error item.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from switchboard.emulators.zoho.errors import error_item
from switchboard.emulators.zoho.metadata import (
    DEFAULT_DUPLICATE_CHECK,
    PHONE_FIELDS,
    RECORD_MODULES,
    WHAT_ID_MODULES,
    FieldDef,
    Ids,
    field_map,
)
from switchboard.emulators.zoho.spec import skeleton

EDITIONS = {
    # edition: (base credits per 24 h, credits per user, max concurrent requests)
    "free": (5_000, 0, 5),
    "standard": (50_000, 250, 10),
    "professional": (50_000, 500, 15),
    "enterprise": (50_000, 1_000, 20),
    "ultimate": (50_000, 2_000, 25),
}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(r"^\d{1,4}:[0-5]\d$")
MAX_RECORDS_PER_CALL = 100
# Fields Zoho stores without 4-byte characters: each emoji comes back as "?".
EMOJI_MANGLED = frozenset({"Subject", "Title", "Designation", "Note_Title"})


def mangle_emoji(text: str) -> str:
    return "".join("?" if ord(ch) > 0xFFFF else ch for ch in text)


def format_time(ts: float) -> str:
    """Zoho's timestamp format: ISO 8601, seconds, with offset (the org's zone; UTC here)."""
    return datetime.fromtimestamp(ts, UTC).replace(microsecond=0).isoformat()


def parse_time(text: str) -> float:
    """ISO 8601 (Zoho's form) or an HTTP date; ValueError otherwise."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(text) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value)) if value is not None else ""


@dataclass
class User:
    id: str
    first_name: str
    last_name: str
    email: str
    role: str = "CEO"
    profile: str = "Administrator"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def minified(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id, "email": self.email}


@dataclass
class Record:
    module: str
    id: str
    values: dict[str, Any]
    created: float
    modified: float


@dataclass
class Deleted:
    module: str
    id: str
    name: str
    deleted: float
    created_by: User


@dataclass
class Channel:
    channel_id: str
    events: list[str]
    notify_url: str
    token: str | None
    expiry: float
    explicit_expiry: bool
    return_affected_field_values: bool = False
    notify_on_related_action: bool = False
    resource_id: str = ""

    def modules(self) -> dict[str, set[str]]:
        """{module: {operations}} with `all` expanded."""
        out: dict[str, set[str]] = {}
        for event in self.events:
            module, _, op = event.partition(".")
            ops = {"create", "edit", "delete"} if op == "all" else {op}
            out.setdefault(module, set()).update(ops)
        return out


@dataclass
class Result:
    """One entry of a write answer's `data[]`."""

    ok: bool
    record: Record | None = None
    error: dict[str, Any] | None = None
    action: str | None = None  # upsert: insert | update
    duplicate_field: str | None = None


class RecordError(Exception):
    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__(item["message"])
        self.item = item


def _field_error(code: str, message: str, f: str, index: int, **extra: Any) -> RecordError:
    details = {"api_name": f, "json_path": f"$.data[{index}].{f}", **extra}
    return RecordError(error_item(code, message, details))


@dataclass
class Org:
    id: str
    name: str
    dc: str
    edition: str
    ids: Ids
    users: list[User]
    created: float
    records: dict[str, dict[str, Record]] = field(
        default_factory=lambda: {m: {} for m in RECORD_MODULES}
    )
    notes: dict[str, Record] = field(default_factory=dict)
    deleted: list[Deleted] = field(default_factory=list)
    channels: dict[str, Channel] = field(default_factory=dict)
    phone_index: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    meta_cache: dict[str, Any] = field(default_factory=dict)  # metadata answers, built once
    lock: threading.RLock = field(default_factory=threading.RLock)
    credits_override: int | None = None
    concurrency_override: int | None = None

    # ------------------------------------------------------------ limits

    @property
    def credits_per_day(self) -> int:
        if self.credits_override is not None:
            return self.credits_override
        base, per_user, _ = EDITIONS[self.edition]
        return base + per_user * len(self.users)

    @property
    def max_concurrency(self) -> int:
        if self.concurrency_override is not None:
            return self.concurrency_override
        return EDITIONS[self.edition][2]

    @property
    def admin(self) -> User:
        return self.users[0]

    def user(self, user_id: str) -> User | None:
        return next((u for u in self.users if u.id == user_id), None)

    # ------------------------------------------------------------ record JSON

    def record_json(self, rec: Record, fields: list[str] | None = None) -> dict[str, Any]:
        owner = self.user(str((rec.values.get("Owner") or {}).get("id", ""))) or self.admin
        base: dict[str, Any] = {"id": rec.id}
        full = {
            **rec.values,
            "Owner": owner.minified(),
            "Created_Time": format_time(rec.created),
            "Modified_Time": format_time(rec.modified),
            "Created_By": self.admin.minified(),
            "Modified_By": self.admin.minified(),
        }
        if rec.module in ("Contacts", "Leads"):
            full["Full_Name"] = " ".join(
                str(full[k]) for k in ("First_Name", "Last_Name") if full.get(k)
            )
        if rec.module == "Calls" and isinstance(full.get("Call_Duration"), str):
            mm, _, ss = full["Call_Duration"].partition(":")
            if mm.isdigit() and ss.isdigit():
                full["Call_Duration_in_seconds"] = int(mm) * 60 + int(ss)
        if fields is None:
            defs = field_map(rec.module)
            out = base | {k: full.get(k) for k in defs}
            if rec.module == "Calls":
                out["$se_module"] = full.get("$se_module")
            return out
        return base | {k: full.get(k) for k in fields if k != "id"}

    def note_json(self, note: Record) -> dict[str, Any]:
        parent = note.values["Parent_Id"]
        return skeleton(
            "notes",
            "Note",
            id=note.id,
            Note_Title=note.values.get("Note_Title") or "",
            Note_Content=note.values.get("Note_Content") or "",
            Parent_Id={
                "module": {
                    "api_name": parent["module"],
                    "id": self.ids.of(f"module:{parent['module']}"),
                },
                "id": parent["id"],
                "name": parent.get("name"),
            },
            Owner=self.admin.minified(),
            Created_By=self.admin.minified(),
            Modified_By=self.admin.minified(),
            Created_Time=format_time(note.created),
            Modified_Time=format_time(note.modified),
            **{
                "$attachments": [],
                "$editable": True,
                "$is_shared_to_client": False,
                "$state": "save",
                "$voice_note": False,
            },
        )

    def success_details(self, rec: Record) -> dict[str, Any]:
        return {
            "Modified_Time": format_time(rec.modified),
            "Modified_By": self.admin.minified(),
            "Created_Time": format_time(rec.created),
            "id": rec.id,
            "Created_By": self.admin.minified(),
        }

    # ------------------------------------------------------------ validation

    def _check_value(self, module: str, f: FieldDef, value: Any, index: int) -> Any:
        """The stored form of one field value, or a RecordError."""
        if value is None:
            if f.mandatory:
                raise _field_error(
                    "MANDATORY_NOT_FOUND", "required field not found", f.api_name, index
                )
            return None
        kind = f.data_type
        if kind in ("lookup", "ownerlookup"):
            if isinstance(value, str | int) and not isinstance(value, bool):
                value = {"id": str(value)}
            if not isinstance(value, dict) or not isinstance(value.get("id"), str | int):
                raise _field_error(
                    "INVALID_DATA", "invalid data", f.api_name, index, expected_data_type=kind
                )
            ref = str(value["id"])
            if kind == "ownerlookup":
                user = self.user(ref)
                if user is None:
                    raise _field_error("INVALID_DATA", "invalid data", f.api_name, index)
                return {"id": user.id}
            target = f.lookup_module
            if target is None:  # What_Id / Parent_Id: the module comes from elsewhere
                return {"id": ref}
            found = self.records[target].get(ref)
            if found is None:
                raise _field_error(
                    "INVALID_DATA", "the id given seems to be invalid", f.api_name, index
                )
            return {"id": ref, "name": display_name(found)}
        if kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                raise _field_error(
                    "INVALID_DATA", "invalid data", f.api_name, index, expected_data_type="integer"
                )
            return value
        if not isinstance(value, str):
            raise _field_error(
                "INVALID_DATA", "invalid data", f.api_name, index, expected_data_type=kind
            )
        if len(value) > f.length:
            raise _field_error(
                "INVALID_DATA", "invalid data", f.api_name, index, maximum_length=str(f.length)
            )
        if f.mandatory and not value.strip():
            raise _field_error("MANDATORY_NOT_FOUND", "required field not found", f.api_name, index)
        if kind == "email" and value and not _EMAIL.match(value):
            raise _field_error("INVALID_DATA", "invalid data", f.api_name, index)
        if kind == "datetime" and not _DATETIME.match(value):
            raise _field_error(
                "INVALID_DATA", "invalid data", f.api_name, index, expected_data_type="datetime"
            )
        if kind == "picklist" and f.picklist and value not in f.picklist:
            raise _field_error("INVALID_DATA", "invalid data", f.api_name, index)
        if f.api_name == "Call_Duration" and value and not _DURATION.match(value):
            raise _field_error("INVALID_DATA", "invalid data", f.api_name, index)
        if f.api_name in EMOJI_MANGLED:
            return mangle_emoji(value)
        return value

    def validate(
        self,
        module: str,
        data: Any,
        index: int,
        *,
        existing: Record | None,
        strict_se_module: bool,
    ) -> dict[str, Any]:
        """Check one record body; returns the values to store (merged over `existing`)."""
        if not isinstance(data, dict):
            raise RecordError(
                error_item(
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": "data", "json_path": f"$.data[{index}]"},
                )
            )
        defs = field_map(module)
        values: dict[str, Any] = dict(existing.values) if existing else {}
        for key, value in data.items():
            f = defs.get(key)
            if f is None or f.read_only:
                continue  # Zoho ignores unknown and read-only keys
            values[key] = self._check_value(module, f, value, index)
        for f in defs.values():
            if f.mandatory and values.get(f.api_name) in (None, ""):
                raise _field_error(
                    "MANDATORY_NOT_FOUND", "required field not found", f.api_name, index
                )
        if module == "Calls":
            self._check_related(data, values, index, strict_se_module)
        return values

    def _check_related(
        self, data: dict[str, Any], values: dict[str, Any], index: int, strict: bool
    ) -> None:
        """`What_Id` (the related-to record) needs `$se_module` naming its module."""
        se_module = data.get("$se_module", values.get("$se_module"))
        what = values.get("What_Id")
        if what is None:
            if data.get("$se_module") is not None and strict:
                raise _field_error("INVALID_DATA", "invalid data", "$se_module", index)
            values.pop("$se_module", None)
            return
        if se_module not in WHAT_ID_MODULES:
            if strict or se_module is None:
                raise _field_error(
                    "INVALID_DATA",
                    "invalid data",
                    "$se_module",
                    index,
                    supported_values=list(WHAT_ID_MODULES),
                )
            values.pop("What_Id", None)
            values.pop("$se_module", None)
            return
        target = self.records[str(se_module)].get(str(what["id"]))
        if target is None:
            raise _field_error("INVALID_DATA", "the id given seems to be invalid", "What_Id", index)
        values["What_Id"] = {"id": target.id, "name": display_name(target)}
        values["$se_module"] = se_module

    # ------------------------------------------------------------ queries

    # ------------------------------------------------------------ store (keeps the phone index)

    def put(self, rec: Record, values: dict[str, Any] | None = None) -> None:
        """Insert `rec`, or replace its values; every write goes through here or `remove`."""
        old = self.records[rec.module].get(rec.id)
        if old is not None:
            self._index(old, add=False)
        if values is not None:
            rec.values = values
        self.records[rec.module][rec.id] = rec
        self._index(rec, add=True)

    def remove(self, module: str, rid: str) -> Record | None:
        rec = self.records[module].pop(rid, None)
        if rec is not None:
            self._index(rec, add=False)
        return rec

    def _index(self, rec: Record, *, add: bool) -> None:
        index = self.phone_index.setdefault(rec.module, {})
        for name in PHONE_FIELDS:
            key = digits(rec.values.get(name))
            if not key:
                continue
            if add:
                index.setdefault(key, set()).add(rec.id)
            else:
                index.get(key, set()).discard(rec.id)

    def by_phone(self, module: str, phone: str) -> set[str]:
        """Ids of records with `phone` (compared by digits) in any phone field."""
        return set(self.phone_index.get(module, {}).get(digits(phone), set()))

    def duplicate_of(
        self, module: str, values: dict[str, Any], check_fields: tuple[str, ...]
    ) -> tuple[Record, str] | None:
        for name in check_fields:
            want = values.get(name)
            if want in (None, ""):
                continue
            for rec in self.records[module].values():
                have = rec.values.get(name)
                if isinstance(want, str) and isinstance(have, str):
                    if have.lower() == want.lower():
                        return rec, name
                elif have == want:
                    return rec, name
        return None

    def default_duplicate_check(self, module: str) -> tuple[str, ...]:
        return DEFAULT_DUPLICATE_CHECK.get(module, ())


def display_name(rec: Record) -> str:
    v = rec.values
    if rec.module in ("Contacts", "Leads"):
        return " ".join(str(v[k]) for k in ("First_Name", "Last_Name") if v.get(k))
    if rec.module == "Accounts":
        return str(v.get("Account_Name") or "")
    return str(v.get("Subject") or "")
