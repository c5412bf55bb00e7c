"""Bad input to every HTTP endpoint gets a clear 4xx (JSON `{"ok": false, "error": ...}`).

The app runs as a public deployment would (bound to 0.0.0.0, `SWITCHBOARD_ADMIN_TOKEN` set).
The endpoint list comes from the app's own OpenAPI document, so a new admin route is covered
without touching this file. E6's tests/web/test_admin.py and test_webhooks.py cover single cases
(one route without a token, Quo signatures, 413 on Quo webhooks); this file sweeps every route:

- no token, wrong token, wrong scheme → 401 on every admin operation, even with a broken body;
- unknown ids in every path → 404; unknown routes → 404; wrong methods → 405;
- malformed JSON, a non-JSON content type, a JSON array, unknown fields → 4xx on every body;
- oversized bodies (declared and chunked) → 413 on every POST/PATCH, admin and webhooks;
- Attio webhooks with a valid signature but malformed JSON or a foreign envelope → 400, and no
  ledger row for any refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.test_admin_fuzz import ADMIN_TOKEN, AUTH, Service, build_service

pytestmark = pytest.mark.timeout(120)

ATTIO_SECRET = "fuzz-attio-secret"  # the secret build_service stores for the Attio webhook
MB = 1024 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from build_service(tmp_path_factory.mktemp("bad-input"))


@pytest.fixture(scope="module")
def client(service: Service) -> TestClient:
    return TestClient(service.app, base_url="http://127.0.0.1", raise_server_exceptions=False)


def _admin_operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = client.get("/openapi.json", headers=AUTH).json()
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method, op in item.items()
        if method in {"get", "post", "patch", "put", "delete"}
    ]


def _fill(path: str, **ids: str) -> str:
    out = path
    for name, value in ids.items():
        out = out.replace("{" + name + "}", value)
    return out


def _clear_4xx(r: Any, *codes: int) -> None:
    assert r.status_code in codes, (r.request.method, r.request.url.path, r.status_code, r.text)
    body = r.json()
    assert body["ok"] is False and isinstance(body["error"], str) and body["error"], body


def _ledger_size(service: Service) -> int:
    from sqlalchemy import func, select

    from switchboard.store.models import Event

    with service.rt.db.session() as s:
        return int(s.execute(select(func.count()).select_from(Event)).scalar_one())


def test_every_admin_operation_needs_the_token(client: TestClient, service: Service) -> None:
    ops = _admin_operations(client)
    assert len(ops) >= 9
    for method, template, _op in ops:
        path = _fill(template, connection_id=service.connection_id, event_id=service.event_ids[0])
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {ADMIN_TOKEN}"},  # right secret, wrong scheme
            {"Authorization": "Bearer "},
            {"X-Admin-Token": ADMIN_TOKEN[:-1]},
        ):
            r = client.request(method, path, headers=headers)
            _clear_4xx(r, 401)
        # a broken body does not get past authentication either
        r = client.request(
            method, path, content=b"{not json", headers={"content-type": "application/json"}
        )
        _clear_4xx(r, 401)


def test_unknown_ids_routes_and_methods(client: TestClient, service: Service) -> None:
    for method, template, op in _admin_operations(client):
        if "{" not in template:
            continue
        path = _fill(template, connection_id="conn_doesnotexist", event_id="evt_doesnotexist")
        body = {} if "requestBody" in op else None
        r = client.request(method, path, headers=AUTH, json=body)
        _clear_4xx(r, 404)
    _clear_4xx(client.get("/api/nothing-here", headers=AUTH), 404)
    _clear_4xx(client.get("/nothing-here"), 404)
    _clear_4xx(client.patch(f"/api/connections/{service.connection_id}", headers=AUTH), 405)
    _clear_4xx(client.get(f"/webhooks/quo/{service.connection_id}"), 405)
    _clear_4xx(client.put("/api/events", headers=AUTH), 405)
    _clear_4xx(client.post(f"/webhooks/pipedrive/{service.connection_id}", content=b"{}"), 404)


def test_bodies_malformed_or_wrong_shape(client: TestClient, service: Service) -> None:
    with_body = [
        (m, _fill(t, connection_id=service.connection_id))
        for m, t, op in _admin_operations(client)
        if "requestBody" in op
    ]
    assert ("PATCH", f"/api/connections/{service.connection_id}/settings") in with_body
    json_type = {**AUTH, "content-type": "application/json"}
    for method, path in with_body:
        for content, headers in (
            (b"{not json", json_type),
            (b"\xff\xfe\x00garbage", json_type),
            (b"", json_type),
            (b'["a", "list"]', json_type),
            (b'"a string"', json_type),
            (b'{"no_such_setting": true}', json_type),
            (b'{"default_region": 42}', json_type),
            (b"default_region=US", {**AUTH, "content-type": "application/x-www-form-urlencoded"}),
            (b"default_region: US", {**AUTH, "content-type": "text/yaml"}),
        ):
            r = client.request(method, path, content=content, headers=headers)
            _clear_4xx(r, 400, 415, 422)
    # query strings of the list endpoints
    for query in ("limit=-1", "limit=abc", "offset=1e9", "since=not-a-date", "status=nope"):
        _clear_4xx(client.get(f"/api/events?{query}", headers=AUTH), 400, 422)
    _clear_4xx(client.get("/api/usage?since=tomorrow", headers=AUTH), 400, 422)
    _clear_4xx(
        client.get(f"/api/connections/{service.connection_id}/rejections?limit=0", headers=AUTH),
        400,
        422,
    )


def test_oversized_bodies_everywhere(client: TestClient, service: Service) -> None:
    before = _ledger_size(service)
    targets = [
        (m, _fill(t, connection_id=service.connection_id, event_id=service.failed_event_id))
        for m, t, _op in _admin_operations(client)
        if m in {"POST", "PATCH"}
    ]
    targets += [
        ("POST", f"/webhooks/quo/{service.connection_id}"),
        ("POST", f"/webhooks/attio/{service.connection_id}"),
    ]
    big = json.dumps({"default_region": "US", "pad": "x" * (2 * MB)}).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, counted while read
        for _ in range(40):
            yield b"x" * (64 * 1024)

    for method, path in targets:
        headers = {**AUTH, "content-type": "application/json"}
        _clear_4xx(client.request(method, path, content=big, headers=headers), 413)
        _clear_4xx(client.request(method, path, content=chunks(), headers=headers), 413)
    assert _ledger_size(service) == before
    # just under the limit is not refused for its size
    r = client.patch(
        f"/api/connections/{service.connection_id}/settings",
        content=json.dumps({"default_region": "US", "pad": "x" * (MB - 100)}).encode(),
        headers={**AUTH, "content-type": "application/json"},
    )
    _clear_4xx(r, 422)  # unknown field, not 413


def _attio_signed(body: bytes) -> dict[str, str]:
    sig = hmac.new(ATTIO_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"attio-signature": sig, "content-type": "application/json"}


def test_attio_webhooks_bad_input(client: TestClient, service: Service) -> None:
    url = f"/webhooks/attio/{service.connection_id}"
    before = _ledger_size(service)
    good_envelope = json.dumps(
        {
            "webhook_id": "WHfuzza",
            "events": [
                {
                    "event_type": "record.updated",
                    "id": {"workspace_id": "w", "object_id": "o", "record_id": "r1"},
                }
            ],
        }
    ).encode()
    for body, headers, code in (
        (good_envelope, {"content-type": "application/json"}, 401),  # unsigned
        (good_envelope, {"attio-signature": "00" * 32}, 401),  # wrong signature
        (good_envelope + b" ", _attio_signed(good_envelope), 401),  # tampered
        (b"{not json", _attio_signed(b"{not json"), 400),
        (b"[1, 2]", _attio_signed(b"[1, 2]"), 400),
        (b'{"events": "nope"}', _attio_signed(b'{"events": "nope"}'), 400),
        (b'{"type": "call.completed"}', _attio_signed(b'{"type": "call.completed"}'), 400),
    ):
        r = client.post(url, content=body, headers=headers)
        _clear_4xx(r, code)
    r = client.post(
        "/webhooks/attio/conn_doesnotexist", content=good_envelope, headers=_attio_signed(b"")
    )
    _clear_4xx(r, 404)
    assert _ledger_size(service) == before
    rejections = client.get(
        f"/api/connections/{service.connection_id}/rejections?limit=1000", headers=AUTH
    ).json()
    assert {r["status_code"] for r in rejections} >= {400, 401}
