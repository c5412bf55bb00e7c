"""Pipedrive webhook payloads (v2 and v1) and their delivery.

Delivery (third-party description, UNCONFIRMED, hence knobs): a 10 s timeout, retries after 3,
30 and 150 s, the subscription deleted after 3 days of failures. `time_scale` scales every delay
(0.001 in tests); `sleep` can be replaced by a fake clock's. There is no signature: the only
authenticity is the HTTP Basic pair set on the subscription, sent on every attempt.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from switchboard.emulators.common import Delivery, FaultInjector
from switchboard.emulators.pipedrive.company import ChangeEvent, Company
from switchboard.emulators.pipedrive.entities import Webhook, iso_ms

V1_ACTIONS = {"create": "added", "change": "updated", "delete": "deleted"}
DEFAULT_RETRY_DELAYS_S = (3.0, 30.0, 150.0)
REMOVE_AFTER_S = 3 * 86_400.0


def v2_body(company: Company, hook: Webhook, event: ChangeEvent, attempt: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "action": event.action,
        "entity": event.entity,
        "entity_id": str(event.entity_id),
        "version": "2.0",
        "company_id": str(company.id),
        "user_id": str(event.user_id),
        "webhook_id": str(hook.id),
        "webhook_owner_id": str(hook.user_id),
        "attempt": attempt,
        "host": f"{company.domain}.pipedrive.com",
        "timestamp": iso_ms(event.at),
        "change_source": event.source,
        "is_bulk_edit": False,
        # The same on every attempt and duplicate of this event to this subscription.
        "correlation_id": event.id,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event.id}:{hook.id}")),
        "type": hook.type,
        "permitted_user_ids": [str(u) for u in company.users],
    }
    if event.merged_to_id is not None:
        meta["merged_to_id"] = str(event.merged_to_id)
    return {"meta": meta, "data": event.data, "previous": event.previous}


def v1_body(
    company: Company, hook: Webhook, event: ChangeEvent, attempt: int, action: str | None = None
) -> dict[str, Any]:
    action = action or V1_ACTIONS[event.action]
    entity_id = event.entity_id
    current = event.v1_current if event.v1_current is not None else event.data
    previous = event.v1_previous if event.v1_previous is not None else event.previous
    if event.action == "delete":
        current = None
    return {
        "v": 1,
        "matches_filters": {"current": []},
        "meta": {
            "v": 1,
            "action": action,
            "object": event.entity,
            "id": entity_id,
            "company_id": company.id,
            "user_id": event.user_id,
            "host": f"{company.domain}.pipedrive.com",
            "timestamp": int(event.at.timestamp()),
            "timestamp_micro": int(event.at.timestamp() * 1_000_000),
            "permitted_user_ids": list(company.users),
            "trans_pending": False,
            "is_bulk_update": False,
            "pipedrive_service_name": False,
            "change_source": event.source,
            "webhook_id": str(hook.id),
            "attempt": attempt,
        },
        "current": current,
        "previous": previous,
        "retry": attempt - 1,
        "event": f"{action}.{event.entity}",
    }


def basic_auth(user: str | None, password: str | None) -> dict[str, str]:
    if not user and not password:
        return {}
    raw = f"{user or ''}:{password or ''}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


BodyFactory = Callable[[int], dict[str, Any]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class PipedriveDeliverer:
    """Delivers each event to a subscription: one attempt, then retries after `retry_delays_s`
    (× `time_scale`) until a 2xx. The body is rebuilt per attempt (its `attempt` changes).
    Duplicate/reorder faults come from the shared fault knobs."""

    faults: FaultInjector
    retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S
    time_scale: float = 1.0
    timeout_s: float = 10.0
    remove_after_s: float = REMOVE_AFTER_S
    clock: Callable[[], float] = time.time
    sleep: Sleep = asyncio.sleep
    transport: httpx.AsyncBaseTransport | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    on_result: Callable[[Webhook, int | None, bool], None] | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None
    _client_loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport)
            self._client_loop = loop
        return self._client

    def schedule(self, hook: Webhook, body_of: BodyFactory, event_id: str, event_type: str) -> None:
        """Must run on an event loop; returns at once."""
        cfg = self.faults.config
        copies = 1
        if cfg.webhook_duplicate_rate and self.faults.random.random() < cfg.webhook_duplicate_rate:
            copies = 2
        for n in range(copies):
            delay = 0.0
            if cfg.webhook_reorder_jitter_s:
                delay = self.faults.random.uniform(0, cfg.webhook_reorder_jitter_s)
            task = asyncio.get_running_loop().create_task(
                self._deliver(hook, body_of, event_id, event_type, delay, n > 0)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self,
        hook: Webhook,
        body_of: BodyFactory,
        event_id: str,
        event_type: str,
        delay_s: float,
        duplicate: bool,
    ) -> None:
        if delay_s > 0:
            await self.sleep(delay_s)
        attempts = len(self.retry_delays_s) + 1
        for attempt in range(1, attempts + 1):
            if hook.removed:
                return
            status: int | None = None
            error: str | None = None
            body = json.dumps(body_of(attempt)).encode()
            headers = {
                "content-type": "application/json",
                **basic_auth(hook.http_auth_user, hook.http_auth_password),
            }
            try:
                resp = await self._http().post(hook.subscription_url, content=body, headers=headers)
                status = resp.status_code
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            ok = status is not None and 200 <= status < 300
            self.deliveries.append(
                Delivery(
                    self.clock(),
                    hook.subscription_url,
                    event_id,
                    event_type,
                    attempt,
                    status,
                    error,
                    duplicate,
                )
            )
            if self.on_result is not None:
                self.on_result(hook, status, ok)
            if ok:
                return
            if attempt < attempts:
                await self.sleep(self.retry_delays_s[attempt - 1] * self.time_scale)

    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._tasks)} webhook deliveries still pending")
            await asyncio.wait(set(self._tasks), timeout=remaining)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
