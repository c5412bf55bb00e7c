"""The dashboard against a real server (uvicorn in a thread) on SQLite with seeded rows.

HTTP-level tests (auth, CSRF, 4xx pages, secrets) use httpx; the browser tests drive Debian's
headless Chromium with Playwright (skipped when /usr/bin/chromium is missing): pages render, the
sync progress updates without a reload, every action works and its effect shows in the database
and on the page. The runtime runs without workers, so actions enqueue DBOS workflows that stay
ENQUEUED — their effect (sync run row, workflow row, event status, settings) is what we check.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from switchboard import connections, ledger
from switchboard.config import Settings
from switchboard.store.models import ApiCallCount, AuditEntry, CacheEntry, Event, SyncRun

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUO_KEY = "quo-secret-key-DASH-1111"
CRM_TOKEN = "attio-secret-token-DASH-2222"
WEBHOOK_KEY = "d2ViaG9vay1rZXktREFTSC0zMzMzMzMzMzMzMzMzMzM="
ADMIN_TOKEN = "dash-admin-token-4444"
SECRETS = (QUO_KEY, CRM_TOKEN, WEBHOOK_KEY, ADMIN_TOKEN)


@dataclass
class Seeded:
    rt: Any
    url: str  # loopback server, no token
    token_url: str  # same runtime, app built as if bound off-loopback with an admin token
    acme: str  # healthy connection with a running initial sync
    beta: str  # degraded connection used by the action tests
    acme_failed: str
    beta_failed: str


DANA = "+15550142231"


def _event(
    db: Any,
    cid: str,
    key: str,
    status: str,
    *,
    event_type: str = "call.completed",
    reason: str | None = None,
    minutes_ago: float = 0,
    data: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> str:
    ev, _ = ledger.insert_event(
        db,
        connection_id=cid,
        provider="quo",
        event_type=event_type,
        idempotency_key=key,
        payload={"type": event_type, "data": data or {"object": {"id": key}}},
        resource_id=key,
    )
    if status != "accepted":
        ledger.finish(db, ev.id, status, reason=reason, detail=detail or {"note": "seeded"})
    with db.session() as s:
        s.execute(
            update(Event)
            .where(Event.id == ev.id)
            .values(received_at=datetime.now(UTC) - timedelta(minutes=minutes_ago))
        )
    return ev.id


def seed(rt: Any) -> tuple[str, str, str, str]:
    db, box = rt.db, rt.box
    acme = connections.create_connection(
        db,
        box,
        crm="attio",
        quo_api_key=QUO_KEY,
        crm_token=CRM_TOKEN,
        name="Acme Dental",
        quo_base_url="http://127.0.0.1:9",
        crm_base_url="http://127.0.0.1:9",
    ).id
    beta = connections.create_connection(
        db,
        box,
        crm="attio",
        quo_api_key=QUO_KEY + "b",
        crm_token=CRM_TOKEN + "b",
        name="Beta Law",
        quo_base_url="http://127.0.0.1:9",
        crm_base_url="http://127.0.0.1:9",
    ).id
    for cid in (acme, beta):
        connections.add_subscription(
            db,
            box,
            connection_id=cid,
            provider="quo",
            remote_id="WHq-" + cid,
            kind="calls",
            url="http://x/webhooks/quo/" + cid,
            events=["call.completed"],
            resource_ids=["*"],
            key=WEBHOOK_KEY,
        )
    connections.add_subscription(
        db,
        box,
        connection_id=acme,
        provider="attio",
        remote_id="WHa-" + acme,
        kind="people",
        url="http://x/webhooks/attio/" + acme,
        events=["record.updated"],
        key=WEBHOOK_KEY + "a",
    )
    connections.set_status(db, acme, "active", "webhooks registered")
    connections.set_status(
        db, beta, "degraded", "CRM webhook: ApiError 500 — fix the cause, then retry setup"
    )
    connections.touch_last_event(db, acme)
    for i in range(30):
        status = "processed" if i % 5 else "ignored"
        reason = None if status == "processed" else "call.ringing is not logged"
        _event(db, acme, f"AC{i}", status, reason=reason, minutes_ago=i * 9)
    _event(db, acme, "ACskip", "skipped", reason="no CRM person for +15550001111", minutes_ago=3)
    acme_failed = _event(
        db, acme, "ACfail", "failed", reason="ApiError 500 from Attio", minutes_ago=2
    )
    _event(db, acme, "ACnew", "accepted", minutes_ago=0.2)
    beta_failed = _event(
        db, beta, "BEfail", "failed", reason="RuntimeError: attio down", minutes_ago=1
    )
    # A logged call told with links: the CRM person (Attio: workspace slug + record id, from
    # the account facts the connection keeps) and the call in Quo (the webhook's deep link).
    connections.save_crm_account(db, beta, {"workspace_slug": "beta-law", "workspace_id": "w1"})
    _event(
        db,
        beta,
        "BEok",
        "processed",
        minutes_ago=5,
        data={
            "object": {"id": "BEok", "direction": "incoming", "participants": [DANA]},
            "deepLink": "https://my.quo.com/inbox/PN1/c/CN1?at=BEok",
        },
        detail={
            "participants": [DANA],
            "lookups": [{"phone": DANA, "person_id": "rec_dana", "source": "mapping"}],
            "notes": [{"person_id": "rec_dana", "action": "created", "note_id": "note_9"}],
        },
    )
    ledger.record_rejection(
        db, connection_id=acme, provider="quo", status_code=401, reason="bad signature"
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with db.session() as s:
        for m in range(0, 120, 3):
            minute = now - timedelta(minutes=m)
            s.add(
                ApiCallCount(
                    connection_id=acme,
                    provider="quo",
                    minute=minute,
                    requests=300 + m,
                    http_429=1 if m == 30 else 0,
                    errors=0,
                )
            )
            s.add(
                ApiCallCount(
                    connection_id=acme,
                    provider="attio",
                    minute=minute,
                    requests=40 + m // 2,
                    http_429=0,
                    errors=0,
                )
            )
        s.add(
            SyncRun(
                id=f"{acme}-initial-1",
                connection_id=acme,
                kind="initial",
                status="running",
                cursor={"through": 0, "next": "c1", "done": {}},
                total=500,
                done=120,
                created=100,
                updated=5,
                unchanged=3,
                skipped=10,
                failed=2,
                skip_reasons={"no usable phone": 10},
                started_at=datetime.now(UTC) - timedelta(seconds=60),
            )
        )
    gone = connections.create_connection(
        db,
        box,
        crm="attio",
        quo_api_key=QUO_KEY + "g",
        crm_token=CRM_TOKEN + "g",
        name="Gone Corp",
        quo_base_url="http://127.0.0.1:9",
        crm_base_url="http://127.0.0.1:9",
    ).id
    connections.delete_connection(db, gone)
    with db.session() as s:
        lines = [
            {"id": "PN1", "name": "Front Desk", "number": "+15550100100"},
            {"id": "PN2", "name": "Sales", "number": "+15550100200"},
            {"id": "PN9", "name": "Support", "number": "+15550100900"},
        ]
        s.add(
            CacheEntry(
                connection_id=beta, kind="quo_phone_numbers", key="all", data={"data": lines}
            )
        )
    return acme, beta, acme_failed, beta_failed


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    from switchboard.emulators.common import ServerThread
    from switchboard.runtime import Runtime
    from switchboard.web import create_app

    tmp = tmp_path_factory.mktemp("dashboard")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'sb.db'}",
        data_dir=tmp,
        public_url="http://127.0.0.1:8400",
        admin_token=None,
        admin_open_on_loopback=True,  # `open_app`: the development mode; `token_app` is not
    )
    rt = Runtime(settings, workers=False, kind="test").start()
    servers: list[Any] = []
    try:
        acme, beta, acme_failed, beta_failed = seed(rt)
        open_app = create_app(rt, bind_host="127.0.0.1")
        token_app = create_app(rt, bind_host="0.0.0.0")
        token_app.state.admin_token = ADMIN_TOKEN
        servers = [ServerThread(open_app).start(), ServerThread(token_app).start()]
        yield Seeded(rt, servers[0].url, servers[1].url, acme, beta, acme_failed, beta_failed)
    finally:
        for srv in servers:
            srv.stop()
        rt.stop()


# ------------------------------------------------------------------------------ HTTP level
def test_root_redirects_and_overview_renders(seeded: Seeded) -> None:
    r = httpx.get(seeded.url + "/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    r = httpx.get(seeded.url + "/dashboard")
    assert r.status_code == 200
    assert "Acme Dental" in r.text and "Beta Law" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_unknown_ids_are_404_pages(seeded: Seeded) -> None:
    r = httpx.get(seeded.url + "/dashboard/connections/conn_nope")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "No connection with id" in r.text
    r = httpx.get(seeded.url + "/dashboard/connections/conn_nope/progress.json")
    assert r.status_code == 404 and r.json()["ok"] is False
    r = httpx.post(
        f"{seeded.url}/dashboard/connections/{seeded.acme}/events/evt_nope/replay", data={}
    )
    assert r.status_code == 404 and "No event" in r.text
    # an event of another connection is unknown here too
    r = httpx.post(
        f"{seeded.url}/dashboard/connections/{seeded.acme}/events/{seeded.beta_failed}/replay"
    )
    assert r.status_code == 404
    r = httpx.get(seeded.url + "/dashboard/static/../dashboard.py")
    assert r.status_code == 404


def test_bad_query_and_form_input_are_400(seeded: Seeded) -> None:
    page = f"{seeded.url}/dashboard/connections/{seeded.acme}"
    r = httpx.get(page, params={"status": "bogus"})
    assert r.status_code == 400 and "Unknown event status" in r.text
    r = httpx.get(page, params={"window": "2y"})
    assert r.status_code == 400 and "Unknown chart window" in r.text
    r = httpx.get(page, params={"offset": "-1"})
    assert r.status_code == 400 and "offset" in r.text
    r = httpx.post(page + "/settings", data={"submitted": "1", "colour": "red"})
    assert r.status_code == 400 and "Unknown form fields: colour" in r.text
    r = httpx.post(
        page + "/settings",
        data={"submitted": "1", "default_region": "ZZ", "sync_objects": "people"},
    )
    assert r.status_code == 400 and "default_region must be a region code" in r.text
    r = httpx.post(
        page + "/settings",
        content=b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    r = httpx.post(page + "/settings", json={"default_region": "GB"})
    assert r.status_code == 415


def test_cross_site_posts_are_refused(seeded: Seeded) -> None:
    url = f"{seeded.url}/dashboard/connections/{seeded.beta}/setup"
    r = httpx.post(url, headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "another origin" in r.text
    r = httpx.post(url, headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403


def test_token_required_off_loopback(seeded: Seeded) -> None:
    base = seeded.token_url
    r = httpx.get(base + "/dashboard")
    assert r.status_code == 401 and "Sign in" in r.text
    r = httpx.get(f"{base}/dashboard/connections/{seeded.acme}/progress.json")
    assert r.status_code == 401 and r.json()["ok"] is False
    r = httpx.post(f"{base}/dashboard/connections/{seeded.beta}/setup")
    assert r.status_code == 401
    r = httpx.get(base + "/dashboard", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200 and "Acme Dental" in r.text
    r = httpx.post(base + "/dashboard/login", data={"token": "wrong", "next": "/dashboard"})
    assert r.status_code == 401 and "Wrong admin token" in r.text
    with httpx.Client(base_url=base) as client:
        r = client.post("/dashboard/login", data={"token": ADMIN_TOKEN, "next": "https://evil/"})
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"
        cookie = client.cookies.get("sb_dashboard")
        assert cookie and ADMIN_TOKEN not in cookie
        assert "httponly" in r.headers["set-cookie"].lower()
        assert client.get("/dashboard").status_code == 200
        r = client.get(f"/dashboard/connections/{seeded.acme}/progress.json")
        assert r.status_code == 200 and r.json()["progress"]["total"] == 500
    # static files need no token (the login page uses them)
    assert httpx.get(base + "/dashboard/static/dashboard.css").status_code == 200


def test_disconnected_connection_refuses_actions(seeded: Seeded) -> None:
    r = httpx.get(seeded.url + "/dashboard")
    rows = [chunk for chunk in r.text.split("<tr data-connection=")[1:] if "Gone Corp" in chunk]
    assert len(rows) == 1 and 'class="level-off"' in rows[0] and "disconnected" in rows[0]
    gone = rows[0].split('"')[1]
    r = httpx.get(f"{seeded.url}/dashboard/connections/{gone}")
    assert r.status_code == 200 and "No sync has run yet" in r.text
    for action in ("sync", "reconcile", "setup"):
        r = httpx.post(f"{seeded.url}/dashboard/connections/{gone}/{action}")
        assert r.status_code == 409 and "disconnected" in r.text


def test_pages_never_show_secrets(seeded: Seeded) -> None:
    pages = [
        "/dashboard",
        f"/dashboard/connections/{seeded.acme}",
        f"/dashboard/connections/{seeded.acme}/settings",
        f"/dashboard/connections/{seeded.acme}/progress.json",
        f"/dashboard/connections/{seeded.beta}?status=failed",
    ]
    for path in pages:
        r = httpx.get(seeded.url + path)
        assert r.status_code == 200, path
        for secret in SECRETS:
            assert secret not in r.text, (path, secret)


def test_event_rows_link_the_crm_person_and_quo(seeded: Seeded) -> None:
    html = httpx.get(f"{seeded.url}/dashboard/connections/{seeded.beta}").text
    row = html.split('data-status="processed"')[1].split("</tr>")[0]
    person = 'href="https://app.attio.com/beta-law/person/rec_dana"'
    assert f'{person} rel="noopener noreferrer" target="_blank" data-person-link="rec_dana"' in row
    assert 'href="https://my.quo.com/inbox/PN1/c/CN1?at=BEok"' in row and "data-quo-link" in row
    assert "data-note-link" in row and f"{DANA} → CRM person rec_dana" in row
    # Without account facts (acme) the row has no CRM link, and nothing else changes.
    acme = httpx.get(f"{seeded.url}/dashboard/connections/{seeded.acme}").text
    assert "data-person-link" not in acme


def test_events_paging(seeded: Seeded) -> None:
    page = f"{seeded.url}/dashboard/connections/{seeded.acme}"
    first = httpx.get(page).text
    assert first.count("<tr data-event=") == 33 and "older →" not in first
    later = httpx.get(page, params={"offset": "30"}).text
    assert later.count("<tr data-event=") == 3 and "← newer" in later


def test_budget_and_charts(seeded: Seeded) -> None:
    r = httpx.get(f"{seeded.url}/dashboard/connections/{seeded.acme}", params={"window": "1h"})
    assert r.status_code == 200
    # busiest quo minute in the last hour: 300 + 57 = 357 requests = 5.95/s = 59.5% of 10/s
    assert "59.5%" in r.text
    assert r.text.count('class="s-quo"') >= 15 and r.text.count('class="s-attio"') >= 15
    assert 'class="marker"' in r.text  # the 429 minute
    assert r.text.count('class="s-processed"') >= 3 and 'class="s-failed"' in r.text
    for window in ("6h", "24h", "7d"):
        assert httpx.get(r.url.copy_with(params={"window": window})).status_code == 200


def test_series_sql_on_postgres(pg_url: str) -> None:
    """The bucket expression (epoch // size) is dialect-sensitive; check PostgreSQL too."""
    from switchboard.store.db import Database, migrate
    from switchboard.web import dashboard

    migrate(pg_url)
    db = Database(pg_url)
    try:
        from switchboard.store.models import Connection

        with db.session() as s:
            s.add(
                Connection(
                    id="c1",
                    crm="attio",
                    quo_base_url="q",
                    crm_base_url="c",
                    quo_api_key_enc="x",
                    crm_token_enc="y",
                )
            )
        for i, status in enumerate(["processed", "failed", "ignored", "processed"]):
            _event(db, "c1", f"k{i}", status, minutes_ago=i * 20)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        with db.session() as s:
            s.add(
                ApiCallCount(
                    connection_id="c1", provider="quo", minute=now, requests=7, http_429=2, errors=0
                )
            )
        ev = dashboard.event_series(db, "c1", "6h")
        assert sum(ev["series"]["processed"]) == 2 and sum(ev["series"]["failed"]) == 1
        assert ev["series"]["processed"][-1] == 1  # the newest event is in the last bucket
        api = dashboard.api_series(db, "c1", "1h")
        assert api["series"]["quo"][-1] == 7 and api["http_429"][-1] == 2
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=8000)

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(8000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    # documents may answer 4xx on purpose (404 page, 400 form); subresources (CSS, JS, JSON
    # polls, icons) never should
    pg.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )
    try:
        yield pg
    finally:
        context.close()
    assert not errors, errors  # no JS errors, no CSP violations


