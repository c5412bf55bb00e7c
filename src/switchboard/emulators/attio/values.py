"""Attio's value model: attribute types, how written values are parsed, how values are shown.

A record holds, per attribute slug, a list of `Value`s; a value is current while `active_until` is
None. Writing an attribute never edits a value in place: the old one gets `active_until` and a new
one is appended, which is how Attio keeps history.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from switchboard.emulators.attio.errors import AttioError, validation_type

Actor = tuple[str, str | None]
"""(type, id): "api-token" | "workspace-member" | "system" | "app", and the actor's id."""

SYSTEM_ACTOR: Actor = ("system", None)


@functools.lru_cache(maxsize=262_144)
def format_ts(ts: datetime) -> str:
    """Attio's timestamp format: nanosecond precision, `Z` suffix. Cached: serialising a page of
    500 records formats ~5,000 timestamps."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def parse_ts(raw: Any) -> datetime:
    """ISO 8601 with any precision (Attio sends nanoseconds; Python keeps microseconds)."""
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"not a timestamp: {raw!r}")
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, rest = text.split(".", 1)
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        text = head + "." + (digits[:6].ljust(6, "0")) + rest[i:]
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def actor_json(actor: Actor) -> dict[str, Any]:
    return {"type": actor[0], "id": actor[1]}


@dataclass
class Value:
    """One historied value of one attribute. `data` holds the type-specific fields."""

    attribute_type: str
    data: dict[str, Any]
    active_from: datetime
    actor: Actor
    active_until: datetime | None = None

    @property
    def current(self) -> bool:
        return self.active_until is None

    def to_json(self) -> dict[str, Any]:
        out = dict(self.data)
        out["active_from"] = format_ts(self.active_from)
        out["active_until"] = None if self.active_until is None else format_ts(self.active_until)
        out["created_by_actor"] = actor_json(self.actor)
        out["attribute_type"] = self.attribute_type
        return out


# Per type: the field a shorthand filter compares and the "identity" of a value (two writes with
# the same identity are the same value, so PATCH does not duplicate it).
DEFAULT_FIELD: dict[str, str] = {
    "text": "value",
    "number": "value",
    "checkbox": "value",
    "date": "value",
    "timestamp": "value",
    "rating": "value",
    "personal-name": "full_name",
    "email-address": "email_address",
    "phone-number": "phone_number",
    "domain": "domain",
    "record-reference": "target_record_id",
    "actor-reference": "referenced_actor_id",
    "select": "option",
}

FIELDS: dict[str, frozenset[str]] = {
    "text": frozenset({"value"}),
    "number": frozenset({"value"}),
    "checkbox": frozenset({"value"}),
    "date": frozenset({"value"}),
    "timestamp": frozenset({"value"}),
    "rating": frozenset({"value"}),
    "personal-name": frozenset({"first_name", "last_name", "full_name"}),
    "email-address": frozenset(
        {
            "email_address",
            "original_email_address",
            "email_domain",
            "email_root_domain",
            "email_local_specifier",
        }
    ),
    "phone-number": frozenset(
        {"phone_number", "normalized_phone_number", "original_phone_number", "country_code"}
    ),
    "domain": frozenset({"domain", "root_domain"}),
    "record-reference": frozenset({"target_record_id", "target_object"}),
    "actor-reference": frozenset({"referenced_actor_id", "referenced_actor_type"}),
    "select": frozenset({"option"}),
}

WRITABLE_TYPES = frozenset(
    {
        "text",
        "number",
        "checkbox",
        "date",
        "timestamp",
        "rating",
        "personal-name",
        "email-address",
        "phone-number",
        "domain",
        "record-reference",
    }
)


def field_value(value: Value, field_name: str) -> Any:
    """The comparable content of one field of a value (normalised like the index keys)."""
    if field_name == "normalized_phone_number":
        field_name = "phone_number"
    raw = value.data.get(field_name)
    if field_name == "option" and isinstance(raw, dict):
        return raw.get("title")
    return raw


def identity(value: Value) -> Any:
    """Normalised identity used for dedupe and for the equality index."""
    key = value.data.get(DEFAULT_FIELD.get(value.attribute_type, "value"))
    if value.attribute_type in ("email-address", "domain", "personal-name") and isinstance(
        key, str
    ):
        return key.lower()
    if value.attribute_type == "select" and isinstance(key, dict):
        return key.get("title")
    return key


def normalize_phone(raw: str, region: str | None = None) -> phonenumbers.PhoneNumber | None:
    """Parse a phone number; None unless it is a valid number."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return number


