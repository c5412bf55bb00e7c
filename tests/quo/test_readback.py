"""The source reader against a scripted listing (offset tokens, contacts appearing and moving)."""

from __future__ import annotations

from typing import Any, cast

from switchboard.http import ApiError, FakeClock
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

    async def list_contacts(self, *, page_token: str | None = None, **_: Any) -> Page[Contact]:
        self.tokens.append(page_token)
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
    reader.expect("late", listing.clock.now())  # will appear at position 10: behind the cursor
    await reader.read_page()
    await reader.read_page()
    assert reader.token == "50"
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
