"""Attio webhook signature verification and parsing, against the shared fixtures."""

from __future__ import annotations

import json

import pytest

from switchboard.crm.attio import AttioConnector
from switchboard.crm.attio._webhooks import parse, sign, verify
from switchboard.crm.base import WebhookVerificationError
from tests.fixtures import ATTIO_WEBHOOKS

FIXTURES = ATTIO_WEBHOOKS

SECRET = "whsec-attio-test-secret"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


@pytest.mark.parametrize("header", ["Attio-Signature", "X-Attio-Signature", "attio-signature"])
def test_verify_accepts_hex_hmac_over_raw_body(header: str) -> None:
    body = fixture("record.created")
    verify(body, {header: sign(body, SECRET)}, SECRET)


def test_verify_accepts_uppercase_hex() -> None:
    body = fixture("record.created")
    verify(body, {"Attio-Signature": sign(body, SECRET).upper()}, SECRET)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Attio-Signature": ""},
        {"Attio-Signature": "00" * 32},
        {"Attio-Signature": sign(b"{}", SECRET)},
        {"Attio-Signature": sign(fixture("record.created"), "other-secret")},
    ],
)
def test_verify_rejects_missing_or_wrong_signature(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookVerificationError):
        verify(fixture("record.created"), headers, SECRET)


def test_verify_is_over_raw_bytes_not_reserialised_json() -> None:
    body = fixture("record.updated")
    reserialised = json.dumps(json.loads(body)).encode()
    assert reserialised != body
    with pytest.raises(WebhookVerificationError):
        verify(reserialised, {"Attio-Signature": sign(body, SECRET)}, SECRET)


def test_verify_refuses_empty_secret() -> None:
    body = fixture("record.created")
    with pytest.raises(WebhookVerificationError):
        verify(body, {"Attio-Signature": sign(body, "")}, "")


def test_parse_each_fixture() -> None:
    headers = {"Idempotency-Key": "idem-1"}
    (created,) = parse(fixture("record.created"), headers)
    assert created.kind == "created"
    assert created.record_id == "11111111-0000-4000-8000-000000000001"
    assert created.object_id == "a1b2c3d4-0000-4000-8000-000000000001"
    assert created.idempotency_key.startswith("attio-event:")
    (updated,) = parse(fixture("record.updated"), headers)
    assert updated.kind == "updated"
    (deleted,) = parse(fixture("record.deleted"), headers)
    assert (deleted.kind, deleted.record_id) == ("deleted", "11111111-0000-4000-8000-000000000002")
    (merged,) = parse(fixture("record.merged"), headers)
    assert merged.kind == "merged"
    assert merged.record_id == "11111111-0000-4000-8000-000000000001"
    assert merged.merged_from_id == "11111111-0000-4000-8000-000000000003"


def test_idempotency_key_per_event_index_and_stable_across_retries() -> None:
    payload = json.loads(fixture("record.created"))
    second = json.loads(fixture("record.updated"))["events"][0]
    payload["events"].append(second)
    body = json.dumps(payload).encode()
    first_try = parse(body, {"idempotency-key": "delivery-7"})
    retry = parse(body, {"Idempotency-Key": "delivery-7"})
    assert len({c.idempotency_key for c in first_try}) == 2
    assert first_try == retry


def test_replay_under_a_fresh_idempotency_key_has_the_same_key() -> None:
    # The header is not signed: a captured body replayed with a new one must dedupe.
    body = fixture("record.updated")
    original = parse(body, {"Idempotency-Key": "delivery-7"})
    replayed = parse(body, {"Idempotency-Key": "forged-8"})
    assert [c.idempotency_key for c in original] == [c.idempotency_key for c in replayed]


def test_idempotency_key_without_header_is_event_derived() -> None:
    created = parse(fixture("record.created"), {})
    again = parse(fixture("record.created"), {})
    deleted = parse(fixture("record.deleted"), {})
    assert created[0].idempotency_key == again[0].idempotency_key
    assert created[0].idempotency_key.startswith("attio-event:")
    assert created[0].idempotency_key != deleted[0].idempotency_key


def test_unknown_event_types_are_ignored() -> None:
    payload = json.loads(fixture("record.created"))
    payload["events"].insert(0, {"event_type": "note.created", "id": {"note_id": "n1"}})
    changes = parse(json.dumps(payload).encode(), {"Idempotency-Key": "k"})
    assert [c.kind for c in changes] == ["created"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"webhook_id": "w"}',
        b'{"events": ["x"]}',
        b'{"events": [{"event_type": "record.created", "id": {}}]}',
        b'{"events": [{"event_type": "record.merged", "id": {"record_id": "r"}}]}',
    ],
)
def test_malformed_bodies_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse(body, {})


def test_connector_methods_delegate() -> None:
    connector = AttioConnector(token="t-not-used", base_url="http://attio.invalid")
    body = fixture("record.merged")
    connector.verify_webhook(body, {"X-Attio-Signature": sign(body, SECRET)}, SECRET)
    assert connector.parse_webhook(body, {})[0].kind == "merged"
