"""Benchmark: many customers at once — N connections, each with its own Quo key and CRM
workspace, run their initial syncs side by side while calls keep arriving on every connection.

    .venv/bin/python bench/many_connections.py [--connections 10] [--people 2000]
                                               [--calls 0.5] [--workers 2]
                                               [--database-url URL] [--ack-proxy]
                                               [--redis-url redis://127.0.0.1:6379/0]

One Quo emulator holds one workspace (and API key) per connection; one Attio emulator holds one
workspace (and token) per connection, seeded with `--people` people plus the callers of
`tests/activity/harness.py`. Switchboard runs as one `serve --no-workers` and `--workers`
`worker` processes, all on a fresh PostgreSQL database (`--database-url` names another). Quo
delivers its webhooks straight to `serve`, and the acknowledgements are timed by `serve` itself
(its `switchboard_webhook_ack_seconds` histogram, scraped from `/metrics` before and after the
syncs): on a 2-core machine a timing proxy in this process competes for the CPU it measures.
`--ack-proxy` puts bench/activity.py's measuring proxy in between as well (`proxy_ack_*`).
`--redis-url` keeps the Quo keys' rate-limit state in Redis instead of the database. Every
connection's initial sync is started at once; while any runs, each connection gets `--calls`
simulated calls per second (open loop, every kind of call, bench/activity.py's scenarios).

The last line printed is JSON:

- `connections`: per connection `people` (done), `wall_s` (its run's started → finished),
  `quo_requests` (its key, during its run, calls included), `bound_ratio` (wall ÷ those
  requests / 10 req/s), `quo_max_per_second` (its key, any sliding second);
- `bound_ratio_max`, `quo_requests_per_s` (all keys, first run's start → last run's end),
  `ack_p50_ms` / `ack_p99_ms` (Quo webhook acknowledgements during the syncs, from serve's
  histogram, interpolated within a bucket as Prometheus' histogram_quantile does),
  `ack_within_50ms` (their share answered within 50 ms: exact, 50 ms is a bucket bound),
  `event_to_note_p50_ms` / `_p99_ms` (ledger received → processed, events received during the
  syncs that wrote a note), split by DBOS's timestamps of those events' workflows into
  `event_queue_wait_p50_ms` (enqueued → a worker took it) and `event_run_p50_ms` (taken →
  finished; a call's phases run one at a time, so a later phase waits in the queue behind its
  earlier ones), `http_429_quo` / `http_429_crm`, `calls`, `statuses`,
  `quo_per_operation` (all keys, from the syncs' start until everything settled);
- `cpu_s`: CPU seconds per process (group) from the syncs' start until everything settled —
  `quo`, `attio`, `serve`, `worker<n>`, `postgres` (every backend, other clients' included),
  `redis` (the server, when one runs) and `bench` (this process) — over `cpu_wall_s`;
  `loadavg` at the end. On a 2-core machine the figures only mean something when the emulators
  and the bench take a small share.

Targets (issue #17, acceptance 4, 10 × 2,000 on an idle machine): every bound_ratio ≤ 1.3,
ack_p99_ms ≤ 50, event_to_note_p50_ms ≤ 2000, 0 × 429.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cpu_times import CpuSnapshot  # noqa: E402
from initial_sync import _count_429  # noqa: E402
from tests.activity.harness import (  # noqa: E402
    KNOWN,
    WEBHOOK_KINDS,
    Worker,
    call_scenarios,
    temp_dir,
)
from tests.servers import cli_server  # noqa: E402

from activity import AckProxy, fresh_postgres, pct  # noqa: E402
from switchboard.emulators.common import run_in_thread  # noqa: E402

QUO_RATE = 10.0
ADMIN_TOKEN = "bench-admin-token-many"


def _quo_key(n: int) -> str:
    return f"bench-quo-key-{n}"


def _crm_token(n: int) -> str:
    return f"bench-attio-token-{n}"


class Tenants:
    """The emulators' side: one Quo workspace and one Attio workspace per connection."""

    def __init__(self, quo_url: str, crm_url: str) -> None:
        self.quo_url, self.crm_url = quo_url, crm_url
        self.http = httpx.Client(timeout=120)

    def add(self, n: int, people: int, seed: int) -> None:
        if n > 0:  # workspace 0 was made by the emulators' command lines
            self._post(self.quo_url, "/_emulator/workspaces", {"apiKey": _quo_key(n)})
            body = {"name": f"Tenant {n}", "slug": f"tenant{n}", "token": _crm_token(n)}
            self._post(self.crm_url, "/_emulator/workspaces", body)
        slug = "default" if n == 0 else f"tenant{n}"
        if n > 0:
            self._post(self.crm_url, f"/_emulator/workspaces/{slug}/seed", {"people": people})
        for i, phone in enumerate(KNOWN):
            values = {
                "name": [{"first_name": "Caller", "last_name": str(i), "full_name": f"Caller {i}"}],
                "phone_numbers": [{"original_phone_number": phone}],
            }
            path = f"/_emulator/workspaces/{slug}/objects/people/records"
            self._post(self.crm_url, path, {"values": values})

    def simulate_call(self, n: int, body: dict[str, Any]) -> None:
        self._post(self.quo_url, "/_emulator/calls", {"workspace": _quo_key(n), **body})

    def stats(self, url: str) -> dict[str, Any]:
        return dict(self.http.get(f"{url}/_emulator/stats").json())

    def _post(self, base: str, path: str, body: dict[str, Any]) -> Any:
        r = self.http.post(base + path, json=body)
        r.raise_for_status()
        return r.json() if r.content else None


