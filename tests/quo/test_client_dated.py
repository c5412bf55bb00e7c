"""QuoClient on the dated generation (webhooks_version="2026-03-30"), in-process emulator:
one interface for both generations, plus the dated-only webhook operations."""

from __future__ import annotations

import json

import httpx
import pytest

from switchboard.emulators.quo import QuoEmulator, create_app
from switchboard.http import MemoryRateLimiter
from switchboard.quo import signatures
from switchboard.quo.client import QUO_RATE_LIMIT, QuoClient


def make(emu: QuoEmulator, version: str) -> QuoClient:
    return QuoClient(
        "k1",
        env="local",
        base_url="http://quo.test",
        webhooks_version=version,  # type: ignore[arg-type]
        limiter=MemoryRateLimiter(QUO_RATE_LIMIT),
        transport=httpx.ASGITransport(app=create_app(emu)),
    )


async def test_one_interface_for_both_generations_and_dated_operations() -> None:
    emu = QuoEmulator(profile="2026-03-30", phase_delay_scale=0, rate_limit=0)
    emu.apply_settings({"webhookScheduleScale": 0})
    emu.create_workspace(api_key="k1")
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    emu.deliverer.transport = httpx.MockTransport(receiver)
    async with make(emu, "v1") as v1, make(emu, "2026-03-30") as dated:
        legacy = await v1.create_webhook("calls", "https://sb.test/h", ["call.completed"])
        hook = await dated.create_webhook(
            "ignored", "https://sb.test/h", ["call.voicemail.completed", "contact.updated"],
            status="disabled", label="sb",
        )  # fmt: skip
        assert hook.key is not None and hook.key.get_secret_value().startswith("whsec_")
        assert [h.id for h in await v1.list_webhooks()] == [legacy.id]
        assert [h.id for h in await dated.list_webhooks()] == [hook.id]
        assert hook.kind == "dated" and hook.status == "disabled"
        assert (await dated.set_webhook_enabled(hook.id, True)).status == "enabled"
        rotated = await dated.rotate_webhook_secret(hook.id)
        assert rotated.key is not None and rotated.key != hook.key
        event = await dated.send_test_event(hook.id, "contact.updated")
        await emu.drain()
        assert len(received) == 1
        req = received[0]
        assert signatures.verify(req.headers, req.content, rotated.key.get_secret_value())
        assert json.loads(req.content)["id"] == event.id
        history = await dated.list_webhook_events(hook.id)
        assert [(e.id, e.status, e.test) for e in history] == [(event.id, "delivered", True)]
        one = await dated.get_webhook_event(hook.id, event.id)
        assert one.payload is not None and one.payload["type"] == "contact.updated"
        await dated.retry_webhook_event(hook.id, event.id)
        await emu.drain()
        assert len(received) == 2
        assert await dated.delete_webhook(hook.id) is True
        assert await dated.get_webhook(hook.id) is None
        with pytest.raises(ValueError, match="2026-03-30"):
            await v1.rotate_webhook_secret(legacy.id)
