"""Kill test: the process running the initial sync is SIGKILLed at random moments and started
again; the end state is the uninterrupted one — one Quo contact per person with a usable phone,
nothing missing, no duplicates, and the run's counts are those of a run without crashes."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.sync.stack import assert_quo_matches, expected_contacts, sync_stack

PEOPLE = int(os.environ.get("SWITCHBOARD_KILL_PEOPLE", "600"))
KILLS = 3

pytestmark = pytest.mark.timeout(240)


def _progress(db_url: str) -> tuple[str, int] | None:
    """(status, done) of the connection's initial run, straight from the database."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as c:
            row = c.execute(
                text(
                    "select status, done from sync_runs where kind = 'initial' "
                    "order by started_at desc limit 1"
                )
            ).first()
    except OperationalError:  # the tables do not exist before the first process migrates
        return None
    finally:
        engine.dispose()
    return (row[0], row[1]) if row else None


def test_sigkill_at_random_moments_then_resume(tmp_path: Path, sqlite_url: str) -> None:
    seed = int(os.environ.get("SWITCHBOARD_KILL_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    # Small pages, few in flight: more checkpoints for the kills to fall between.
    small_pages = {"SWITCHBOARD_SYNC_PAGE_SIZE": "100", "SWITCHBOARD_SYNC_PAGES_IN_FLIGHT": "3"}
    with sync_stack(tmp_path, sqlite_url, people=PEOPLE, serve=False, extra_env=small_pages) as s:
        people = s.people()
        expected = expected_contacts(people)
        conn = s.connect(setup=False)
        moments = []
        for _ in range(KILLS):
            proc = s.start("sync", conn, "--run-here", "--wait", "--json")
            # Kill at a random moment once this process has made the run progress (a process
            # that takes long to start would otherwise die before doing anything).
            before = _progress(sqlite_url)
            deadline = time.monotonic() + 90
            while _progress(sqlite_url) == before and time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
            moment = rng.uniform(0.0, 2.5)
            moments.append(round(moment, 2))
            time.sleep(moment)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        report = s.cli_json("sync", conn, "--status", timeout=60)
        if report["status"] != "succeeded":  # resume: the same run is joined and finished
            report = s.cli_json("sync", conn, "--run-here", "--wait", timeout=180)
        context = f"seed={seed} kill moments={moments}"
        assert report["status"] == "succeeded", (context, report)
        assert report["run_id"].endswith("-initial-1"), (context, "a second run was started")
        assert_quo_matches(s, expected)
        assert report["created"] == len(expected), (context, report)
        assert report["skipped"] == PEOPLE - len(expected), (context, report)
        assert report["failed"] == 0 and report["done"] == PEOPLE, (context, report)
        print(json.dumps({"seed": seed, "moments": moments, "report": report}))
