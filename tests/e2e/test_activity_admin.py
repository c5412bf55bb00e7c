"""What was not logged, and why, through the CLI; a failed event replayed into exactly one note.

Processes: Quo emulator, Attio emulator, `switchboard serve`; the CLI runs as its own process.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.activity.harness import KNOWN, UNKNOWN, ActivityStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def cli_events(sb: ActivityStack, *args: str) -> list[dict[str, Any]]:
    done = sb.cli("events", "--connection", sb.connection_id, "--json", *args)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout)["events"])


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
