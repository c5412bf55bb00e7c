"""Blocking database calls from async activity code, on a thread pool of their own.

DBOS runs async workflows on one event loop whose default executor is small (cores + 4 threads)
and is also used by DBOS itself; activity's many short transactions would queue behind each other
there. A dedicated pool keeps them from starving each other and the step bookkeeping.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="sb-activity-db")


async def run_db(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))
