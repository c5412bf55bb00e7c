from __future__ import annotations

import pytest

from switchboard import phones


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(555) 010-0100", "US", "+15550100100"),
        ("555.010.0100", "US", "+15550100100"),
        ("1-555-010-0100", "US", "+15550100100"),
        ("+1 555 010 0100", "GB", "+15550100100"),
        ("+15550100100", None, "+15550100100"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("+44 20 7946 0018", "US", "+442079460018"),
        ("00 44 20 7946 0018", "DE", "+442079460018"),
        ("030 123456", "DE", "+4930123456"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("0412 345 678", "AU", "+61412345678"),
        ("03-1234-5678", "JP", "+81312345678"),
        ("(416) 555-0199", "CA", "+14165550199"),
        ("1-800-FLOWERS", "US", "+18003569377"),
        ("  +1 (650) 253-0000  ", "us", "+16502530000"),
    ],
)
def test_normalise_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert phones.normalise(raw, region) == e164
    assert phones.is_valid(raw, region)


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        (None, "US", "empty"),
        ("", "US", "empty"),
        ("   ", "US", "empty"),
        ("abc", "US", "not_a_number"),
        ("++--", "US", "not_a_number"),
        ("☎️", "US", "not_a_number"),
        ("12", "US", "too_short"),
        ("555 0100", "US", "too_short"),  # local-only: no area code, cannot be E.164
        ("1234567890123456789", "US", "too_long"),
        ("+1 555 010 01000", "US", "too_long"),
        ("+999 123 4567", "US", "invalid_country_code"),
        ("5550100100", None, "invalid_country_code"),  # no region, no country code
    ],
)
def test_invalid_input_has_a_reason(raw: str | None, region: str | None, reason: str) -> None:
    parsed = phones.parse(raw, region)
    assert not parsed.ok
    assert parsed.e164 is None
    assert parsed.reason == reason
    assert phones.normalise(raw, region) is None
    assert not phones.is_valid(raw, region)


def test_extension_is_kept_apart() -> None:
    us = phones.parse("+1 555 010 0100 ext. 12", "US")
    assert (us.e164, us.extension, us.reason) == ("+15550100100", "12", None)
    gb = phones.parse("020 7946 0018 x 7", "GB")
    assert (gb.e164, gb.extension) == ("+442079460018", "7")
    assert phones.same_number("+1 555 010 0100 ext. 12", "(555) 010-0100")


def test_lenient_by_default_strict_on_request() -> None:
    # The fictional 555-01xx range (Quo test workspaces, our fixtures) is possible, not allocated.
    assert phones.normalise("+15550100100") == "+15550100100"
    assert phones.parse("+15550100100", strict=True).reason == "not_allocated"
    assert phones.normalise("+1 650 253 0000", strict=True) == "+16502530000"


def test_unknown_region_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown phone region"):
        phones.normalise("555 010 0100", "XX")
    assert phones.check_region(" gb ") == "GB"
    assert phones.check_region("") is None


def test_region_decides_national_numbers() -> None:
    assert phones.normalise("020 7946 0018", "GB") == "+442079460018"
    assert phones.normalise("020 7946 0018", "US") is None


def test_null_never_matches_null() -> None:
    assert not phones.same_number(None, None)
    assert not phones.same_number("", "")
    assert not phones.same_number("garbage", "garbage")
    assert not phones.same_number(None, "+15550100100")
    assert not phones.same_number("+15550100100", None)
    assert not phones.matches_any(None, [None, ""])
    assert not phones.matches_any("", ["", None])


def test_matching_across_formats() -> None:
    assert phones.same_number("(555) 010-0100", "+1 555-010-0100")
    assert phones.same_number("020 7946 0018", "+442079460018", "GB")
    assert not phones.same_number("+15550100100", "+15550100101")
    assert phones.matches_any("555-010-0100", ["bad", None, "+1 (555) 010-0100"])
    assert not phones.matches_any("555-010-0100", ["+15550100101"])


def test_normalise_all_dedupes_and_drops_invalid() -> None:
    raws = ["+15550100100", "(555) 010-0100", None, "", "junk", "+15550142231"]
    assert phones.normalise_all(raws) == ["+15550100100", "+15550142231"]


def test_external_numbers_filters_own_lines() -> None:
    participants = ["+15550142231", "+1 (555) 010-0100", "+15550142232", "+15550142231"]
    own = ["5550100100", None]
    assert phones.external_numbers(participants, own) == ["+15550142231", "+15550142232"]
    assert phones.external_numbers([], own) == []
    assert phones.external_numbers(["+15550100100"], own) == []


def test_american_spelling_alias() -> None:
    assert phones.normalize_e164("(555) 010-0100") == "+15550100100"
    assert phones.normalize_e164("nope") is None
