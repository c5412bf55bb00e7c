"""A database outage under load: acknowledged events are finished without a restart.

`serve` (web + workers, one process) runs with the `db_outage` plugin: while a flag file exists
every write of the process fails with SQLite's "attempt to write a readonly database" (the data
files made immutable). Calls and messages are simulated before, during and after a ~5 s outage.
Without the watchdog, workflows caught mid-run stay PENDING on the live executor (DBOS could not
record their outcome) and their events stay `processing` until a restart. With it, every event
ends final within a minute of recovery with exactly one correct note per (call or message,
person), and `/readyz` answers 503 while writes are refused.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.activity.harness import KNOWN, ActivityStack, call_scenarios, verify_notes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_S = 5.0


def test_acknowledged_events_are_finished_after_a_database_outage(tmp_path: Path) -> None:
    flag = tmp_path / "db-outage.flag"
    env = {
        "SWITCHBOARD_EXTRA_WORKFLOW_MODULES": "tests.e2e.db_outage",
        "SB_TEST_DB_OUTAGE_FLAG": str(flag),
        "PYTHONPATH": str(ROOT),
        "SWITCHBOARD_SCHEDULES": "off",
        # short watchdog settings so the test runs in seconds (defaults: 10 s / 60 s)
        "SWITCHBOARD_WATCHDOG_INTERVAL": "1",
        "SWITCHBOARD_STUCK_AFTER": "4",
        "SWITCHBOARD_READY_CACHE_S": "0.5",
        # the in-workflow retry rides out most of the outage; keep it shorter than the outage
        # so runs caught by it are left to the watchdog as well
        "SWITCHBOARD_TRANSIENT_DB_RETRY_S": "2",
    }
    rng = random.Random(23)
    with ExitStack() as stack:
        sb = ActivityStack.start(stack, tmp_path / "sb", extra_env=env)
        for n, phone in enumerate(KNOWN):
            sb.create_person(f"Person {n}", phone)
        # Quo retries refused deliveries: enough attempts to outlast the outage, and short
        # backoffs so the redeliveries do not dominate the settling time
        sb.quo_control(
            "PATCH", "/settings", json={"webhookMaxAttempts": 12, "webhookBackoffS": 0.3}
        )
        calls: list[dict[str, Any]] = []
        messages: list[tuple[str, dict[str, Any]]] = []
        stop_load = threading.Event()

        def load() -> None:
            i = 0
            while not stop_load.is_set():
                calls.append(sb.simulate_call(**call_scenarios(rng, 1)[0]))
                phone = rng.choice(KNOWN)
                messages.append(
                    (phone, sb.simulate_message(direction="incoming", participant=phone,
                                                text=f"text {i}"))
                )  # fmt: skip
                i += 1
                time.sleep(0.1)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        readyz = f"{sb.sb.url}/readyz"
        try:
            time.sleep(2.0)  # work in flight before the outage
            assert httpx.get(readyz, timeout=10).status_code == 200
            flag.touch()
            outage_started = time.monotonic()
            during: list[int] = []
            while time.monotonic() - outage_started < OUTAGE_S:
                during.append(httpx.get(readyz, timeout=10).status_code)
                time.sleep(0.3)
            flag.unlink()
            recovered_at = time.monotonic()
            time.sleep(1.0)  # a little load after the outage, too
        finally:
            stop_load.set()
            loader.join(30)
            flag.unlink(missing_ok=True)
        # readiness follows the database: 503 once the cached answer expires, for the outage
        assert 503 in during and during[-1] == 503, during
        sb.wait_settled(timeout=60)
        settled_s = time.monotonic() - recovered_at
        assert httpx.get(readyz, timeout=10).status_code == 200

        events = sb.events()
        statuses = Counter(e.status for e in events)
        assert set(statuses) <= {"processed", "ignored", "skipped"}, [
            (e.id, e.status, e.reason) for e in events if e.status not in ("processed", "ignored")
        ][:5]
        report = verify_notes(sb, calls, messages)
        assert report.duplicates == []
        assert report.mismatches == [], report.explain()
        assert report.extra == []
        log = sb.sb.log_path.read_text(errors="replace")
        print(
            f"db outage: {len(calls)} calls, {len(messages)} messages, {len(events)} events "
            f"{dict(statuses)}; settled {settled_s:.1f}s after recovery; readyz during {during}; "
            f"orphans resumed: {log.count('orphaned_workflows_resumed')} passes, stuck events "
            f"recovered: {log.count('stuck_events_recovered')} passes"
        )
