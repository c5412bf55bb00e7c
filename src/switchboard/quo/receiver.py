"""A one-purpose local webhook receiver for the probe's test-delivery round-trip.

It runs on the probe's own event loop (plain `asyncio` streams, no web framework), accepts
`POST`s, answers 204 and keeps `(headers, raw body)` of each. A live Quo workspace can only
reach it when `public_url` (e.g. a tunnel to `bind:port`) is given; an emulator on the same
machine reaches the loopback address directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

MAX_BODY = 1_000_000


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalReceiver:
    host: str = "127.0.0.1"
    port: int = 0
    public_url: str | None = None
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}/quo"

    async def __aenter__(self) -> LocalReceiver:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def wait_for(self, count: int, timeout: float) -> bool:
        """True once `count` deliveries arrived, False after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await reader.readline()
            headers: dict[str, str] = {}
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            length = min(int(headers.get("content-length", "0") or 0), MAX_BODY)
            body = await reader.readexactly(length) if length else b""
            if request_line.startswith(b"POST "):
                self.received.append(Received(headers, body))
                self._arrived.set()
                status = b"204 No Content"
            else:
                status = b"405 Method Not Allowed"
            head = b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            writer.write(b"HTTP/1.1 " + status + head)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