def _connect(db_url: str, tmp: Path, secret: str, n: int, quo_url: str, crm_url: str) -> str:
    from switchboard import connections
    from switchboard.config import Settings
    from switchboard.crypto import secret_box
    from switchboard.store.db import Database

    db = Database(db_url)
    try:
        box = secret_box(Settings(data_dir=tmp, database_url=db_url, secret_key=secret))
        info = connections.create_connection(
            db, box, crm="attio", quo_api_key=_quo_key(n), crm_token=_crm_token(n),
            quo_base_url=quo_url, crm_base_url=crm_url, name=f"tenant {n}",
        )  # fmt: skip
        return str(info.id)
    finally:
        db.dispose()


def _subscribe(
    db_url: str, tmp: Path, secret: str, conn: str, key: str, quo_url: str, target: str
) -> None:
    """The connection's Quo webhooks (one per kind) pointing at the measuring proxy."""
    from switchboard import connections
    from switchboard.config import Settings
    from switchboard.crypto import secret_box
    from switchboard.store.db import Database

    db = Database(db_url)
    box = secret_box(Settings(data_dir=tmp, database_url=db_url, secret_key=secret))
    url = f"{target}/webhooks/quo/{conn}"
    try:
        for kind, events in WEBHOOK_KINDS.items():
            r = httpx.post(
                f"{quo_url}/v1/webhooks/{kind}",
                headers={"Authorization": key},
                json={"url": url, "events": events, "resourceIds": ["*"]},
                timeout=30,
            )
            r.raise_for_status()
            hook = r.json()["data"]
            connections.add_subscription(
                db, box, connection_id=conn, provider="quo", remote_id=hook["id"], kind=kind,
                url=url, events=events, resource_ids=["*"], key=hook["key"],
            )  # fmt: skip
    finally:
        db.dispose()


