"""Webhook subscriptions (≤ 10 lines each, replacement) and signatures on real deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from switchboard.emulators.common import run_in_thread
from switchboard.quo.client import QuoClient
from switchboard.quo.signatures import SignatureError, verify
from switchboard.quo.webhooks import plan_subscriptions, replace_subscriptions, subscribe
from tests.quo.conftest import Control

EVENTS = ["call.completed", "call.recording.completed", "message.received"]


def lines(n: int) -> list[dict[str, Any]]:
    return [{"number": f"+1555020{i:04d}", "name": f"Line {i}", "symbol": "📞"} for i in range(n)]


def test_plan_splits_by_kind_and_ten_lines() -> None:
    plans = plan_subscriptions(EVENTS, [f"PN{i:02d}" for i in range(23)])
    assert [(p.kind, len(p.resource_ids)) for p in plans] == [
        ("messages", 10), ("messages", 10), ("messages", 3),
        ("calls", 10), ("calls", 10), ("calls", 3),
    ]  # fmt: skip
    assert plans[3].events == ("call.completed", "call.recording.completed")
    assert plan_subscriptions(["call.completed"], None)[0].resource_ids == ("*",)
    assert plan_subscriptions(["call.completed"], []) == []
    with pytest.raises(ValueError):
        plan_subscriptions(["call.exploded"], None)


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_batches_of_ten_and_replacement(
    control: Control, make_quo: Callable[..., QuoClient], version: str
) -> None:
    key = control.workspace(phoneNumbers=lines(23))
    quo = make_quo(key, webhooks_version=version)
    phone_ids = [n.id for n in await quo.list_phone_numbers()]
    assert len(phone_ids) == 23
    url = "https://switchboard.example/hooks/quo/conn1"
    hooks = await subscribe(quo, url, EVENTS, phone_ids, label="switchboard")
    assert len(hooks) == 6 and all(len(h.resource_ids) <= 10 for h in hooks)
    assert sorted(i for h in hooks if h.kind == "calls" for i in h.resource_ids) == sorted(
        phone_ids
    )
    assert all(h.key is not None for h in hooks)
    listed = await quo.list_webhooks()
    assert {h.id for h in listed} == {h.id for h in hooks}
    stored = control.call("GET", f"/workspaces/{key}/webhooks")["data"]
    assert {h["version"] for h in stored} == {int(version[1])}

    # A line is opted out: new webhooks first, then the old ones go.
    since = time.time()
    new = await replace_subscriptions(quo, hooks, url, EVENTS, phone_ids[:12])
    assert len(new) == 4 and {h.id for h in await quo.list_webhooks()} == {h.id for h in new}
    ops = [
        r["operation"]
        for r in control.requests(key)
        if r["ts"] >= since and "ebhook" in r["operation"]
    ]
    first_delete = next(i for i, op in enumerate(ops) if op.startswith("delete"))
    assert all(op.startswith("create") for op in ops[:first_delete]) and first_delete == 4
    assert await quo.delete_webhook(new[0].id) is True
    assert await quo.delete_webhook(new[0].id) is False  # already gone is fine


class Receiver:
    """A tiny ASGI app that keeps the raw body and headers of every POST."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body, more = b"", True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.received.append((headers, body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with run_in_thread(app) as server:
        yield app, server.url


async def test_signatures_of_real_deliveries(
    control: Control, make_quo: Callable[..., QuoClient]
) -> None:
    key = control.workspace()
    v1, v2 = make_quo(key), make_quo(key, webhooks_version="v2")
    with receiver() as (rx, url):
        legacy = (await subscribe(v1, url + "/legacy", ["call.completed"], None))[0]
        standard = (await subscribe(v2, url + "/standard", ["call.completed"], None))[0]
        assert standard.key and standard.key.get_secret_value().startswith("whsec_")
        control.call("POST", "/calls", json={"workspace": key, "ringing": False, "delayScale": 0})
        control.call("POST", "/deliveries/wait", params={"timeout": 10})
        for _ in range(50):
            if len(rx.received) >= 2:
                break
            await asyncio.sleep(0.05)
    assert len(rx.received) == 2
    keys = {"legacy": legacy.key, "standard": standard.key}
    for headers, body in rx.received:
        scheme = "legacy" if "openphone-signature" in headers else "standard"
        secret = keys[scheme]
        assert secret is not None
        assert verify(headers, body, secret.get_secret_value()) == scheme
        with pytest.raises(SignatureError, match="mismatch"):
            verify(
                headers,
                body.replace(b"call.completed", b"call.completes"),
                secret.get_secret_value(),
            )
        other = keys["standard" if scheme == "legacy" else "legacy"]
        assert other is not None
        with pytest.raises(SignatureError, match="mismatch"):
            verify(headers, body, other.get_secret_value())
        with pytest.raises(SignatureError, match="tolerance"):
            verify(headers, body, secret.get_secret_value(), clock=lambda: time.time() + 301)
