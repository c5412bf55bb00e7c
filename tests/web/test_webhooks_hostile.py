"""What callers and forgers can send, over real HTTP: deep JSON, odd signature timestamps,
replays, regenerated summaries, and floods of forged requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from switchboard import ledger, metrics
from switchboard.emulators.common import run_in_thread
from switchboard.quo.signatures import sign_legacy
from switchboard.store.models import Event, WebhookRejection
from switchboard.web import create_app, rejections
from tests.fixtures import ATTIO_WEBHOOKS
from tests.web.conftest import WEBHOOK_KEY, attio_headers, quo_headers, wait_for

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def http(started: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    monkeypatch.setattr(rejections, "RECORDER", rejections.Recorder())
    with (
        run_in_thread(create_app(started)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client


def _events(rt: Any) -> list[Event]:
    with rt.db.session() as s:
        return list(s.execute(select(Event).order_by(Event.received_at)).scalars())


def _rejections(rt: Any) -> list[WebhookRejection]:
    with rt.db.session() as s:
        return list(s.execute(select(WebhookRejection)).scalars())


def _summary(call_id: str, event_id: str, points: list[str], created_at: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "call.summary.completed",
            "createdAt": created_at,
            "data": {
                "object": {
                    "object": "callSummary",
                    "callId": call_id,
                    "status": "completed",
                    "summary": points,
                    "nextSteps": [],
                    "jobs": [],
                }
            },
        }
    ).encode()


@SQLITE_ONLY
def test_deeply_nested_signed_body_is_400_and_recorded(
    started: Any, conn: Any, http: httpx.Client
) -> None:
    for depth in (5000, 100):
        body = b'{"type": "call.completed", "data": ' + b"[" * depth + b"]" * depth + b"}"
        r = http.post(f"/webhooks/quo/{conn.id}", content=body, headers=quo_headers(body))
        assert r.status_code == 400, r.text
        assert r.json() == {"ok": False, "error": "JSON nested too deeply"}
    attio = b'{"webhook_id": "w", "events": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = http.post(f"/webhooks/attio/{conn.id}", content=attio, headers=attio_headers(attio))
    assert r.status_code == 400, r.text
    rows = wait_for(lambda: len(_rejections(started)) >= 3 and _rejections(started))
    assert {(x.status_code, x.reason) for x in rows} == {(400, "JSON nested too deeply")}
    assert _events(started) == []


@SQLITE_ONLY
@pytest.mark.parametrize("ts", ["nan", "inf", "1e9", "+5", "-5", "1_000"])
def test_signature_timestamps_must_be_integers(
    started: Any, conn: Any, http: httpx.Client, ts: str
) -> None:
    body = json.dumps(
        {"id": "EVts", "object": "event", "type": "test.dummy", "data": {"object": {"id": "ACts"}}}
    ).encode()
    legacy = {"openphone-signature": sign_legacy(body, WEBHOOK_KEY, ts)}
    digest = hmac.new(base64.b64decode(WEBHOOK_KEY), f"m1.{ts}.".encode() + body, hashlib.sha256)
    standard = {
        "webhook-id": "m1",
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(digest.digest()).decode(),
    }
    for headers in (legacy, standard):  # each MAC is valid for its odd timestamp
        r = http.post(f"/webhooks/quo/{conn.id}", content=body, headers=headers)
        assert r.status_code == 401, (headers, r.text)
    assert _events(started) == []


@SQLITE_ONLY
def test_regenerated_summary_is_a_new_event_and_a_redelivery_is_not(
    started: Any, conn: Any, http: httpx.Client
) -> None:
    url = f"/webhooks/quo/{conn.id}"
    first = _summary("ACregen", "EVs1", ["Old point."], "2026-03-02T15:06:40.300Z")
    again = _summary("ACregen", "EVs1-retry", ["Old point."], "2026-03-02T15:06:40.300Z")
    regenerated = _summary("ACregen", "EVs2", ["New point."], "2026-03-02T15:20:00.000Z")
    statuses = []
    for body in (first, again, regenerated, regenerated):
        r = http.post(url, content=body, headers=quo_headers(body))
        assert r.status_code == 200, r.text
        statuses.append(r.json()["events"][0]["status"])
    assert statuses[0] != "duplicate" and statuses[2] != "duplicate"
    assert statuses[1] == statuses[3] == "duplicate"
    rows = _events(started)
    assert len(rows) == 2
    assert [r.payload["data"]["object"]["summary"] for r in rows] == [
        ["Old point."],
        ["New point."],
    ]


@SQLITE_ONLY
def test_attio_replay_with_a_fresh_idempotency_key_is_a_duplicate(
    started: Any, conn: Any, http: httpx.Client
) -> None:
    """The unsigned header changes nothing: while the first delivery waits, the replay is the
    same event. (Once its processing has started, an identical body is a new change — the same
    edit can be made twice — whose processing re-reads the record: tests/test_ledger.py.)"""
    body = (ATTIO_WEBHOOKS / "record.updated.json").read_bytes()
    url = f"/webhooks/attio/{conn.id}"
    original = http.post(
        url, content=body, headers={**attio_headers(body), "Idempotency-Key": "d1"}
    )
    replayed = http.post(
        url, content=body, headers={**attio_headers(body), "Idempotency-Key": "x2"}
    )
    assert original.status_code == replayed.status_code == 200
    assert original.json()["events"][0]["status"] != "duplicate"
    rows = _events(started)
    if replayed.json()["events"][0]["status"] == "duplicate":
        assert len(rows) == 1
    else:  # the first had started: a new change, keyed after it, never a second waiting copy
        first = next(r for r in rows if "#" not in r.idempotency_key)
        assert len(rows) == 2 and first.status != "accepted"
        assert {r.idempotency_key for r in rows} == {
            first.idempotency_key,
            f"{first.idempotency_key}#{first.id}",
        }


@SQLITE_ONLY
def test_flood_of_forged_webhooks_stores_a_capped_sample(
    started: Any, conn: Any, http: httpx.Client
) -> None:
    url = f"/webhooks/quo/{conn.id}"
    forged = b'{"id": "EVf", "type": "call.completed", "data": {"object": {"id": "ACf"}}}'
    legit_ok = 0
    refused_before = _refused()
    for i in range(1500):
        target = url if i % 3 else f"/webhooks/quo/conn_made_up_{i}"
        headers = {"openphone-signature": f"hmac;1;{int(time.time() * 1000)};AAAA{i}"}
        r = http.post(target, content=forged, headers=headers)
        assert r.status_code in (401, 404)
        if i % 100 == 0:  # legitimate deliveries keep going through during the flood
            body = json.dumps(
                {"id": f"EVok{i}", "object": "event", "type": "test.dummy",
                 "data": {"object": {"id": f"ACok{i}"}}}
            ).encode()  # fmt: skip
            ok = http.post(url, content=body, headers=quo_headers(body))
            assert ok.status_code == 200 and ok.json()["events"][0]["status"] != "duplicate"
            legit_ok += 1
    assert legit_ok == 15 and len(_events(started)) == 15
    # One 401 bucket and one shared bucket for unknown connections: a handful of rows stored.
    wait_for(lambda: len(_rejections(started)) >= 2)
    rows = _rejections(started)
    assert 2 <= len(rows) <= 2 * rejections.PER_KEY_PER_MINUTE
    assert _refused() - refused_before == 1500  # every refusal is counted, stored or not


def _refused() -> float:
    return sum(
        metrics.REGISTRY.get_sample_value(
            "switchboard_webhook_rejections_total", {"provider": "quo", "code": code}
        )
        or 0.0
        for code in ("401", "404")
    )


def test_sampler_windows_and_caps() -> None:
    now = [0.0]
    sampler = rejections.Sampler(per_key=2, total=3, window_s=60, clock=lambda: now[0])
    a, b, c = ("c1", "quo", 401), ("c2", "quo", 401), ("", "quo", 404)
    assert [sampler.admit(a) for _ in range(3)] == [True, True, False]
    assert [sampler.admit(b), sampler.admit(c)] == [True, False]  # total cap reached
    now[0] = 60.0
    assert sampler.admit(c) and sampler.admit(a)


@SQLITE_ONLY
def test_rejection_samples_are_pruned(started: Any) -> None:
    for i in range(5):
        ledger.record_rejection(
            started.db, connection_id=None, provider="quo", status_code=401, reason=f"r{i}"
        )
    ledger.prune_rejections(started.db, older_than=timedelta(days=7), keep=2)
    assert sorted(r.reason for r in _rejections(started)) == ["r3", "r4"]
    ledger.prune_rejections(started.db, older_than=timedelta(0), keep=10)
    assert _rejections(started) == []
