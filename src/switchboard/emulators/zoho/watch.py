"""The watch API (`/crm/v8/actions/watch`): notification channels per org.

- A channel without `channel_expiry` expires one hour after it was enabled (or updated);
  `channel_expiry` may be at most one week ahead. Expired channels stop notifying, are no longer
  listed, and PUT/PATCH/DELETE on them answer `NOT_SUBSCRIBED`.
- `token` (≤ 50 characters) is echoed in every notification: the receiver's only authenticity
  check (no signature).
- Enabling a channel id that is already live replaces its settings.
- PATCH with `_delete_events: true` removes the listed events (the channel goes when none are
  left); PATCH without it updates only the given settings (the way to renew the expiry).
- Answers: every item succeeded → 201 (POST) / 200; any failed → 202 with the per-channel
  results in `watch[]`, as Zoho's notifications document lists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from switchboard.emulators.zoho.context import emulator_of, org_of, query_int, read_json
from switchboard.emulators.zoho.emulator import (
    CHANNEL_DEFAULT_TTL_S,
    CHANNEL_MAX_TTL_S,
    DATA_CENTRES,
    ZohoEmulator,
)
from switchboard.emulators.zoho.errors import ZohoError, error_item, param_missing
from switchboard.emulators.zoho.metadata import ALL_MODULES
from switchboard.emulators.zoho.org import Channel, Org, format_time

OPS = ("all", "create", "edit", "delete")
MSG_SUBSCRIBED = "Successfully subscribed for actions-watch of the given module"
MSG_UPDATED = "Successfully updated the subscribe details"
MSG_UNSUBSCRIBED = "Successfully un-subscribed from actions-watch"
MSG_REMOVED = "Successfully removed the subscribe details"


class ItemError(Exception):
    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__(item["message"])
        self.item = item


def _bad(
    field: str, n: int, code: str = "INVALID_DATA", message: str = "invalid data"
) -> ItemError:
    return ItemError(
        error_item(code, message, {"api_name": field, "json_path": f"$.watch[{n}].{field}"})
    )


def _missing(field: str, n: int) -> ItemError:
    return _bad(field, n, "MANDATORY_NOT_FOUND", "required field not found")


def not_subscribed(channel_id: str) -> ItemError:
    return ItemError(
        error_item(
            "NOT_SUBSCRIBED",
            "Not subscribed for actions-watch of the given module",
            {"channel_id": channel_id},
        )
    )


def _channel_id(item: dict[str, Any], n: int) -> str:
    raw = item.get("channel_id")
    if raw is None:
        raise _missing("channel_id", n)
    if isinstance(raw, bool) or not (
        (isinstance(raw, int) and 0 < raw < 2**63)
        or (isinstance(raw, str) and raw.isdigit() and 0 < int(raw) < 2**63)
    ):
        raise _bad("channel_id", n)
    return str(int(raw))


def _events(item: dict[str, Any], n: int) -> list[str]:
    events = item.get("events")
    if events is None:
        raise _missing("events", n)
    if not isinstance(events, list) or not events:
        raise _bad("events", n)
    out = []
    for event in events:
        if not isinstance(event, str):
            raise _bad("events", n)
        module, _, op = event.partition(".")
        canonical = next((m for m in ALL_MODULES if m.lower() == module.lower()), None)
        if canonical is None or op not in OPS:
            raise _bad("events", n)
        out.append(f"{canonical}.{op}")
    return out


def _expiry(emu: ZohoEmulator, item: dict[str, Any], n: int) -> tuple[float, bool]:
    raw = item.get("channel_expiry")
    now = emu.now()
    if raw is None:
        return now + CHANNEL_DEFAULT_TTL_S, False
    if not isinstance(raw, str):
        raise _bad("channel_expiry", n)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad("channel_expiry", n) from exc
    if parsed.tzinfo is None:
        raise _bad("channel_expiry", n)
    at = parsed.timestamp()
    if at <= now or at > now + CHANNEL_MAX_TTL_S + 60:
        raise _bad("channel_expiry", n)
    return at, True


def _settings(item: dict[str, Any], n: int, *, required: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    url = item.get("notify_url")
    if url is None:
        if required:
            raise _missing("notify_url", n)
    elif not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise _bad("notify_url", n)
    else:
        out["notify_url"] = url
    if "token" in item:
        token = item["token"]
        if token is not None and (not isinstance(token, str) or len(token) > 50):
            raise _bad("token", n)
        out["token"] = token
    for flag in ("return_affected_field_values", "notify_on_related_action"):
        if flag in item:
            if not isinstance(item[flag], bool):
                raise _bad(flag, n)
            out[flag] = item[flag]
    return out


def _details(org: Org, channel: Channel, events: list[str] | None = None) -> dict[str, Any]:
    host = DATA_CENTRES[org.dc][1]
    modules = sorted({e.partition(".")[0] for e in (events or channel.events)})
    return {
        "events": [
            {
                "resource_name": m,
                "channel_expiry": format_time(channel.expiry),
                "resource_id": org.ids.of(f"module:{m}"),
                "resource_uri": f"https://{host}/crm/v8/{m}",
                "channel_id": channel.channel_id,
                "notification_condition": [],
            }
            for m in modules
        ]
    }


def _success(message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"code": "SUCCESS", "details": details, "message": message, "status": "success"}


def _answer(items: list[dict[str, Any]], ok_status: int) -> JSONResponse:
    failed = any(i.get("status") == "error" for i in items)
    return JSONResponse({"watch": items}, status_code=202 if failed else ok_status)


def channel_json(org: Org, c: Channel) -> dict[str, Any]:
    host = DATA_CENTRES[org.dc][1]
    module = c.events[0].partition(".")[0] if c.events else ""
    return {
        "channel_id": int(c.channel_id),
        "notify_url": c.notify_url,
        "events": list(c.events),
        "token": c.token,
        "fields": None,
        "notify_on_related_action": c.notify_on_related_action,
        "return_affected_field_values": c.return_affected_field_values,
        "resource_name": module,
        "channel_expiry": format_time(c.expiry),
        "resource_id": org.ids.of(f"module:{module}"),
        "resource_uri": f"https://{host}/crm/v8/{module}",
        "notification_condition": [],
    }


async def _watch_items(request: Request) -> list[Any]:
    body = await read_json(request, wrap="watch")
    if not isinstance(body, dict) or "watch" not in body:
        raise ZohoError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "watch", "json_path": "$.watch"},
        )
    items = body["watch"]
    if not isinstance(items, list) or not items:
        raise ZohoError(
            400,
            "INVALID_DATA",
            "invalid data",
            {"api_name": "watch", "json_path": "$.watch", "expected_data_type": "jsonarray"},
        )
    return items


def watch_router() -> APIRouter:
    router = APIRouter(prefix="/crm/v8/actions/watch")

    @router.get("")
    async def list_channels(request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        channels = emu.live_channels(org)
        if cid := request.query_params.get("channel_id"):
            channels = [c for c in channels if c.channel_id == cid]
        if module := request.query_params.get("module"):
            channels = [
                c
                for c in channels
                if any(e.partition(".")[0].lower() == module.lower() for e in c.events)
            ]
        per_page = query_int(request, "per_page", 200, 1, 200)
        page = query_int(request, "page", 1, 1, 10**6)
        chunk = channels[(page - 1) * per_page : page * per_page]
        if not chunk:
            return Response(status_code=204)
        info = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": page * per_page < len(channels),
        }
        return JSONResponse({"watch": [channel_json(org, c) for c in chunk], "info": info})

    @router.post("")
    async def enable(request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        results = []
        for n, item in enumerate(await _watch_items(request)):
            try:
                if not isinstance(item, dict):
                    raise _bad("watch", n)
                cid = _channel_id(item, n)
                events = _events(item, n)
                settings = _settings(item, n, required=True)
                expiry, explicit = _expiry(emu, item, n)
            except ItemError as exc:
                results.append(exc.item)
                continue
            channel = Channel(
                channel_id=cid,
                events=events,
                notify_url=settings["notify_url"],
                token=settings.get("token"),
                expiry=expiry,
                explicit_expiry=explicit,
                return_affected_field_values=settings.get("return_affected_field_values", False),
                notify_on_related_action=settings.get("notify_on_related_action", False),
            )
            org.channels[cid] = channel
            results.append(_success(MSG_SUBSCRIBED, _details(org, channel)))
        return _answer(results, 201)

    async def _update(request: Request, *, patch: bool) -> Response:
        emu, org = emulator_of(request), org_of(request)
        live = {c.channel_id: c for c in emu.live_channels(org)}
        results = []
        for n, item in enumerate(await _watch_items(request)):
            try:
                if not isinstance(item, dict):
                    raise _bad("watch", n)
                cid = _channel_id(item, n)
                channel = live.get(cid)
                if channel is None:
                    raise not_subscribed(cid)
                if patch and item.get("_delete_events") is True:
                    events = _events(item, n)
                    channel.events = [e for e in channel.events if e not in events]
                    details = _details(org, channel, events)
                    if not channel.events:
                        org.channels.pop(cid, None)
                    results.append(_success(MSG_UNSUBSCRIBED, details))
                    continue
                events = _events(item, n) if ("events" in item or not patch) else channel.events
                settings = _settings(item, n, required=False)
                if "channel_expiry" in item or not patch:
                    channel.expiry, channel.explicit_expiry = _expiry(emu, item, n)
            except ItemError as exc:
                results.append(exc.item)
                continue
            channel.events = events
            channel.notify_url = settings.get("notify_url", channel.notify_url)
            channel.token = settings.get("token", channel.token)
            channel.return_affected_field_values = settings.get(
                "return_affected_field_values", channel.return_affected_field_values
            )
            channel.notify_on_related_action = settings.get(
                "notify_on_related_action", channel.notify_on_related_action
            )
            results.append(_success(MSG_UPDATED, _details(org, channel)))
        return _answer(results, 200)

    @router.put("")
    async def update(request: Request) -> Response:
        return await _update(request, patch=False)

    @router.patch("")
    async def patch(request: Request) -> Response:
        return await _update(request, patch=True)

    @router.delete("")
    async def delete(request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        raw = request.query_params.get("channel_ids")
        if not raw:
            raise param_missing("channel_ids")
        live = {c.channel_id: c for c in emu.live_channels(org)}
        results = []
        for cid in (c.strip() for c in raw.split(",") if c.strip()):
            channel = live.get(cid)
            if channel is None:
                results.append(not_subscribed(cid).item)
                continue
            org.channels.pop(cid, None)
            results.append(_success(MSG_REMOVED, _details(org, channel)))
        return _answer(results, 200)

    return router
