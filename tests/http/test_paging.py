"""The pagination helpers: token pages to the empty token, offset pages to the short page."""

from __future__ import annotations

from switchboard.http import offset_pages, token_pages


async def test_token_pages_follow_the_token_to_the_end() -> None:
    pages = {None: ([1, 2], "b"), "b": ([3], "c"), "c": ([], None)}
    asked: list[str | None] = []

    async def fetch(token: str | None) -> tuple[list[int], str | None]:
        asked.append(token)
        return pages[token]

    assert [i async for i in token_pages(fetch)] == [1, 2, 3]
    assert asked == [None, "b", "c"]


async def test_offset_pages_stop_at_a_short_page_or_the_page_cap() -> None:
    data = list(range(7))
    offsets: list[int] = []

    async def fetch(offset: int) -> list[int]:
        offsets.append(offset)
        return data[offset : offset + 3]

    assert [p async for p in offset_pages(fetch, 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert offsets == [0, 3, 6]
    assert [p async for p in offset_pages(fetch, 3, max_pages=1)] == [[0, 1, 2]]
