"""Attio records → `Person`: current values only, phones in E.164.

Attio keeps every attribute value with its history (`active_from` / `active_until`); a value
whose `active_until` is set is historic and must never be used — a number someone *used to*
have is not theirs any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import phonenumbers

from switchboard.crm.base import Person

JsonObject = Mapping[str, Any]


def current_values(record: JsonObject, slug: str) -> list[JsonObject]:
    """The current (not historic) values of one attribute, in Attio's order."""
    values = (record.get("values") or {}).get(slug) or []
    return [v for v in values if isinstance(v, Mapping) and v.get("active_until") is None]


def parse_timestamp(value: object) -> datetime | None:
    """Attio timestamps carry up to nanoseconds (`...49.061281000Z`); Python keeps micros."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    head, sep, tail = text.partition(".")
    if sep:
        digits = len(tail) - len(tail.lstrip("0123456789"))
        fraction, zone = tail[:digits], tail[digits:]
        text = f"{head}.{fraction[:6].ljust(6, '0')}{zone}" if fraction else head + zone
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def phone_e164(value: JsonObject) -> str | None:
    """E.164 of one phone value. Attio answers `phone_number`; newer docs call the same field
    `normalized_phone_number`; old values may only have the original text plus a country."""
    for key in ("phone_number", "normalized_phone_number"):
        number = value.get(key)
        if isinstance(number, str) and number.startswith("+"):
            return number
    original = value.get("original_phone_number")
    if not isinstance(original, str) or not original.strip():
        return None
    region = value.get("country_code") if isinstance(value.get("country_code"), str) else None
    try:
        parsed = phonenumbers.parse(original, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def _first_text(values: Iterable[JsonObject], key: str) -> str | None:
    for value in values:
        text = value.get(key)
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def last_changed(record: JsonObject) -> datetime | None:
    """When the record last changed, as far as its values show: the latest `active_from`
    (or `active_until`, when history is included) of any value, else `created_at`. Used when
    the record carries no `updated_at` (Attio does not; its emulator adds one)."""
    latest = parse_timestamp(record.get("created_at"))
    for values in (record.get("values") or {}).values():
        for value in values or []:
            if not isinstance(value, Mapping):
                continue
            for key in ("active_from", "active_until"):
                stamp = parse_timestamp(value.get(key))
                if stamp is not None and (latest is None or stamp > latest):
                    latest = stamp
    return latest


def record_id(record: JsonObject) -> str:
    ident = record.get("id")
    if not isinstance(ident, Mapping) or not isinstance(ident.get("record_id"), str):
        raise ValueError("Attio record without id.record_id")
    return str(ident["record_id"])


def to_person(record: JsonObject) -> Person:
    """Reduce an Attio person record to the fields Switchboard uses."""
    names = current_values(record, "name")
    phones = current_values(record, "phone_numbers")
    company = current_values(record, "company")
    company_id = company[0].get("target_record_id") if company else None
    web_url = record.get("web_url")
    return Person(
        id=record_id(record),
        first_name=_first_text(names, "first_name"),
        last_name=_first_text(names, "last_name"),
        full_name=_first_text(names, "full_name"),
        emails=_unique(
            v["email_address"]
            for v in current_values(record, "email_addresses")
            if isinstance(v.get("email_address"), str) and v["email_address"]
        ),
        phones=_unique(e164 for v in phones if (e164 := phone_e164(v))),
        raw_phones=_unique(
            v["original_phone_number"]
            for v in phones
            if isinstance(v.get("original_phone_number"), str) and v["original_phone_number"]
        ),
        job_title=_first_text(current_values(record, "job_title"), "value"),
        company_id=company_id if isinstance(company_id, str) else None,
        web_url=web_url if isinstance(web_url, str) else None,
        created_at=parse_timestamp(record.get("created_at")),
        updated_at=parse_timestamp(record.get("updated_at")) or last_changed(record),
    )


def company_name(record: JsonObject) -> str | None:
    return _first_text(current_values(record, "name"), "value")
