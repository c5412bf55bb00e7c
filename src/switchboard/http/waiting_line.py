"""Who goes next within a process: the callers of a rate limiter waiting for its window guard.

Callers that have their spacing slot wait for the window guard in line — one line per limiter
and event loop, where only the first polls the store and the others wait their turn — first
come first served, except requests made under `first_in_line()`, which go before every
ordinary caller of the process — the one already polling steps aside for them — and, where a
window guard keeps the rate, take their spacing slot without waiting for it (see
`switchboard.http.limiters`). Under latency the guard, not the spacing, is what binds; without
a line, whichever poller woke first took a freed permit, so a sync page's last bulk POST could
go out after every other page's, and a chain of reads whose every link is on the critical path
(`switchboard.quo.readback`) waited behind requests that could have waited.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import threading
import weakref
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

_FIRST_IN_LINE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "switchboard_limiter_first_in_line", default=False
)


@contextlib.contextmanager
def first_in_line() -> Iterator[None]:
    """Requests made inside go before this process's ordinary callers of the same limiter:
    for requests on a critical path, sparingly."""
    token = _FIRST_IN_LINE.set(True)
    try:
        yield
    finally:
        _FIRST_IN_LINE.reset(token)


def is_first_in_line() -> bool:
    return _FIRST_IN_LINE.get()


@dataclass
class WaitingLine:
    """Callers of one limiter on one event loop, in turn: (rank, arrival) order, rank 0 for
    `first_in_line` requests. `enter` returns when it is the caller's turn (and the caller's
    place: pass it to `enter` again to go back to it); `leave` passes the turn on.

    The caller whose turn it is may be waiting for a permit already when a caller of a lower
    rank comes: `nap` wakes it then, `outranked` tells it to step aside (leave, and enter
    again at its place) so the newcomer polls next, not after the current caller's permit."""

    busy: bool = False
    rank: int = 0  # of the caller whose turn it is
    waiting: list[tuple[int, int, asyncio.Future[None]]] = field(default_factory=list)
    arrivals: Iterator[int] = field(default_factory=itertools.count)
    _alarm: asyncio.Future[None] | None = None

    async def enter(self, rank: int, place: int | None = None) -> int:
        place = next(self.arrivals) if place is None else place
        if not self.busy and not self.waiting:
            self.busy, self.rank = True, rank
            return place
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiting, (rank, place, turn))
        if rank < self.rank and self._alarm is not None and not self._alarm.done():
            self._alarm.set_result(None)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave()  # the turn came just as the caller was cancelled: pass it on
            raise
        return place

    def outranked(self, rank: int) -> bool:
        return bool(self.waiting) and self.waiting[0][0] < rank

    async def nap(self, rank: int, sleep: Coroutine[Any, Any, None]) -> None:
        """Await `sleep`, or less if a caller of a lower rank than `rank` comes meanwhile."""
        if rank == 0:
            await sleep
            return
        alarm = self._alarm = asyncio.get_running_loop().create_future()
        sleeping = asyncio.ensure_future(sleep)
        try:
            await asyncio.wait({sleeping, alarm}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            self._alarm = None

    def leave(self) -> None:
        while self.waiting:
            rank, _, turn = heapq.heappop(self.waiting)
            if not turn.done():
                self.rank = rank
                turn.set_result(None)
                return
        self.busy = False


class Lines:
    """One `WaitingLine` per event loop (a limiter may be shared by several loops' threads)."""

    def __init__(self) -> None:
        self._lines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WaitingLine] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def current(self) -> WaitingLine:
        loop = asyncio.get_running_loop()
        with self._lock:
            line = self._lines.get(loop)
            if line is None:
                line = self._lines[loop] = WaitingLine()
            return line
