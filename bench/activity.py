"""Benchmark: Quo events → CRM notes (Attio) or call logs and notes (Pipedrive) through the
whole system, emulators at zero latency.

    .venv/bin/python bench/activity.py [--crm attio|pipedrive] [--events 2000] [--rate 20]
                                       [--unsynced] [--postgres]

The Quo emulator, the Attio emulator, a web-only `switchboard serve` and a `switchboard worker`
run as separate processes (tests/activity/harness.py). 30 people are created in Attio and, as on
any connection, Switchboard's initial contact sync runs first so they are in the sync mapping
(`--unsynced` skips it: every caller is then searched in Attio, one read per call or text).
Calls of every kind and texts are simulated on the Quo emulator at `--rate` events per second
(open loop; calls first, then texts) until `--events` webhooks have been delivered; Quo
delivers them to a measuring proxy in this process that forwards each request unchanged to
Switchboard and times the answer (the acknowledgement).

The last line printed is JSON with:

- `events` (distinct webhooks acknowledged; Quo's redeliveries are not counted), `wall_s`,
  `events_per_s` (events ÷ time from the first delivery until everything settled);
- `ack_p50_ms`, `ack_p99_ms`: Switchboard's response time to the webhook POST;
- `event_to_note_p50_ms`, `event_to_note_p99_ms`: for events that led to a note write (or found
  their content already written by a coalesced earlier phase), ledger `received_at` → the event
  finished (`processed_at`, after the note write);
- `quo_requests_per_call_event`, `<crm>_requests_per_call_event`: requests the emulators logged
  during the call phase ÷ call events handled (`call.completed`, `.recording`, `.summary`,
  `.transcript`); also `..._per_call_completed` and the texts' figures;
- `duplicate_notes`, `missing_notes`, `wrong_notes` (content differing from the renderer's
  output for the call's final state read back over Quo's REST API).

Targets (issue 6): ack_p99_ms ≤ 50, event_to_note_p50_ms ≤ 1000, quo ≤ 1 and attio ≤ 2 per call
event, zero duplicate and missing notes.

The default rate, 20 events/s, stays inside Attio's write limit (25 writes/s per workspace):
every text is one note write and a call about 1.2, so above ~24 texts/s the writes queue behind
Switchboard's own Attio rate limiter and event_to_note grows with the backlog; that is the
provider's bound, not Switchboard's (`--rate 40` shows it; `--dump` writes the timeline).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.activity.harness import (  # noqa: E402
    KNOWN,
    UNKNOWN,
    ActivityStack,
    call_scenarios,
    temp_dir,
    verify_notes,
)

from switchboard.emulators.common import run_in_thread  # noqa: E402

CALL_TYPES = (
    "call.completed",
    "call.recording.completed",
    "call.summary.completed",
    "call.transcript.completed",
)


class AckProxy:
    """ASGI app: forwards every request to `target` and records how long the answer took."""

    def __init__(self) -> None:
        self.target = ""
        self.acks_ms: list[float] = []
        self.first_at: float | None = None
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._client = httpx.AsyncClient(
                        timeout=30, limits=httpx.Limits(max_connections=64)
                    )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._client is not None:
                        await self._client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {
            k.decode(): v.decode()
            for k, v in scope["headers"]
            if k.decode().lower() not in ("host", "content-length")
        }
        assert self._client is not None
        started = time.perf_counter()
        if self.first_at is None:
            self.first_at = time.monotonic()
        response = await self._client.post(
            self.target + scope["path"], content=body, headers=headers
        )
        elapsed = (time.perf_counter() - started) * 1000
        with self._lock:
            self.acks_ms.append(elapsed)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": response.content})


@contextmanager
def fresh_postgres(admin: str = "postgresql://postgres@127.0.0.1:5432/test") -> Iterator[str]:
    import uuid

    import psycopg

    name = f"sb_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def expected_events(sim: dict[str, Any]) -> int:
    return sum(len(ids) for ids in (sim.get("webhooks") or {}).values())


def dump_timeline(path: Path, sb: ActivityStack, events: list[Any]) -> None:
    """Attio's request log and each event's received/processed times, for finding where time
    goes (requests per second against Attio's limits, events behind)."""
    attio_log = sb.attio_request_log()
    path.write_text(
        json.dumps(
            {
                "attio_requests": attio_log,
                "events": [
                    {
                        "type": e.event_type,
                        "status": e.status,
                        "received": e.received_at.timestamp(),
                        "processed": e.processed_at.timestamp() if e.processed_at else None,
                    }
                    for e in events
                ],
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--crm", default="attio", help="attio or pipedrive")
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=20.0, help="webhooks per second (open loop)")
    ap.add_argument("--message-share", type=float, default=0.25)
    ap.add_argument("--database-url", default=None)
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="use a fresh database on the local PostgreSQL (postgresql://postgres@127.0.0.1/test)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dump", default=None, help="write a JSON timeline of requests and events")
    ap.add_argument(
        "--unsynced",
        action="store_true",
        help="skip the initial contact sync: every caller is then looked up in Attio (one "
        "search per call or text) instead of in the sync mapping",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="separate `switchboard worker` processes beside a web-only `serve` (0: one serve "
        "process doing both)",
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = temp_dir("sb-bench-activity-")
    proxy = AckProxy()
    with ExitStack() as stack:
        if args.postgres and not args.database_url:
            args.database_url = stack.enter_context(fresh_postgres())
        server = stack.enter_context(run_in_thread(proxy))
        sb = ActivityStack.start(
            stack,
            tmp,
            webhook_target=server.url,
            database_url=args.database_url,
            separate_worker=args.workers > 0,
            crm=args.crm,
        )
        for _ in range(max(0, args.workers - 1)):
            stack.callback(sb.add_worker().stop)
        proxy.target = sb.sb.url
        for n, phone in enumerate(KNOWN):
            sb.create_person(f"Person {n}", phone)
        synced = 0
        if not args.unsynced:
            synced = int(sb.sync_people().get("done") or 0)
        quo_base = sb.quo_activity_requests()
        attio_base = sb.attio_stats().get("total", 0)
        started = time.monotonic()

        # ---- calls
        call_budget = int(args.events * (1 - args.message_share))
        calls: list[dict[str, Any]] = []
        sent = 0
        t0 = time.monotonic()
        while sent < call_budget:
            body = call_scenarios(rng, len(calls) + 1)[-1]
            sim = sb.simulate_call(**body)
            calls.append(sim)
            sent += expected_events(sim)
            delay = t0 + sent / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sb.wait_settled(timeout=1800)
        quo_calls = sb.quo_activity_requests() - quo_base
        attio_calls = sb.attio_stats().get("total", 0) - attio_base

        # ---- texts
        messages: list[tuple[str, dict[str, Any]]] = []
        t0 = time.monotonic()
        m_sent = 0
        while sent + m_sent < args.events:
            phone = rng.choice(KNOWN if rng.random() < 0.95 else UNKNOWN)
            sim = sb.simulate_message(
                direction=rng.choice(["incoming", "outgoing"]),
                participant=phone,
                text=rng.choice(["Is Tuesday still OK?", "Yes - see you Tuesday at 10.", ""]),
            )
            messages.append((phone, sim))
            m_sent += expected_events(sim)
            delay = t0 + m_sent / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sb.wait_settled(timeout=1800)
        finished = time.monotonic()
        quo_total = sb.quo_activity_requests() - quo_base
        attio_total = sb.attio_stats().get("total", 0) - attio_base

        events = sb.events()
        if args.dump:
            dump_timeline(Path(args.dump), sb, events)
        call_events = [e for e in events if e.event_type in CALL_TYPES]
        completed = [e for e in events if e.event_type == "call.completed"]
        msg_events = [e for e in events if e.event_type.startswith("message.")]
        to_note = [
            (e.processed_at - e.received_at).total_seconds() * 1000
            for e in events
            if e.processed_at is not None and e.detail.get("notes")
        ]
        report = verify_notes(sb, calls, messages)
        missing = sum(1 for m in report.mismatches if m[0] == "missing")
        wrong = sum(1 for m in report.mismatches if m[0] == "differs")
        first = proxy.first_at or started
        result = {
            "events": len(events),
            "webhook_requests": len(proxy.acks_ms),
            "wall_s": round(finished - first, 2),
            "events_per_s": round(len(events) / max(finished - first, 1e-9), 1),
            "ack_p50_ms": pct(proxy.acks_ms, 0.50),
            "ack_p99_ms": pct(proxy.acks_ms, 0.99),
            "event_to_note_p50_ms": pct(to_note, 0.50),
            "event_to_note_p99_ms": pct(to_note, 0.99),
            "quo_requests_per_call_event": round(quo_calls / max(len(call_events), 1), 3),
            f"{args.crm}_requests_per_call_event": round(attio_calls / max(len(call_events), 1), 3),
            "quo_requests_per_call_completed": round(quo_calls / max(len(completed), 1), 3),
            f"{args.crm}_requests_per_call_completed": round(
                attio_calls / max(len(completed), 1), 3
            ),
            f"{args.crm}_requests_per_message_event": round(
                (attio_total - attio_calls) / max(len(msg_events), 1), 3
            ),
            "quo_requests_total": quo_total,
            f"{args.crm}_requests_total": attio_total,
            "calls": len(calls),
            "messages": len(messages),
            "notes_checked": report.checked,
            "duplicate_notes": len(report.duplicates),
            "missing_notes": missing,
            "wrong_notes": wrong,
            "extra_notes": len(report.extra),
            "statuses": dict(sorted(Counter(e.status for e in events).items())),
            "failed_reasons": [e.reason for e in events if e.status == "failed"][:5],
            "rate": args.rate,
            "people_synced": synced,
            "workers": args.workers,
            "database": "postgresql"
            if (args.database_url or "").startswith("postgres")
            else "sqlite",
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
