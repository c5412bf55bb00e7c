"""Acceptance 1 in Chromium: from an empty dashboard, add an Attio connection by signing in with
OAuth at the emulator, paste a Quo key, pick a line, create, and watch the initial sync finish;
then the same with a pasted token. A wrong Quo key, a Quo workspace without bulk contacts and a
denied consent each end in a clear message and no connection. Switchboard (with workers), Quo
and Attio run as real HTTP servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from switchboard import connections
from switchboard.config import OAuthClient, Settings
from switchboard.emulators.attio import AttioEmulator
from switchboard.emulators.attio import create_app as attio_app
from switchboard.emulators.common import ServerThread, free_port
from switchboard.emulators.quo import QuoEmulator
from switchboard.emulators.quo import create_app as quo_app
from tests.web.test_dashboard import CHROMIUM, CHROMIUM_ARGS

ADMIN = "onboard-admin-token-0123456789"
QUO_KEYS = {"oauth": "quo-key-oauth-1", "paste": "quo-key-paste-2", "nobulk": "quo-key-nobulk-3"}


@dataclass
class Stack:
    rt: Any
    url: str
    quo_url: str
    attio_url: str
    attio: AttioEmulator
    paste_token: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from switchboard.runtime import Runtime
    from switchboard.web import create_app

    os.environ["SWITCHBOARD_SCHEDULES"] = "off"
    tmp: Path = tmp_path_factory.mktemp("onboard")
    quo = QuoEmulator(bulk_delay_s=0.2, phase_delay_scale=0)
    quo.create_workspace(api_key=QUO_KEYS["oauth"])
    quo.create_workspace(api_key=QUO_KEYS["paste"])
    quo.create_workspace(api_key=QUO_KEYS["nobulk"], bulk="missing")
    attio = AttioEmulator(allow_http_targets=True, seed_value=2)
    attio.seed(attio.default_workspace, people=25, seed=2)
    second = attio.create_workspace("Second Workspace")
    attio.seed(second, people=15, seed=3)
    paste_token = next(t.value for t in attio.tokens.values() if t.workspace_id == second.id)
    attio.register_oauth_client("sb-app", "sb-app-secret-0123456789")
    emulators = [ServerThread(quo_app(quo)).start(), ServerThread(attio_app(attio)).start()]
    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    client = OAuthClient(
        client_id="sb-app",
        client_secret="sb-app-secret-0123456789",  # type: ignore[arg-type]
        authorize_url=f"{emulators[1].url}/authorize",
        token_url=f"{emulators[1].url}/oauth/token",
    )
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'sb.db'}",
        data_dir=tmp,
        public_url=url,
        admin_token=ADMIN,  # type: ignore[arg-type]
        oauth_clients={"attio": client},
    )
    rt = Runtime(settings, workers=True, kind="test").start()
    server = ServerThread(create_app(rt, bind_host="127.0.0.1"), port=port).start()
    try:
        yield Stack(rt, url, emulators[0].url, emulators[1].url, attio, paste_token)
    finally:
        server.stop()
        rt.stop()
        for emulator in emulators:
            emulator.stop()
        os.environ.pop("SWITCHBOARD_SCHEDULES", None)


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(20000)
        pg.goto(stack.url + "/dashboard/login")
        pg.fill('input[name="token"]', ADMIN)
        pg.locator('form button[type="submit"]').first.click()
        pg.wait_for_url("**/dashboard")
        try:
            yield pg
        finally:
            browser.close()


def _count(stack: Stack) -> int:
    return len(connections.list_connections(stack.rt.db))


def _choose_attio(page: Any, stack: Stack) -> None:
    page.goto(stack.url + "/dashboard")
    page.click("#add-connection")
    page.check('input[name="crm"][value="attio"]')
    page.click("#choose-crm-button")
    page.wait_for_selector("#new-connection-form")


def _fill_quo(page: Any, stack: Stack, key: str) -> None:
    page.fill("#quo-api-key", key)
    page.fill("#quo-base-url", stack.quo_url)
    if not page.locator("#crm-base-url").is_visible():
        page.click("#crm-credentials summary")
    page.fill("#crm-base-url", stack.attio_url)


def _watch_sync_finish(page: Any) -> None:
    from playwright.sync_api import expect

    page.wait_for_url("**/dashboard/connections/conn_*")
    expect(page.locator("#flash")).to_contain_text("Connection created")
    expect(page.locator('[data-field="status"]')).to_have_text("succeeded", timeout=60000)


def test_a_denied_consent_ends_in_a_clear_message(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    _choose_attio(page, stack)
    page.click("#oauth-sign-in")
    page.click('button[value="deny"]')
    expect(page.locator("#oauth-message")).to_contain_text("access was denied")
    assert _count(stack) == 0


def test_wrong_key_and_no_bulk_contacts_are_refused(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    _choose_attio(page, stack)
    page.fill("#crm-token", stack.paste_token)
    _fill_quo(page, stack, "not-a-quo-key")
    page.click("#quo-check")
    expect(page.locator("#quo-check-result")).to_contain_text("Quo rejects this API key")
    page.click("#create-connection")
    expect(page.locator("#error-message")).to_contain_text("Quo rejects this API key")
    page.fill("#crm-token", stack.paste_token)
    _fill_quo(page, stack, QUO_KEYS["nobulk"])
    page.click("#quo-check")
    expect(page.locator("#quo-check-result")).to_contain_text("bulk contacts NOT available")
    page.click("#create-connection")
    expect(page.locator("#error-message")).to_contain_text("no bulk contacts endpoint")
    assert _count(stack) == 0


def test_add_with_oauth_then_with_a_pasted_token(page: Any, stack: Stack) -> None:
    from playwright.sync_api import expect

    _choose_attio(page, stack)
    page.click("#oauth-sign-in")
    expect(page.locator("h1")).to_contain_text("Emulator Workspace")  # the CRM's consent page
    page.click('button[value="approve"]')
    expect(page.locator("#signed-in")).to_contain_text("Signed in with Attio")
    _fill_quo(page, stack, QUO_KEYS["oauth"])
    page.click("#quo-check")
    expect(page.locator("#quo-check-result")).to_contain_text("Key OK")
    page.locator('#quo-lines input[name="line"]').first.check()
    page.click("#create-connection")
    _watch_sync_finish(page)
    assert _count(stack) == 1

    _choose_attio(page, stack)
    page.fill("#crm-token", stack.paste_token)
    _fill_quo(page, stack, QUO_KEYS["paste"])
    page.click("#create-connection")
    _watch_sync_finish(page)
    assert _count(stack) == 2
