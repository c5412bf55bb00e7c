"""Blocking database calls from async activity code, on a thread pool of their own.

Activity's many short transactions would otherwise share the default executor of DBOS's event
loop with DBOS's own bookkeeping; a dedicated pool keeps them from starving each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from switchboard.threads import pool, run_on

P = ParamSpec("P")
R = TypeVar("R")

_POOL = pool("activity-db", 16)


async def run_db(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return await run_on(_POOL, fn, *args, **kwargs)
