"""Person → Quo contact: the one mapping every CRM person goes through on its way to Quo.

Connectors provide fields (`Person`, company names); the contact is built here, once, for every
CRM.
"""

from __future__ import annotations

from collections.abc import Sequence

from switchboard.crm.base import CrmConnector, Person
from switchboard.quo.models import ContactInput, DefaultFields, LabeledValue

_MAX_SOURCE_URL = 200


def display_names(person: Person) -> tuple[str, str | None]:
    """(first, last) for Quo, which requires a first name.

    Order of preference: the CRM's first/last name; the full name split at the first space; the
    local part of the first email; the first phone number.
    """
    first = (person.first_name or "").strip()
    last = (person.last_name or "").strip()
    if first or last:
        return (first or last), (last if first else None) or None
    full = " ".join((person.full_name or "").split())
    if full:
        head, _, tail = full.partition(" ")
        return head, tail or None
    for email in person.emails:
        local = email.split("@", 1)[0].strip()
        if local:
            return local, None
    for phone in (*person.phones, *person.raw_phones):
        if phone.strip():
            return phone.strip(), None
    return "Unknown", None


def _labelled(values: tuple[str, ...], label: str) -> list[LabeledValue]:
    return [
        LabeledValue(name=label if i == 0 else f"{label} {i + 1}", value=v)
        for i, v in enumerate(values)
    ]


def person_to_contact(person: Person, source: str, company: str | None) -> ContactInput:
    """externalId = the CRM's person id; sourceUrl = the person's web_url when it fits Quo's 200
    characters (omitted otherwise); every current phone (E.164) and email."""
    first, last = display_names(person)
    url = person.web_url if person.web_url and len(person.web_url) <= _MAX_SOURCE_URL else None
    return ContactInput(
        default_fields=DefaultFields(
            first_name=first,
            last_name=last,
            company=company,
            role=(person.job_title or "").strip() or None,
            emails=_labelled(person.emails, "email"),
            phone_numbers=_labelled(person.phones, "phone"),
        ),
        external_id=person.id,
        source=source,
        source_url=url,
    )


async def people_to_contacts(
    connector: CrmConnector, people: Sequence[Person], source: str
) -> list[ContactInput]:
    """One contact per person, in order; company names come from one batch request per call."""
    companies = await connector.company_names({p.company_id for p in people if p.company_id})
    return [person_to_contact(p, source, companies.get(p.company_id or "")) for p in people]
