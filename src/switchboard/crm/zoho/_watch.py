"""The change feed of a Zoho org: one watch channel per connection (`/crm/v8/actions/watch`).

Each channel gets a random 63-bit id (Zoho's ids are per org, so a shared static id would let
connections replace each other's channels), a random token (the stored secret Zoho echoes in
every notification) and an explicit expiry a week ahead by Zoho's own clock — without one a
channel dies after an hour. `renew_subscription` extends it once fewer than `RENEW_BEFORE` are
left; NOT_SUBSCRIBED means it is gone and the core creates another.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from switchboard.crm.base import CrmChange, WebhookSubscriptionInfo
from switchboard.crm.zoho import _records, _webhooks
from switchboard.http import ApiError

CHANNEL_TTL = timedelta(days=7)
RENEW_BEFORE = timedelta(days=5)  # renew once fewer than 5 of the 7 days are left


class WatchChannels:
    """The `ChangeFeed` methods of `ZohoConnector` (a mixin: it sends through the connector's
    `_call` and judges time by its `server_now`)."""

    modules: tuple[str, ...]
    _expiries: dict[str, datetime]

    async def _call(self, method: str, path: str, operation: str, **kwargs: Any) -> Any:
        raise NotImplementedError

    def server_now(self) -> datetime:
        raise NotImplementedError

    def _events(self) -> list[str]:
        return [f"{m}.all" for m in self.modules]

    async def subscribe(self, target_url: str) -> WebhookSubscriptionInfo:
        """One watch channel: a random 63-bit channel id (unique per connection; Zoho's ids
        are per org), a random token (the secret every notification echoes), the enabled
        modules' events, and an explicit expiry a week ahead (without one Zoho drops the
        channel after an hour)."""
        channel_id = str(secrets.randbelow(2**62) + 2**62)
        token = _webhooks.new_token()
        expiry = self.server_now() + CHANNEL_TTL - timedelta(minutes=1)
        body = {
            "watch": [
                {
                    "channel_id": int(channel_id),
                    "events": self._events(),
                    "channel_expiry": _records.zoho_time(expiry),
                    "token": token,
                    "notify_url": target_url,
                    "return_affected_field_values": False,
                    "notify_on_related_action": False,
                }
            ]
        }
        payload = await self._call("POST", "/actions/watch", "watch.enable", json_body=body)
        _check_watch(payload, "watch.enable")
        self._expiries[channel_id] = expiry
        return WebhookSubscriptionInfo(channel_id, token, target_url)

    async def renew_subscription(self, remote_id: str) -> bool:
        """PATCH the channel's expiry a week ahead when fewer than five days are left; False
        when Zoho no longer has it (NOT_SUBSCRIBED: expired or deleted)."""
        expiry = self._expiries.get(remote_id)
        if expiry is not None and expiry - self.server_now() > RENEW_BEFORE:
            return True
        new_expiry = self.server_now() + CHANNEL_TTL - timedelta(minutes=1)
        body = {"watch": [{"channel_id": int(remote_id), "events": self._events(),
                           "channel_expiry": _records.zoho_time(new_expiry)}]}  # fmt: skip
        try:
            payload = await self._call("PATCH", "/actions/watch", "watch.renew", json_body=body)
            _check_watch(payload, "watch.renew")
        except ApiError as exc:
            if exc.code == "NOT_SUBSCRIBED":
                self._expiries.pop(remote_id, None)
                return False
            raise
        self._expiries[remote_id] = new_expiry
        return True

    async def unsubscribe(self, remote_id: str) -> None:
        try:
            await self._call(
                "DELETE", "/actions/watch", "watch.delete", params={"channel_ids": remote_id}
            )
        except ApiError as exc:
            if exc.code != "NOT_SUBSCRIBED":
                raise
        self._expiries.pop(remote_id, None)

    async def list_subscriptions(self) -> list[WebhookSubscriptionInfo]:
        """Live channels (Zoho lists no expired ones); their expiries are remembered for
        `renew_subscription`."""
        out: list[WebhookSubscriptionInfo] = []
        page = 1
        while True:
            payload = await self._call(
                "GET", "/actions/watch", "watch.list", params={"page": page, "per_page": 200}
            )
            for channel in payload.get("watch") or []:
                if not isinstance(channel, dict) or "channel_id" not in channel:
                    continue
                cid = str(channel["channel_id"])
                if expiry := _records.parse_time(channel.get("channel_expiry")):
                    self._expiries[cid] = expiry
                out.append(WebhookSubscriptionInfo(cid, None, str(channel.get("notify_url", ""))))
            if not (payload.get("info") or {}).get("more_records"):
                return out
            page += 1

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
        _webhooks.verify(raw_body, headers, secret)

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
        return _webhooks.parse(raw_body, headers)


def _check_watch(payload: Any, operation: str) -> None:
    """A watch answer with a failed item (202) raises with that item's code."""
    for item in payload.get("watch") or [] if isinstance(payload, dict) else []:
        if isinstance(item, dict) and item.get("status") == "error":
            raise ApiError(
                provider="zoho",
                operation=operation,
                status=202,
                code=str(item.get("code")),
                message=str(item.get("message") or "watch failed"),
                body=json.loads(json.dumps(item.get("details") or {})),
            )
