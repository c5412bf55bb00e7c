"""Failures fixed in bulk: a group of 200 failed events replayed from the dashboard after a
confirmation showing the count — each processed exactly once, even when the action is sent twice
— and the CSV export of the group round-trips every failure field."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from switchboard import failures, ledger
from switchboard.web import create_app
from tests.web import plugin
from tests.web.conftest import ADMIN_TOKEN, wait_for

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AUTH_REASON = "ApiError: attio notes.create: HTTP 401 [unauthorized] token revoked"


@pytest.mark.timeout(120)
def test_replay_a_group_of_200_once_each_and_export_it(started: Any, conn: Any) -> None:
    db = started.db
    group: list[str] = []
    for i in range(200):
        ev, _ = ledger.insert_event(
            db, connection_id=conn.id, provider="quo", event_type="test.dummy",
            idempotency_key=f"bulk-{i}", payload={"i": i}, resource_id=f"AC{i}",
        )  # fmt: skip
        ledger.finish(db, ev.id, "failed", reason=AUTH_REASON, detail={"exception": "ApiError"})
        group.append(ev.id)
    other, _ = ledger.insert_event(
        db, connection_id=conn.id, provider="quo", event_type="test.dummy",
        idempotency_key="other", payload={}, resource_id="ACother",
    )  # fmt: skip
    ledger.finish(db, other.id, "failed", reason="ApiError: attio notes.create: HTTP 422 bad")

    client = TestClient(create_app(started, bind_host="0.0.0.0"), base_url="http://127.0.0.1")
    page = f"/dashboard/connections/{conn.id}"
    shown = client.get(page, headers=AUTH)
    assert shown.status_code == 200
    assert 'data-cause="attio:auth"' in shown.text and "Replay 200…" in shown.text

    csv_text = client.get(page + "/failures.csv", params={"cause": "attio:auth"}, headers=AUTH)
    assert csv_text.status_code == 200 and csv_text.headers["content-type"].startswith("text/csv")
    rows = failures.from_csv(csv_text.text)
    assert sorted(r["id"] for r in rows) == sorted(group)
    for row in rows:
        ev = ledger.get_event(db, row["id"])
        assert ev is not None
        for key, value in ev.to_dict(with_payload=False).items():
            assert row[key] == value, key

    form = {"cause": "attio:auth", "status": "failed"}
    confirm = client.post(page + "/failures/replay", data=form, headers=AUTH)
    assert confirm.status_code == 200 and "Replay 200 failed events?" in confirm.text
    assert all(ledger.get_event(db, i).status == "failed" for i in group)  # type: ignore[union-attr]

    done = client.post(
        page + "/failures/replay", data={**form, "confirm": "yes"}, headers=AUTH,
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"].endswith("#failures")
    assert "status=failed" in done.headers["location"] and "ref=200" in done.headers["location"]
    # The same confirmed form sent again (a double click) replays nothing more.
    again = client.post(
        page + "/failures/replay", data={**form, "confirm": "yes"}, headers=AUTH,
        follow_redirects=False,
    )  # fmt: skip
    assert "ref=0" in again.headers["location"]

    def settled() -> bool:
        return all(ledger.get_event(db, i).status == "processed" for i in group)  # type: ignore[union-attr]

    wait_for(settled, timeout=90)
    assert {plugin.COUNTS[i] for i in group} == {1}
    assert ledger.get_event(db, other.id).status == "failed"  # type: ignore[union-attr]
    assert plugin.COUNTS[other.id] == 0