def test_browser_overview_and_connection_page(seeded: Seeded, page: Any) -> None:
    page.goto(seeded.url + "/dashboard")
    acme = page.locator(f'tr[data-connection="{seeded.acme}"]')
    beta = page.locator(f'tr[data-connection="{seeded.beta}"]')
    assert "1 Quo + 1 Attio" in acme.inner_text()
    assert "initial running" in acme.inner_text() and "120 / 500 done" in acme.inner_text()
    assert "1 failed · 1 rejected" in acme.inner_text()
    assert "degraded" in beta.inner_text() and "missing: Attio" in beta.inner_text()
    assert beta.get_attribute("class") == "level-error"
    acme.locator("a").first.click()
    page.wait_for_url(f"**/dashboard/connections/{seeded.acme}")
    assert page.locator('[data-field="done"]').inner_text() == "120"
    assert page.locator("#events-chart svg rect").count() > 5
    assert page.locator("#api-chart svg rect").count() > 5
    assert page.locator('#budget tr[data-provider="quo"]').count() == 1
    # the status filter shows failed events with their reason and a replay button
    page.locator('#events a[data-filter="failed"]').click()
    page.wait_for_url("**status=failed**")
    rows = page.locator("#events tbody tr")
    assert rows.count() == 1
    assert "ApiError 500 from Attio" in rows.first.inner_text()
    assert rows.first.locator("button[data-replay]").count() == 1
    page.locator('#events a[data-filter="ignored"]').click()
    page.wait_for_url("**status=ignored**")
    assert "call.ringing is not logged" in page.locator("#events tbody").inner_text()
    if os.environ.get("SB_DASHBOARD_SCREENSHOT"):
        page.goto(f"{seeded.url}/dashboard/connections/{seeded.acme}")
        page.screenshot(path=os.environ["SB_DASHBOARD_SCREENSHOT"], full_page=True)


