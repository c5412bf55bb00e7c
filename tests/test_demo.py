"""`switchboard demo` end to end: a real run in a child process, checked through its JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_whole_system(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "switchboard",
            "demo",
            "--exit",
            "--json",
            "--people",
            "120",
            "--calls",
            "14",
            "--messages",
            "6",
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    sync = report["sync"]
    assert sync["done"] == 120
    assert sync["failed"] == 0
    assert sync["created"] + sync["skipped"] == 120
    assert report["quo_contacts"] == sync["created"]
    # every event was processed; none failed or stuck
    assert set(report["events"]) <= {"processed", "ignored", "skipped"}
    # one note per call/message person (a shared phone may add a second person)
    assert report["notes"] >= 14 + 6
    assert all(u["http_429"] == 0 for u in report["api_usage"].values())
    titles = [n["title"] for n in report["sample_notes"]]
    assert titles and all(t.startswith(("☎️ Call", "💬 Message")) for t in titles)
