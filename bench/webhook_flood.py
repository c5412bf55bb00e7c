"""Benchmark: a flood of forged webhooks next to legitimate ones — database size and ack p99.

    .venv/bin/python bench/webhook_flood.py [--forged 10000] [--flood-rate 250] [--legit-rate 20]
                                            [--rounds 1] [--connections 32]

Each round is two runs, each against a fresh SQLite database and a fresh `switchboard serve
--no-workers` process (no emulators needed: the legitimate events are signed Quo events of a type
no handler takes, so each is one ledger row and an `ignored` status, the same ack path as any
event):

- baseline: legitimate signed webhooks at `--legit-rate` per second for as long as the flood
  takes (`--forged` ÷ `--flood-rate` seconds);
- flood: the same legitimate schedule, plus `--forged` forged requests at `--flood-rate` per
  second, a third each: wrong signature on the real connection (401), a timestamp an hour old
  (401), and made-up connection ids (404).

Fairness on a small machine: the flood comes from its own process, a paced open loop (request
`i` leaves at `i / rate`) over `--connections` keep-alive connections, with every request built
before the clock starts and written as raw bytes — a cheap client, as a real attacker's would be,
so what is measured is the server's cost, not the load generator fighting it for the CPU. Its
achieved rate and CPU use are reported (`flood_rate_achieved`, `flood_client_cpu_s`). The
legitimate stream (httpx, at most 32 in flight) is timed from when each request is sent. The
server's own CPU seconds over the run are reported too (`server_cpu_s`).

Afterwards the WAL is checkpointed and the database file measured. Each run prints a JSON line;
the last line printed is JSON with `rounds` (each: `baseline`, `flood`, `db_ratio`,
`ack_p99_ratio`, and `refusal_cpu_ms`: the server CPU the flood added, per forged request) and the
medians over the rounds of those and of each side's ack p50/p99; `db_ratio` and `ack_p99_ratio`
are flood ÷ baseline, the target ≤ 1.10 each. With several rounds, baseline and flood runs
alternate, so a change in the machine's load hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import cli_server

from switchboard import connections
from switchboard.config import Settings
from switchboard.crypto import secret_box
from switchboard.quo.signatures import sign_legacy
from switchboard.store.db import Database, migrate

LEGIT_IN_FLIGHT = 32


def _prepare(tmp: Path) -> tuple[dict[str, str], str, str]:
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
    return env, info.id, key


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


def _forged(i: int, connection_id: str, host: str) -> bytes:
    """Forged request `i` as raw HTTP/1.1 bytes."""
    body = _legit_body(1_000_000 + i)
    now_ms = int(time.time() * 1000)
    wrong = base64.b64encode(secrets.token_bytes(32)).decode()
    path = f"/webhooks/quo/{connection_id}"
    if i % 3 == 0:  # signed with a key that is not the connection's
        signature = sign_legacy(body, wrong, now_ms)
    elif i % 3 == 1:  # an hour old
        signature = sign_legacy(body, wrong, now_ms - 3_600_000)
    else:  # a made-up connection id
        path = f"/webhooks/quo/conn_{secrets.token_hex(8)}"
        signature = sign_legacy(body, wrong, now_ms)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nopenphone-signature: {signature}\r\n\r\n"
    )
    return head.encode() + body


async def _read_status(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; its status and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
    await reader.readexactly(int(fields.get("content-length", "0")))
    return status, fields.get("connection", "").lower() != "close"


async def _flood(
    host: str, port: int, requests: list[bytes], rate: float, connections_n: int, start_at: float
) -> dict[str, Any]:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    statuses: Counter[int] = Counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        while (request := await queue.get()) is not None:
            try:
                writer.write(request)
                status, keep = await _read_status(reader)
            except (OSError, asyncio.IncompleteReadError):
                status, keep = 0, False
            statuses[status] += 1
            if not keep:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections_n)]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    began = time.perf_counter()
    for i, request in enumerate(requests):
        delay = began + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(request)
    sent_in = time.perf_counter() - began
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return {"statuses": dict(statuses), "sent_in_s": sent_in}


def _flood_process(
    host: str, port: int, connection_id: str, count: int, rate: float, connections_n: int,
    start_at: float, out: Any,
) -> None:  # fmt: skip
    """The flooding client, in its own process (its CPU never delays the legitimate client)."""
    requests = [_forged(i, connection_id, f"{host}:{port}") for i in range(count)]
    cpu_before = time.process_time()
    result = asyncio.run(_flood(host, port, requests, rate, connections_n, start_at))
    result["cpu_s"] = time.process_time() - cpu_before
    out.put(result)


async def _legit(
    url: str, connection_id: str, key: str, count: int, rate: float, start_at: float
) -> tuple[list[float], int]:
    limits = httpx.Limits(
        max_connections=LEGIT_IN_FLIGHT, max_keepalive_connections=LEGIT_IN_FLIGHT
    )
    latencies: list[float] = []
    ok = 0
    gate = asyncio.Semaphore(LEGIT_IN_FLIGHT)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            nonlocal ok
            async with gate:
                body = _legit_body(i)
                headers = {"openphone-signature": sign_legacy(body, key, int(time.time() * 1000))}
                started = time.perf_counter()
                r = await client.post(
                    f"/webhooks/quo/{connection_id}", content=body, headers=headers
                )
                latencies.append(time.perf_counter() - started)
                ok += r.status_code == 200

        await client.get("/healthz")  # open one connection before the clock starts
        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.perf_counter()
        tasks = []
        for i in range(count):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies, ok


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


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def one_run(args: argparse.Namespace, flood: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sb-flood-") as name:
        tmp = Path(name)
        env, connection_id, key = _prepare(tmp)
        duration = args.forged / args.flood_rate
        n_legit = int(duration * args.legit_rate)
        with cli_server("serve", "--no-workers", ready_path="/healthz", env=env) as sb:
            start_at = time.time() + 3.0  # time for the flood process to build its requests
            flooder = None
            if flood:
                ctx = multiprocessing.get_context("spawn")
                out = ctx.Queue()
                flooder = ctx.Process(
                    target=_flood_process,
                    args=(sb.host, sb.port, connection_id, args.forged, args.flood_rate,
                          args.connections, start_at, out),
                )  # fmt: skip
                flooder.start()
            cpu_before = _cpu_s(sb.process.pid)
            latencies, ok = asyncio.run(
                _legit(sb.url, connection_id, key, n_legit, args.legit_rate, start_at)
            )
            flood_result = out.get() if flooder is not None else None
            if flooder is not None:
                flooder.join()
            server_cpu = _cpu_s(sb.process.pid) - cpu_before
            time.sleep(2.0)  # let the post-response work and sampled rejection writes finish
        ordered = sorted(latencies)
        result: dict[str, Any] = {
            "legit": n_legit,
            "legit_ok": ok,
            "ack_p50_ms": round(statistics.median(ordered) * 1000, 1),
            "ack_p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1),
            "server_cpu_s": round(server_cpu, 1),
        }
        if flood_result is not None:
            statuses = flood_result["statuses"]
            result.update(
                forged_sent=args.forged,
                forged_refused=statuses.get(401, 0) + statuses.get(404, 0),
                forged_statuses={str(k): v for k, v in sorted(statuses.items())},
                flood_rate_achieved=round(args.forged / flood_result["sent_in_s"], 1),
                flood_client_cpu_s=round(flood_result["cpu_s"], 1),
            )
        result.update(_measure(tmp / "switchboard.db"))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--forged", type=int, default=10_000)
    parser.add_argument("--flood-rate", type=float, default=250.0)
    parser.add_argument("--legit-rate", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32, help="flood connections")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    print("load average before:", os.getloadavg(), flush=True)
    rounds = []
    for n in range(args.rounds):
        # Alternate which run goes first, so a drift in the machine's load hits both alike.
        order = (False, True) if n % 2 == 0 else (True, False)
        runs = {}
        for flood in order:
            runs[flood] = one_run(args, flood=flood)
            print("flood" if flood else "baseline", json.dumps(runs[flood]), flush=True)
        baseline, flooded = runs[False], runs[True]
        rounds.append(
            {
                "baseline": baseline,
                "flood": flooded,
                "db_ratio": round(flooded["db_bytes"] / baseline["db_bytes"], 3),
                "ack_p99_ratio": round(flooded["ack_p99_ms"] / baseline["ack_p99_ms"], 3),
                # What the flood added to the server's CPU, per forged request.
                "refusal_cpu_ms": round(
                    (flooded["server_cpu_s"] - baseline["server_cpu_s"]) * 1000 / args.forged, 3
                ),
            }
        )
    print("load average after:", os.getloadavg(), flush=True)

    def median(key: str, run: str | None = None) -> float:
        return statistics.median((r[run][key] if run else r[key]) for r in rounds)

    print(
        json.dumps(
            {
                "rounds": rounds,
                "baseline_ack_p50_ms": median("ack_p50_ms", "baseline"),
                "baseline_ack_p99_ms": median("ack_p99_ms", "baseline"),
                "flood_ack_p50_ms": median("ack_p50_ms", "flood"),
                "flood_ack_p99_ms": median("ack_p99_ms", "flood"),
                "refusal_cpu_ms": median("refusal_cpu_ms"),
                "db_ratio": median("db_ratio"),
                "ack_p99_ratio": median("ack_p99_ratio"),
            }
        )
    )


if __name__ == "__main__":
    main()
