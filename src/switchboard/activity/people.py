"""Phone number → the CRM person a call or message is logged on.

Order of preference, deterministic at every step (an outgoing call that follows a click-to-call
click is pinned to the clicked person before any of this, see `intents`):

1. The mapping Switchboard keeps of the people it synced (`mapping_phones`): no CRM request.
   Several synced people share the number → the most recently updated in the CRM
   (`contact_mappings.crm_updated_at`), ties broken by the smallest record id.
2. The connector's exact phone search (one CRM request). Several matches → the one Switchboard
   synced (has a mapping), else the most recently updated (`updated_at`, then `created_at`),
   ties broken by the smallest record id.
3. No match → `None` with reason "unknown caller", or, with auto-create on, a new person.
   Creating is guarded against re-execution: the search of step 2 runs before every create, so a
   re-run after a crash finds the person the interrupted attempt created instead of making two.

"Not found" is an outcome, never an exception: it is recorded on the ledger event with the
lookup details so "why did this call not show up?" has an answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select

from switchboard.crm.base import CrmConnector, Person
from switchboard.store.db import Database
from switchboard.store.models import ContactMapping, MappingPhone

LookupSource = Literal["click", "mapping", "crm_search", "created", "none"]
UNKNOWN_CALLER = "unknown caller"


@dataclass(frozen=True)
class Lookup:
    """How one phone number was resolved; stored on the resource and in the ledger detail."""

    phone: str
    person_id: str | None
    source: LookupSource
    candidates: list[str] = field(default_factory=list)
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lookup:
        return cls(
            phone=str(data["phone"]),
            person_id=data.get("person_id"),
            source=data.get("source", "none"),
            candidates=list(data.get("candidates") or []),
            reason=data.get("reason"),
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts(value: datetime | None) -> datetime:
    if value is None:
        return _EPOCH
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def choose_person(people: list[Person], synced_ids: set[str]) -> Person | None:
    """Synced first, then most recently updated (then created), then smallest id."""
    if not people:
        return None
    return sorted(
        people,
        key=lambda p: (
            p.id not in synced_ids,
            -_ts(p.updated_at).timestamp(),
            -_ts(p.created_at).timestamp(),
            p.id,
        ),
    )[0]


def mapped_people(db: Database, connection_id: str, phone: str) -> list[str]:
    """Synced people with this number, preferred first."""
    with db.session() as s:
        rows = s.execute(
            select(MappingPhone.external_id, ContactMapping.crm_updated_at)
            .outerjoin(
                ContactMapping,
                (ContactMapping.connection_id == MappingPhone.connection_id)
                & (ContactMapping.external_id == MappingPhone.external_id),
            )
            .where(MappingPhone.connection_id == connection_id, MappingPhone.phone == phone)
        ).all()
    ordered = sorted(rows, key=lambda r: (-_ts(r[1]).timestamp(), r[0]))
    return [str(r[0]) for r in ordered]


def synced_subset(db: Database, connection_id: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    with db.session() as s:
        found = s.scalars(
            select(ContactMapping.external_id).where(
                ContactMapping.connection_id == connection_id,
                ContactMapping.external_id.in_(ids),
            )
        ).all()
    return {str(x) for x in found}


async def find_person(
    db: Database,
    connector: CrmConnector,
    connection_id: str,
    phone: str,
    *,
    auto_create: bool = False,
) -> Lookup:
    mapped = mapped_people(db, connection_id, phone)
    if mapped:
        return Lookup(phone, mapped[0], "mapping", mapped)
    people = await connector.find_people_by_phone(phone)
    if people:
        chosen = choose_person(people, synced_subset(db, connection_id, [p.id for p in people]))
        assert chosen is not None
        ranked = [chosen.id, *sorted(p.id for p in people if p.id != chosen.id)]
        return Lookup(phone, chosen.id, "crm_search", ranked)
    if auto_create:
        created = await connector.create_person(phone)
        return Lookup(phone, created.id, "created", [created.id], "unknown caller: created")
    return Lookup(phone, None, "none", [], UNKNOWN_CALLER)
