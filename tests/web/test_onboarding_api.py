"""Admin API for connections: create (pasted token or OAuth sign-in), rotate, delete — live
checks with clear messages and nothing stored on failure; forged or replayed callbacks refused.
Quo and Attio run as emulators over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from switchboard import connections
from switchboard.config import OAuthClient
from switchboard.emulators.attio import AttioEmulator
from switchboard.emulators.attio import create_app as attio_app
from switchboard.emulators.common import ServerThread
from switchboard.emulators.quo import QuoEmulator
from switchboard.emulators.quo import create_app as quo_app
from switchboard.oauth import token_status
from switchboard.web import create_app
from tests.web.conftest import ADMIN_TOKEN, make_settings

QUO_KEY = "quo-onboard-key-1"
QUO_KEY_NO_BULK = "quo-onboard-key-nobulk"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[str, str, AttioEmulator]]:
    quo = QuoEmulator(bulk_delay_s=0, phase_delay_scale=0)
    quo.create_workspace(api_key=QUO_KEY)
    quo.create_workspace(api_key=QUO_KEY_NO_BULK, bulk="missing")
    attio = AttioEmulator(allow_http_targets=True, seed_value=1)
    attio.register_oauth_client("sb-app", "sb-secret-0123456789")
    servers = [ServerThread(quo_app(quo)).start(), ServerThread(attio_app(attio)).start()]
    try:
        yield servers[0].url, servers[1].url, attio
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def service(
    sqlite_url: str, tmp_path: Path, emulators: tuple[str, str, AttioEmulator]
) -> Iterator[tuple[Any, TestClient]]:
    from switchboard.runtime import Runtime

    attio_url = emulators[1]
    client = OAuthClient(
        client_id="sb-app",
        client_secret="sb-secret-0123456789",  # type: ignore[arg-type]
        authorize_url=f"{attio_url}/authorize",
        token_url=f"{attio_url}/oauth/token",
    )
    settings = make_settings(
        sqlite_url, tmp_path, admin_token=ADMIN_TOKEN, oauth_clients={"attio": client}
    )
    rt = Runtime(settings, workers=False).start()
    try:
        yield rt, TestClient(create_app(rt, bind_host="127.0.0.1"), base_url=LOCAL)
    finally:
        rt.stop()


def _body(emulators: tuple[str, str, AttioEmulator], **kw: Any) -> dict[str, Any]:
    quo_url, attio_url, attio = emulators
    return {
        "crm": "attio",
        "quo_api_key": QUO_KEY,
        "quo_base_url": quo_url,
        "crm_base_url": attio_url,
        "crm_token": attio.default_token,
        **kw,
    }


def _count(rt: Any) -> int:
    return len(connections.list_connections(rt.db))


def test_create_with_a_pasted_token(service: Any, emulators: Any) -> None:
    rt, client = service
    resp = client.post("/api/connections", json=_body(emulators), headers=AUTH)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["checks"]["quo"]["bulk_contacts"] is True
    assert out["checks"]["quo"]["lines"] and out["checks"]["quo"]["webhooks"]["v1"] is True
    assert out["checks"]["attio"]["token_level"] == "workspace"
    assert out["setup_workflow_id"] and out["connection"]["name"].startswith("Quo ↔ ")
    assert token_status(rt.db, out["connection"]["id"]) is None  # no OAuth involved


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quo_api_key": "wrong-quo-key"}, "Quo rejects this API key"),
        ({"quo_api_key": QUO_KEY_NO_BULK}, "no bulk contacts endpoint"),
        ({"crm_token": "wrong-attio-token"}, "Attio rejects the token"),
        ({"settings": {"enabled_lines": ["PNnotmine"]}}, "not lines of this Quo workspace"),
        ({"crm_token": None}, "either crm_token or oauth_state"),
    ],
)
def test_refused_checks_store_nothing(
    service: Any, emulators: Any, change: dict[str, Any], message: str
) -> None:
    rt, client = service
    body = {k: v for k, v in _body(emulators, **change).items() if v is not None}
    resp = client.post("/api/connections", json=body, headers=AUTH)
    assert resp.status_code == 400 and message in resp.json()["error"], resp.text
    assert _count(rt) == 0


def _sign_in(client: TestClient, attio_url: str, decision: str = "approve") -> httpx.Response:
    """Start a sign-in, press a button on the emulator's consent page, follow the callback."""
    start = client.get("/oauth/start", params={"crm": "attio"}, headers=AUTH,
                       follow_redirects=False)  # fmt: skip
    assert start.status_code == 303 and start.headers["location"].startswith(attio_url)
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    assert query["redirect_uri"] == "http://127.0.0.1:8400/oauth/callback"
    consent = httpx.post(f"{attio_url}/authorize", data={**query, "decision": decision})
    assert consent.status_code == 303
    back = urlsplit(consent.headers["location"])
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_sign_in_with_oauth_then_create(service: Any, emulators: Any) -> None:
    rt, client = service
    callback = _sign_in(client, emulators[1])
    assert callback.status_code == 200 and "Signed in" in callback.text
    state = parse_qs(urlsplit(_next_url(callback.text)).query)["signin"][0]
    body = _body(emulators, crm_token=None, oauth_state=state)
    resp = client.post("/api/connections", json={k: v for k, v in body.items() if v}, headers=AUTH)
    assert resp.status_code == 201, resp.text
    assert token_status(rt.db, resp.json()["connection"]["id"]) is not None
    again = client.post("/api/connections", json={k: v for k, v in body.items() if v},
                        headers=AUTH)  # fmt: skip
    assert again.status_code == 400 and "sign in" in again.json()["error"]  # claimed once