def _ack_histogram(client: httpx.Client, url: str) -> dict[float, float]:
    """serve's cumulative Quo webhook acknowledgement buckets: {upper bound s: count}."""
    from prometheus_client.parser import text_string_to_metric_families

    r = client.get(f"{url}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    r.raise_for_status()
    out: dict[float, float] = {}
    for family in text_string_to_metric_families(r.text):
        if family.name != "switchboard_webhook_ack_seconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            ours = labels.get("provider") == "quo" and labels.get("result") == "ok"
            if sample.name.endswith("_bucket") and ours:
                bound = float(labels["le"])
                out[bound] = out.get(bound, 0.0) + sample.value
    return out


def _histogram_quantile(buckets: dict[float, float], q: float) -> float:
    """Prometheus' histogram_quantile over cumulative buckets, in ms (0 when empty)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return 0.0
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return round(lower * 1000, 1)  # beyond the last finite bound: report it
            share = (rank - below) / (count - below) if count > below else 1.0
            return round((lower + (bound - lower) * share) * 1000, 1)
        lower, below = bound, count
    return round(lower * 1000, 1)


def _queue_and_run_ms(db: Any, event_ids: set[str]) -> tuple[list[float], list[float]]:
    """For these events' workflows: enqueued → dequeued (waiting for a slot) and dequeued →
    last update (running), in ms, from DBOS's own timestamps."""
    from sqlalchemy import text

    waits, runs = [], []
    with db.workflow_tables() as (conn, schema):
        rows = conn.execute(
            text(
                f"SELECT workflow_uuid, created_at, started_at_epoch_ms, updated_at "
                f"FROM {schema}workflow_status WHERE queue_name = 'activity'"
            )
        )
        for wid, created, started, updated in rows:
            if wid in event_ids and started is not None:
                waits.append(float(started - created))
                runs.append(float(updated - started))
    return waits, runs


def _epoch(value: Any) -> float:
    """Seconds since the epoch of a stored time (naive ones are UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _runs_done(db: Any, conns: list[str]) -> list[dict[str, Any] | None]:
    from switchboard.sync import sync_progress

    return [sync_progress(db, c, "initial") for c in conns]


def _wait_settled(tenants: Tenants, db: Any, conns: list[str], timeout: float = 300) -> None:
    """Until Quo delivered every webhook and every event of these connections has finished."""
    from switchboard.ledger import FINAL_STATUSES, list_events

    tenants.http.post(f"{tenants.quo_url}/_emulator/deliveries/wait", params={"timeout": timeout})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e for c in conns for e in list_events(db, connection_id=c, limit=100_000)]
        if all(e.status in FINAL_STATUSES for e in events):
            return
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--people", type=int, default=2000, help="CRM people per connection")
    ap.add_argument(
        "--calls", "--calls-per-s", dest="calls_per_s", type=float, default=0.5,
        help="calls per second on each connection (open loop)",
    )  # fmt: skip
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--sync-concurrency", type=int, default=None,
        help="SWITCHBOARD_SYNC_CONCURRENCY (syncs per worker; default: connections ÷ workers, "
        "rounded up, so the runs spread over the workers instead of all going to the first "
        "worker that polls the sync queue)",
    )  # fmt: skip
    ap.add_argument("--database-url", default=None, help="default: a fresh local PostgreSQL db")
    ap.add_argument(
        "--redis-url", default=None,
        help="keep the Quo keys' rate-limit state in Redis (SWITCHBOARD_REDIS_URL) instead of "
        "the database's rate_buckets / rate_permits tables",
    )  # fmt: skip
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--ack-proxy", action="store_true",
        help="also time acknowledgements through a proxy in this process (proxy_ack_*)",
    )  # fmt: skip
    args = ap.parse_args()
    rng = random.Random(args.seed)
    sync_slots = args.sync_concurrency or max(1, -(-args.connections // max(args.workers, 1)))
    tmp = temp_dir("sb-bench-many-")
    proxy = AckProxy()
    from switchboard.crypto import generate_master_key
    from switchboard.ledger import list_events
    from switchboard.store.db import Database, migrate

    secret = generate_master_key()
    with ExitStack() as stack:
        db_url = args.database_url or stack.enter_context(fresh_postgres())
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "SWITCHBOARD_DATA_DIR": str(tmp),
            "SWITCHBOARD_DATABASE_URL": db_url,
            "SWITCHBOARD_SECRET_KEY": secret,
            "SWITCHBOARD_LOG_LEVEL": "WARNING",
            "SWITCHBOARD_VOICEMAIL_DELAY_S": "0.5",
            "SWITCHBOARD_ADMIN_TOKEN": ADMIN_TOKEN,
            "SWITCHBOARD_SYNC_CONCURRENCY": str(sync_slots),
        }
        env.pop("SWITCHBOARD_REDIS_URL", None)  # only --redis-url chooses the limiter store
        if args.redis_url:
            env["SWITCHBOARD_REDIS_URL"] = args.redis_url
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        quo = stack.enter_context(
            cli_server(
                "emulate", "quo", "--api-key", _quo_key(0), "--phase-scale", "0", "--seed", "7",
                ready_path="/_emulator/health",
            )
        )  # fmt: skip
        crm = stack.enter_context(
            cli_server(
                "emulate", "attio", "--token", _crm_token(0), "--people", str(args.people),
                "--seed", "7", ready_path="/_emulator/health", timeout=120,
            )
        )  # fmt: skip
        tenants = Tenants(quo.url, crm.url)
        stack.callback(tenants.http.close)
        for n in range(args.connections):
            tenants.add(n, args.people, args.seed + n)
        migrate(db_url)
        conns = [
            _connect(db_url, tmp, secret, n, quo.url, crm.url) for n in range(args.connections)
        ]
        sb = stack.enter_context(
            cli_server("serve", "--no-workers", ready_path="/healthz", env=env)
        )
        hook_target = sb.url
        if args.ack_proxy:
            hook_target = stack.enter_context(run_in_thread(proxy)).url
            proxy.target = sb.url
        workers = []
        for n in range(args.workers):
            worker = Worker(env, tmp)
            worker.starts = 100 * n
            worker.start()
            stack.callback(worker.stop)
            workers.append(worker)
        for n, conn in enumerate(conns):
            _subscribe(db_url, tmp, secret, conn, _quo_key(n), quo.url, hook_target)

        db = Database(db_url)
        stack.callback(db.dispose)
        quo_before, crm_before = tenants.stats(quo.url), tenants.stats(crm.url)
        groups = {"quo": quo.process.pid, "attio": crm.process.pid, "serve": sb.process.pid}
        groups |= {f"worker{n}": w.process.pid for n, w in enumerate(workers) if w.process}
        cpu_before = CpuSnapshot.take(groups)
        wall_before = time.monotonic()
        acks_before = len(proxy.acks_ms)
        hist_before = _ack_histogram(tenants.http, sb.url)
        for c in conns:  # through the admin API: every run is enqueued within a moment
            r = tenants.http.post(f"{sb.url}/api/connections/{c}/sync", headers=admin)
            r.raise_for_status()

        # ---- calls on every connection while any sync runs
        stop = threading.Event()
        calls = Counter[int]()

        def call_stream() -> None:
            t0, sent = time.monotonic(), 0
            interval = 1.0 / (args.calls_per_s * args.connections)
            while not stop.is_set():
                n = sent % args.connections
                tenants.simulate_call(n, call_scenarios(rng, calls[n] + 1)[-1])
                calls[n] += 1
                sent += 1
                delay = t0 + sent * interval - time.monotonic()
                if delay > 0:
                    stop.wait(delay)

        streamer = threading.Thread(target=call_stream, daemon=True)
        streamer.start()
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            runs = _runs_done(db, conns)
            if all(r is not None and r["status"] in ("succeeded", "failed") for r in runs):
                break
            time.sleep(0.5)
        stop.set()
        streamer.join(30)
        acks = proxy.acks_ms[acks_before:]
        hist_after = _ack_histogram(tenants.http, sb.url)
        hist = {b: c - hist_before.get(b, 0.0) for b, c in hist_after.items()}
        _wait_settled(tenants, db, conns)
        cpu_used = CpuSnapshot.take(groups).minus(cpu_before)
        cpu_wall = time.monotonic() - wall_before
        quo_after, crm_after = tenants.stats(quo.url), tenants.stats(crm.url)

        per_conn: list[dict[str, Any]] = []
        first_start, last_end = float("inf"), 0.0
        per_key = quo_after.get("perKeyPerSecond") or {}
        for n, (conn, run) in enumerate(zip(conns, runs, strict=True)):
            assert run is not None
            start, end = _epoch(run["started_at"]), _epoch(run["finished_at"])
            first_start, last_end = min(first_start, start), max(last_end, end)
            seconds = per_key.get(_quo_key(n)) or {}
            requests = sum(c for s, c in seconds.items() if start - 1 < int(s) <= end)
            wall = end - start
            bound = requests / QUO_RATE
            per_conn.append(
                {
                    "connection": conn,
                    "status": run["status"],
                    "people": run["done"],
                    "wall_s": round(wall, 2),
                    "quo_requests": requests,
                    "bound_ratio": round(wall / bound, 3) if bound else None,
                    "quo_max_per_second": (quo_after.get("maxPerSecondByKey") or {}).get(
                        _quo_key(n)
                    ),
                }
            )
        events = [e for c in conns for e in list_events(db, connection_id=c, limit=100_000)]
        during = [e for e in events if first_start <= _epoch(e.received_at) <= last_end]
        to_note = [
            (e.processed_at - e.received_at).total_seconds() * 1000
            for e in during
            if e.processed_at is not None and e.detail.get("notes")
        ]
        waits, run_times = _queue_and_run_ms(
            db, {e.id for e in during if e.processed_at is not None and e.detail.get("notes")}
        )
        total_quo = sum(
            c
            for seconds in per_key.values()
            for s, c in seconds.items()
            if first_start - 1 < int(s) <= last_end
        )
        ratios = [c["bound_ratio"] for c in per_conn if c["bound_ratio"] is not None]
        result = {
            "connections": per_conn,
            "bound_ratio_max": max(ratios, default=None),
            "sync_wall_s": round(last_end - first_start, 2),
            "quo_requests_per_s": round(total_quo / max(last_end - first_start, 1e-9), 2),
            "ack_p50_ms": _histogram_quantile(hist, 0.50),
            "ack_p99_ms": _histogram_quantile(hist, 0.99),
            "ack_within_50ms": round(hist.get(0.05, 0.0) / max(hist.get(float("inf"), 0.0), 1), 4),
            "acks": int(hist.get(float("inf"), 0.0)),
            **(
                {"proxy_ack_p50_ms": pct(acks, 0.50), "proxy_ack_p99_ms": pct(acks, 0.99)}
                if args.ack_proxy
                else {}
            ),
            "event_to_note_p50_ms": pct(to_note, 0.50),
            "event_to_note_p99_ms": pct(to_note, 0.99),
            "event_queue_wait_p50_ms": pct(waits, 0.50),
            "event_run_p50_ms": pct(run_times, 0.50),
            "events_during_syncs": len(during),
            "notes_during_syncs": len(to_note),
            "http_429_quo": _count_429(quo_after) - _count_429(quo_before),
            "http_429_crm": _count_429(crm_after) - _count_429(crm_before),
            "calls": sum(calls.values()),
            "quo_per_operation": {
                op: int(n) - int((quo_before.get("perOperation") or {}).get(op, 0))
                for op, n in (quo_after.get("perOperation") or {}).items()
            },
            "statuses": dict(sorted(Counter(e.status for e in events).items())),
            "cpu_s": cpu_used,
            "cpu_wall_s": round(cpu_wall, 1),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "people_per_connection": args.people,
            "workers": args.workers,
            "sync_concurrency": sync_slots,
            "database": "postgresql" if db_url.startswith("postgres") else "sqlite",
            "rate_limit_store": "redis" if args.redis_url else "database",
        }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
