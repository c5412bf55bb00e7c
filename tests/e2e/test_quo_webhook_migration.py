"""Migrating a connection's Quo webhooks from v1 to 2026-03-30 while events keep coming.

Quo emulator (profile 2026-03-30, so both generations exist), Attio emulator and Switchboard as
processes; `switchboard connections migrate-webhooks` run as the CLI.

* a failed test delivery (the replacement points at a dead address) aborts: exit 1, no dated
  webhook left, the v1 webhooks untouched and still delivering;
* a migration while calls and texts are fired continuously: every one lands exactly once (one
  note per call or text and person, byte-identical to the renderer), the v1 webhooks are gone,
  the dated one is enabled, and the connection's generation is 2026-03-30.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.activity.harness import (
    DATED,
    KNOWN,
    QUO_KEY,
    ActivityStack,
    call_scenarios,
    verify_notes,
)
from tests.servers import free_port, switchboard_command

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

V = {"Authorization": QUO_KEY, "Quo-Api-Version": DATED}


def migrate(sb: ActivityStack, public_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*switchboard_command(), "connections", "migrate-webhooks", sb.connection_id,
         "--json", "--test-timeout", "20"],
        env={**sb.env, "SWITCHBOARD_PUBLIC_URL": public_url},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def quo_webhooks(sb: ActivityStack) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    legacy = sb._http.get(sb.quo.url + "/v1/webhooks", headers={"Authorization": QUO_KEY})
    dated = sb._http.get(sb.quo.url + "/webhooks", headers=V)
    return legacy.json()["data"], dated.json()["data"]


def test_migration_loses_nothing_and_a_failed_test_keeps_v1(tmp_path: Path) -> None:
    rng = random.Random(16)
    with ExitStack() as stack:
        sb = ActivityStack.start(stack, tmp_path, generation="v1", quo_profile=DATED)
        for n, phone in enumerate(KNOWN):
            sb.create_person(f"Person {n}", phone)
        # Short retry schedule: the aborted migration's failed test delivery finishes quickly.
        sb.quo_control("PATCH", "/settings", json={"webhookRetryScheduleS": [0, 0.05, 0.05]})
        sb.quo_control("PUT", "/faults", json={"webhook_reorder_jitter_s": 0.2})

        # ---- a failed test delivery aborts and leaves v1 working
        failed = migrate(sb, f"http://127.0.0.1:{free_port()}")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "aborted" in failed.stderr
        legacy, dated = quo_webhooks(sb)
        assert len(legacy) == 4 and dated == []
        before = sb.simulate_call(direction="incoming", outcome="answered",
                                  participants=[KNOWN[0]], ringing=False)  # fmt: skip

        # ---- migrate while calls and texts keep coming
        calls: list[dict[str, Any]] = [before]
        messages: list[tuple[str, dict[str, Any]]] = []
        stop = threading.Event()

        def fire() -> None:
            scenarios = iter(call_scenarios(rng, 400))
            while not stop.is_set():
                calls.append(sb.simulate_call(**next(scenarios)))
                phone = rng.choice(KNOWN)
                sim = sb.simulate_message(direction="incoming", participant=phone, text="hi")
                messages.append((phone, sim))
                stop.wait(0.3)

        firing = threading.Thread(target=fire, daemon=True)
        firing.start()
        try:
            stop.wait(1.0)
            done = migrate(sb, sb.sb.url)
            # Keep firing after the switch too, until the run has a meaningful volume (a fast
            # machine migrates in a second or two).
            deadline = time.monotonic() + 30
            while len(calls) <= 20 and time.monotonic() < deadline:
                stop.wait(0.2)
        finally:
            stop.set()
            firing.join(30)
        assert done.returncode == 0, done.stdout + done.stderr
        assert '"status": "migrated"' in done.stdout
        after = sb.simulate_call(direction="incoming", outcome="voicemail",
                                 participants=[KNOWN[1]])  # fmt: skip
        calls.append(after)
        sb.wait_settled(timeout=180)

        legacy, dated = quo_webhooks(sb)
        assert legacy == []
        assert len(dated) == 1 and dated[0]["status"] == "enabled"
        report = verify_notes(sb, calls, messages)
        assert report.duplicates == []
        assert report.mismatches == [], report.explain()
        assert report.extra == []
        assert len(calls) > 20 and report.checked >= len(calls) // 2
        events = sb.events()
        assert not [e for e in events if e.status == "failed"]
        assert any(e.event_type == "call.voicemail.completed" for e in events)
        show = subprocess.run(
            [*switchboard_command(), "connections", "show", sb.connection_id, "--json"],
            env=sb.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert '"quo_webhooks": "2026-03-30"' in show.stdout
