"""A transport that puts a fresh OAuth access token on every request.

Connectors are built with a token and keep it in their default headers; a connection signed in
with OAuth has an access token that changes. Wrapping the connector's transport replaces the
`Authorization` header with the current token just before sending, and — when the provider
answers 401 to a token that was current — asks for a new one once and resends, so a token
that expired in flight does not fail the request. Every connector gets this without knowing
about OAuth.

    transport = FreshBearerTransport(inner, tokens)  # tokens(stale: str | None) -> access token
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

#: Called with None for the current token, or with the token a 401 refused (refresh it).
TokenSource = Callable[[str | None], Awaitable[str]]


class FreshBearerTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, tokens: TokenSource) -> None:
        self._inner = inner
        self._tokens = tokens

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        token = await self._tokens(None)
        response = await self._send(request, token)
        if response.status_code != 401:
            return response
        await response.aread()
        await response.aclose()
        fresh = await self._tokens(token)
        if fresh == token:
            return response
        return await self._send(request, fresh)

    async def _send(self, request: httpx.Request, token: str) -> httpx.Response:
        request.headers["Authorization"] = f"Bearer {token}"
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
