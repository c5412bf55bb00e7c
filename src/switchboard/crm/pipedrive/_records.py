"""Pipedrive persons → `Person`, and the forms a phone number may be stored in.

Pipedrive keeps phones exactly as users typed them (`(415) 555-0134`, `+1 415-555-0134`, ...):
`Person.phones` holds their E.164 forms (the connection's default region for numbers typed
without a country code), `raw_phones` the stored text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from switchboard import phones
from switchboard.crm.base import Person

JsonObject = Mapping[str, Any]


def parse_time(value: object) -> datetime | None:
    """v2 `2024-05-01T09:30:15Z`, v1 `2024-05-01 09:30:15` (UTC), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _values(items: object) -> list[str]:
    """`[{value, primary, label}]` (person objects) or `["..."]` (search hits) → the texts."""
    out: list[str] = []
    for item in items if isinstance(items, list) else []:
        value = item.get("value") if isinstance(item, Mapping) else item
        if isinstance(value, str) and value.strip():
            out.append(value.strip())
    return out


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def e164_all(raw: Iterable[str], region: str | None) -> tuple[str, ...]:
    return _unique(n for r in raw if (n := phones.normalise(r, region=region)))


def _org_id(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id") or value.get("value")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def to_person(item: JsonObject, region: str | None, web_base: str | None = None) -> Person:
    """A v2 person (or a v2 search hit's `item`) reduced to what Switchboard uses."""
    raw_phones = _values(item.get("phones"))
    name = item.get("name") if isinstance(item.get("name"), str) else None
    first = item.get("first_name") if isinstance(item.get("first_name"), str) else None
    last = item.get("last_name") if isinstance(item.get("last_name"), str) else None
    if first is None and last is None and name:
        first, _, rest = name.strip().partition(" ")
        last = rest.strip() or None
    person_id = str(item["id"])
    return Person(
        id=person_id,
        first_name=first or None,
        last_name=last or None,
        full_name=name.strip() if name and name.strip() else None,
        emails=_unique(_values(item.get("emails"))),
        phones=e164_all(raw_phones, region),
        raw_phones=_unique(raw_phones),
        job_title=item.get("job_title") if isinstance(item.get("job_title"), str) else None,
        company_id=_org_id(item.get("org_id") or item.get("organization")),
        web_url=f"{web_base.rstrip('/')}/person/{person_id}" if web_base else None,
        created_at=parse_time(item.get("add_time")),
        updated_at=parse_time(item.get("update_time")),
    )


def stored_forms(e164: str) -> list[str]:
    """The texts a user may have typed for `e164`, most common first: E.164, international
    with spaces or dashes, national with and without punctuation, the bare digits. An exact
    search for each finds the person however the number was stored."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return [e164]
    fmt = phonenumbers.PhoneNumberFormat
    international = phonenumbers.format_number(parsed, fmt.INTERNATIONAL)
    national = phonenumbers.format_number(parsed, fmt.NATIONAL)
    significant = phonenumbers.national_significant_number(parsed)
    code = str(parsed.country_code)
    forms = [
        e164,
        international,
        international.replace(" ", "-").replace("+" + code + "-", "+" + code + " "),
        national,
        significant,
        code + significant,
    ]
    if parsed.country_code == 1 and len(significant) == 10:
        area, exchange, line = significant[:3], significant[3:6], significant[6:]
        forms += [
            f"{area}-{exchange}-{line}",
            f"{area} {exchange} {line}",
            f"{area}.{exchange}.{line}",
            f"+1 ({area}) {exchange}-{line}",
            f"1-{area}-{exchange}-{line}",
        ]
    return list(dict.fromkeys(forms))
