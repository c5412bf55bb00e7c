"""Pipedrive webhook authentication (HTTP Basic, constant time) and payload parsing."""

from __future__ import annotations

import base64
import json

import pytest

from switchboard.crm.base import CrmChange, WebhookVerificationError
from switchboard.crm.pipedrive import parse_webhook, verify_webhook
from switchboard.crm.pipedrive._webhooks import new_credentials, secret_of


def _basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_the_stored_pair_verifies_and_anything_else_is_refused() -> None:
    user, password = new_credentials()
    secret = secret_of(user, password)
    verify_webhook(b"{}", _basic(user, password), secret)
    verify_webhook(b"{}", {"authorization": _basic(user, password)["Authorization"]}, secret)
    for headers in (
        {},
        _basic(user, password + "x"),
        _basic(user + "x", password),
        _basic("", ""),
        {"Authorization": "Bearer " + password},
        {"Authorization": "Basic !!!not-base64"},
    ):
        with pytest.raises(WebhookVerificationError):
            verify_webhook(b"{}", headers, secret)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(b"{}", _basic(user, password), "")


def test_every_connection_gets_its_own_random_pair() -> None:
    pairs = {new_credentials() for _ in range(20)}
    assert len(pairs) == 20
    assert all(len(password) >= 32 for _, password in pairs)


def _v2(action: str, entity_id: int, *, entity: str = "person", **meta: object) -> bytes:
    body = {
        "meta": {"action": action, "entity": entity, "entity_id": str(entity_id), "version": "2.0",
                 "id": f"evt-{action}-{entity_id}", **meta},
        "data": None if action == "delete" else {"id": entity_id},
        "previous": None,
    }  # fmt: skip
    return json.dumps(body).encode()


def test_v2_person_events() -> None:
    assert parse_webhook(_v2("create", 7), {}) == [
        CrmChange("created", "7", "pipedrive:evt-create-7")
    ]
    assert [c.kind for c in parse_webhook(_v2("change", 7), {})] == ["updated"]
    assert [c.kind for c in parse_webhook(_v2("delete", 7), {})] == ["deleted"]
    assert parse_webhook(_v2("change", 9, entity="deal"), {}) == []


def test_a_merge_is_the_absorbed_persons_delete_with_merged_to_id() -> None:
    (change,) = parse_webhook(_v2("delete", 7, merged_to_id="3"), {})
    assert (change.kind, change.record_id, change.merged_from_id) == ("merged", "3", "7")


def test_v1_payloads_and_their_retries_share_one_key() -> None:
    def v1(action: str, attempt: int) -> bytes:
        meta = {"v": 1, "action": action, "object": "person", "id": 7, "attempt": attempt,
                "timestamp_micro": 1}  # fmt: skip
        body = {"v": 1, "meta": meta, "current": {"id": 3}, "retry": attempt - 1}
        return json.dumps(body).encode()

    first, again = parse_webhook(v1("updated", 1), {}), parse_webhook(v1("updated", 2), {})
    assert [c.kind for c in first] == ["updated"]
    assert first[0].idempotency_key == again[0].idempotency_key
    (merged,) = parse_webhook(v1("merged", 1), {})
    assert (merged.record_id, merged.merged_from_id) == ("3", "7")


def test_a_malformed_body_is_a_value_error() -> None:
    for body in (b"not json", b"[]", b'{"data": {}}'):
        with pytest.raises(ValueError):
            parse_webhook(body, {})
