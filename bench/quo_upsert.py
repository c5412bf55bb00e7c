"""Benchmark: upsert N contacts into the Quo emulator through QuoClient at Quo's real limits.

    .venv/bin/python bench/quo_upsert.py                 # 2,000 contacts, emulator started here
    .venv/bin/python bench/quo_upsert.py -n 500 --base-url http://127.0.0.1:8010 --api-key k1

Starts `switchboard emulate quo` (10 requests/s per key, bulk contacts visible after 2.5 s)
unless --base-url is given, upserts N new contacts with `bulk_upsert_contacts` (bulk create +
verified read-back), checks every contact was created, and prints a final JSON line:

    {"contacts", "wall_s", "requests", "requests_per_contact", "http_429", "bound_ratio", ...}

`bound_ratio` = wall time ÷ the least time the rate limit allows for the requests made
(requests ÷ 10 per second). 1.0 is the bound; the 5% spacing margin and the window guard (a
permit is held for one second after each response) cost a little of it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx

from switchboard.http import RequestInfo
from switchboard.quo.client import QuoClient
from switchboard.quo.models import ContactInput

RATE = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def emulator(key: str) -> Iterator[str]:
    port = free_port()
    exe = Path(sys.executable).parent / "switchboard"
    cmd = [str(exe), "emulate", "quo", "--port", str(port), "--api-key", key]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/_emulator/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("emulator did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def make_contacts(n: int, run: str) -> list[ContactInput]:
    return [
        ContactInput.model_validate(
            {
                "defaultFields": {
                    "firstName": f"Bench{i}",
                    "lastName": run,
                    "company": "Benchmark Ltd",
                    "phoneNumbers": [{"name": "mobile", "value": f"+1555{i:07d}"}],
                    "emails": [{"name": "work", "value": f"bench{i}@example.test"}],
                },
                "externalId": f"bench-{run}-{i}",
                "source": "switchboard-bench",
            }
        )
        for i in range(n)
    ]


async def run(
    url: str, key: str, n: int, batch_size: int, pages: int, store: str | None = None
) -> dict[str, object]:
    statuses: Counter[str] = Counter()

    def count(info: RequestInfo) -> None:
        statuses[str(info.status)] += 1

    contacts = make_contacts(n, uuid.uuid4().hex[:6])
    stores = (
        {} if not store else {"redis_url" if store.startswith("redis") else "database_url": store}
    )
    async with QuoClient(key, env="local", base_url=url, hook=count, **stores) as quo:  # type: ignore[arg-type]
        t0 = time.monotonic()
        # `pages` concurrent calls model an initial sync that overlaps CRM pages.
        size = -(-n // pages)
        chunks = [contacts[i : i + size] for i in range(0, n, size)]
        reports = await asyncio.gather(
            *(quo.bulk_upsert_contacts(chunk, batch_size=batch_size) for chunk in chunks)
        )
        wall = time.monotonic() - t0
    results = [r for rep in reports for r in rep.results]
    outcomes = Counter(r.outcome for r in results)
    requests = sum(statuses.values())
    lower_bound = requests / RATE
    visibility = sorted(v for rep in reports for v in rep.visibility_s)
    return {
        "contacts": n,
        "wall_s": round(wall, 2),
        "requests": requests,
        "requests_per_contact": round(requests / n, 4),
        "http_429": statuses.get("429", 0),
        "bound_ratio": round(wall / lower_bound, 3) if lower_bound else None,
        "created": outcomes.get("created", 0),
        "updated": outcomes.get("updated", 0),
        "failed": outcomes.get("failed", 0),
        "bulk_batches": sum(rep.bulk_batches for rep in reports),
        "verify_reads": sum(rep.verify_reads for rep in reports),
        "single_fallbacks": sum(rep.single_fallbacks for rep in reports),
        "visibility_s_median": visibility[len(visibility) // 2] if visibility else None,
        "contacts_per_s": round(n / wall, 1),
        "limiter": store.split(":", 1)[0] if store else "memory",
        "statuses": dict(statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--contacts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--pages", type=int, default=1, help="concurrent bulk_upsert calls")
    parser.add_argument("--base-url", help="an emulator already running (needs --api-key)")
    parser.add_argument("--api-key", default=None)
    parser.add_argument(
        "--limiter-store", default=None,
        help="share the rate limit through this SQLAlchemy URL or redis:// URL (default: memory)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.base_url:
        if not args.api_key:
            parser.error("--base-url needs --api-key")
        result = asyncio.run(
            run(args.base_url, args.api_key, args.contacts, args.batch_size, args.pages)
        )
    else:
        key = args.api_key or "bench-" + uuid.uuid4().hex
        with emulator(key) as url:
            result = asyncio.run(
                run(url, key, args.contacts, args.batch_size, args.pages, args.limiter_store)
            )
    print(json.dumps(result))
    if result["failed"] or result["created"] != args.contacts:
        sys.exit(1)


if __name__ == "__main__":
    main()
