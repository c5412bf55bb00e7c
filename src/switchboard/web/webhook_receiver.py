"""The webhook endpoints over raw ASGI, in front of the FastAPI app.

Anyone who can reach the port can post to `/webhooks/...`, so a refusal must cost as little as
the checks themselves: `WebhookReceiver` answers `POST /webhooks/{provider}/{connection_id}`
before Starlette's middleware and FastAPI's routing run, decides from memory on the event loop
what it can (unknown connection → 404, a signature the cached keys refuse → 401; see
`switchboard.web.webhooks`), and hops to a worker thread only for what may read or write (a
connection or keys not in memory, the ledger insert). Every refusal is counted and sampled by
`switchboard.web.rejections`, as before. Legitimate deliveries take the same path with one thread
hop for the ledger, and their workflow is enqueued after the answer has been sent.

`router` declares the same endpoints to FastAPI: they document the webhooks in OpenAPI, answer
other methods with 405, and run the same `handle` should a request reach them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from switchboard import metrics
from switchboard.crm import registry
from switchboard.threads import run_on
from switchboard.web import rejections, webhooks
from switchboard.web.webhooks import UNDECIDED, Reject

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX = "/webhooks/"


class ClientGone(Exception):
    """The client disconnected before its body was read: nothing to answer."""


async def read_body(
    headers: dict[str, str], receive: Receive, limit: int = webhooks.MAX_BODY_BYTES
) -> bytes:
    """The raw body, or Reject(413) as soon as more than `limit` bytes are announced or read."""
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Reject(400, "invalid Content-Length")
        if int(declared) > limit:
            raise Reject(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise Reject(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(send: Send, status: int, content: Any) -> None:
    # The bytes Starlette's JSONResponse would send.
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _answer(
    rt: Any, provider: str, connection_id: str, scope: Scope, receive: Receive
) -> tuple[int, dict[str, Any], Callable[[], Awaitable[None]] | None]:
    """The status and JSON to answer, and what to run once they are sent."""
    try:
        conn = webhooks.connection_from_memory(rt, connection_id)
        if conn is UNDECIDED:
            conn = await run_on(
                webhooks.ack_threads(rt), webhooks.load_connection, rt, connection_id
            )
        if conn is None or conn.disconnected_at is not None:
            raise Reject(404, "unknown connection")
        if provider != "quo" and conn.crm != provider:
            raise Reject(404, f"connection is not connected to {provider}")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        body = await read_body(headers, receive)
        verified = webhooks.verify_from_memory(conn, provider, headers, body)
        results, pending = await run_on(
            webhooks.ack_threads(rt),
            webhooks.verify_and_ingest, rt, conn, provider, headers, body, verified=verified,
        )  # fmt: skip
    except Reject as rej:
        known = rej.status != 404
        rejections.RECORDER.refused(
            rt.db,
            connection_id=connection_id if known else None,
            provider=provider,
            status=rej.status,
            reason=rej.reason if known else f"unknown connection {connection_id[:64]!r}",
        )
        return rej.status, {"ok": False, "error": rej.reason}, None

    async def after() -> None:
        # Enqueue the workflows or record `ignored`, as Starlette runs background tasks.
        await run_on(webhooks.DISPATCH_THREADS, webhooks.apply, rt, conn.id, pending)

    return 200, {"ok": True, "events": results}, after


async def handle(
    rt: Any, provider: str, connection_id: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one webhook delivery (see `switchboard.web.webhooks` for the order of checks)."""
    if provider != "quo" and registry.find(provider) is None:
        # Not counted by provider: the label would be whatever the caller put in the path.
        error = f"unknown provider {provider[:32]!r}"
        await _send_json(send, 404, {"ok": False, "error": error})
        return
    started = time.perf_counter()
    code = 500
    after = None
    try:
        code, content, after = await _answer(rt, provider, connection_id, scope, receive)
        await _send_json(send, code, content)
    except ClientGone:
        code = 499  # nginx's "client closed request": nothing to answer
    finally:
        metrics.WEBHOOKS.labels(provider=provider, code=str(code)).inc()
        metrics.WEBHOOK_ACK.labels(
            provider=provider, result="ok" if code == 200 else "rejected"
        ).observe(time.perf_counter() - started)
    if after is not None:
        await after()


def _webhook_target(scope: Scope) -> tuple[str, str] | None:
    """(provider, connection id) for `/webhooks/{provider}/{connection_id}`, else None."""
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    provider, slash, connection_id = path[len(PREFIX) :].partition("/")
    if not slash or not provider or not connection_id or "/" in connection_id:
        return None
    return provider, connection_id


class WebhookReceiver:
    """ASGI middleware: `POST /webhooks/{provider}/{connection_id}` goes to `handle`, before any
    other middleware or routing; everything else to the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            target = _webhook_target(scope)
            if target is not None:
                await handle(scope["app"].state.runtime, *target, scope, receive, send)
                return
        await self.app(scope, receive, send)


class _Handled(Response):
    """A response that is `handle` itself (for the declared routes below)."""

    def __init__(self, provider: str, connection_id: str) -> None:
        super().__init__()
        self.provider = provider
        self.connection_id = connection_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = scope["app"].state.runtime
        await handle(rt, self.provider, self.connection_id, scope, receive, send)


router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/quo/{connection_id}", summary="Receive a Quo webhook")
async def quo_webhook(connection_id: str, request: Request) -> Response:
    return _Handled("quo", connection_id)


@router.post("/webhooks/{crm}/{connection_id}", summary="Receive a registered CRM's webhook")
async def crm_webhook(crm: str, connection_id: str, request: Request) -> Response:
    return _Handled(crm, connection_id)
