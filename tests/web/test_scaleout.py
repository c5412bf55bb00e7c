"""Scale-out on PostgreSQL, every piece its own process: Quo and Attio emulators, one
`serve --no-workers`, two `switchboard worker`s. A mixed load (the initial sync of seeded Attio
people plus calls from some of them) runs while one worker is SIGKILLed; the other finishes
everything: no lost work (sync succeeded, no event left accepted/processing), no duplicates (one
Quo contact per externalId, at most one note per call and person), and zero 429s from Quo."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard.crypto import generate_master_key
from tests.servers import cli_server, free_port, quo_emulator

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "switchboard")
QUO_KEY = "quo-scale-key-123456"
ATTIO_TOKEN = "attio-scale-token-123456"
PEOPLE = 400
CALLS = 12


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [EXE, "worker"], cwd=ROOT, env=env, stdout=open(log, "ab"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _phones(attio_url: str) -> list[tuple[str, str]]:
    r = httpx.post(
        f"{attio_url}/v2/objects/people/records/query",
        headers={"Authorization": f"Bearer {ATTIO_TOKEN}"},
        json={"limit": 200},
    )
    r.raise_for_status()
    out = []
    for rec in r.json()["data"]:
        current = [
            v for v in rec["values"].get("phone_numbers", []) if v.get("active_until") is None
        ]
        if len(current) == 1:
            out.append((rec["id"]["record_id"], current[0]["phone_number"]))
    return out


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_one_killed_mixed_load(pg_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_DATA_DIR": str(tmp_path),
        "SWITCHBOARD_DATABASE_URL": pg_url,
        "SWITCHBOARD_SECRET_KEY": generate_master_key(),
        "SWITCHBOARD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_SCHEDULES": "off",
        "SWITCHBOARD_HEARTBEAT_INTERVAL": "0.5",
        "SWITCHBOARD_EXECUTOR_STALE_AFTER": "5",
    }
    workers: list[subprocess.Popen[bytes]] = []
    with (
        quo_emulator("--api-key", QUO_KEY, "--phase-scale", "0", "--bulk-delay", "0.5") as quo,
        cli_server(
            "emulate",
            "attio",
            "--allow-http-targets",
            "--token",
            ATTIO_TOKEN,
            "--people",
            str(PEOPLE),
            "--seed",
            "7",
        ) as attio,  # fmt: skip
    ):
        try:
            done = subprocess.run(
                [EXE, "connect", "attio", "--quo-base-url", quo.url, "--attio-base-url",
                 attio.url, "--quo-api-key", QUO_KEY, "--attio-token", ATTIO_TOKEN, "--json"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            conn_id = json.loads(done.stdout)["connection_id"]
            with cli_server("serve", "--no-workers", port=port, env=env) as web:
                workers += [_worker(env, tmp_path / f"w{i}.log") for i in range(2)]

                def progress() -> dict[str, Any]:
                    r = httpx.get(
                        f"{web.url}/api/connections/{conn_id}/sync?kind=initial", timeout=10
                    )
                    return dict(r.json()) if r.status_code == 200 else {}

                _wait(lambda: progress().get("done", 0) > 0, 120, "the sync to start")
                calls = _phones(attio.url)[:CALLS]
                for _rid, phone in calls:
                    r = httpx.post(
                        f"{quo.url}/_emulator/calls",
                        json={"workspace": QUO_KEY, "outcome": "answered", "participants": [phone]},
                    )
                    assert r.status_code == 201, r.text
                victim = workers[0]
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait(10)

                final = _wait(
                    lambda: (
                        (p := progress()).get("status") not in (None, "queued", "running") and p
                    ),
                    240,
                    "the sync to finish",
                )
                assert final["status"] == "succeeded", final
                assert final["failed"] == 0, final

                def settled() -> list[dict[str, Any]] | None:
                    r = httpx.get(
                        f"{web.url}/api/events?connection_id={conn_id}&limit=1000", timeout=10
                    )
                    evs = list(r.json()["events"])
                    calls_done = sum(1 for e in evs if e["event_type"] == "call.completed")
                    busy = [e for e in evs if e["status"] in ("accepted", "processing")]
                    return evs if calls_done >= len(calls) and not busy else None

                events = _wait(settled, 180, "every event to settle")
            assert not [e for e in events if e["status"] == "failed"], events
            contacts = httpx.get(f"{quo.url}/_emulator/workspaces/{QUO_KEY}/contacts").json()[
                "data"
            ]
            ext = Counter(c.get("externalId") for c in contacts if c.get("externalId"))
            assert ext and max(ext.values()) == 1  # no duplicate contacts
            assert len(ext) == final["created"] + final["updated"] + final["unchanged"]
            stats = httpx.get(f"{quo.url}/_emulator/stats").json()
            assert stats["perStatus"].get("429", 0) == 0
            for rid, _phone in calls:
                notes = httpx.get(
                    f"{attio.url}/v2/notes",
                    params={"parent_object": "people", "parent_record_id": rid, "limit": 50},
                    headers={"Authorization": f"Bearer {ATTIO_TOKEN}"},
                ).json()["data"]
                assert len(notes) <= 1, notes  # never a duplicate note
        finally:
            for w in workers:
                _stop(w)
