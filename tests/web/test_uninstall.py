"""Pipedrive's uninstall callback, in-process against the emulators over HTTP: only the app's
own Basic credentials are accepted (401 otherwise, counted as a rejection); the signed-in
connections of the named company are disconnected and connections with a pasted token are
left alone; a cleanup that fails (the removed app's token is already revoked) is said
honestly — 500 with the errors, an audit row, the connection's status message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from switchboard import connections
from switchboard.config import OAuthClient
from switchboard.emulators.common import ServerThread
from switchboard.emulators.pipedrive import PipedriveEmulator
from switchboard.emulators.pipedrive import create_app as pipedrive_app
from switchboard.emulators.quo import QuoEmulator
from switchboard.emulators.quo import create_app as quo_app
from switchboard.store.models import AuditEntry
from switchboard.web import create_app
from tests.web.conftest import ADMIN_TOKEN, make_settings

QUO_KEY = "quo-uninstall-key"
APP = ("sb-pd-app", "sb-pd-secret-0123456789")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LOCAL = "http://127.0.0.1"
PATH = "/webhooks/pipedrive/uninstall"


@pytest.fixture
def stack(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Any, TestClient, PipedriveEmulator]]:
    from switchboard.runtime import Runtime

    quo = QuoEmulator(bulk_delay_s=0, phase_delay_scale=0)
    quo.create_workspace(api_key=QUO_KEY)
    pd = PipedriveEmulator(rate_limits=False)
    pd.register_oauth_client(*APP)
    servers = [ServerThread(quo_app(quo)).start(), ServerThread(pipedrive_app(pd)).start()]
    pd_url = servers[1].url
    client = OAuthClient(
        client_id=APP[0],
        client_secret=APP[1],  # type: ignore[arg-type]
        authorize_url=f"{pd_url}/oauth/authorize",
        token_url=f"{pd_url}/oauth/token",
    )
    settings = make_settings(
        sqlite_url, tmp_path, admin_token=ADMIN_TOKEN, oauth_clients={"pipedrive": client}
    )
    rt = Runtime(settings, workers=False).start()
    web = TestClient(create_app(rt, bind_host="127.0.0.1"), base_url=LOCAL)
    rt.quo_url = servers[0].url  # handy for the helpers below
    rt.pd_url = pd_url
    try:
        yield rt, web, pd
    finally:
        rt.stop()
        for server in servers:
            server.stop()


def _signed_in(rt: Any, web: TestClient) -> str:
    start = web.get("/oauth/start", params={"crm": "pipedrive"}, headers=AUTH,
                    follow_redirects=False)  # fmt: skip
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    consent = httpx.post(f"{rt.pd_url}/oauth/authorize", data={**query, "decision": "approve"})
    back = urlsplit(consent.headers["location"])
    page = web.get(f"{back.path}?{back.query}", follow_redirects=False)
    state = page.text.split("signin=", 1)[1].split('"', 1)[0].split("&", 1)[0]
    body = {"crm": "pipedrive", "quo_api_key": QUO_KEY, "quo_base_url": rt.quo_url,
            "oauth_state": state}  # fmt: skip
    created = web.post("/api/connections", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    return str(created.json()["connection"]["id"])


def _with_token(rt: Any, web: TestClient, pd: PipedriveEmulator) -> str:
    body = {"crm": "pipedrive", "quo_api_key": QUO_KEY, "quo_base_url": rt.quo_url,
            "crm_base_url": rt.pd_url, "crm_token": pd.default_token}  # fmt: skip
    created = web.post("/api/connections", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    return str(created.json()["connection"]["id"])


def test_forged_or_malformed_callbacks_change_nothing(stack: Any) -> None:
    rt, web, pd = stack
    cid = _signed_in(rt, web)
    company = {"client_id": APP[0], "company_id": pd.default_company.id, "user_id": 1}
    for auth in ((APP[0], "wrong"), ("other-app", APP[1]), (APP[0], APP[1] + "x")):
        assert web.request("DELETE", PATH, json=company, auth=auth).status_code == 401
    assert web.request("DELETE", PATH, json=company).status_code == 401
    assert web.request("DELETE", PATH, content=b"{}", auth=APP).status_code == 400
    assert web.request("DELETE", "/webhooks/attio/uninstall", json=company).status_code == 404
    other = {**company, "company_id": 42}
    nobody = web.request("DELETE", PATH, json=other, auth=APP)
    assert nobody.status_code == 200 and nobody.json()["disconnected"] == []
    assert connections.get_connection(rt.db, cid).status != "disconnected"


def test_cleanup_that_fails_is_said_and_token_connections_stay(stack: Any) -> None:
    rt, web, pd = stack
    signed_in = _signed_in(rt, web)
    pasted = _with_token(rt, web, pd)
    pd.revoke_app(pd.default_company)  # Pipedrive revoked the app before calling us
    company = {"client_id": APP[0], "company_id": pd.default_company.id, "user_id": 1}
    resp = web.request("DELETE", PATH, json=company, auth=APP)
    assert resp.status_code == 500, resp.text
    assert resp.json()["disconnected"] == [signed_in]
    assert "CRM webhooks" in " ".join(resp.json()["errors"][signed_in])
    gone = connections.get_connection(rt.db, signed_in)
    assert gone.status == "disconnected" and gone.disconnected_at is not None
    assert gone.status_message.startswith("removed in Pipedrive; cleanup incomplete")
    with rt.db.session() as s:
        audit = s.scalars(
            select(AuditEntry).where(
                AuditEntry.connection_id == signed_in, AuditEntry.action == "uninstall"
            )
        ).one()
        assert audit.detail["errors"]
    assert connections.get_connection(rt.db, pasted).disconnected_at is None
