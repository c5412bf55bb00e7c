"""Phone numbers: E.164 normalisation and matching.

Every number that crosses a system boundary (CRM person phones, Quo participants, webhook
`from`/`to`) goes through `normalise` with the connection's default region, so that matching is
a plain string comparison of E.164 values afterwards.

Validity is deliberately *lenient* by default: a number is accepted when its length is possible
for its country (`phonenumbers.is_possible_number`), not only when it belongs to an allocated
range. Quo test workspaces and our fixtures use the fictional `+1 555 01xx` range, and real
numbers in newly allocated ranges reach CRMs before the metadata knows them. Pass `strict=True`
to require an allocated range.

Missing values never match: `same_number(None, None)` and `same_number("", "")` are False
(production lesson: null must never match null).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import phonenumbers

DEFAULT_REGION = "US"

InvalidReason = Literal[
    "empty",
    "not_a_number",
    "invalid_country_code",
    "too_short",
    "too_long",
    "invalid_length",
    "not_allocated",
]

_PARSE_ERRORS: dict[int, InvalidReason] = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not_a_number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too_short",
    phonenumbers.NumberParseException.TOO_LONG: "too_long",
}

_LENGTH_ERRORS: dict[int, InvalidReason] = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    phonenumbers.ValidationResult.TOO_SHORT: "too_short",
    phonenumbers.ValidationResult.TOO_LONG: "too_long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "invalid_length",
}


@dataclass(frozen=True)
class ParsedPhone:
    """The outcome of parsing one raw value.

    Exactly one of `e164` and `reason` is set. `extension` is kept apart (never part of the
    E.164 value, so `+1 555 010 0100 ext. 12` matches `+15550100100`).
    """

    raw: str | None
    e164: str | None
    reason: InvalidReason | None = None
    extension: str | None = None

    @property
    def ok(self) -> bool:
        return self.e164 is not None


def check_region(region: str | None) -> str | None:
    """Upper-cased ISO 3166 region code, or None. Raises ValueError for an unknown region
    (a configuration error, not bad input)."""
    if region is None or region == "":
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {region!r}")
    return code


def parse(
    raw: str | None, region: str | None = DEFAULT_REGION, *, strict: bool = False
) -> ParsedPhone:
    """Parse `raw` into E.164, using `region` for numbers written without a country code.

    With `region=None` only international numbers (`+...`, or with an international prefix
    the library recognises) are accepted. Never raises for bad input; the reason is returned.
    """
    default = check_region(region)
    if raw is None or not raw.strip():
        return ParsedPhone(raw=raw, e164=None, reason="empty")
    try:
        number = phonenumbers.parse(raw, default)
    except phonenumbers.NumberParseException as exc:
        return ParsedPhone(
            raw=raw, e164=None, reason=_PARSE_ERRORS.get(exc.error_type, "not_a_number")
        )
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in (
        phonenumbers.ValidationResult.IS_POSSIBLE,
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ):
        return ParsedPhone(
            raw=raw, e164=None, reason=_LENGTH_ERRORS.get(possible, "invalid_length")
        )
    if possible == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        # A local-only number (no area code) cannot be dialled from elsewhere: not E.164.
        return ParsedPhone(raw=raw, e164=None, reason="too_short")
    if strict and not phonenumbers.is_valid_number(number):
        return ParsedPhone(raw=raw, e164=None, reason="not_allocated")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ParsedPhone(raw=raw, e164=e164, extension=number.extension or None)


def normalise(
    raw: str | None, region: str | None = DEFAULT_REGION, *, strict: bool = False
) -> str | None:
    """E.164 form of `raw`, or None when it is empty or not a phone number (see `parse` for
    the reason)."""
    return parse(raw, region, strict=strict).e164


def is_valid(raw: str | None, region: str | None = DEFAULT_REGION, *, strict: bool = False) -> bool:
    return parse(raw, region, strict=strict).ok


def same_number(a: str | None, b: str | None, region: str | None = DEFAULT_REGION) -> bool:
    """True when both values are phone numbers and denote the same one. Missing or invalid
    values never match anything, not even each other."""
    left = normalise(a, region)
    return left is not None and left == normalise(b, region)


def normalise_all(raws: Iterable[str | None], region: str | None = DEFAULT_REGION) -> list[str]:
    """The valid numbers among `raws`, normalised, deduplicated, in first-seen order."""
    seen: dict[str, None] = {}
    for raw in raws:
        e164 = normalise(raw, region)
        if e164 is not None:
            seen.setdefault(e164, None)
    return list(seen)


def matches_any(
    raw: str | None, candidates: Iterable[str | None], region: str | None = DEFAULT_REGION
) -> bool:
    """True when `raw` is a valid number equal to one of `candidates` (invalid ones ignored)."""
    e164 = normalise(raw, region)
    return e164 is not None and e164 in normalise_all(candidates, region)


def external_numbers(
    numbers: Iterable[str | None],
    own_numbers: Iterable[str | None],
    region: str | None = DEFAULT_REGION,
) -> list[str]:
    """`numbers` minus the workspace's own numbers: normalised, deduplicated, first-seen order.

    Used for call participants and message `from`/`to`; invalid values are dropped.
    """
    own = set(normalise_all(own_numbers, region))
    return [n for n in normalise_all(numbers, region) if n not in own]


def normalize_e164(raw: str | None, region: str | None = DEFAULT_REGION) -> str | None:
    """Alias of `normalise` (American spelling, lenient validity)."""
    return normalise(raw, region)