def test_forged_replayed_and_denied_callbacks_are_refused(service: Any, emulators: Any) -> None:
    rt, client = service
    callback = _sign_in(client, emulators[1])
    assert callback.status_code == 200
    replay = client.get(str(callback.request.url), follow_redirects=False)
    assert replay.status_code == 400 and "already been used" in replay.text
    other_browser = TestClient(client.app, base_url=LOCAL)
    # A sign-in this browser started, completed from another browser (no binding cookie).
    fresh_start = _start_only(client)
    forged = other_browser.get(f"/oauth/callback?state={fresh_start}&code=x",
                               follow_redirects=False)  # fmt: skip
    assert forged.status_code == 400 and "not started from your session" in forged.text
    denied = _sign_in(client, emulators[1], decision="deny")
    assert denied.status_code == 400 and "access was denied" in denied.text
    assert _count(rt) == 0


def _start_only(client: TestClient) -> str:
    start = client.get("/oauth/start", params={"crm": "attio"}, headers=AUTH,
                       follow_redirects=False)  # fmt: skip
    return parse_qs(urlsplit(start.headers["location"]).query)["state"][0]


def _next_url(page: str) -> str:
    marker = 'id="oauth-next" href="'
    return page.split(marker, 1)[1].split('"', 1)[0].replace("&amp;", "&")


def test_rotate_and_delete(service: Any, emulators: Any) -> None:
    rt, client = service
    created = client.post("/api/connections", json=_body(emulators), headers=AUTH).json()
    cid = created["connection"]["id"]
    wrong = client.put(f"/api/connections/{cid}/credentials", json={"quo_api_key": "nope"},
                       headers=AUTH)  # fmt: skip
    assert wrong.status_code == 400 and "Quo rejects" in wrong.json()["error"]
    empty = client.put(f"/api/connections/{cid}/credentials", json={}, headers=AUTH)
    assert empty.status_code == 400
    token = emulators[2].issue_token(emulators[2].default_workspace).value
    ok = client.put(f"/api/connections/{cid}/credentials", json={"crm_token": token},
                    headers=AUTH)  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert connections.load_credentials(rt.db, rt.box, cid).crm_token == token
    gone = client.delete(f"/api/connections/{cid}", headers=AUTH)
    assert gone.status_code == 200, gone.text
    assert client.delete(f"/api/connections/{cid}", headers=AUTH).status_code == 409
    assert client.delete("/api/connections/conn_nope", headers=AUTH).status_code == 404
