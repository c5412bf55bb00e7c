"""Acceptance 2 and 3, small: OAuth access tokens that expire every 3 s (Attio emulator setting),
`switchboard serve` plus a second `switchboard worker` on PostgreSQL, a load of Quo calls and
Attio changes; then the refresh token is revoked, events keep arriving and wait, and signing in
again processes every waiting event once.

Checked from the outside: every ledger event processed and none failed, the refresh endpoint
saw one refresh per expiry (never two within a token's lifetime), the connection turned
`needs_reauth` within a minute of the revocation, and after the new sign-in every Attio person
with a phone is exactly one Quo contact."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.servers import free_port
from tests.sync.stack import (
    ADMIN,
    QUO_KEY,
    SyncStack,
    assert_quo_matches,
    expected_contacts,
    sync_stack,
    wait_for,
)

LIFETIME_S = 3
#: Seconds of load; `SB_OAUTH_LOAD_S=600` is the issue's ten-minute run. 12 s are four token
#: lifetimes: both processes cross an expiry several times with requests in flight, which is what
#: "one refresh per expiry, never two within a lifetime" needs (20 s only added more of the same).
LOAD_S = float(os.environ.get("SB_OAUTH_LOAD_S", "12"))

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(280 + 1.5 * LOAD_S)]
CLIENT = {"client_id": "sb-e2e", "client_secret": "sb-e2e-secret-0123456789"}


def _sign_in(web: httpx.Client, attio_url: str, connection_id: str | None = None) -> httpx.Response:
    params = {"crm": "attio", **({"connection_id": connection_id} if connection_id else {})}
    start = web.get("/oauth/start", params=params)
    assert start.status_code == 303, start.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    consent = httpx.post(f"{attio_url}/authorize", data={**query, "decision": "approve"})
    back = urlsplit(consent.headers["location"])
    return web.get(f"{back.path}?{back.query}")


def _events(web: httpx.Client, cid: str) -> dict[str, int]:
    counts: dict[str, int] = web.get(
        "/api/events", params={"connection_id": cid, "limit": 1}
    ).json()["counts"]
    return counts


def _settled(web: httpx.Client, cid: str) -> bool:
    counts = _events(web, cid)
    return not any(counts.get(s) for s in ("accepted", "processing", "failed"))


def _load(stack: SyncStack, seconds: float, rng: random.Random, phones: list[str],
          people: list[str]) -> None:  # fmt: skip
    """Quo calls and Attio renames, a few per second. Each rename is of a person not renamed
    before: Attio's record.updated event carries no timestamp, so two identical changes of one
    attribute are one event to the ledger (see the report of issue #15)."""
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        if i % 3 or not people:
            body = {"workspace": QUO_KEY, "direction": "incoming", "outcome": "answered",
                    "participants": [rng.choice(phones)], "delayScale": 0}  # fmt: skip
            httpx.post(f"{stack.quo.url}/_emulator/calls", json=body, timeout=30).raise_for_status()
        else:
            stack.rename(people.pop(), f"Renamed{i}", "E2e")
        time.sleep(0.25)


def test_expiring_tokens_two_workers_then_revoked_and_signed_in_again(
    tmp_path: Path, pg_url: str
) -> None:
    attio_port = free_port()
    attio_url = f"http://127.0.0.1:{attio_port}"
    clients = {"attio": {**CLIENT, "authorize_url": f"{attio_url}/authorize",
                         "token_url": f"{attio_url}/oauth/token"}}  # fmt: skip
    env = {"SWITCHBOARD_OAUTH_CLIENTS": json.dumps(clients), "SWITCHBOARD_SCHEDULES": "off"}
    with sync_stack(
        tmp_path,
        pg_url,
        people=60,
        serve=True,
        extra_env=env,
        crm_args=("--access-token-lifetime", str(LIFETIME_S), "--refresh-tokens"),
        crm_port=attio_port,
    ) as stack:
        assert stack.serve is not None
        stack.control("POST", "/oauth/clients", json=CLIENT)
        worker_env = {**stack.env, "SWITCHBOARD_DATA_DIR": str(tmp_path / "worker")}
        (tmp_path / "worker").mkdir()
        (tmp_path / "worker" / "secret.key").write_text(
            (tmp_path / "data" / "secret.key").read_text()
        )
        stack.env, serve_env = worker_env, stack.env
        stack.start("worker")
        stack.env = serve_env
        with httpx.Client(base_url=stack.serve.url, headers=ADMIN, timeout=60) as web:
            page = _sign_in(web, attio_url)
            state = page.text.split("signin=", 1)[1].split('"', 1)[0].split("&", 1)[0]
            created = web.post("/api/connections", json={
                "crm": "attio", "quo_api_key": QUO_KEY, "quo_base_url": stack.quo.url,
                "crm_base_url": attio_url, "oauth_state": state,
            })  # fmt: skip
            assert created.status_code == 201, created.text
            cid = created.json()["connection"]["id"]

            def synced() -> bool:
                run = web.get(f"/api/connections/{cid}/sync").json()
                return bool((run.get("progress") or run).get("status") == "succeeded")

            wait_for(synced, timeout=90)
            rng = random.Random(7)
            phones = [v["phones"][0] for v in expected_contacts(stack.people()).values()]
            people = [p["id"]["record_id"] for p in stack.people()]
            rng.shuffle(people)
            started = time.time()
            _load(stack, LOAD_S, rng, phones, people)
            wait_for(lambda: _settled(web, cid), timeout=90)
            oauth = stack.control("GET", "/oauth")
            gaps = [
                b - a
                for a, b in zip(oauth["refreshed_at"], oauth["refreshed_at"][1:], strict=False)
            ]
            spent = time.time() - started
            print(f"load {spent:.0f}s: {oauth['refreshes']} refreshes, min gap {min(gaps):.2f}s")
            assert oauth["refreshes"] >= spent / LIFETIME_S / 2
            assert min(gaps) > LIFETIME_S / 2, gaps  # one refresh per expiry, not per worker
            counts = _events(web, cid)
            assert counts.get("processed", 0) > 0 and not counts.get("failed"), counts
            log = stack.control("GET", "/requests")["data"]
            refused = [e for e in log if e.get("status") == 401]
            print(f"{len(log)} Attio API requests, {len(refused)} answered 401")
            assert not refused, refused[:3]  # refreshed before expiry, never after

            # Acceptance 3: the user removes the app; events keep arriving and wait.
            stack.control("POST", "/oauth/revoke-grants", json={})
            revoked = time.monotonic()
            _load(stack, 4, rng, phones, people)

            def needs_reauth() -> bool:
                return bool(web.get(f"/api/connections/{cid}").json()["status"] == "needs_reauth")

            wait_for(needs_reauth, timeout=60)
            print(f"needs_reauth after {time.monotonic() - revoked:.1f}s")
            waiting = _events(web, cid).get("failed", 0)
            assert waiting > 0
            again = _sign_in(web, attio_url, connection_id=cid)
            assert "Signed in again" in again.text, again.text
            wait_for(lambda: _settled(web, cid), timeout=120)
            assert web.get(f"/api/connections/{cid}").json()["status"] == "active"
            stack.drain_webhooks()
            wait_for(lambda: _settled(web, cid), timeout=60)
            try:
                wait_for(lambda: _quo_matches(stack), timeout=30)
            except AssertionError as exc:
                ext = str(exc).split("'", 2)[1]
                rows = web.get("/api/events", params={"resource_id": ext, "limit": 50}).json()
                for ev in rows["events"]:
                    print(ev["event_type"], ev["status"], ev["reason"], ev["received_at"],
                          ev["processed_at"], ev["attempts"], ev["detail"])  # fmt: skip
                raise
            print(f"{waiting} events waited and were processed after the new sign-in")


def _quo_matches(stack: SyncStack) -> bool:
    assert_quo_matches(stack, expected_contacts(stack.people()))
    return True
