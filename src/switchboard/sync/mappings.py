"""The mapping CRM person (the Quo contact's externalId) ↔ Quo contact id ↔ phones.

`contact_mappings` holds one row per synced person with the fingerprint of what we last pushed;
`mapping_phones` one row per (person, E.164 phone) so activity logging can answer "who has this
number?" without calling the CRM. Functions take an open session so callers can commit a page's
mappings together with its counters in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from switchboard.store.models import ContactMapping, MappingPhone, utcnow


@dataclass(frozen=True)
class Mapping:
    external_id: str
    quo_contact_id: str | None
    fingerprint: str | None
    phones: tuple[str, ...]
    created_by_us: bool


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def load(session: Session, connection_id: str, external_ids: Sequence[str]) -> dict[str, Mapping]:
    """The mappings of these people, keyed by external id (absent = never synced)."""
    out: dict[str, Mapping] = {}
    for chunk in _chunks(list(dict.fromkeys(external_ids))):
        rows = session.scalars(
            select(ContactMapping).where(
                ContactMapping.connection_id == connection_id,
                ContactMapping.external_id.in_(chunk),
            )
        )
        for row in rows:
            out[row.external_id] = Mapping(
                external_id=row.external_id,
                quo_contact_id=row.quo_contact_id,
                fingerprint=row.fingerprint,
                phones=tuple(row.phones or ()),
                created_by_us=row.created_by_us,
            )
    return out


def get(session: Session, connection_id: str, external_id: str) -> Mapping | None:
    return load(session, connection_id, [external_id]).get(external_id)


def save(
    session: Session,
    connection_id: str,
    external_id: str,
    *,
    quo_contact_id: str | None,
    phones: Sequence[str],
    fingerprint: str | None,
    created_by_us: bool,
    crm_updated_at: datetime | None = None,
) -> None:
    """Insert or update one mapping and replace its phone rows."""
    row = session.scalar(
        select(ContactMapping).where(
            ContactMapping.connection_id == connection_id,
            ContactMapping.external_id == external_id,
        )
    )
    if row is None:
        row = ContactMapping(connection_id=connection_id, external_id=external_id)
        session.add(row)
        row.created_by_us = created_by_us
    elif row.quo_contact_id != quo_contact_id:
        row.created_by_us = created_by_us
    row.quo_contact_id = quo_contact_id
    row.phones = list(phones)
    row.fingerprint = fingerprint
    if crm_updated_at is not None:
        row.crm_updated_at = crm_updated_at
    old = set(
        session.scalars(
            select(MappingPhone.phone).where(
                MappingPhone.connection_id == connection_id,
                MappingPhone.external_id == external_id,
            )
        )
    )
    new = set(phones)
    if old - new:
        session.execute(
            delete(MappingPhone).where(
                MappingPhone.connection_id == connection_id,
                MappingPhone.external_id == external_id,
                MappingPhone.phone.in_(old - new),
            )
        )
    for phone in sorted(new - old):
        session.add(MappingPhone(connection_id=connection_id, external_id=external_id, phone=phone))
    session.flush()


@dataclass(frozen=True)
class NewMapping:
    external_id: str
    quo_contact_id: str | None
    phones: tuple[str, ...]
    fingerprint: str | None
    created_by_us: bool
    crm_updated_at: datetime | None = None


def _table(name: str) -> Table:
    return ContactMapping.metadata.tables[name]


def save_many(session: Session, connection_id: str, items: Sequence[NewMapping]) -> None:
    """`save` for a page at once: two reads and batched writes instead of queries per person."""
    ids = [i.external_id for i in items]
    rows: dict[str, ContactMapping] = {}
    old_phones: dict[str, set[str]] = {}
    for chunk in _chunks(ids):
        for row in session.scalars(
            select(ContactMapping).where(
                ContactMapping.connection_id == connection_id,
                ContactMapping.external_id.in_(chunk),
            )
        ):
            rows[row.external_id] = row
        for ext, phone in session.execute(
            select(MappingPhone.external_id, MappingPhone.phone).where(
                MappingPhone.connection_id == connection_id,
                MappingPhone.external_id.in_(chunk),
            )
        ):
            old_phones.setdefault(ext, set()).add(phone)
    # New rows go in as one plain executemany INSERT each (no ORM objects): an ORM flush fetches
    # every new id back (INSERT ... RETURNING in statements too long for psycopg's query cache),
    # which was a sixth of a worker's CPU while ten connections synced.
    new_rows: list[dict[str, Any]] = []
    new_phones: list[dict[str, Any]] = []
    for item in items:
        found = rows.get(item.external_id)
        if found is None:
            now = utcnow()
            new_rows.append(
                {
                    "connection_id": connection_id,
                    "external_id": item.external_id,
                    "created_by_us": item.created_by_us,
                    "quo_contact_id": item.quo_contact_id,
                    "phones": list(item.phones),
                    "fingerprint": item.fingerprint,
                    "crm_updated_at": item.crm_updated_at,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        else:
            row = found
            if row.quo_contact_id != item.quo_contact_id:
                row.created_by_us = item.created_by_us
            row.quo_contact_id = item.quo_contact_id
            row.phones = list(item.phones)
            row.fingerprint = item.fingerprint
            if item.crm_updated_at is not None:
                row.crm_updated_at = item.crm_updated_at
        old = old_phones.get(item.external_id, set())
        gone = old - set(item.phones)
        if gone:
            session.execute(
                delete(MappingPhone).where(
                    MappingPhone.connection_id == connection_id,
                    MappingPhone.external_id == item.external_id,
                    MappingPhone.phone.in_(gone),
                )
            )
        new_phones.extend(
            {"connection_id": connection_id, "external_id": item.external_id, "phone": p}
            for p in sorted(set(item.phones) - old)
        )
    session.flush()
    if new_rows:
        session.execute(insert(_table(ContactMapping.__tablename__)), new_rows)
    if new_phones:
        session.execute(insert(_table(MappingPhone.__tablename__)), new_phones)


def remove(session: Session, connection_id: str, external_id: str) -> None:
    """Forget a person (deleted or merged away in the CRM)."""
    session.execute(
        delete(MappingPhone).where(
            MappingPhone.connection_id == connection_id,
            MappingPhone.external_id == external_id,
        )
    )
    session.execute(
        delete(ContactMapping).where(
            ContactMapping.connection_id == connection_id,
            ContactMapping.external_id == external_id,
        )
    )


def people_with_phone(session: Session, connection_id: str, e164: str) -> list[str]:
    """External ids of synced people who have this number."""
    return list(
        session.scalars(
            select(MappingPhone.external_id)
            .where(MappingPhone.connection_id == connection_id, MappingPhone.phone == e164)
            .order_by(MappingPhone.external_id)
        )
    )
