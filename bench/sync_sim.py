"""Simulation: the initial sync's Quo traffic in virtual time, independent of the machine's load.

    .venv/bin/python bench/sync_sim.py [--people 10000] [--latency-ms 150 --jitter-ms 50]
                                       [--pages-in-flight 8] [--page 184] [--seed 1]

The real `bulk_upsert_contacts`, `SourceReader` and `MemoryRateLimiter(RateLimit(10))` run
against a fake Quo on an event loop whose clock jumps to the next timer whenever nothing is
ready, so a 50 s sync takes a few seconds and a loaded machine does not change the answer.
The fake Quo logs each request when it arrives, then waits latency + U(0, jitter) before it
answers (as the emulator's latency fault does), makes bulk-created contacts visible 2.5 s
after the POST, and lists `sources` 50 per page, oldest first, with offset tokens. The sync is
modelled as the workflow runs it: pages of `--page` new contacts, one push per page, at most
`--pages-in-flight` pushes at once, the oldest awaited before the next starts, 50 ms of CRM
read per page. Local overheads (database, JSON, the SQL limiter) are not modelled: the real
bench runs a little slower (idle machine, 10,000 people: 8.14-8.16 req/s measured, 8.86-8.90
simulated; before the limiter's line and per-request lapse: 7.67 measured, 8.1 simulated).

Prints one JSON line: wall_s, requests (per operation), req_per_s, max_sliding (the largest
count of arrivals in any sliding second), max_counted (the same after the latency, where the
emulator's own limiter counts) and the timeline "posts/reads" per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import selectors
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from switchboard.http import MemoryRateLimiter, RateLimit
from switchboard.quo.client import QuoClient
from switchboard.quo.models import ContactInput

BULK_DELAY_S = 2.5


class VirtualClock:
    """`switchboard.http.Clock` on the virtual loop's time."""

    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class _Selector(selectors.DefaultSelector):
    """Never blocks: a wait for the next timer advances the virtual clock instead."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self.clock.t += timeout
        return ready


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(_Selector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.t


class FakeQuo:
    def __init__(self, clock: VirtualClock, latency_ms: float, jitter_ms: float, seed: int):
        self.clock = clock
        self.latency_ms, self.jitter_ms = latency_ms, jitter_ms
        self.rng = random.Random(seed)
        self.visible: list[dict[str, Any]] = []
        self.arrivals: list[tuple[float, str]] = []
        self.counted: list[float] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        op = "bulk" if request.method == "POST" else "list"
        self.arrivals.append((self.clock.now(), op))
        await asyncio.sleep((self.latency_ms + self.rng.uniform(0, self.jitter_ms)) / 1000)
        self.counted.append(self.clock.now())
        if op == "bulk":
            body = json.loads(request.content)
            made = [dict(c, id=f"CT{c['externalId']}") for c in body["contacts"]]
            asyncio.get_running_loop().call_later(BULK_DELAY_S, self.visible.extend, made)
            return httpx.Response(202)
        params = request.url.params
        wanted = set(params.get_list("externalIds"))
        if wanted:
            data = [c for c in self.visible if c["externalId"] in wanted]
            return httpx.Response(200, json={"data": data, "nextPageToken": None})
        start = int(params.get("pageToken") or 0)
        chunk = self.visible[start : start + int(params["maxResults"])]
        end = start + len(chunk)
        token = str(end) if end < len(self.visible) else None
        return httpx.Response(200, json={"data": chunk, "nextPageToken": token})


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def simulate(clock: VirtualClock, args: argparse.Namespace) -> dict[str, Any]:
    fake = FakeQuo(clock, args.latency_ms, args.jitter_ms, args.seed)
    quo = QuoClient(
        "sim-key", base_url="http://quo.sim", transport=httpx.MockTransport(fake.handle),
        limiter=MemoryRateLimiter(RateLimit(10), clock), clock=clock,
    )  # fmt: skip
    first_check = 2.5  # QuoContactsAdapter's adaptive delay, as the sync uses it

    async def push(page: int) -> None:
        nonlocal first_check
        contacts = [
            ContactInput.model_validate(
                {"externalId": f"p{page}-{n}", "defaultFields": {"firstName": "A"}, "source": "sim"}
            )
            for n in range(args.page)
        ]
        report = await quo.bulk_upsert_contacts(contacts, first_check=first_check)
        first_check = min(5.0, max(first_check, report.unseen_s + 0.1))  # as the adapter
        assert all(r.ok for r in report.results)

    start = clock.now()
    pushes: list[asyncio.Task[None]] = []
    for page in range(args.people // args.page):
        await asyncio.sleep(0.05)  # the CRM page read
        if len(pushes) >= args.pages_in_flight:
            await pushes.pop(0)
        pushes.append(asyncio.create_task(push(page)))
    for task in pushes:
        await task
    wall = clock.now() - start
    per_second: dict[str, dict[int, int]] = {"bulk": {}, "list": {}}
    for at, op in fake.arrivals:
        second = int(at - start)
        per_second[op][second] = per_second[op].get(second, 0) + 1
    ops = {op: sum(v.values()) for op, v in per_second.items()}
    return {
        "wall_s": round(wall, 2),
        "requests": len(fake.arrivals),
        "ops": ops,
        "req_per_s": round(len(fake.arrivals) / wall, 2),
        "max_sliding": max_in_window([at for at, _ in fake.arrivals]),
        "max_counted": max_in_window(fake.counted),
        "timeline": [
            f"{per_second['bulk'].get(s, 0)}/{per_second['list'].get(s, 0)}"
            for s in range(int(wall) + 1)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--jitter-ms", type=float, default=50.0)
    parser.add_argument("--pages-in-flight", type=int, default=8)
    parser.add_argument("--page", type=int, default=184, help="New contacts per CRM page.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    clock = VirtualClock()
    loop = VirtualLoop(clock)
    try:
        print(json.dumps(loop.run_until_complete(simulate(clock, args))), flush=True)
    finally:
        loop.close()


if __name__ == "__main__":
    main()