def test_browser_live_progress_updates_without_reload(seeded: Seeded, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{seeded.url}/dashboard/connections/{seeded.acme}")
    assert page.locator('[data-field="done"]').inner_text() == "120"
    page.evaluate("window.__sameDocument = true")
    run_id = f"{seeded.acme}-initial-1"
    with seeded.rt.db.session() as s:
        s.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(
                done=260,
                created=230,
                skipped=25,
                failed=3,
                skip_reasons={"no usable phone": 20, "invalid phone": 5},
            )
        )
    expect(page.locator('[data-field="done"]')).to_have_text("260")
    assert page.locator('[data-field="skipped"]').inner_text() == "25"
    assert page.locator('[data-field="failed"]').inner_text() == "3"
    assert page.locator("#sync-bar").evaluate("b => b.value") == 260
    assert "invalid phone" in page.locator('[data-field="skip_reasons"]').inner_text()
    assert re.search(r"\d", page.locator('[data-field="eta"]').inner_text())
    with seeded.rt.db.session() as s:
        s.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(status="succeeded", done=500, finished_at=datetime.now(UTC))
        )
    expect(page.locator('[data-field="status"]')).to_have_text("succeeded")
    assert page.locator('[data-field="done"]').inner_text() == "500"
    assert page.evaluate("window.__sameDocument") is True  # no reload happened


