"""The operator's view end to end, in Chromium at desktop and phone width: a revoked CRM token
turns the connection red with the CRM's sentence and a working reconnect; an expired channel,
missing webhooks and a stuck event each say so; recovery turns it green; no page overflows
horizontally at 400 px (screenshots at both widths).

Processes: Quo emulator, Attio emulator, `switchboard serve` (workers included).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.activity.harness import ATTIO_TOKEN, KNOWN, ActivityStack
from tests.web.test_dashboard import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WIDTHS = {"desktop": 1280, "phone": 400}
NO_OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15000)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _pages(browser: Any, base: str, token: str) -> dict[str, Any]:
    """A signed-in page per width."""
    pages = {}
    for name, width in WIDTHS.items():
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        pg = ctx.new_page()
        pg.set_default_timeout(15000)
        pg.goto(base + "/dashboard/login")
        pg.fill("input[name=token]", token)
        pg.click("button[type=submit]")
        pg.wait_for_url(re.compile(r".*/dashboard$"))
        pages[name] = pg
    return pages


def _check(pages: dict[str, Any], url: str, shots: Path, label: str) -> None:
    """Open `url` at both widths: no horizontal overflow, and a screenshot of each."""
    for name, pg in pages.items():
        pg.goto(url)
        assert pg.evaluate(NO_OVERFLOW), f"{label} overflows at {name} width"
        path = shots / f"{label}-{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000


def _db(sb: ActivityStack) -> Any:
    from switchboard.store.db import Database

    return Database(sb.db_url)


def test_health_from_what_fails_reconnect_and_recovery_at_both_widths(
    tmp_path: Path, chromium: Any
) -> None:
    from playwright.sync_api import expect

    from switchboard import connections, ledger
    from switchboard.config import Settings
    from switchboard.crypto import secret_box
    from switchboard.store.models import Event, WebhookSubscription

    shots = tmp_path / "shots"
    shots.mkdir()
    with ExitStack() as stack:
        sb = ActivityStack.start(
            stack,
            tmp_path / "stack",
            extra_env={"SWITCHBOARD_STUCK_AFTER": "36000"},  # the watchdog leaves our row be
        )
        cid = sb.connection_id
        db = _db(sb)
        stack.callback(db.dispose)
        box = secret_box(
            Settings(
                data_dir=sb.tmp, database_url=sb.db_url, secret_key=sb.env["SWITCHBOARD_SECRET_KEY"]
            )
        )
        # The CRM half as setup leaves it (the harness registers only Quo's webhooks).
        connections.add_subscription(
            db, box, connection_id=cid, provider="attio", remote_id="WHattio", kind="people",
            url=f"{sb.sb.url}/webhooks/attio/{cid}", events=["record.updated"], key="s" * 32,
        )  # fmt: skip
        connections.set_status(db, cid, "active", "webhooks registered")
        connections.save_crm_account(db, cid, {"workspace_slug": "operator-health-workspace"})
        person = sb.create_person("Dana Whitfield", KNOWN[0])
        sb.simulate_message(direction="incoming", participant=KNOWN[0], text="hello")
        sb.wait_settled(timeout=60)

        token = (sb.tmp / "admin.token").read_text().strip()
        pages = _pages(chromium, sb.sb.url, token)
        page_url = f"{sb.sb.url}/dashboard/connections/{cid}"
        for pg in pages.values():
            pg.goto(page_url)
            expect(pg.locator("h1 .dot")).to_have_class(re.compile(r"\bok\b"))
            # the event row in words: who (caller and CRM person), what, result
            row = pg.locator('tr[data-event][data-status="processed"]').filter(has_text="hello")
            expect(row.locator(".who")).to_contain_text(f"{KNOWN[0]} → CRM person {person}")
            expect(row.locator(".what")).to_contain_text("Incoming text: “hello”")
            expect(row.locator(".result")).to_contain_text("note written")
            # ... linked: the CRM person's page (where the note is) and the text in Quo
            person_url = f"https://app.attio.com/operator-health-workspace/person/{person}"
            expect(row.locator(f'a[data-person-link="{person}"]')).to_have_attribute(
                "href", person_url
            )
            expect(row.locator("a[data-note-link]")).to_have_attribute("href", person_url)
            expect(row.locator("a[data-quo-link]")).to_have_attribute(
                "href", re.compile("^https?://")
            )
            expect(row.locator("details pre")).to_be_hidden()  # raw JSON one click away
            row.locator("details summary").click()
            expect(row.locator("details pre")).to_contain_text('"lookups"')

        # The CRM token is revoked: the next note write gets 401.
        sb._http.delete(f"{sb.attio.url}/_emulator/tokens/{ATTIO_TOKEN}").raise_for_status()
        sb.simulate_message(direction="incoming", participant=KNOWN[0], text="are you there")
        sb.wait_settled(timeout=60)
        for name, pg in pages.items():
            pg.goto(page_url)
            expect(pg.locator("h1 .dot")).to_have_class(re.compile(r"\berror\b"))
            problem = pg.locator('[data-problem="crm_auth"] .sentence')
            expect(problem).to_have_text("Attio rejects the token — reconnect")
            expect(pg.locator("#failures [data-cause='attio:auth']")).to_be_visible()
            assert pg.evaluate(NO_OVERFLOW), name
            pg.goto(sb.sb.url + "/dashboard")
            row = pg.locator(f'tr[data-connection="{cid}"]')
            expect(row).to_have_class("level-error")
            expect(row.locator(".health-text")).to_have_text("Attio rejects the token — reconnect")

        _check(pages, sb.sb.url + "/dashboard", shots, "overview")
        _check(pages, page_url, shots, "connection")
        _check(pages, page_url + "?status=failed#events", shots, "failures")
        _check(pages, page_url + "?status=processed#events", shots, "events")

        # Reconnect with a new token from the phone: checked, stored, the failure replayed.
        new_token = sb._http.post(
            f"{sb.attio.url}/_emulator/workspaces/default/tokens", json={}
        ).json()["token"]
        assert new_token != ATTIO_TOKEN
        phone = pages["phone"]
        phone.goto(page_url)
        phone.fill("#reconnect-crm_token", "still-wrong-token")
        phone.click("#action-reconnect")
        expect(phone.locator("body")).to_contain_text("Attio rejects the new token too")
        phone.goto(page_url)
        phone.fill("#reconnect-crm_token", new_token)
        phone.click("#action-reconnect")
        expect(phone.locator("#flash")).to_contain_text("1 events it had failed are replayed")
        sb.wait_settled(timeout=60)
        counts = sb._http.get(f"{sb.attio.url}/_emulator/workspaces/default").json()["counts"]
        assert counts["notes"] == 2  # the failed message's note, written once, with the new token
        for pg in pages.values():
            pg.goto(page_url)
            expect(pg.locator("h1 .dot")).to_have_class(re.compile(r"\bok\b"))
            expect(pg.locator("#health")).to_have_count(0)
        assert all(e.status == "processed" for e in ledger.list_events(db, connection_id=cid))

        # Each other failure has its own words.
        with db.session() as s:
            s.execute(
                update(WebhookSubscription)
                .where(WebhookSubscription.provider == "attio")
                .values(status="expired")
            )
        for pg in pages.values():
            pg.goto(page_url)
            expect(pg.locator('[data-problem="channel_inactive"] .sentence')).to_have_text(
                "The Attio change channel expired — register it again"
            )
            expect(
                pg.locator('[data-problem="channel_inactive"] [data-fix="setup"]')
            ).to_be_visible()
        connections.remove_subscription(db, "attio", "WHattio")
        for pg in pages.values():
            pg.goto(page_url)
            expect(pg.locator('[data-problem="webhooks_missing"] .sentence')).to_contain_text(
                "No webhooks at Attio"
            )
        stuck, _ = ledger.insert_event(
            db, connection_id=cid, provider="quo", event_type="test.none", idempotency_key="st",
            payload={},
        )  # fmt: skip
        ledger.mark_processing(db, stuck.id)
        from datetime import UTC, datetime, timedelta

        with db.session() as s:
            s.execute(
                update(Event)
                .where(Event.id == stuck.id)
                .values(received_at=datetime.now(UTC) - timedelta(hours=1))
            )
        for pg in pages.values():
            pg.goto(page_url)
            expect(pg.locator('[data-problem="stuck"] .sentence')).to_contain_text(
                "1 event stuck in processing"
            )
            assert pg.evaluate(NO_OVERFLOW)
