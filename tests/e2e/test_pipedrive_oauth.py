"""Pipedrive over OAuth, end to end over real HTTP (Quo and Pipedrive emulators + `switchboard
serve` as separate processes, SQLite), browser-free: the consent page's Approve and Deny are
form posts.

Denied consent → refused; approved → a connection whose base URL is the token response's
`api_domain` and every Pipedrive request carries the OAuth token (never the API token); a Quo
call becomes a call log; access tokens that expire every 3 s are refreshed once per expiry with
rotating refresh tokens and no request is refused; the user revokes the app → `needs_reauth`,
and signing in again resumes; a forged uninstall callback → 401, nothing changes; Pipedrive's
genuine uninstall callback → the connection is disconnected; `switchboard connect pipedrive
--oauth` prints the URL, a browser without any Switchboard cookie approves, the terminal
creates the connection."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.servers import free_port, switchboard_command
from tests.sync.stack import ADMIN, CRM_TOKENS, QUO_KEY, sync_stack, wait_for

PIPEDRIVE_TOKEN = CRM_TOKENS["pipedrive"]

pytestmark = pytest.mark.timeout(180)

LIFETIME_S = 3
CLIENT = {"client_id": "sb-pd-e2e", "client_secret": "sb-pd-e2e-secret-0123456789"}


def _consent(web: httpx.Client, pd_url: str, decision: str, **params: str) -> httpx.Response:
    """Start a sign-in as the admin, press `decision` on Pipedrive's consent page, and follow
    the redirect back to Switchboard's callback with the same (cookie-carrying) client."""
    start = web.get("/oauth/start", params={"crm": "pipedrive", **params})
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(f"{pd_url}/oauth/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    page = httpx.get(authorize)
    assert page.status_code == 200 and 'value="deny"' in page.text
    consent = httpx.post(f"{pd_url}/oauth/authorize", data={**query, "decision": decision})
    assert consent.status_code == 303, consent.text
    back = urlsplit(consent.headers["location"])
    return web.get(f"{back.path}?{back.query}")


def _call(quo_url: str, phone: str) -> None:
    body = {"workspace": QUO_KEY, "direction": "incoming", "outcome": "answered",
            "participants": [phone], "delayScale": 0}  # fmt: skip
    httpx.post(f"{quo_url}/_emulator/calls", json=body, timeout=30).raise_for_status()


def _rejected_401(web: httpx.Client) -> float:
    prefix = "switchboard_webhook_rejections_total{"
    for line in web.get("/metrics").text.splitlines():
        if line.startswith(prefix) and 'provider="pipedrive"' in line and 'code="401"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_pipedrive_oauth_sign_in_refresh_revoke_and_uninstall(
    tmp_path: Path, sqlite_url: str
) -> None:
    started = time.monotonic()
    pd_port = free_port()
    pd_url = f"http://127.0.0.1:{pd_port}"
    clients = {"pipedrive": {**CLIENT, "authorize_url": f"{pd_url}/oauth/authorize",
                             "token_url": f"{pd_url}/oauth/token"}}  # fmt: skip
    env = {"SWITCHBOARD_OAUTH_CLIENTS": json.dumps(clients), "SWITCHBOARD_SCHEDULES": "off"}
    with sync_stack(
        tmp_path,
        sqlite_url,
        people=20,
        serve=True,
        extra_env=env,
        crm="pipedrive",
        crm_args=("--access-token-lifetime", str(LIFETIME_S), "--webhook-time-scale", "0.001"),
        crm_port=pd_port,
    ) as stack:
        assert stack.serve is not None
        uninstall_url = f"{stack.serve.url}/webhooks/pipedrive/uninstall"
        stack.control("POST", "/oauth/clients", json={**CLIENT, "uninstall_url": uninstall_url})
        phones = [v["phones"][0] for v in stack.expected_contacts(stack.people()).values()]
        stack.control("DELETE", "/requests")  # from here on only Switchboard calls Pipedrive
        with httpx.Client(base_url=stack.serve.url, headers=ADMIN, timeout=60) as web:
            denied = _consent(web, pd_url, "deny")
            assert denied.status_code == 400 and "access was denied" in denied.text

            page = _consent(web, pd_url, "approve")
            assert page.status_code == 200, page.text
            state = page.text.split("signin=", 1)[1].split('"', 1)[0].split("&", 1)[0]
            created = web.post("/api/connections", json={
                "crm": "pipedrive", "quo_api_key": QUO_KEY, "quo_base_url": stack.quo.url,
                "oauth_state": state,
            })  # fmt: skip
            assert created.status_code == 201, created.text
            conn = created.json()["connection"]
            cid = conn["id"]
            assert conn["crm_base_url"] == pd_url  # the token response's api_domain

            def synced() -> bool:
                run = web.get(f"/api/connections/{cid}/sync").json()
                return bool((run.get("progress") or run).get("status") == "succeeded")

            wait_for(synced, timeout=60)

            # A call logged with the OAuth token, across several token lifetimes.
            load_started = time.time()
            for i in range(4):
                _call(stack.quo.url, phones[i])
                time.sleep(LIFETIME_S * 0.75)
            wait_for(
                lambda: len(stack.control("GET", "/companies/default/call-logs")["data"]) >= 4,
                timeout=60,
            )
            oauth = stack.control("GET", "/oauth")
            spent = time.time() - load_started
            gaps = [
                b - a
                for a, b in zip(oauth["refreshed_at"], oauth["refreshed_at"][1:], strict=False)
            ]
            print(f"{spent:.1f}s of calls: {oauth['refreshes']} refreshes, gaps {gaps}")
            assert oauth["refreshes"] >= 1 and oauth["refresh_refused"] == 0
            assert all(g > LIFETIME_S / 2 for g in gaps), gaps  # one refresh per expiry
            log = stack.control("GET", "/requests")["data"]
            assert log and not [e for e in log if e.get("key") == PIPEDRIVE_TOKEN]
            assert not [e for e in log if e.get("status") == 401], "refreshed before expiry"

            # The user removes the app's access: the next refresh is refused for good.
            stack.control("POST", "/oauth/revoke-grants", json={})
            _call(stack.quo.url, phones[5])

            def needs_reauth() -> bool:
                return bool(web.get(f"/api/connections/{cid}").json()["status"] == "needs_reauth")

            wait_for(needs_reauth, timeout=30)
            again = _consent(web, pd_url, "approve", connection_id=cid)
            assert "Signed in again" in again.text, again.text
            assert web.get(f"/api/connections/{cid}").json()["status"] == "active"
            wait_for(
                lambda: len(stack.control("GET", "/companies/default/call-logs")["data"]) >= 5,
                timeout=60,
            )

            # Uninstall: forged credentials are refused and change nothing.
            before = _rejected_401(web)
            for auth in (("sb-pd-e2e", "guess"), ("someone", CLIENT["client_secret"])):
                forged = httpx.request(
                    "DELETE", uninstall_url, auth=auth,
                    json={"client_id": auth[0], "company_id": 1, "user_id": 1},
                )  # fmt: skip
                assert forged.status_code == 401
            bare = httpx.request("DELETE", uninstall_url, json={"company_id": 1})
            assert bare.status_code == 401
            assert _rejected_401(web) >= before + 3
            assert web.get(f"/api/connections/{cid}").json()["status"] == "active"

            # Pipedrive's own callback (Basic client_id:client_secret) disconnects it.
            result = stack.control(
                "POST", "/companies/default/uninstall", json={"client_id": CLIENT["client_id"]}
            )
            assert result["status"] == 200, result
            shown = web.get(f"/api/connections/{cid}").json()
            assert shown["status"] == "disconnected" and shown["disconnected_at"], shown
            hooks = httpx.get(f"{pd_url}/v1/webhooks", headers={"x-api-token": PIPEDRIVE_TOKEN})
            assert not hooks.json()["data"], hooks.json()  # deleted by the disconnect

            # From a terminal: the printed URL is opened in a browser that has no cookie of ours.
            cid = _connect_from_terminal(stack.env, stack.quo.url, pd_url)
            shown = web.get(f"/api/connections/{cid}").json()
            assert shown["status"] == "active" and shown["crm_base_url"] == pd_url, shown
    print(f"whole run {time.monotonic() - started:.1f}s")


def _connect_from_terminal(env: dict[str, str], quo_url: str, pd_url: str) -> str:
    args = ["connect", "pipedrive", "--oauth", "--quo-api-key", QUO_KEY, "--quo-base-url",
            quo_url, "--json"]  # fmt: skip
    proc = subprocess.Popen(
        [*switchboard_command(), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = ""
        while not url:
            line = proc.stderr.readline()
            assert line, "the CLI ended without printing a sign-in URL"
            url = line.strip() if line.startswith(f"{pd_url}/oauth/authorize?") else ""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        consent = httpx.post(f"{pd_url}/oauth/authorize", data={**query, "decision": "approve"})
        back = httpx.get(consent.headers["location"])
        assert back.status_code == 200 and "return to your terminal" in back.text, back.text
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    return str(json.loads(out)["connection_id"])
