"""One process hammering the Quo emulator with a shared-key limiter (used by test_shared_limit).

    python -m tests.quo.hammer URL KEY STORE SECONDS    # STORE: a SQLAlchemy URL or redis://...

Prints one JSON line: {"requests": n, "statuses": {"200": n, ...}}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

from switchboard.http import RequestInfo
from switchboard.quo.client import QuoClient


async def main(url: str, key: str, store: str, seconds: float) -> None:
    statuses: Counter[str] = Counter()

    def count(info: RequestInfo) -> None:
        statuses[str(info.status)] += 1

    store_kw = {"redis_url": store} if store.startswith("redis") else {"database_url": store}
    async with QuoClient(key, env="local", base_url=url, hook=count, **store_kw) as quo:  # type: ignore[arg-type]
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                await quo.list_contacts(max_results=1)

        await asyncio.gather(*(worker() for _ in range(4)))
    print(json.dumps({"requests": sum(statuses.values()), "statuses": dict(statuses)}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
