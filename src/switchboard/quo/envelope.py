"""Quo webhook envelopes of both generations, as one internal shape.

- Legacy (v1/v2 webhooks): `{id, object: "event", apiVersion: "v4", createdAt, type,
  data: {object: <resource>, deepLink}}` — the resource carries `contactIds`.
- Dated (2026-03-30 `/webhooks`): `{id, apiVersion: "2026-03-30", createdAt, type,
  data: {resource, context: {contacts: {lookupStatus, ids}, participants}, links: {quo}}}`.

`normalize(payload)` turns a dated envelope into the legacy shape (resource → `data.object`,
`context.contacts.ids` → the resource's `contactIds`, `links.quo` → `data.deepLink`) and keeps
`apiVersion`, so everything downstream (ledger keys, facts, notes) reads one shape and can still
tell which generation sent an event (`is_dated`). A legacy envelope is returned unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DATED_API_VERSION = "2026-03-30"


def is_dated(payload: Mapping[str, Any]) -> bool:
    """Sent by a webhook of the dated generation (which announces voicemails itself)."""
    return payload.get("apiVersion") == DATED_API_VERSION


def normalize(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    if not isinstance(data, Mapping) or "resource" not in data:
        return payload
    resource = data.get("resource")
    obj: dict[str, Any] = dict(resource) if isinstance(resource, Mapping) else {}
    context = data.get("context")
    contacts = context.get("contacts") if isinstance(context, Mapping) else None
    if isinstance(contacts, Mapping) and "contactIds" not in obj:
        ids = contacts.get("ids")
        obj["contactIds"] = list(ids) if isinstance(ids, list) else []
    links = data.get("links")
    link = links.get("quo") if isinstance(links, Mapping) else None
    out = {k: v for k, v in payload.items() if k != "data"}
    out["object"] = "event"
    out["data"] = {"object": obj, "deepLink": link}
    return out
