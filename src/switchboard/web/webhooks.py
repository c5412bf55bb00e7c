"""Webhook ingestion: one URL per connection and provider.

    POST /webhooks/quo/{connection_id}     Quo events (both signature schemes)
    POST /webhooks/{crm}/{connection_id}   a registered CRM's record changes (one delivery may
                                           hold several)

Order of checks (each failure answers at once and touches nothing else; it is counted in
`/metrics` and only a rate-limited sample is stored in `webhook_rejections`, written off the ack
path — see `switchboard.web.rejections`):

1. unknown or disconnected connection → 404;
2. body over 1 MB → 413 (Content-Length checked first, then the stream is counted while read, so
   an oversized body is never held in memory);
3. signature over the raw bytes with the connection's stored keys (Quo: every key of the
   connection's Quo webhooks via `switchboard.quo.signatures.verify`, with a one-time fresh
   reload of the keys when the cached ones fail; a CRM: its registry record's webhook codec with
   each stored secret) → 401;
4. JSON that does not parse, nests deeper than 64 levels or is not the provider's envelope → 400;
5. ledger insert (unique per connection + provider + idempotency key; duplicates → 200
   `duplicate`), route through the handler registry (`switchboard.dispatch`), answer 200; right
   after the response, enqueue the workflow (workflow id = event id) or record the `ignored`
   status (no handler → ignored, still 200). The ack path does one write (the ledger); a crash
   between the ack and the enqueue is repaired by the workers' sweeper, which re-dispatches
   events still `accepted` after 10 s (idempotent: same workflow id).

Idempotency keys: Quo `"<type>:<resource id>:<hash of data>"` (`switchboard.quo.events`, the one
computation: resource id = `data.object.id`, or `callId` for summaries/transcripts; the hash is
over the canonical JSON of the signed `data`) so a redelivery of the same content — same or new
event id — is one ledger row, while new content for the same phase (a regenerated AI summary or
transcript) is a new event that updates the note; the Quo event id is kept in
`detail.quo_event_id`. CRMs: the codec's `CrmChange.idempotency_key`, derived from the signed body
(never from unsigned headers alone, so a captured delivery cannot be replayed under a fresh
delivery id). Ledger
event types: Quo's `type`; for CRMs `record.<kind>` (created, updated, deleted, merged) with the
change (`dataclasses.asdict(CrmChange)`) as payload and the record id as resource id.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.background import BackgroundTask

from switchboard import dispatch, ledger, metrics
from switchboard.connections import (
    ConnectionInfo,
    find_connection,
    touch_last_event,
    webhook_keys,
)
from switchboard.crm import registry
from switchboard.logs import get_logger, mask_text
from switchboard.quo import events as quo_events
from switchboard.store.models import Connection
from switchboard.threads import pool, run_on
from switchboard.web import rejections

log = get_logger("switchboard.web.webhooks")

MAX_BODY_BYTES = 1024 * 1024

router = APIRouter(tags=["webhooks"])

# Dedicated threads: the ack path never queues behind slow work. asyncio's default executor has
# only min(32, cpus + 4) threads — 6 on a 2-core machine — and the post-response enqueues (which
# wait for DBOS's connection pool under load) would otherwise starve the acknowledgements.
# SQLite has one write lock, so more than a few writers only lengthen the convoy.
_ACK_THREADS_PG = pool("ack", 32)
_ACK_THREADS_SQLITE = pool("ack", 4)
_DISPATCH_THREADS = pool("dispatch", 8)


def _ack_threads(rt: Any) -> ThreadPoolExecutor:
    return _ACK_THREADS_SQLITE if rt.db.is_sqlite else _ACK_THREADS_PG


class Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, or Reject(413) as soon as more than `limit` bytes are announced or read."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError as exc:
            raise Reject(400, "invalid Content-Length") from exc
        if size > limit:
            raise Reject(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise Reject(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


_conn_cache: dict[str, tuple[float, ConnectionInfo | None]] = {}
CONNECTION_CACHE_TTL_S = 2.0


def _cached_connection(connection_id: str) -> ConnectionInfo | None:
    """The cached connection when fresh (no thread hop on the ack path), else None."""
    hit = _conn_cache.get(connection_id)
    if hit is not None and time.monotonic() - hit[0] < CONNECTION_CACHE_TTL_S:
        return hit[1]
    return None


# Per Database object (weak: a runtime's snapshot goes with it).
_known_ids: weakref.WeakKeyDictionary[Any, tuple[float, frozenset[str]]] = (
    weakref.WeakKeyDictionary()
)
_known_lock = threading.Lock()
# Look-ups of one id missing from the snapshot, per second: a connection made a moment ago (by
# this or another process) is found at once, while a flood of made-up ids costs at most this
# many indexed queries a second in all.
MISS_LOOKUPS_PER_S = 20.0
_miss_tokens = [MISS_LOOKUPS_PER_S, 0.0]  # tokens, refilled at


def _take_miss_token(now: float) -> bool:
    tokens, at = _miss_tokens
    tokens = min(MISS_LOOKUPS_PER_S, tokens + (now - at) * MISS_LOOKUPS_PER_S)
    _miss_tokens[:] = [tokens - 1.0 if tokens >= 1.0 else tokens, now]
    return tokens >= 1.0


def _is_known_id(rt: Any, connection_id: str) -> bool:
    """Whether the id is a connection's, from a snapshot of all ids refreshed every
    `CONNECTION_CACHE_TTL_S`, plus a rate-limited look-up of an id the snapshot lacks: requests
    for made-up ids (a flood) cost no query each, and a new connection is found at once."""
    now = time.monotonic()
    with _known_lock:
        taken_at, ids = _known_ids.get(rt.db, (float("-inf"), frozenset()))
        if connection_id in ids:
            return True
        stale = now - taken_at >= CONNECTION_CACHE_TTL_S
        if not stale and not _take_miss_token(now):
            return False
    with rt.db.session() as s:
        if stale:
            ids = frozenset(s.execute(select(Connection.id)).scalars())
            found = connection_id in ids
        else:
            found = s.get(Connection, connection_id) is not None
    with _known_lock:
        if stale:
            _known_ids[rt.db] = (time.monotonic(), ids)
        elif found:
            taken_at, ids = _known_ids.get(rt.db, (now, frozenset()))
            _known_ids[rt.db] = (taken_at, ids | {connection_id})
    return found


def _connection(rt: Any, connection_id: str) -> ConnectionInfo | None:
    """The connection (cached for 2 s per process: the ack path reads it on every request)."""
    now = time.monotonic()
    hit = _conn_cache.get(connection_id)
    if hit is not None and now - hit[0] < CONNECTION_CACHE_TTL_S:
        return hit[1]
    if not _is_known_id(rt, connection_id):
        return None
    info = find_connection(rt.db, connection_id)
    if len(_conn_cache) > 10_000:
        _conn_cache.clear()
    _conn_cache[connection_id] = (now, info)
    return info


_last_touch: dict[str, float] = {}
_touch_lock = threading.Lock()


def _maybe_touch(rt: Any, connection_id: str) -> None:
    now = time.monotonic()
    with _touch_lock:
        if now - _last_touch.get(connection_id, 0.0) < 5.0:
            return
        _last_touch[connection_id] = now
    touch_last_event(rt.db, connection_id)


Pending = list[tuple[dispatch.InboundEvent, dispatch.Dispatch | dispatch.Ignore]]


def _ingest(
    rt: Any,
    conn: ConnectionInfo,
    provider: str,
    items: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], Pending]:
    """Insert each item in the ledger and route it (pure, no I/O). Runs in a worker thread.

    Returns the per-item answer and the decisions still to carry out (enqueue / record ignore),
    which `_apply` does after the response is sent: the ledger row is the durable part, and the
    sweeper re-dispatches an event whose enqueue never happened (workflow id = event id)."""
    results = []
    pending: Pending = []
    for item in items:
        record, created = ledger.insert_event(
            rt.db,
            connection_id=conn.id,
            provider=provider,
            event_type=item["event_type"],
            idempotency_key=item["key"],
            resource_id=item.get("resource_id"),
            payload=item["payload"],
            detail=item.get("detail"),
            repeatable=item.get("repeatable", False),
        )
        outcome = "accepted" if created else "duplicate"
        if created or record.status == "accepted":
            event = dispatch.inbound_event(record, conn.settings)
            decision = dispatch.route(event)
            if created and isinstance(decision, dispatch.Ignore):
                outcome = "ignored"
            pending.append((event, decision))
        results.append({"event_id": record.id, "status": outcome})
    return results, pending


def _apply(rt: Any, connection_id: str, pending: Pending) -> None:
    for event, decision in pending:
        try:
            dispatch.apply(event, decision)
        except Exception as exc:
            # The event is in the ledger: the sweeper dispatches it later.
            log.error("dispatch_failed", event_id=event.id, error=mask_text(repr(exc)))
    try:
        _maybe_touch(rt, connection_id)
    except Exception as exc:
        log.warning("touch_failed", error=repr(exc))


def _verify_quo(rt: Any, conn: ConnectionInfo, headers: Mapping[str, str], body: bytes) -> None:
    from switchboard.quo import signatures
    from switchboard.webhook_rotation import rotating, wait_rotation

    last = "no Quo webhook registered for this connection"
    for fresh in (False, True):
        if fresh and rotating(conn.id):
            # Signed with a key rotated a moment ago and not stored yet: wait for the rotation.
            wait_rotation(conn.id)
        keys = webhook_keys(rt.db, rt.box, conn.id, "quo", fresh=fresh)
        for key in keys:
            try:
                signatures.verify(headers, body, key)
                return
            except signatures.SignatureError as exc:
                last = exc.reason
                if exc.reason in ("no signature header", "timestamp outside tolerance"):
                    raise Reject(401, exc.reason) from exc
    raise Reject(401, last)


def _verifier(crm: str) -> Any:
    return registry.get(crm).webhooks


def _verify_crm(rt: Any, conn: ConnectionInfo, headers: Mapping[str, str], body: bytes) -> Any:
    from switchboard.crm.base import WebhookVerificationError

    verifier = _verifier(conn.crm)
    last = "no CRM webhook registered for this connection"
    for fresh in (False, True):
        for secret in webhook_keys(rt.db, rt.box, conn.id, conn.crm, fresh=fresh):
            try:
                verifier.verify(body, headers, secret)
                return verifier
            except WebhookVerificationError as exc:
                last = str(exc) or "signature mismatch"
    raise Reject(401, last)


MAX_JSON_DEPTH = 64


def _json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, walked iteratively (no recursion to exhaust)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _parse_json(body: bytes) -> dict[str, Any]:
    """The JSON object in `body`, or Reject(400). Deep nesting is refused here, once: the parser
    raises RecursionError past ~1,000 levels, and everything downstream (the ledger's JSON
    column, pydantic, the CRM codecs) recurses too — no provider sends more than a few levels."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Reject(400, "malformed JSON") from exc
    except RecursionError as exc:
        raise Reject(400, "JSON nested too deeply") from exc
    if not isinstance(payload, dict):
        raise Reject(400, "JSON body must be an object")
    if _json_depth(payload) > MAX_JSON_DEPTH:
        raise Reject(400, "JSON nested too deeply")
    return payload


