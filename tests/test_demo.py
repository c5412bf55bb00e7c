"""`switchboard demo --crm <crm>` end to end: a real run in a child process, checked through its
JSON report. One harness for every CRM: Attio, Pipedrive, Zoho CRM, and the tiny CRM defined
only in the tests (`tests/crm/tiny`, found by the child through SWITCHBOARD_CRM_MODULES) —
connection, setup (webhooks at both emulators), initial sync and the activity pipeline for each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# (CRM, people, calls, messages): the tiny CRM runs small to keep the suite fast.
RUNS = [
    ("attio", 120, 14, 6),
    ("pipedrive", 120, 14, 6),
    ("zoho", 120, 14, 6),
    ("tiny", 40, 6, 4),
]
# CRMs whose registry record asks for HTML notes.
HTML_NOTES = {"pipedrive", "tiny"}
# CRMs that keep emoji out of titles (Zoho shows them as "?").
PLAIN_TITLES = {"zoho"}


@pytest.mark.parametrize(("crm", "people", "calls", "messages"), RUNS, ids=[r[0] for r in RUNS])
def test_demo_runs_the_whole_system(
    tmp_path: Path, crm: str, people: int, calls: int, messages: int
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "SWITCHBOARD_CRM_MODULES": "tests.crm.tiny.provider",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "switchboard",
            "demo",
            "--exit",
            "--json",
            "--crm",
            crm,
            "--people",
            str(people),
            "--calls",
            str(calls),
            "--messages",
            str(messages),
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    sync = report["sync"]
    assert sync["done"] == people
    assert sync["failed"] == 0
    assert sync["created"] + sync["skipped"] == people
    assert report["quo_contacts"] == sync["created"]
    # every event was processed; none failed or stuck
    assert set(report["events"]) <= {"processed", "ignored", "skipped"}
    # one note per call/message person (a shared phone may add a second person)
    assert report["notes"] >= calls + messages
    assert all(u["http_429"] == 0 for u in report["api_usage"].values())
    titles = [n["title"] for n in report["sample_notes"]]
    prefixes = ("Call", "Message") if crm in PLAIN_TITLES else ("☎️ Call", "💬 Message")
    assert titles and all(t.startswith(prefixes) for t in titles)
    if crm in HTML_NOTES:
        assert all(n["content"].startswith("<p>") for n in report["sample_notes"])
