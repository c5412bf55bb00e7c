"""Benchmark: a flood of forged webhooks next to legitimate ones — database size and ack p99.

    .venv/bin/python bench/webhook_flood.py [--forged 10000] [--flood-rate 250] [--legit-rate 20]

Two runs, each against a fresh SQLite database and a fresh `switchboard serve --no-workers`
process (no emulators needed: the legitimate events are signed Quo events of a type no handler
takes, so each is one ledger row and an `ignored` status, the same ack path as any event):

- baseline: legitimate signed webhooks at `--legit-rate` per second for as long as the flood
  takes (`--forged` ÷ `--flood-rate` seconds);
- flood: the same legitimate schedule, plus `--forged` forged requests at `--flood-rate` per
  second, a third each: wrong signature on the real connection (401), a timestamp an hour old
  (401), and made-up connection ids (404).

Both are open loops (each request leaves on schedule, whatever the answers, with at most 32 in
flight per stream; a legitimate request's latency is timed from when it is sent). Afterwards the WAL
is checkpointed and the database file measured. The last line printed is JSON with, per run,
`legit`, `legit_ok`, `ack_p50_ms`, `ack_p99_ms`, `db_bytes`, `rejection_rows`, `events`, and for
the flood `forged_sent`, `forged_refused`; then `db_ratio` and `ack_p99_ratio` (flood ÷
baseline; the target is ≤ 1.10 each).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import cli_server

from switchboard import connections
from switchboard.config import Settings
from switchboard.crypto import secret_box
from switchboard.quo.signatures import sign_legacy
from switchboard.store.db import Database, migrate

IN_FLIGHT = 32  # per stream (legitimate, forged)


def _prepare(tmp: Path) -> tuple[str, dict[str, str], str, str]:
    db_url = f"sqlite:///{tmp / 'switchboard.db'}"
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
    key = base64.b64encode(os.urandom(32)).decode()
    migrate(db_url)
    db = Database(db_url)
    try:
        box = secret_box(Settings(data_dir=tmp, database_url=db_url, secret_key=secret))
        info = connections.create_connection(
            db,
            box,
            crm="attio",
            quo_api_key="bench-quo-key",
            crm_token="bench-crm-token",
            quo_base_url="http://quo.invalid",
            crm_base_url="http://crm.invalid",
            name="flood bench",
        )
        connections.add_subscription(
            db, box, connection_id=info.id, provider="quo", remote_id="WHbench", kind="calls",
            url="u", events=["call.completed"], resource_ids=["*"], key=key,
        )  # fmt: skip
    finally:
        db.dispose()
    env = {
        "SWITCHBOARD_DATA_DIR": str(tmp),
        "SWITCHBOARD_DATABASE_URL": db_url,
        "SWITCHBOARD_SECRET_KEY": secret,
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
    }
    return db_url, env, info.id, key


def _legit_body(i: int) -> bytes:
    return json.dumps(
        {
            "id": f"EVbench{i}",
            "object": "event",
            "type": "bench.legit",
            "createdAt": "2026-12-05T00:00:00.000Z",
            "data": {"object": {"id": f"ACbench{i}", "object": "call"}},
        }
    ).encode()


def _forged(i: int, connection_id: str) -> tuple[str, bytes, dict[str, str]]:
    body = _legit_body(1_000_000 + i)
    now_ms = int(time.time() * 1000)
    wrong = base64.b64encode(secrets.token_bytes(32)).decode()
    if i % 3 == 0:  # signed with a key that is not the connection's
        return (
            f"/webhooks/quo/{connection_id}",
            body,
            {"openphone-signature": sign_legacy(body, wrong, now_ms)},
        )
    if i % 3 == 1:  # an hour old
        return (
            f"/webhooks/quo/{connection_id}",
            body,
            {"openphone-signature": sign_legacy(body, wrong, now_ms - 3_600_000)},
        )
    return (
        f"/webhooks/quo/conn_{secrets.token_hex(8)}",
        body,
        {"openphone-signature": sign_legacy(body, wrong, now_ms)},
    )


async def _run(
    url: str, connection_id: str, key: str, duration: float, legit_rate: float,
    forged: int, flood_rate: float,
) -> dict[str, Any]:  # fmt: skip
    limits = httpx.Limits(max_connections=2 * IN_FLIGHT, max_keepalive_connections=2 * IN_FLIGHT)
    latencies: list[float] = []
    legit_ok = 0
    refused = 0
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def legit(i: int) -> None:
            nonlocal legit_ok
            body = _legit_body(i)
            headers = {"openphone-signature": sign_legacy(body, key, int(time.time() * 1000))}
            started = time.perf_counter()
            r = await client.post(f"/webhooks/quo/{connection_id}", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            legit_ok += r.status_code == 200

        async def forge(i: int) -> None:
            nonlocal refused
            path, body, headers = _forged(i, connection_id)
            r = await client.post(path, content=body, headers=headers)
            refused += r.status_code in (401, 404)

        async def schedule(count: int, rate: float, make: Any) -> None:
            # Bounded in flight: httpx's pool gets slow with thousands of waiting requests, and
            # the load generator must not be what limits the rate.
            gate = asyncio.Semaphore(IN_FLIGHT)

            async def gated(i: int) -> None:
                async with gate:
                    await make(i)

            tasks = []
            start = time.perf_counter()
            for i in range(count):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(gated(i)))
            await asyncio.gather(*tasks)

        n_legit = int(duration * legit_rate)
        jobs = [schedule(n_legit, legit_rate, legit)]
        if forged:
            jobs.append(schedule(forged, flood_rate, forge))
        await asyncio.gather(*jobs)
    ordered = sorted(latencies)
    return {
        "legit": n_legit,
        "legit_ok": legit_ok,
        "ack_p50_ms": round(statistics.median(ordered) * 1000, 1),
        "ack_p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1),
        **({"forged_sent": forged, "forged_refused": refused} if forged else {}),
    }


def _measure(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rejections = conn.execute("SELECT count(*) FROM webhook_rejections").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    return {
        "db_bytes": db_path.stat().st_size,
        "rejection_rows": int(rejections),
        "events": int(events),
    }


def one_run(args: argparse.Namespace, flood: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sb-flood-") as name:
        tmp = Path(name)
        _db_url, env, connection_id, key = _prepare(tmp)
        duration = args.forged / args.flood_rate
        with cli_server("serve", "--no-workers", ready_path="/healthz", env=env) as sb:
            result = asyncio.run(
                _run(
                    sb.url, connection_id, key, duration, args.legit_rate,
                    args.forged if flood else 0, args.flood_rate,
                )
            )  # fmt: skip
            time.sleep(2.0)  # let the post-response work and sampled rejection writes finish
        result.update(_measure(tmp / "switchboard.db"))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forged", type=int, default=10_000)
    parser.add_argument("--flood-rate", type=float, default=250.0)
    parser.add_argument("--legit-rate", type=float, default=20.0)
    args = parser.parse_args()
    baseline = one_run(args, flood=False)
    print("baseline", json.dumps(baseline), flush=True)
    flooded = one_run(args, flood=True)
    print("flood", json.dumps(flooded), flush=True)
    print(
        json.dumps(
            {
                "baseline": baseline,
                "flood": flooded,
                "db_ratio": round(flooded["db_bytes"] / baseline["db_bytes"], 3),
                "ack_p99_ratio": round(flooded["ack_p99_ms"] / baseline["ack_p99_ms"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
