"""What was not logged, and why, through the CLI; a failed event replayed into exactly one note.

Processes: Quo emulator, Attio emulator, `switchboard serve`; the CLI runs as its own process.
"""

from __future__ import annotations

import base64
import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard.quo.signatures import sign_legacy, sign_standard
from tests.activity.harness import KNOWN, UNKNOWN, ActivityStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def cli_events(sb: ActivityStack, *args: str) -> list[dict[str, Any]]:
    done = sb.cli("events", "--connection", sb.connection_id, "--json", *args)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout)["events"])


def webhook_keys(sb: ActivityStack) -> list[str]:
    from switchboard import connections
    from switchboard.config import Settings
    from switchboard.crypto import secret_box
    from switchboard.store.db import Database

    db = Database(sb.db_url)
    try:
        box = secret_box(
            Settings(
                data_dir=sb.tmp,
                database_url=sb.db_url,
                secret_key=sb.env["SWITCHBOARD_SECRET_KEY"],
            )
        )
        return list(connections.webhook_keys(db, box, sb.connection_id, "quo", fresh=True))
    finally:
        db.dispose()


def test_reasons_visible_and_failed_event_replayed(tmp_path: Path) -> None:
    from switchboard import connections
    from switchboard.store.db import Database

    with ExitStack() as stack:
        sb = ActivityStack.start(stack, tmp_path)
        person = sb.create_person("Dana Whitfield", KNOWN[0])

        # 1. Attio refuses note creation (400, not retried) → the event fails with the reason.
        sb.attio_api(
            "PUT",
            "/_emulator/faults",
            json={"errors": {"createNote": {"rate": 1.0, "status": 400, "message": "refused"}}},
        )
        sb.simulate_message(direction="incoming", participant=KNOWN[0], text="hello")
        # 2. an unknown caller, 3. a line that is not enabled
        sb.simulate_message(direction="incoming", participant=UNKNOWN[0], text="who is this")
        sb.wait_settled(timeout=60)
        db = Database(sb.db_url)
        try:
            connections.update_settings(db, sb.connection_id, {"enabled_lines": ["PNnotthisone"]})
        finally:
            db.dispose()
        sb.simulate_call(direction="incoming", outcome="answered", participants=[KNOWN[0]])
        sb.wait_settled(timeout=60)

        listed = cli_events(sb)  # one CLI run (each start costs seconds on a busy machine)
        [failed] = [e for e in listed if e["status"] == "failed"]
        assert failed["event_type"] == "message.received" and "400" in failed["reason"]
        [skipped] = [e for e in listed if e["status"] == "skipped"]
        assert skipped["reason"] == f"unknown caller: no CRM person has {UNKNOWN[0]}"
        assert skipped["detail"]["lookups"] == [
            {
                "phone": UNKNOWN[0],
                "person_id": None,
                "source": "none",
                "candidates": [],
                "reason": "unknown caller",
            }
        ]
        ignored = {e["event_type"]: e["reason"] for e in listed if e["status"] == "ignored"}
        assert "is not enabled for logging" in ignored["call.completed"]
        assert "call.ringing is not logged" in ignored["call.ringing"]
        assert sb.notes_for(person) == []

        # Replay the failed event once Attio accepts notes again (and the line is enabled
        # again: a replay is routed with the current settings): exactly one note.
        sb.attio_api("DELETE", "/_emulator/faults")
        db = Database(sb.db_url)
        try:
            connections.update_settings(db, sb.connection_id, {"enabled_lines": None})
        finally:
            db.dispose()
        done = sb.cli("events", "replay", failed["id"], "--json")
        assert done.returncode == 0, done.stderr
        sb.wait_settled(timeout=60)
        [again] = [e for e in sb.events() if e.id == failed["id"]]
        assert again.status == "processed" and again.detail["replays"] == 1
        notes = sb.notes_for(person)
        assert len(notes) == 1 and notes[0]["content_markdown"].startswith("Received: hello\n\n")

        # Forged, tampered, stale, unsigned (both schemes) → 401 over real HTTP; nothing lands.
        before = len(sb.events())
        event = {
            "id": "EVforged",
            "object": "event",
            "type": "message.received",
            "data": {
                "object": {
                    "id": "ACforged",
                    "object": "message",
                    "direction": "incoming",
                    "from": KNOWN[0],
                    "to": "+15550100100",
                    "text": "pay me",
                    "phoneNumberId": "PNx",
                    "createdAt": "2026-03-03T09:12:44Z",
                }
            },
        }
        body = json.dumps(event).encode()
        url = f"{sb.sb.url}/webhooks/quo/{sb.connection_id}"
        wrong = base64.b64encode(b"w" * 32).decode()
        now_ms = int(time.time() * 1000)
        keys = webhook_keys(sb)
        good = sign_legacy(body, keys[0], now_ms)
        attempts = {
            "forged": (body, {"openphone-signature": sign_legacy(body, wrong, now_ms)}),
            "tampered": (body.replace(b"pay me", b"pay us"), {"openphone-signature": good}),
            "stale": (
                body,
                {"openphone-signature": sign_legacy(body, keys[0], now_ms - 3_600_000)},
            ),
            "unsigned": (body, {}),
            "forged standard": (
                body,
                sign_standard(body, "whsec_" + wrong, "msg_x", int(time.time())),
            ),
        }
        for name, (content, headers) in attempts.items():
            r = httpx.post(url, content=content, headers=headers, timeout=30)
            assert r.status_code == 401, (name, r.status_code, r.text)
        assert len(sb.events()) == before
        assert len(sb.notes_for(person)) == 1
