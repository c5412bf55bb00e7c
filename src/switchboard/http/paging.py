"""The two pagination shapes providers use, walked in one place.

    async for item in token_pages(lambda token: client.list_things(page_token=token)):
        ...                                  # `fetch(token)` → (items, next token or None)

    async for page in offset_pages(lambda offset: fetch(offset), page_size=50):
        ...                                  # `fetch(offset)` → items; short page = the end

A cursor that stays valid while records change (a keyset) is the provider's own business; these
helpers only walk what the provider offers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


async def token_pages(
    fetch: Callable[[str | None], Awaitable[tuple[Sequence[T], str | None]]],
) -> AsyncIterator[T]:
    """Every item, page after page, until the next-page token is empty."""
    token: str | None = None
    while True:
        items, token = await fetch(token)
        for item in items:
            yield item
        if not token:
            return


async def offset_pages(
    fetch: Callable[[int], Awaitable[Sequence[T]]],
    page_size: int,
    *,
    max_pages: int | None = None,
) -> AsyncIterator[list[T]]:
    """Pages from offset 0 until one holds fewer than `page_size` items (or `max_pages`)."""
    offset = pages = 0
    while max_pages is None or pages < max_pages:
        items = list(await fetch(offset))
        yield items
        pages += 1
        if len(items) < page_size:
            return
        offset += len(items)
