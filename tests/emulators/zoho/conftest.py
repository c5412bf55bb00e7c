"""Fixtures: an in-process Zoho emulator driven through httpx's ASGI transport, with notification
deliveries routed to an in-process receiver (no sockets, no sleeps)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from switchboard.emulators.zoho import ZohoEmulator, create_app
from switchboard.emulators.zoho.org import Org

TOKEN = "1000.test-token"


@dataclass
class Receiver:
    """Collects notification deliveries; `fail_first` answers 500 to that many."""

    fail_first: int = 0
    deliveries: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.deliveries.append(request)
        if self.fail_first > 0:
            self.fail_first -= 1
            return httpx.Response(500)
        return httpx.Response(200)


@dataclass
class Zoho:
    emu: ZohoEmulator
    client: httpx.AsyncClient
    receiver: Receiver

    @property
    def org(self) -> Org:
        return self.emu.default_org

    async def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.client.request(method, path, **kw)

    async def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        resp = await self.client.request(method, path, **kw)
        assert resp.status_code == status, resp.text
        return resp.json() if resp.content else None

    async def create(self, module: str, **values: Any) -> str:
        body = await self.ok("POST", f"/crm/v8/{module}", 201, json={"data": [values]})
        return str(body["data"][0]["details"]["id"])


def make_emulator(**kw: Any) -> ZohoEmulator:
    kw.setdefault("token", TOKEN)
    kw.setdefault("seed", 1)
    emu = ZohoEmulator(**kw)
    emu.set_notify_delivery(time_scale=0.0001)
    return emu


@pytest.fixture
async def zoho() -> AsyncIterator[Zoho]:
    emu = make_emulator()
    receiver = Receiver()
    emu.deliverer.transport = httpx.MockTransport(receiver)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(emu)),
        base_url="https://www.zohoapis.com",
        headers={"Authorization": f"Zoho-oauthtoken {TOKEN}"},
    ) as client:
        yield Zoho(emu, client, receiver)
        emu.deliverer.cancel_all()