def e164(number: phonenumbers.PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# Parsed phone values by (original, country code): parsing and validating a number costs ~0.1 ms,
# which dominates seeding 10,000 people; the seeder primes this with numbers it built itself.
_PHONE_CACHE: dict[tuple[str, str | None], dict[str, Any]] = {}
_PHONE_CACHE_MAX = 200_000


def remember_phone(original: str, country_code: str | None, normalized: str, region: str) -> None:
    """Record the parse of a number known to be valid (see `_PHONE_CACHE`)."""
    if len(_PHONE_CACHE) >= _PHONE_CACHE_MAX:
        _PHONE_CACHE.clear()
    _PHONE_CACHE[(original, country_code)] = {
        "original_phone_number": original,
        "country_code": region,
        "phone_number": normalized,
        "normalized_phone_number": normalized,
    }


def phone_data(original: str, country_code: str | None = None) -> dict[str, Any]:
    cached = _PHONE_CACHE.get((original, country_code))
    if cached is not None:
        return dict(cached)
    number = normalize_phone(original, country_code)
    if number is None:
        raise validation_type(f'"{original}" is not a valid phone number.')
    normalized = e164(number)
    region = phonenumbers.region_code_for_number(number) or country_code or "US"
    remember_phone(original, country_code, normalized, region)
    return dict(_PHONE_CACHE[(original, country_code)])


def email_data(address: str) -> dict[str, Any]:
    text = address.strip()
    if text.count("@") != 1 or not text.split("@")[0] or "." not in text.split("@")[1]:
        raise validation_type(f'"{address}" is not a valid email address.')
    local, domain = text.split("@")
    domain = domain.lower()
    return {
        "original_email_address": text,
        "email_address": text.lower(),
        "email_domain": domain,
        "email_root_domain": _root_domain(domain),
        "email_local_specifier": local.split("+")[0],
    }


def _root_domain(domain: str) -> str:
    parts = domain.split(".")
    if len(parts) > 2 and len(parts[-1]) == 2 and parts[-2] in ("co", "com", "org", "net", "ac"):
        return ".".join(parts[-3:])
    return ".".join(parts[-2:])


def name_data(first: str | None, last: str | None, full: str | None) -> dict[str, Any]:
    first = (first or "").strip()
    last = (last or "").strip()
    full = (full or "").strip() or " ".join(p for p in (first, last) if p)
    return {"first_name": first, "last_name": last, "full_name": full}


def _no_references(object_ref: str, record_id: str) -> str:
    raise validation_type("Record references cannot be written here.")


@dataclass
class WriteContext:
    """What parsing a written value may need: `resolve_reference(object, record_id)` checks a
    record-reference target exists and returns the object's slug (or raises AttioError)."""

    resolve_reference: Callable[[str, str], str] = _no_references


def parse_input(
    attribute_type: str,
    slug: str,
    raw: Any,
    target_object: str | None,
    ctx: WriteContext,
) -> dict[str, Any]:
    """Turn one written value (shorthand or object form) into a value's `data`."""
    if attribute_type not in WRITABLE_TYPES:
        raise validation_type(
            f'Attribute "{slug}" of type "{attribute_type}" cannot be written through this API.'
        )
    try:
        return _parse(attribute_type, slug, raw, target_object, ctx)
    except AttioError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise validation_type(f'Invalid value for attribute "{slug}": {exc}') from exc


def _parse(
    attribute_type: str,
    slug: str,
    raw: Any,
    target_object: str | None,
    ctx: WriteContext,
) -> dict[str, Any]:
    if attribute_type == "phone-number":
        if isinstance(raw, str):
            return phone_data(raw)
        if isinstance(raw, dict):
            original = raw.get("original_phone_number") or raw.get("phone_number")
            if not isinstance(original, str):
                raise validation_type(
                    f'Phone number value for "{slug}" needs original_phone_number.'
                )
            country = raw.get("country_code")
            return phone_data(original, country if isinstance(country, str) else None)
    elif attribute_type == "email-address":
        if isinstance(raw, str):
            return email_data(raw)
        if isinstance(raw, dict) and isinstance(raw.get("email_address"), str):
            return email_data(raw["email_address"])
    elif attribute_type == "personal-name":
        if isinstance(raw, str):
            first, _, last = raw.strip().partition(" ")
            return name_data(first, last, raw)
        if isinstance(raw, dict):
            parts = [raw.get(k) for k in ("first_name", "last_name", "full_name")]
            if all(p is None or isinstance(p, str) for p in parts) and any(parts):
                return name_data(parts[0], parts[1], parts[2])
    elif attribute_type == "text":
        text = raw.get("value") if isinstance(raw, dict) else raw
        if isinstance(text, str):
            return {"value": text}
    elif attribute_type in ("number", "rating"):
        num = raw.get("value") if isinstance(raw, dict) else raw
        if isinstance(num, int | float) and not isinstance(num, bool):
            if attribute_type == "rating" and not 0 <= num <= 5:
                raise validation_type(f'Rating for "{slug}" must be between 0 and 5.')
            return {"value": num}
    elif attribute_type == "checkbox":
        flag = raw.get("value") if isinstance(raw, dict) else raw
        if isinstance(flag, str) and flag in ("true", "false"):
            flag = flag == "true"
        if isinstance(flag, bool):
            return {"value": flag}
    elif attribute_type == "date":
        text = raw.get("value") if isinstance(raw, dict) else raw
        if isinstance(text, str):
            padded = text[:10] if len(text) >= 10 else (text + "-01-01")[:10]
            return {"value": datetime.fromisoformat(padded).date().isoformat()}
    elif attribute_type == "timestamp":
        text = raw.get("value") if isinstance(raw, dict) else raw
        return {"value": format_ts(parse_ts(text))}
    elif attribute_type == "domain":
        text = raw.get("domain") if isinstance(raw, dict) else raw
        if isinstance(text, str) and "." in text:
            domain = text.strip().lower().removeprefix("https://").removeprefix("http://")
            domain = domain.split("/")[0]
            return {"domain": domain, "root_domain": _root_domain(domain)}
    elif attribute_type == "record-reference":
        if isinstance(raw, str):
            raw = {"target_object": target_object, "target_record_id": raw}
        if isinstance(raw, dict) and isinstance(raw.get("target_record_id"), str):
            obj = raw.get("target_object") or target_object
            if not isinstance(obj, str):
                raise validation_type(f'Reference for "{slug}" needs target_object.')
            resolved = ctx.resolve_reference(obj, raw["target_record_id"])
            return {"target_object": resolved, "target_record_id": raw["target_record_id"]}
    raise validation_type(f'Invalid value for attribute "{slug}" of type "{attribute_type}".')