def _quo_items(body: bytes) -> list[dict[str, Any]]:
    from switchboard.quo.envelope import normalize

    # Both webhook generations' envelopes are stored in one (the legacy) shape.
    payload = normalize(_parse_json(body))
    event_type = payload.get("type")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 64:
        raise Reject(400, "Quo event without a valid 'type'")
    if not isinstance(payload.get("data", {}), dict):
        raise Reject(400, "Quo event 'data' must be an object")
    event_id = payload.get("id") if isinstance(payload.get("id"), str) else None
    try:
        key, resource_id = quo_events.ledger_key(payload)
    except ValueError as exc:
        raise Reject(400, str(exc)) from exc
    return [
        {
            "event_type": event_type,
            "key": key,
            "resource_id": resource_id,
            "payload": payload,
            "detail": {"quo_event_id": event_id} if event_id else {},
        }
    ]


def _crm_items(verifier: Any, body: bytes, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    _parse_json(body)
    try:
        changes = verifier.parse(body, headers)
    except (ValueError, KeyError, TypeError) as exc:
        raise Reject(400, f"malformed webhook: {mask_text(str(exc))[:200]}") from exc
    return [
        {
            "event_type": f"record.{c.kind}",
            "key": c.idempotency_key,
            "resource_id": c.record_id,
            "payload": dataclasses.asdict(c),
            # A change delivery has no event id or time: the same edit made again is
            # byte-identical, and must not vanish into the first one's finished row.
            "repeatable": True,
        }
        for c in changes
    ]


def _verify_and_ingest(
    rt: Any, conn: ConnectionInfo, provider: str, headers: dict[str, str], body: bytes
) -> tuple[list[dict[str, Any]], Pending]:
    """Signature (401), envelope (400), then ledger + dispatch — one worker-thread hop."""
    if provider == "quo":
        _verify_quo(rt, conn, headers, body)
        items = _quo_items(body)
    else:
        verifier = _verify_crm(rt, conn, headers, body)
        items = _crm_items(verifier, body, headers)
    return _ingest(rt, conn, provider, items)


async def _handle(request: Request, provider: str, connection_id: str) -> JSONResponse:
    started = time.perf_counter()
    rt = request.app.state.runtime
    code = 500
    try:
        conn = _cached_connection(connection_id)
        if conn is None:
            conn = await run_on(_ack_threads(rt), _connection, rt, connection_id)
        if conn is None or conn.disconnected_at is not None:
            raise Reject(404, "unknown connection")
        if provider != "quo" and conn.crm != provider:
            raise Reject(404, f"connection is not connected to {provider}")
        body = await read_body(request)
        headers = dict(request.headers)
        results, pending = await run_on(
            _ack_threads(rt), _verify_and_ingest, rt, conn, provider, headers, body
        )
        code = 200
        return JSONResponse(
            {"ok": True, "events": results},
            status_code=200,
            background=BackgroundTask(run_on, _DISPATCH_THREADS, _apply, rt, conn.id, pending),
        )
    except Reject as rej:
        code = rej.status
        known = rej.status != 404
        rejections.RECORDER.refused(
            rt.db,
            connection_id=connection_id if known else None,
            provider=provider,
            status=rej.status,
            reason=rej.reason if known else f"unknown connection {connection_id[:64]!r}",
        )
        return JSONResponse({"ok": False, "error": rej.reason}, status_code=rej.status)
    finally:
        metrics.WEBHOOKS.labels(provider=provider, code=str(code)).inc()
        metrics.WEBHOOK_ACK.labels(
            provider=provider, result="ok" if code == 200 else "rejected"
        ).observe(time.perf_counter() - started)


@router.post("/webhooks/quo/{connection_id}", summary="Receive a Quo webhook")
async def quo_webhook(connection_id: str, request: Request) -> JSONResponse:
    return await _handle(request, "quo", connection_id)


@router.post("/webhooks/{crm}/{connection_id}", summary="Receive a registered CRM's webhook")
async def crm_webhook(crm: str, connection_id: str, request: Request) -> JSONResponse:
    if registry.find(crm) is None:
        return JSONResponse({"ok": False, "error": f"unknown provider {crm[:32]!r}"}, 404)
    return await _handle(request, crm, connection_id)
