"""Fixtures: an in-process Pipedrive emulator driven through httpx's ASGI transport, with webhook
deliveries (and the uninstall callback) routed to an in-process receiver, and a fake sleep that
records the retry delays instead of waiting."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from switchboard.emulators.pipedrive import Company, PipedriveEmulator, create_app

TOKEN = "test-token"


@dataclass
class Receiver:
    """Collects deliveries; `fail_first` answers 500 to that many, `always_fail` to all."""

    fail_first: int = 0
    always_fail: bool = False
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.always_fail or self.fail_first > 0:
            self.fail_first -= 1
            return httpx.Response(500)
        return httpx.Response(200)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@dataclass
class Pd:
    emu: PipedriveEmulator
    client: httpx.AsyncClient
    receiver: Receiver
    slept: list[float]

    @property
    def co(self) -> Company:
        return self.emu.default_company

    async def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        resp = await self.client.request(method, path, **kw)
        assert resp.status_code == status, resp.text
        return resp.json()

    async def hook(self, **body: Any) -> dict[str, Any]:
        payload = {
            "subscription_url": "https://app.example.test/hooks",
            "event_action": "*",
            "event_object": "person",
            "name": "test",
            "http_auth_user": "hook-user",
            "http_auth_password": "hook-pass",
            **body,
        }
        created = await self.ok("POST", "/v1/webhooks", 201, json=payload)
        return dict(created["data"])


@pytest.fixture
async def pd() -> AsyncIterator[Pd]:
    emu = PipedriveEmulator(token=TOKEN, seed_value=1)
    receiver = Receiver()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    emu.deliverer.transport = httpx.MockTransport(receiver)
    emu.deliverer.sleep = fake_sleep
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(emu)),
        base_url="https://api.pipedrive.test",
        headers={"x-api-token": TOKEN},
    ) as client:
        yield Pd(emu, client, receiver, slept)
