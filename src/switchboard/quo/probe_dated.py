"""Probe scenario of Quo's dated API generation (2026-03-30): which generation does the key's
workspace support, and does the dated one behave as documented?

Checks, each PASS/FAIL: the version header is required (400 without, 200 with); cursor lists
(`limit`, `after`, `nextCursor`); the webhook lifecycle (create disabled with a `whsec_` key, get,
enable, disable, rotate to a new key, delete → 404); a test delivery to a local receiver arriving
signed (Standard Webhooks, the webhook's key) in the new envelope and showing in the delivery
history. A workspace without the generation (unprefixed paths 404) is reported as such and the
scenario is skipped, not failed: the probe says which generation a workspace supports.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from switchboard.quo import signatures
from switchboard.quo.client import DATED_VERSION, VERSION_HEADER
from switchboard.quo.receiver import LocalReceiver

if TYPE_CHECKING:
    from switchboard.quo.probe import ScenarioResult, _Probe

HEADER = {VERSION_HEADER: DATED_VERSION}
TEST_EVENT = "call.completed"


async def dated_generation(p: _Probe, r: ScenarioResult) -> None:
    status, _, _ = await p.raw("GET", "/users", "dated.users", headers=HEADER)
    if status == 404:
        r.observations["generations"] = {"v1": True, DATED_VERSION: False}
        r.skipped = f"the workspace does not offer {DATED_VERSION} (GET /users answers 404)"
        return
    r.observations["generations"] = {"v1": True, DATED_VERSION: status == 200}
    r.check(f"GET /users with {VERSION_HEADER} answers 200", f"{status}", status == 200)
    bare, body_bare, _ = await p.raw("GET", "/users", "dated.users")
    r.check(f"GET /users without {VERSION_HEADER} answers 400", f"{bare}", bare == 400)
    if isinstance(body_bare, dict):
        r.observations["errorEnvelopeKeys"] = sorted(body_bare)
    await _cursors(p, r)
    await _lifecycle_and_test_delivery(p, r)


async def _cursors(p: _Probe, r: ScenarioResult) -> None:
    status, body, _ = await p.raw("GET", "/contacts", "dated.contacts", headers=HEADER,
                                  params={"limit": 2})  # fmt: skip
    shape = isinstance(body, dict) and isinstance(body.get("data"), list) and "nextCursor" in body
    ok = status == 200 and shape
    r.check("GET /contacts?limit=2 answers {data, nextCursor}", f"{status}", ok)
    if not shape:
        return
    first = [c.get("id") for c in body["data"]]
    r.check("limit bounds the page", f"{len(first)} items", len(first) <= 2)
    cursor = body["nextCursor"]
    if cursor:
        s2, b2, _ = await p.raw("GET", "/contacts", "dated.contacts", headers=HEADER,
                                params={"limit": 2, "after": cursor})  # fmt: skip
        nxt = [c.get("id") for c in (b2 or {}).get("data", [])] if isinstance(b2, dict) else []
        r.check(
            "after=<nextCursor> fetches the next, different page",
            f"{s2}, {len(nxt)} items",
            s2 == 200 and bool(nxt) and not set(nxt) & set(first),
        )
    s3, _, _ = await p.raw("GET", "/contacts", "dated.contacts", headers=HEADER,
                           params={"limit": 51})  # fmt: skip
    r.check("limit above 50 answers 400", f"{s3}", s3 == 400)


async def _lifecycle_and_test_delivery(p: _Probe, r: ScenarioResult) -> None:
    async with LocalReceiver(public_url=p.receiver_url) as receiver:
        create = {"url": receiver.url, "events": [TEST_EVENT, "contact.updated"],
                  "label": f"switchboard-probe {p.run_id}", "status": "disabled"}  # fmt: skip
        status, body, _ = await p.raw("POST", "/webhooks", "dated.webhooks.create",
                                      headers=HEADER, json=create)  # fmt: skip
        hook: dict[str, Any] = (body.get("data") if isinstance(body, dict) else None) or {}
        key: str = hook.get("key") or ""
        r.check(
            "POST /webhooks creates a disabled webhook with a whsec_ key (201)",
            f"{status} status={hook.get('status')}",
            status == 201 and key.startswith("whsec_") and hook.get("status") == "disabled",
        )
        if not hook:
            r.observations["createBody"] = body
            return
        hid = hook["id"]
        try:
            path = f"/webhooks/{hid}"
            s, b, _ = await p.raw("GET", path, "dated.webhooks.get", headers=HEADER)
            r.check("GET /webhooks/{id} answers it", f"{s}", s == 200)
            for state in ("enabled", "disabled"):
                s, b, _ = await p.raw("PATCH", path, "dated.webhooks.update", headers=HEADER,
                                      json={"status": state})  # fmt: skip
                got = (b or {}).get("data", {}).get("status") if isinstance(b, dict) else None
                r.check(f"PATCH status={state} answers it {state}", f"{s} {got}", got == state)
            s, b, _ = await p.raw("POST", path + "/rotate", "dated.webhooks.rotate", headers=HEADER)
            new_key: str = ((b.get("data") or {}).get("key") if isinstance(b, dict) else "") or ""
            r.check(
                "POST /webhooks/{id}/rotate gives a new whsec_ key",
                f"{s}",
                s == 200 and new_key != key and new_key.startswith("whsec_"),
            )
            key = new_key or key
            await _test_delivery(p, r, receiver, hid, key)
        finally:
            s, _, _ = await p.raw("DELETE", f"/webhooks/{hid}", "dated.webhooks.delete",
                                  headers=HEADER)  # fmt: skip
            r.check("DELETE /webhooks/{id} answers 204", f"{s}", s == 204)
            s, _, _ = await p.raw("GET", f"/webhooks/{hid}", "dated.webhooks.get", headers=HEADER)
            r.check("a deleted webhook answers 404", f"{s}", s == 404)


async def _test_delivery(
    p: _Probe, r: ScenarioResult, receiver: LocalReceiver, hid: str, key: str
) -> None:
    s, b, _ = await p.raw("POST", f"/webhooks/{hid}/events/test", "dated.webhooks.test",
                          headers=HEADER, json={"eventType": TEST_EVENT})  # fmt: skip
    event_id = ((b or {}).get("data") or {}).get("id") if isinstance(b, dict) else None
    r.check("POST /webhooks/{id}/events/test is accepted (2xx)", f"{s}", 200 <= s < 300)
    arrived = await receiver.wait_for(1, p.delivery_timeout)
    r.observations["receiverUrl"] = receiver.url
    r.check(
        "the test delivery reaches the receiver (even while the webhook is disabled)",
        f"{len(receiver.received)} deliveries" + ("" if arrived else " (timed out)"),
        arrived,
    )
    if not arrived:
        return
    got = receiver.received[0]
    try:
        scheme = signatures.verify(got.headers, got.body, key)
        sig_ok, observed = scheme == "standard", scheme
    except signatures.SignatureError as exc:
        sig_ok, observed = False, exc.reason
    r.check("it is signed with Standard Webhooks and the webhook's key", observed, sig_ok)
    envelope: Any = json.loads(got.body)
    data = envelope.get("data") if isinstance(envelope, dict) else None
    shape = (
        isinstance(data, dict)
        and {"resource", "context", "links"} <= set(data)
        and envelope.get("type") == TEST_EVENT
        and envelope.get("apiVersion") == DATED_VERSION
    )
    r.check("it is the new envelope {id, apiVersion, type, data: {resource, context, links}}",
            _keys(envelope), shape)  # fmt: skip
    s, b, _ = await p.raw("GET", f"/webhooks/{hid}/events", "dated.webhooks.events",
                          headers=HEADER)  # fmt: skip
    ids = [e.get("id") for e in (b or {}).get("data", [])] if isinstance(b, dict) else []
    r.check(
        "the delivery history lists the test event",
        f"{s}, {len(ids)} events",
        s == 200 and (event_id in ids if event_id else bool(ids)),
    )


def _keys(value: Any) -> str:
    return f"keys {sorted(value)}" if isinstance(value, dict) else type(value).__name__
