"""Reading back bulk-created contacts by following the listing of their `source`.

A bulk create answers 202 with no ids, so what it made must be read back. By `externalIds`
that costs one request per 20 contacts; a connection's own `source` lists 50 per page, and on
a sync that creates the contacts the newest ones are the tail of that listing. One
`SourceReader` per (Quo client, source) follows the tail for every concurrent
`bulk_upsert_contacts` call of the process:

- callers `expect` their contacts after the bulk POST (due `first_check` s later) and pick up
  what a read `found`;
- `due_read` says when a read pays: enough due contacts to fill the tail page, or nobody is
  posting any more, or the oldest due contact has waited `patience` s; `poke` then starts one
  task that reads page after page while that holds (one chain: each token comes with the
  previous page);
- a read goes `first_in_line` at the rate limiter when Quo answers a listing slowly (the
  fastest recent one took `yield_below` s or more, or none was timed yet): then every wait of a
  link lengthens the whole read-back, and a bulk POST can wait. When it answers quickly, the
  chain can read at the key's full rate whenever the POSTs pause, so reads wait their turn
  behind the POSTs instead: the last POST goes out sooner, and what is read meanwhile fills
  the seconds Quo takes to show it (a 2,000-person sync at zero latency: 10.0 s and 78–79
  requests instead of 11.0 s and 85–88);
- a read lists `sources=[source]` from the cursor (the token of the first page not yet seen
  full) and advances it only over full pages, so a partial tail page is read again next time.

Nothing is missed, whatever the listing does meanwhile: Quo's order is not documented (the
emulator lists oldest first), a contact that becomes visible late lands on a page the cursor
has passed, a deletion shifts later contacts back over the cursor. A due contact collects a
*miss* from every read that started after its grace time and either found nothing expected
(history pages of an earlier run) or reached the end of the listing — the latter only once
Quo has shown that it processed the contact's bulk POST: a contact of the same or a later POST
(numbered in the order their answers came) was found, or the contact is `overdue`. Wall time
alone said "due" on a machine at load 20 long before the (equally loaded) Quo emulator had
processed the batch, and most contacts were given up. After `max_misses` the caller takes it
back and looks it up by `externalIds` (then single-creates what never shows).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from switchboard.http import ApiError, first_in_line
from switchboard.quo.models import Contact

if TYPE_CHECKING:
    from switchboard.quo.client import QuoClient

PAGE = 50


@dataclass
class _Waiter:
    due_at: float
    batch: int  # the bulk POST that made it, numbered in order of their answers
    misses: int = 0


@dataclass
class SourceReader:
    """Tail-follower of `GET /v1/contacts?sources=<source>`; see the module docstring.

    Attributes:
        grace: seconds after its due time before a read that misses a contact counts.
        max_misses: misses after which the caller looks the contact up by externalId.
        overdue: seconds after its due time after which a read that reached the end of the
            listing counts a miss for a contact even without proof that its batch was processed.
        patience: longest a due contact waits for a fuller page while others still post.
        retry_interval: pause before reading the tail again when due contacts were not there.
        yield_below: a listing answered this quickly lets reads wait behind the bulk POSTs
            (half of Quo's 0.1 s between requests: the chain can catch up at the full rate).

    A read Quo refuses for good (4xx, e.g. a page token it no longer takes) restarts the
    cursor from the first page; the contacts it missed go the externalIds way meanwhile.
    """

    quo: QuoClient
    source: str
    grace: float = 0.5
    max_misses: int = 2
    overdue: float = 10.0
    patience: float = 1.0
    retry_interval: float = 0.5
    yield_below: float = 0.05
    token: str | None = None  # start of the first page not yet seen full
    tail_count: int = 0  # contacts on that page at the last read
    next_read_at: float = 0.0  # after a read that left due contacts unseen
    reads: int = 0
    batches: int = 0  # bulk POSTs whose contacts are (or were) expected here
    seen_batch: int = 0  # the newest batch of which a read has found a contact
    # The longest time after a bulk POST at which a read that reached the end of the listing
    # had not found any contact of it: Quo's visibility delay is longer than that.
    unseen_s: float = 0.0
    _posted_at: dict[int, float] = field(default_factory=dict)  # batch → its POST's answer
    submitters: int = 0  # callers still posting bulk batches
    waiters: dict[str, _Waiter] = field(default_factory=dict)
    found: dict[str, Contact] = field(default_factory=dict)
    _chain: asyncio.Task[None] | None = None

    def new_batch(self, posted_at: float | None = None) -> int:
        """Number a bulk POST that was just answered (at `posted_at`); pass the number to
        `expect` for its contacts."""
        self.batches += 1
        if posted_at is not None:
            self._posted_at[self.batches] = posted_at
        return self.batches

    def expect(self, external_id: str, due_at: float, batch: int | None = None) -> None:
        self.waiters[external_id] = _Waiter(due_at, self.new_batch() if batch is None else batch)

    def forget(self, external_id: str) -> None:
        self.waiters.pop(external_id, None)
        self.found.pop(external_id, None)

    def take(self, external_id: str) -> Contact | None:
        """The contact a read found for this caller (once), or None."""
        return self.found.pop(external_id, None)

    def given_up(self, external_id: str) -> bool:
        """Missed often enough: the caller should look it up by externalId instead."""
        waiter = self.waiters.get(external_id)
        if waiter is None:  # not (or no longer) followed here, e.g. another call expects it
            return external_id not in self.found
        if waiter.misses < self.max_misses:
            return False
        del self.waiters[external_id]
        return True

    def due_read(self, now: float) -> bool:
        due = [w.due_at for w in self.waiters.values() if w.due_at <= now]
        if not due or now < self.next_read_at:
            return False
        room = PAGE - self.tail_count if self.tail_count < PAGE else PAGE
        if len(due) >= room or self.submitters == 0:
            return True
        return now - min(due) >= self.patience

    def chain_is_slow(self) -> bool:
        """Whether every wait of a read lengthens the read-back: Quo's fastest recent answer to
        a listing took `yield_below` s or more (or none was timed yet)."""
        fastest = self.quo.fastest_round_trip("contacts.list")
        return fastest is None or fastest >= self.yield_below

    def poke(self, now: float) -> None:
        """Start the read chain if a read is due and none is running."""
        if (self._chain is None or self._chain.done()) and self.due_read(now):
            self._chain = asyncio.create_task(self._read_while_due())

    async def _read_while_due(self) -> None:
        # Reads follow each other here, not through the callers' polling: a page's token comes
        # only with the previous page, so under latency this chain is what paces read-back.
        while self.due_read(self.quo.clock.now()):
            await self.read_page()

    async def read_page(self) -> None:
        """One page at the cursor; hands what it finds to the waiting callers."""
        started = self.quo.clock.now()
        try:
            with first_in_line() if self.chain_is_slow() else contextlib.nullcontext():
                page = await self.quo.list_contacts(
                    sources=[self.source], max_results=PAGE, page_token=self.token
                )
        except ApiError as exc:  # outlived the client's retries: count a miss, try again later
            if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
                self.token, self.tail_count = None, 0  # e.g. a page token Quo no longer takes
            self._missed(started)
            self.next_read_at = started + self.retry_interval
            return
        self.reads += 1
        matched = 0
        for contact in page.data:
            ext = contact.external_id
            if ext is not None and ext in self.waiters:
                waiter = self.waiters.pop(ext)
                self.seen_batch = max(self.seen_batch, waiter.batch)
                self.found[ext] = contact
                matched += 1
        at_end = page.next_page_token is None
        if len(page.data) >= PAGE and not at_end:
            self.token, self.tail_count = page.next_page_token, 0
        else:
            self.tail_count = len(page.data)
        if at_end:
            self._missed(started, proven=True)
            self._note_unseen(started)
        elif matched == 0:
            self._missed(started)
        if at_end and any(w.due_at <= started for w in self.waiters.values()):
            # Some of what was due is not visible yet: give Quo a moment before reading the
            # same tail again.
            self.next_read_at = started + self.retry_interval

    def _note_unseen(self, started: float) -> None:
        """A read that started at `started` saw the end of the listing: every batch not
        shown yet was still invisible then. (The listing itself ran a little later — after the
        limiter and the way out — so this errs short.)"""
        waited_for = {w.batch for w in self.waiters.values()}
        for batch in [b for b in self._posted_at if b <= self.seen_batch or b not in waited_for]:
            del self._posted_at[batch]  # shown, or nobody waits for it: nothing more to learn
        for posted_at in self._posted_at.values():
            self.unseen_s = max(self.unseen_s, started - posted_at)

    def _missed(self, started: float, proven: bool = False) -> None:
        """Count a miss for the due contacts a read started after their grace time did not
        find. `proven` (the read saw the end of the listing): only for a contact whose batch,
        or a later one, has shown up in the listing — Quo has processed it, so the contact is
        not where the reader looks — or that is `overdue`. A slow Quo, or a process stalled
        long enough that wall time says "due" before Quo was done, costs waiting, not a
        give-up and an externalIds look-up per 20 contacts."""
        for waiter in self.waiters.values():
            if waiter.due_at + self.grace > started:
                continue
            if (
                not proven
                or waiter.batch <= self.seen_batch
                or started >= waiter.due_at + self.overdue
            ):
                waiter.misses += 1


def source_reader(quo: QuoClient, source: str) -> SourceReader:
    """The reader of `source` on this client and event loop (created on first use)."""
    loop = id(asyncio.get_running_loop())
    readers = quo.source_readers
    reader = readers.get((source, loop))
    if reader is None:
        reader = readers[(source, loop)] = SourceReader(quo, source)
    return reader
