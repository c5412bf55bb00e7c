"""CRM people → the Quo contact bodies we push, plus why anyone was left out.

A person becomes a `PreparedContact`: the exact JSON body sent to Quo, its fingerprint (so an
unchanged person costs no Quo write on the next pass), and the E.164 phones recorded in the
mapping. Phones are normalised here, once, with the connection's default region: the connector's
E.164 values are trusted when valid, and raw values the CRM could not place (no country code) are
parsed in the default region. A person with no phone at all is skipped with `no_phone`; one whose
numbers are all unusable with `invalid_phone` — unless the connection creates contacts without
phones. Everything here is plain data so DBOS can checkpoint it as a step result.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchboard import phones as phone_utils
from switchboard.crm.base import CrmConnector, Person
from switchboard.quo.models import ContactInput, LabeledValue
from switchboard.sync.contacts import people_to_contacts

SKIP_NO_PHONE = "no_phone"
SKIP_INVALID_PHONE = "invalid_phone"
DEFAULT_SOURCE = "switchboard"


@dataclass(frozen=True)
class SyncSettings:
    """The per-connection settings the sync reads (from `connections.settings`)."""

    default_region: str = "US"
    create_without_phone: bool = False
    source: str = DEFAULT_SOURCE
    quo_contact_policy: str = "crm_wins"
    """What an edit made in Quo to a synced contact does (`switchboard.sync.quo_edits`)."""

    @classmethod
    def from_connection(cls, settings: Mapping[str, Any] | None, crm: str = "") -> SyncSettings:
        """Read the connection's settings; the Quo `source` defaults to `switchboard-<crm>`."""
        s = dict(settings or {})
        region = s.get("default_region") or s.get("phone_region") or "US"
        without = s.get("create_contacts_without_phone", s.get("create_without_phone", False))
        source = s.get("quo_source") or (f"{DEFAULT_SOURCE}-{crm}" if crm else DEFAULT_SOURCE)
        return cls(
            default_region=str(region).upper(),
            create_without_phone=bool(without),
            source=str(source),
            quo_contact_policy=str(s.get("quo_contact_policy") or "crm_wins"),
        )


@dataclass(frozen=True)
class PreparedContact:
    external_id: str
    body: dict[str, Any]
    fingerprint: str
    phones: tuple[str, ...]
    crm_updated_at: str | None = None

    def contact_input(self) -> ContactInput:
        return ContactInput.model_validate(self.body)


@dataclass(frozen=True)
class Skip:
    external_id: str
    reason: str


@dataclass(frozen=True)
class PreparedPage:
    """A page of people ready to push; `next_cursor` None on the last page."""

    contacts: tuple[PreparedContact, ...]
    skips: tuple[Skip, ...]
    next_cursor: str | None
    people: int


def usable_phones(person: Person, region: str) -> tuple[tuple[str, ...], str | None]:
    """The person's phones in E.164 (deduplicated, CRM order) and, when none, the skip reason.

    The connector's E.164 values are used when there are any; raw values are parsed in the
    default region only when the CRM could not place any number itself (a raw value cannot be
    paired with its E.164 twin, and parsing a foreign raw number in the default region would
    invent a wrong one)."""
    e164s = [p for p in person.phones if p and p.strip()]
    raws = [r for r in person.raw_phones if r and r.strip()]
    if not e164s and not raws:
        return (), SKIP_NO_PHONE
    found: list[str] = []
    for raw in e164s or raws:
        e164 = phone_utils.normalise(raw, region)
        if e164 and e164 not in found:
            found.append(e164)
    if not found:
        return (), SKIP_INVALID_PHONE
    return tuple(found), None


def fingerprint(body: Mapping[str, Any]) -> str:
    """A stable digest of what is pushed to Quo: equal bodies ⇔ equal fingerprints."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _with_phones(contact: ContactInput, numbers: Sequence[str]) -> ContactInput:
    labels = {p.value: p.name for p in contact.default_fields.phone_numbers if p.value}
    fields = contact.default_fields.model_copy(
        update={
            "phone_numbers": [
                LabeledValue(
                    name=labels.get(n) or ("phone" if i == 0 else f"phone {i + 1}"), value=n
                )
                for i, n in enumerate(numbers)
            ]
        }
    )
    return contact.model_copy(update={"default_fields": fields})


#: Phone parsing costs ~0.1–0.2 ms a person, so a 500-person page held the worker's event loop
#: for 50–100 ms (far more on a loaded machine), and every call being logged in that process
#: waited behind it at each of its awaits. Handing the loop back every this many people lets
#: the activity workflows interleave with the syncs' transforms.
YIELD_EVERY = 25


async def prepare_people(
    connector: CrmConnector, people: Sequence[Person], settings: SyncSettings
) -> tuple[list[PreparedContact], list[Skip]]:
    """Transform a page of people: related data is resolved by the connector in one batch."""
    keep: list[tuple[Person, tuple[str, ...]]] = []
    skips: list[Skip] = []
    for n, person in enumerate(people):
        if n and n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        numbers, reason = usable_phones(person, settings.default_region)
        if reason is not None and not settings.create_without_phone:
            skips.append(Skip(person.id, reason))
            continue
        keep.append((person, numbers))
    if not keep:
        return [], skips
    inputs = await people_to_contacts(connector, [p for p, _ in keep], settings.source)
    by_id = {c.external_id: c for c in inputs}
    prepared: list[PreparedContact] = []
    for person, numbers in keep:
        contact = by_id.get(person.id)
        if contact is None:
            skips.append(Skip(person.id, "not_mappable"))
            continue
        body = _with_phones(contact, numbers).to_api()
        updated = person.updated_at or person.created_at
        prepared.append(
            PreparedContact(
                external_id=person.id,
                body=body,
                fingerprint=fingerprint(body),
                phones=numbers,
                crm_updated_at=updated.isoformat() if updated else None,
            )
        )
    return prepared, skips
