"""Over real HTTP: the emulator in a uvicorn thread delivers webhooks to a real receiver for
changes made through the API, the control surface and the Python API (from another thread)."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import httpx

from switchboard.emulators.common import Receive, Scope, Send, run_in_thread
from switchboard.emulators.pipedrive import PipedriveEmulator, create_app


class Receiver:
    """A minimal ASGI app that records every request body and its Authorization header."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        with self.lock:
            self.seen.append((auth, json.loads(body)))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_webhooks_over_real_http() -> None:
    emu = PipedriveEmulator(token="t1")
    receiver = Receiver()
    with run_in_thread(receiver) as hooks, run_in_thread(create_app(emu)) as server:
        client = httpx.Client(base_url=server.url, headers={"x-api-token": "t1"}, timeout=10)
        created = client.post(
            "/v1/webhooks",
            json={
                "subscription_url": hooks.url + "/pipedrive",
                "event_action": "*",
                "event_object": "person",
                "name": "e2e",
                "http_auth_user": "sb",
                "http_auth_password": "s3cret",
            },
        )
        assert created.status_code == 201, created.text
        person = client.post("/api/v2/persons", json={"name": "Ada"}).json()["data"]
        client.patch(
            f"/_emulator/companies/default/persons/{person['id']}", json={"name": "Ada L"}
        ).raise_for_status()
        company = emu.default_company
        company.delete_person(person["id"], company.admin_user_id, "app")  # from this thread
        assert client.post("/_emulator/webhooks/drain", json={"timeout": 20}).json() == {
            "pending": 0
        }
        client.close()
    expected = "Basic " + base64.b64encode(b"sb:s3cret").decode()
    assert [auth for auth, _ in receiver.seen] == [expected] * 3
    # Deliveries run concurrently: arrival order is not guaranteed (nor is it by Pipedrive).
    seen = sorted((b["meta"]["action"], b["meta"]["change_source"]) for _, b in receiver.seen)
    assert seen == [("change", "app"), ("create", "api"), ("delete", "app")]
