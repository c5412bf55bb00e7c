"""Fixtures: one real `switchboard emulate quo` server per session, reset before every test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.servers import RunningServer, quo_emulator


@dataclass
class Quo:
    """A running Quo emulator (separate process) and a fresh workspace with key `key`."""

    server: RunningServer
    http: httpx.Client
    key: str
    workspace: dict[str, Any]

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": key or self.key, **kw.pop("headers", {})}
        return self.http.request(method, self.url + path, headers=headers, **kw)

    def control(self, method: str, path: str, **kw: Any) -> httpx.Response:
        resp = self.http.request(method, self.url + "/_emulator" + path, **kw)
        assert resp.status_code < 400, resp.text
        return resp

    @property
    def line_id(self) -> str:
        return str(self.workspace["phoneNumbers"][0]["id"])


@pytest.fixture(scope="session")
def quo_server() -> Iterator[RunningServer]:
    with quo_emulator("--bulk-delay", "0", "--phase-scale", "0") as srv:
        yield srv


@pytest.fixture
def quo(quo_server: RunningServer) -> Iterator[Quo]:
    with httpx.Client(timeout=10) as http:
        http.post(quo_server.url + "/_emulator/reset").raise_for_status()
        http.patch(
            quo_server.url + "/_emulator/settings",
            json={"bulkDelayS": 0, "phaseDelayScale": 0, "rateLimit": 0},
        ).raise_for_status()
        ws = http.post(quo_server.url + "/_emulator/workspaces", json={"apiKey": "k1"})
        ws.raise_for_status()
        yield Quo(quo_server, http, "k1", ws.json())
