"""The source reader against a scripted listing (offset tokens, contacts appearing and moving)."""

from __future__ import annotations

from typing import Any, cast

from switchboard.http import ApiError, FakeClock
from switchboard.http.waiting_line import is_first_in_line
from switchboard.quo.client import QuoClient
from switchboard.quo.models import Contact, Page
from switchboard.quo.readback import SourceReader


class Listing:
    """`list_contacts` over a list the test edits; the token is the offset, as in the emulator."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.items: list[str] = []
        self.tokens: list[str | None] = []
        self.refuse: set[str] = set()
        self.round_trip: float | None = None  # what `fastest_round_trip` answers
        self.first_in_line: list[bool] = []  # per read: did it go first at the limiter?

    def fastest_round_trip(self, operation: str) -> float | None:
        assert operation == "contacts.list"
        return self.round_trip

    async def list_contacts(self, *, page_token: str | None = None, **_: Any) -> Page[Contact]:
        self.tokens.append(page_token)
        self.first_in_line.append(is_first_in_line())
        if page_token in self.refuse:
            raise ApiError(provider="quo", operation="contacts.list", status=400, message="bad")
        start = int(page_token or 0)
        chunk = self.items[start : start + 50]
        end = start + len(chunk)
        data = [Contact.model_validate({"id": f"CT{e}", "externalId": e}) for e in chunk]
        return Page[Contact](data=data, nextPageToken=str(end) if end < len(self.items) else None)


def reader_over(listing: Listing) -> SourceReader:
    return SourceReader(cast(QuoClient, listing), "switchboard-test")


async def test_follows_the_tail_and_rereads_a_partial_page() -> None:
    listing = Listing()
    reader = reader_over(listing)
    now = listing.clock.now()
    listing.items = [f"a{i}" for i in range(70)]
    for ext in listing.items:
        reader.expect(ext, now)
    while reader.due_read(listing.clock.now()):
        await reader.read_page()
    assert listing.tokens == [None, "50"] and reader.token == "50" and reader.tail_count == 20
    assert all(reader.take(e) is not None for e in listing.items)
    listing.items += [f"b{i}" for i in range(35)]  # the tail page fills up, and more
    for ext in listing.items[70:]:
        reader.expect(ext, listing.clock.now())
    while reader.due_read(listing.clock.now()):
        await reader.read_page()
    assert listing.tokens[2:] == ["50", "100"] and reader.token == "100"
    assert all(reader.take(e) is not None for e in listing.items[70:])


async def test_a_contact_behind_the_cursor_is_given_back_after_two_misses() -> None:
    listing = Listing()
    reader = reader_over(listing)
    listing.items = [f"a{i}" for i in range(60)]
    batch = reader.new_batch()
    reader.expect("late", listing.clock.now(), batch)  # will appear at 10: behind the cursor
    for ext in listing.items[50:]:  # its batch: these are visible, so Quo has processed it
        reader.expect(ext, listing.clock.now(), batch)
    await reader.read_page()
    await reader.read_page()
    assert reader.token == "50" and reader.seen_batch == batch
    listing.items.insert(10, "late")  # pages shift under the reader
    listing.clock.t += 1.0  # past its grace time
    for _ in range(2):
        assert not reader.given_up("late")
        await reader.read_page()
    assert reader.given_up("late") and "late" not in reader.waiters


async def test_a_refused_token_restarts_from_the_first_page() -> None:
    listing = Listing()
    reader = reader_over(listing)
    listing.items = [f"a{i}" for i in range(60)]
    await reader.read_page()
    listing.refuse.add("50")
    reader.expect("x", listing.clock.now() - 1)
    await reader.read_page()
    assert reader.token is None and reader.waiters["x"].misses == 1
    assert reader.given_up("nobody-expects-this")  # not followed here: ask by id


async def test_a_batch_quo_has_not_shown_yet_is_waited_for_not_given_up() -> None:
    """Reads that reach the end of the listing count a miss only once the contact's batch (or
    a later one) has shown up there: a slow Quo — or a stalled process whose wall clock says
    "due" long before Quo is done — costs waiting, not an externalIds look-up per contact."""
    listing = Listing()
    reader = reader_over(listing)
    listing.items = [f"old{i}" for i in range(10)]
    slow = reader.new_batch(posted_at=listing.clock.now())
    for ext in ("s1", "s2"):
        reader.expect(ext, listing.clock.now(), slow)
    listing.clock.t += 5.0  # long past due and grace; Quo still has not processed the batch
    for _ in range(4):
        await reader.read_page()
    assert not reader.given_up("s1") and reader.waiters["s1"].misses == 0
    # What the sync learns for its next delay before reading: Quo takes longer than 5 s.
    assert reader.unseen_s == 5.0
    listing.items += ["s1", "s2"]  # processed at last
    listing.clock.t += 1.0
    await reader.read_page()
    assert reader.take("s1") is not None and reader.take("s2") is not None
    await reader.read_page()
    assert reader.unseen_s == 5.0  # a batch that has shown up teaches nothing more


async def test_a_later_batch_shown_proves_a_missing_contact_and_overdue_ends_the_wait() -> None:
    listing = Listing()
    reader = reader_over(listing)
    first, second = reader.new_batch(), reader.new_batch()
    reader.expect("lost", listing.clock.now(), first)
    reader.expect("next", listing.clock.now(), second)
    reader.expect("never", listing.clock.now(), reader.new_batch())
    listing.items = ["next"]  # the later batch is visible, "lost" is not where the reader looks
    listing.clock.t += 1.0
    for _ in range(2):
        await reader.read_page()
    assert reader.given_up("lost")
    assert not reader.given_up("never")  # its batch has not shown up: keep waiting...
    listing.clock.t += reader.overdue
    for _ in range(2):
        await reader.read_page()
    assert reader.given_up("never")  # ...until it is overdue


async def test_reads_go_first_only_while_quo_answers_the_listing_slowly() -> None:
    """A slow listing makes every wait of the chain lengthen the read-back: reads go first. A
    quick one lets the chain catch up at the full rate later: reads wait behind the POSTs, so
    the last POST goes out sooner and the reads fill the time Quo takes to show it."""
    listing = Listing()
    reader = reader_over(listing)
    listing.items = [f"a{i}" for i in range(10)]
    for rtt in (None, 0.2, reader.yield_below, 0.01):  # None: nothing timed yet
        listing.round_trip = rtt
        await reader.read_page()
    assert listing.first_in_line == [True, True, True, False]
