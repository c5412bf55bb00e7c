"""Benchmark: the initial sync of 10,000 CRM people into Quo, against the emulators at their
real rate limits (Quo 10 req/s per key, Attio 100 reads/s + 25 writes/s, Pipedrive 80 requests
per 2 s per token, Quo bulk contacts visible after 2.5 s).

    .venv/bin/python bench/initial_sync.py [--crm attio|pipedrive] [--people 10000]
                                           [--database-url URL] [--timeline] [--permits]
                                           [--repeat]
                                           [--quo-latency-ms 150 --quo-jitter-ms 50]
                                           [--read-back source|external_ids]

The Quo and CRM emulators run as separate processes; the sync runs in this process (a
Switchboard runtime with workers, DBOS on a fresh SQLite file unless --database-url is given).
The last line printed is JSON:

    people, wall_s, quo_requests, <crm>_requests, quo_requests_per_contact, http_429,
    bound_ratio (wall ÷ the rate-limit lower bound quo_requests / 10 req/s), peak_rss_mb
    (this process: the sync), plus created/skipped/failed and the lower bound itself;
    quo_max_per_second (the emulator's largest count in any sliding second), quo_requests_per_s
    (over the run), quo_requests_per_s_steady (without its first and last 3 s) and
    quo_requests_per_s_posting (from the first to the last bulk POST Quo received: the rate the
    sync sustains while it has contacts to create; after the last POST only the read-back of
    what Quo is still processing remains). With
    --repeat: repeat_* and reconcile_* (wall, Quo writes, Quo and CRM requests) of a second
    initial sync and a reconcile of the unchanged workspace. With --permits: quo_permits, how
    long each kind of Quo request waited for the rate limiter (p50, max) and idle_s, the time
    no Quo request was waiting for it (the budget idles there unless requests are in flight).

Targets (issue #17): quo_requests_per_contact ≤ 0.045, bound_ratio ≤ 1.15, http_429 = 0;
with 150 ± 50 ms latency ≥ 9 Quo requests/s and quo_max_per_second ≤ 10; repeat and reconcile
0 Quo writes; peak_rss_mb ≤ 300 at 100,000 people.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import cli_server, quo_emulator  # noqa: E402

QUO_KEY = "bench-quo-key"
CRM_TOKEN = "bench-crm-token"
QUO_RATE = 10.0
# How often the bench asks DBOS whether the run ended (DBOS's default, 1 s, added up to a
# second to every wall time measured here).
RESULT_POLL_S = 0.05


def _stats(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/_emulator/stats", timeout=30).json())


def _count_429(stats: dict[str, Any]) -> int:
    return int((stats.get("perStatus") or {}).get("429", 0))


PERMITS: list[tuple[str, float, float]] = []  # (operation, asked, granted), with --permits


def _trace_permits() -> None:
    """Record when each Quo request asked the limiter for a permit and got it (a wrapper
    around `ApiClient._acquire`: a diagnosis for this bench only)."""
    from switchboard.http import client

    acquire = client.ApiClient._acquire

    async def traced(self: Any, limiter: Any, op: str, *rest: Any) -> Any:
        asked = time.monotonic()
        permit = await acquire(self, limiter, op, *rest)
        if self.provider == "quo":
            PERMITS.append((op, asked, time.monotonic()))
        return permit

    client.ApiClient._acquire = traced  # type: ignore[method-assign]


def _permit_summary() -> dict[str, Any]:
    waits: dict[str, list[float]] = {}
    for op, asked, granted in PERMITS:
        waits.setdefault(op, []).append(granted - asked)
    edges = sorted([(a, 1) for _, a, _ in PERMITS] + [(g, -1) for _, _, g in PERMITS])
    idle, waiting, last = 0.0, 0, edges[0][0] if edges else 0.0
    for at, step in edges:
        if waiting == 0:
            idle += at - last
        waiting, last = waiting + step, at
    return {
        "idle_s": round(idle, 2),
        **{
            op: {"n": len(w), "wait_p50_s": round(sorted(w)[len(w) // 2], 3),
                 "wait_max_s": round(max(w), 3)}
            for op, w in waits.items()
        },
    }  # fmt: skip


def _run(args: argparse.Namespace, quo_url: str, crm_url: str) -> dict[str, Any]:
    from dbos import DBOS

    from switchboard import connections
    from switchboard.config import Settings
    from switchboard.runtime import Runtime
    from switchboard.sync import start_initial_sync, sync_progress

    data_dir = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    settings = Settings(
        data_dir=data_dir,
        database_url=args.database_url or f"sqlite:///{data_dir / 'switchboard.db'}",
        log_level="WARNING",
        redis_url=args.redis_url,
    )
    rt = Runtime(settings, kind="bench").start()
    try:
        info = connections.create_connection(
            rt.db, rt.box, crm=args.crm, quo_api_key=QUO_KEY, crm_token=CRM_TOKEN,
            quo_base_url=quo_url, crm_base_url=crm_url, name="bench",
        )  # fmt: skip
        quo_before, crm_before = _stats(quo_url), _stats(crm_url)
        started, started_at = time.monotonic(), time.time()
        run_id, _ = start_initial_sync(rt.db, info.id)
        result = DBOS.retrieve_workflow(run_id).get_result(polling_interval_sec=RESULT_POLL_S)
        wall = time.monotonic() - started
        quo_after, crm_after = _stats(quo_url), _stats(crm_url)
        posting_rate = _posting_rate(quo_url, started_at)
        progress = sync_progress(rt.db, info.id, run_id=run_id) or {}
        repeats = _repeat_runs(rt.db, info.id, quo_url, crm_url) if args.repeat else {}
    finally:
        rt.stop()
    quo_requests = int(quo_after["total"]) - int(quo_before["total"])
    crm_requests = int(crm_after["total"]) - int(crm_before["total"])
    synced = int(progress.get("created", 0)) + int(progress.get("updated", 0))
    bound = quo_requests / QUO_RATE
    return {
        "people": int(progress.get("done", 0)),
        "wall_s": round(wall, 2),
        "quo_requests": quo_requests,
        f"{args.crm}_requests": crm_requests,
        "quo_requests_per_contact": round(quo_requests / max(synced, 1), 4),
        "http_429": _count_429(quo_after)
        - _count_429(quo_before)
        + _count_429(crm_after)
        - _count_429(crm_before),
        "http_429_quo": _count_429(quo_after) - _count_429(quo_before),
        "bound_s": round(bound, 2),
        "bound_ratio": round(wall / bound, 3) if bound else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_s": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_utime
            + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
            1,
        ),
        "created": progress.get("created"),
        "skipped": progress.get("skipped"),
        "failed": progress.get("failed"),
        "status": result.get("status") if isinstance(result, dict) else result,
        "quo_max_per_second": max((quo_after.get("maxPerSecondByKey") or {0: 0}).values()),
        "quo_requests_per_s": round(quo_requests / wall, 2),
        "quo_requests_per_s_steady": _steady_rate(quo_after),
        "quo_requests_per_s_posting": posting_rate,
        "quo_latency_ms": args.quo_latency_ms,
        "quo_jitter_ms": args.quo_jitter_ms,
        **repeats,
        **({"quo_timeline": _timeline(quo_after)} if args.timeline else {}),
        **({"quo_permits": _permit_summary()} if args.permits and PERMITS else {}),
        "quo_per_operation": {
            op: int(n) - int((quo_before.get("perOperation") or {}).get(op, 0))
            for op, n in (quo_after.get("perOperation") or {}).items()
        },
    }


QUO_WRITES = ("bulkCreateContacts", "createContact_v1", "updateContactById_v1", "deleteContact_v1")


def _writes(before: dict[str, Any], after: dict[str, Any]) -> int:
    ops_before, ops_after = before.get("perOperation") or {}, after.get("perOperation") or {}
    return sum(int(ops_after.get(op, 0)) - int(ops_before.get(op, 0)) for op in QUO_WRITES)


def _repeat_runs(db: Any, connection_id: str, quo_url: str, crm_url: str) -> dict[str, Any]:
    """The initial sync again, then `sync --reconcile`, on the unchanged workspace."""
    from dbos import DBOS

    from switchboard.sync import start_initial_sync, start_reconcile

    out: dict[str, Any] = {}
    for name, start in (("repeat", start_initial_sync), ("reconcile", start_reconcile)):
        quo_before, crm_before = _stats(quo_url), _stats(crm_url)
        started = time.monotonic()
        run_id, _ = start(db, connection_id)
        DBOS.retrieve_workflow(run_id).get_result(polling_interval_sec=RESULT_POLL_S)
        quo_after, crm_after = _stats(quo_url), _stats(crm_url)
        out[f"{name}_wall_s"] = round(time.monotonic() - started, 2)
        out[f"{name}_quo_writes"] = _writes(quo_before, quo_after)
        out[f"{name}_quo_requests"] = int(quo_after["total"]) - int(quo_before["total"])
        out[f"{name}_crm_requests"] = int(crm_after["total"]) - int(crm_before["total"])
    return out


def _steady_rate(stats: dict[str, Any]) -> float | None:
    """Quo requests/s between the first and the last 3 s of the run (start-up and the last bulk
    batch's processing delay excluded)."""
    busy = _timeline(stats)[3:-3]
    return round(sum(busy) / len(busy), 2) if busy else None


def _posting_rate(quo_url: str, since: float) -> float | None:
    """Quo requests/s from the first to the last bulk POST of the run, as Quo received them."""
    log = httpx.get(
        f"{quo_url}/_emulator/requests", params={"key": QUO_KEY, "since": since}, timeout=60
    ).json()["data"]
    posts = [e["ts"] for e in log if e["operation"] == "bulkCreateContacts"]
    if len(posts) < 2 or posts[-1] <= posts[0]:
        return None
    between = sum(1 for e in log if posts[0] <= e["ts"] <= posts[-1])
    return round((between - 1) / (posts[-1] - posts[0]), 2)


def _timeline(stats: dict[str, Any]) -> list[int]:
    """Quo requests per second of the run (diagnosis: gaps show where the budget idled)."""
    per = (stats.get("perKeyPerSecond") or {}).get(QUO_KEY) or {}
    if not per:
        return []
    seconds = sorted(int(k) for k in per)
    return [int(per.get(str(t), 0)) for t in range(seconds[0], seconds[-1] + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crm", default="attio", help="A registered CRM with an emulator.")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SWITCHBOARD_REDIS_URL"),
        help="Share the rate limits through Redis instead of the database.",
    )
    parser.add_argument("--timeline", action="store_true", help="Add Quo requests per second.")
    parser.add_argument(
        "--permits", action="store_true", help="Add Quo permit waits and limiter idle time."
    )
    parser.add_argument("--quo-latency-ms", type=float, default=0.0, help="Quo emulator latency.")
    parser.add_argument("--quo-jitter-ms", type=float, default=0.0, help="...plus up to this.")
    parser.add_argument(
        "--repeat", action="store_true", help="Then sync again and reconcile: Quo writes of each."
    )
    parser.add_argument(
        "--read-back", choices=("source", "external_ids"), help="SWITCHBOARD_SYNC_READ_BACK."
    )
    args = parser.parse_args()
    if args.read_back:
        os.environ["SWITCHBOARD_SYNC_READ_BACK"] = args.read_back
    if args.permits:
        _trace_permits()
    with (
        quo_emulator("--api-key", QUO_KEY) as quo,
        cli_server(
            "emulate", args.crm, "--token", CRM_TOKEN, "--people", str(args.people),
            "--seed", str(args.seed), ready_path="/_emulator/health", timeout=120,
        ) as crm,
    ):  # fmt: skip
        if args.quo_latency_ms or args.quo_jitter_ms:
            httpx.put(
                f"{quo.url}/_emulator/faults",
                json={"latency_ms": args.quo_latency_ms, "latency_jitter_ms": args.quo_jitter_ms},
                timeout=30,
            ).raise_for_status()
        out = _run(args, quo.url, crm.url)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
