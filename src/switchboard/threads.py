"""Blocking calls from async code, on named thread pools of their own.

Switchboard's async code runs on loops it does not own (DBOS's, uvicorn's, a CLI's), whose
default executors differ in size and are shared with their owners. Work that must not queue
behind unrelated work — webhook acks, rate-limit hand-backs, activity's database calls — gets a
pool of its own and goes through `run_on`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def pool(name: str, max_workers: int) -> ThreadPoolExecutor:
    """A pool whose threads are named `sb-<name>-N` (visible in stack dumps and profilers)."""
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"sb-{name}")


async def run_on(
    executor: ThreadPoolExecutor, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """`fn(*args, **kwargs)` on `executor`, awaited from the running loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