def _off_loop(fn: Any) -> Any:
    """Run `fn` in a thread: Playwright's sync API keeps an event loop running in this one, and
    DBOS's sync calls refuse to run under a running loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(30)


def _flash(page: Any) -> str:
    return str(page.locator("#flash").inner_text())


def test_browser_actions(seeded: Seeded, page: Any) -> None:
    from dbos import DBOS

    db, beta = seeded.rt.db, seeded.beta
    page.goto(f"{seeded.url}/dashboard/connections/{beta}")
    assert "CRM webhook: ApiError 500" in page.locator("#status-message").inner_text()
    assert page.locator('[data-when="none"]').is_visible()

    # run sync → a queued initial run, shown in the progress panel
    page.locator("#action-sync").click()
    page.wait_for_url("**flash=sync_started**")
    assert "Initial sync queued" in _flash(page)
    with db.session() as s:
        run = s.scalars(select(SyncRun).where(SyncRun.connection_id == beta)).one()
    assert run.status == "queued" and run.kind == "initial"
    assert page.locator('[data-field="status"]').inner_text() == "queued"
    assert page.locator('[data-field="run_id"]').inner_text() == run.id
    page.locator("#action-sync").click()  # a second click joins the queued run
    page.wait_for_url("**flash=sync_joined**")

    # reconcile now → a queued reconcile run
    page.locator("#action-reconcile").click()
    page.wait_for_url("**flash=reconcile_started**")
    with db.session() as s:
        kinds = sorted(
            r.kind for r in s.scalars(select(SyncRun).where(SyncRun.connection_id == beta))
        )
    assert kinds == ["initial", "reconcile"]

    # retry setup → a setup workflow on the setup queue
    page.locator("#action-setup").click()
    page.wait_for_url("**flash=setup_started**")
    wf_id = page.url.split("ref=")[1].split("&")[0].replace("%3A", ":")
    assert wf_id.startswith(f"setup:{beta}:")
    status = _off_loop(lambda: DBOS.get_workflow_status(wf_id))
    assert status is not None and status.queue_name == "setup"
    assert page.locator(f'#workflows tr[data-workflow="{wf_id}"]').count() == 1

    # replay the failed event
    page.goto(f"{seeded.url}/dashboard/connections/{beta}?status=failed")
    page.locator(f'button[data-replay="{seeded.beta_failed}"]').click()
    page.wait_for_url("**flash=replayed**")
    assert "status=failed" in page.url and page.url.endswith("#events")  # the filter is kept
    ev = ledger.get_event(db, seeded.beta_failed)
    assert ev is not None and ev.status != "failed" and ev.detail["replays"] == 1
    assert page.locator(f'#events tr[data-event="{seeded.beta_failed}"]').count() == 0
    page.goto(f"{seeded.url}/dashboard/connections/{beta}")
    row = page.locator(f'#events tr[data-event="{seeded.beta_failed}"]')
    assert row.get_attribute("data-status") == ev.status
    assert row.locator("button[data-replay]").count() == 0

    # change settings through the form
    page.locator("#action-settings").click()
    page.wait_for_url("**/settings")
    page.fill('input[name="default_region"]', "gb")
    assert page.locator("#known-lines").inner_text().count("+1555") == 3
    page.check('input[name="line"][value="PN2"]')
    page.check('input[name="line"][value="PN1"]')
    page.fill('textarea[name="enabled_lines"]', "PN3")
    page.uncheck('input[name="event_kinds"][value="transcripts"]')
    page.check('input[name="auto_create_people"]')
    page.locator("#save-settings").click()
    page.wait_for_url("**flash=settings_resubscribe**")
    assert "re-subscribed" in _flash(page)
    assert page.locator('[data-setting="default_region"]').inner_text() == "GB"
    assert page.locator('[data-setting="enabled_lines"]').inner_text() == "PN1, PN2, PN3"
    stored = connections.get_settings_for(db, beta)
    assert stored["default_region"] == "GB" and stored["enabled_lines"] == ["PN1", "PN2", "PN3"]
    assert stored["event_kinds"] == ["calls", "messages", "summaries"]
    assert stored["auto_create_people"] is True
    with db.session() as s:
        audit = s.scalars(
            select(AuditEntry).where(
                AuditEntry.connection_id == beta, AuditEntry.action == "settings"
            )
        ).all()
    assert len(audit) == 1
    resub = _off_loop(lambda: DBOS.list_workflows(workflow_id_prefix=f"resubscribe:{beta}:"))
    assert len(resub) == 1

    # bad input → 400 with the message, the form keeps what was typed
    page.locator("#action-settings").click()
    assert page.locator('input[name="line"][value="PN1"]').is_checked()
    assert not page.locator('input[name="line"][value="PN9"]').is_checked()
    assert page.locator('textarea[name="enabled_lines"]').input_value() == "PN3"
    page.fill('input[name="default_region"]', "ZZ")
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.locator("#save-settings").click()
    assert info.value.status == 400
    assert "default_region must be a region code" in page.locator("#error-message").inner_text()
    assert page.locator('input[name="default_region"]').input_value() == "ZZ"
    assert connections.get_settings_for(db, beta)["default_region"] == "GB"

    # unknown connection → 404 page
    resp = page.goto(f"{seeded.url}/dashboard/connections/conn_does_not_exist")
    assert resp is not None and resp.status == 404
    assert "No connection with id" in page.locator("#error-message").inner_text()


def test_browser_login_off_loopback(seeded: Seeded, page: Any) -> None:
    from playwright.sync_api import expect

    resp = page.goto(seeded.token_url + f"/dashboard/connections/{seeded.acme}")
    assert resp is not None and resp.status == 401
    page.fill('input[name="token"]', "nope")
    page.locator("button[type=submit]").click()
    assert "Wrong admin token" in page.locator("#error-message").inner_text()
    page.fill('input[name="token"]', ADMIN_TOKEN)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"**/dashboard/connections/{seeded.acme}")
    assert page.locator("h1").first.inner_text().startswith("Acme Dental")
    # the live poll works with the session cookie
    expect(page.locator("#progress")).to_have_attribute("data-polls", re.compile(r"^[1-9]"))


# ------------------------------------------------------------------------------- pure helpers
def test_helpers() -> None:
    from switchboard.web import dashboard as d

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert d.ago(None) == "never"
    assert d.ago(now - timedelta(seconds=30), now) == "30 s ago"
    assert d.ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert d.ago((now - timedelta(hours=3)).replace(tzinfo=None), now) == "3 h ago"
    assert d.duration(None) == "—" and d.duration(42) == "42 s"
    assert d.duration(900) == "15 min" and d.duration(3725) == "1 h 2 min"
    empty = {"size": 60, "count": 10, "first": 1000}
    svg = str(d.svg_chart(empty, [("processed", [0] * 10)], title="t<x>", unit="events"))
    assert "no events in this window" in svg and "t&lt;x&gt;" in svg
    form = {
        "submitted": ["1"],
        "default_region": [" de "],
        "line": ["PN4", "PN1"],
        "enabled_lines": ["PN1, PN2\nPN3"],
        "event_kinds": ["calls"],
        "sync_objects": ["people"],
    }
    assert d.parse_settings_form(form) == {
        "default_region": "DE",
        "enabled_lines": ["PN4", "PN1", "PN2", "PN3"],
        "event_kinds": ["calls"],
        "auto_create_people": False,
        "create_without_phone": False,
        "sync_objects": ["people"],
    }
    policy = d.parse_settings_form({**form, "quo_contact_policy": ["quo_edits_to_crm"]})
    assert policy["quo_contact_policy"] == "quo_edits_to_crm"
    with pytest.raises(d.DashboardError):
        d.parse_settings_form({"default_region": ["US"]})  # not the dashboard's form
    assert d._safe_next("//evil.example/x") == "/dashboard"
    assert d._safe_next("/dashboard/connections/c1") == "/dashboard/connections/c1"
