"""Rotating the signing secret of a connection's 2026-03-30 Quo webhooks under load.

Quo emulator (profile 2026-03-30), Attio emulator and Switchboard as processes; texts are fired
continuously while the admin API rotates the secret three times. Afterwards: Quo's delivery log
shows every attempt answered 2xx (none rejected, so none retried), Switchboard recorded no
rejection, and every text has exactly one note (none lost).
"""

from __future__ import annotations

import random
import secrets
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.activity.harness import DATED, KNOWN, ActivityStack, verify_notes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_rotation_under_load_rejects_and_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(4)
    token = secrets.token_urlsafe(24)
    with ExitStack() as stack:
        sb = ActivityStack.start(
            stack, tmp_path, generation=DATED, extra_env={"SWITCHBOARD_ADMIN_TOKEN": token}
        )
        for n, phone in enumerate(KNOWN[:10]):
            sb.create_person(f"Person {n}", phone)
        sb.quo_control("DELETE", "/deliveries")
        messages: list[tuple[str, dict[str, Any]]] = []
        stop = threading.Event()

        def fire() -> None:
            while not stop.is_set():
                phone = rng.choice(KNOWN[:10])
                direction = rng.choice(["incoming", "outgoing"])
                sim = sb.simulate_message(direction=direction, participant=phone, text="ok")
                messages.append((phone, sim))
                stop.wait(0.01)

        firing = threading.Thread(target=fire, daemon=True)
        firing.start()
        keys: list[str] = []
        try:
            for _ in range(3):
                stop.wait(0.7)
                r = sb._http.post(
                    f"{sb.sb.url}/api/connections/{sb.connection_id}/quo-webhooks/rotate",
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code == 200, r.text
                hooks = sb.quo_control("GET", "/workspaces/" + sb.workspace()["id"] + "/webhooks")
                keys.append(hooks["data"][0]["key"])
            stop.wait(0.7)
        finally:
            stop.set()
            firing.join(30)
        assert len(set(keys)) == 3  # three real rotations
        sb.wait_settled(timeout=120)

        attempts = sb.quo_control("GET", "/deliveries")["data"]
        assert len(attempts) >= len(messages) > 50
        rejected = [a for a in attempts if not (a["status"] and 200 <= a["status"] < 300)]
        assert rejected == []
        assert all(a["attempt"] == 1 for a in attempts)
        r = sb._http.get(
            f"{sb.sb.url}/api/connections/{sb.connection_id}/rejections",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200 and r.json() == []
        report = verify_notes(sb, [], messages)
        assert report.duplicates == [] and report.extra == []
        assert report.mismatches == [], report.explain()
        assert report.checked == len(messages)

        # ---- the dashboard: send a test event, see it arrive in Quo's history and the ledger
        auth = {"Authorization": f"Bearer {token}", "Origin": sb.sb.url}
        page = f"{sb.sb.url}/dashboard/connections/{sb.connection_id}/quo-webhooks"
        sent = sb._http.post(page + "/test", headers=auth, follow_redirects=False)
        assert sent.status_code == 303, sent.text
        event_id = sent.headers["location"].split("ref=")[1]
        sb.wait_settled(timeout=60)
        html = sb._http.get(page, headers=auth, params={"flash": "tested", "ref": event_id}).text
        row = html.split('id="test-event"')[1].split("</tr>")[0]
        assert event_id in row and "delivered" in row and "ignored" in row
        assert 'http-equiv="refresh"' not in html  # arrived: the page stops refreshing
        connection_page = sb._http.get(page.rsplit("/", 1)[0], headers=auth).text
        assert 'id="quo-webhooks-link"' in connection_page and "2026-03-30" in connection_page
