"""Fixtures: an in-process Attio emulator driven through httpx's ASGI transport, with webhook
deliveries routed to an in-process receiver (no sockets, no sleeps)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from switchboard.emulators.attio import AttioEmulator, create_app

TOKEN = "test-token"


@dataclass
class Receiver:
    """Collects webhook deliveries; `fail_first` answers 500 to that many deliveries."""

    fail_first: int = 0
    deliveries: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.deliveries.append(request)
        if self.fail_first > 0:
            self.fail_first -= 1
            return httpx.Response(500)
        return httpx.Response(200)


@dataclass
class Attio:
    emu: AttioEmulator
    client: httpx.AsyncClient
    receiver: Receiver

    @property
    def ws(self) -> Any:
        return self.emu.default_workspace

    async def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, path, **kw)

    async def ok(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self.client.request(method, path, **kw)
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def create_person(self, **values: Any) -> dict[str, Any]:
        body = await self.ok(
            "POST", "/v2/objects/people/records", json={"data": {"values": values}}
        )
        return dict(body["data"])

    async def object_id(self, slug: str) -> str:
        body = await self.ok("GET", f"/v2/objects/{slug}")
        return str(body["data"]["id"]["object_id"])

    async def subscribe(
        self,
        events: list[str],
        object_slug: str | None = "people",
        url: str = "https://hooks.test/attio",
    ) -> dict[str, Any]:
        flt = None
        if object_slug is not None:
            oid = await self.object_id(object_slug)
            flt = {"$and": [{"field": "id.object_id", "operator": "equals", "value": oid}]}
        subs = [{"event_type": e, "filter": flt} for e in events]
        body = await self.ok(
            "POST", "/v2/webhooks", json={"data": {"target_url": url, "subscriptions": subs}}
        )
        return dict(body["data"])


@pytest.fixture
def make_emulator() -> Callable[..., AttioEmulator]:
    def make(**kw: Any) -> AttioEmulator:
        kw.setdefault("token", TOKEN)
        kw.setdefault("seed_value", 1)
        emu = AttioEmulator(**kw)
        emu.set_webhook_delivery(time_scale=0.0001)
        return emu

    return make


@pytest.fixture
async def attio(make_emulator: Callable[..., AttioEmulator]) -> AsyncIterator[Attio]:
    emu = make_emulator()
    receiver = Receiver()
    emu.deliverer.transport = httpx.MockTransport(receiver)
    transport = httpx.ASGITransport(app=create_app(emu))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="https://api.attio.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        yield Attio(emu, client, receiver)
        emu.deliverer.cancel_all()
