"""One Quo emulator subprocess for the real-HTTP tests here; each test gets its own key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from switchboard.http import MemoryRateLimiter
from switchboard.quo.client import QUO_RATE_LIMIT, QuoClient
from switchboard.quo.models import ContactInput
from tests.servers import RunningServer, quo_emulator


@pytest.fixture(scope="session")
def quo_server() -> Iterator[RunningServer]:
    with quo_emulator() as srv:
        yield srv


class Control:
    """The emulator's control surface (/_emulator), for arranging and inspecting tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url + "/_emulator", timeout=30)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.http.request(method, path, **kw)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else None

    def workspace(self, **kw: Any) -> str:
        key = "test-key-" + uuid.uuid4().hex
        self.call("POST", "/workspaces", json={"apiKey": key, **kw})
        return key

    def faults(self, **body: Any) -> Any:
        return self.call("PUT", "/faults", json=body)

    def requests(self, key: str, operation: str | None = None) -> list[dict[str, Any]]:
        params = {"key": key, **({"operation": operation} if operation else {})}
        return list(self.call("GET", "/requests", params=params)["data"])

    def contacts(self, key: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/workspaces/{key}/contacts")["data"])


@pytest.fixture
def control(quo_server: RunningServer) -> Iterator[Control]:
    ctl = Control(quo_server.url)
    yield ctl
    ctl.call("DELETE", "/faults")
    ctl.http.close()


@pytest.fixture
def quo_key(control: Control) -> str:
    return control.workspace()


@pytest.fixture
async def make_quo(
    quo_server: RunningServer,
) -> AsyncIterator[Callable[..., QuoClient]]:
    clients: list[QuoClient] = []

    def make(key: str, **kw: Any) -> QuoClient:
        kw.setdefault("limiter", MemoryRateLimiter(QUO_RATE_LIMIT))
        client = QuoClient(key, env="local", base_url=quo_server.url, **kw)
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.aclose()


def contact(n: int | str, *, first: str = "Ada", source: str = "switchboard-test") -> ContactInput:
    return ContactInput.model_validate(
        {
            "defaultFields": {
                "firstName": first,
                "lastName": f"Person {n}",
                "phoneNumbers": [
                    {"name": "mobile", "value": f"+1555{abs(hash(str(n))) % 10**7:07d}"}
                ],
            },
            "externalId": f"crm-{n}",
            "source": source,
        }
    )
