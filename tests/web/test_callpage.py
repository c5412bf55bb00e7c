"""The call page in headless Chromium (Playwright, Debian's chromium) against a real server.

Desktop and mobile user agents get `tel:` / `openphone://dial` links with E.164 numbers and the
chosen line; changing the line rewrites the links and is remembered; a click is recorded; a
person without a phone gets a clear message; a tampered, missing or rotated-away link secret
gives 403 with no CRM data in the body.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from switchboard.config import Settings
from switchboard.crm.base import Person
from tests.activity.fakes import FakeCrm, FakeQuo

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"
MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
LINES = [
    {"id": "PNfront0001", "name": "Front Desk", "symbol": "📞", "number": "+15550100100"},
    {"id": "PNsales0002", "name": "Sales", "symbol": "💼", "number": "+15550100200"},
]
#: connection id → a factory of the connector its call page uses (default: the fixture's FakeCrm)
PAGE_CRMS: dict[str, Any] = {}
SECRET_WORDS = ("Dana Whitfield", "+16502530001", "+442079460958", "Nora Nophone")


@dataclass
class Served:
    rt: Any
    url: str
    conn: str
    secret: str
    crm: FakeCrm


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from switchboard import connections
    from switchboard.emulators.common import ServerThread
    from switchboard.runtime import Runtime
    from switchboard.web import create_app
    from switchboard.web.callpage import clients, link_secret, view

    tmp = tmp_path_factory.mktemp("callpage")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'sb.db'}",
        data_dir=tmp,
        public_url="http://127.0.0.1:8400",
        admin_token="callpage-admin-token",
    )
    rt = Runtime(settings, workers=False, kind="test").start()
    crm = FakeCrm()
    crm.people["dana"] = Person(
        id="dana", full_name="Dana Whitfield", phones=("+16502530001", "+442079460958")
    )
    crm.people["nora"] = Person(id="nora", full_name="Nora Nophone")

    async def factory(connection_id: str) -> clients.PageClients:
        make = PAGE_CRMS.get(connection_id)
        return clients.PageClients(crm=make() if make else crm, quo=FakeQuo(LINES))

    clients.set_factory(factory)
    view.forget_people()
    server = None
    try:
        info = connections.create_connection(
            rt.db, rt.box, crm="attio", quo_api_key="q-key", crm_token="c-token",
            quo_base_url="http://quo.invalid", crm_base_url="http://crm.invalid",
        )  # fmt: skip
        secret = link_secret.current(rt.db, rt.box, info.id)
        server = ServerThread(create_app(rt, bind_host="127.0.0.1")).start()
        yield Served(rt, server.url, info.id, secret, crm)
    finally:
        if server is not None:
            server.stop()
        clients.set_factory(None)
        rt.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _page(browser: Any, ua: str) -> Any:
    context = browser.new_context(user_agent=ua, viewport={"width": 900, "height": 900})
    page = context.new_page()
    page.set_default_timeout(8000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.errors = errors
    return page


def _hrefs(page: Any) -> list[str]:
    return [a.get_attribute("href") for a in page.locator("a.dial").all()]


def test_desktop_gets_tel_links_and_a_click_is_recorded(served: Served, browser: Any) -> None:
    from switchboard.activity import intents

    page = _page(browser, DESKTOP_UA)
    page.goto(f"{served.url}/call/{served.conn}/dana?k={served.secret}")
    assert page.locator("#person").inner_text() == "Dana Whitfield"
    assert _hrefs(page) == ["tel:+16502530001", "tel:+442079460958"]
    assert page.locator("#line").input_value() == "PNfront0001"  # Quo's first line: no default set

    page.select_option("#line", "PNsales0002")
    # a tel: navigation leaves the page alone in headless Chromium; the click is recorded
    page.locator("a.dial").first.click()
    from playwright.sync_api import expect

    expect(page.locator("#call")).to_have_attribute("data-recorded", "+16502530001")
    clicks = intents.recent_clicks(served.rt.db, served.conn)
    assert (clicks[0].person_id, clicks[0].phone, clicks[0].line_id) == (
        "dana",
        "+16502530001",
        "PNsales0002",
    )
    assert clicks[0].person_name == "Dana Whitfield"
    assert page.errors == []

    # the chosen line is remembered for the next page load
    page.goto(f"{served.url}/call/{served.conn}/dana?k={served.secret}")
    assert page.locator("#line").input_value() == "PNsales0002"
    page.context.close()


def test_mobile_gets_quo_deep_links_with_the_chosen_line(served: Served, browser: Any) -> None:
    page = _page(browser, MOBILE_UA)
    page.goto(f"{served.url}/call/{served.conn}/dana?k={served.secret}")
    assert _hrefs(page) == [
        "openphone://dial?number=%2B16502530001&from=%2B15550100100&action=call",
        "openphone://dial?number=%2B442079460958&from=%2B15550100100&action=call",
    ]
    page.select_option("#line", "PNsales0002")
    assert _hrefs(page)[0] == (
        "openphone://dial?number=%2B16502530001&from=%2B15550100200&action=call"
    )
    assert page.locator("button.copy").count() == 2  # the copy-number fallback
    assert page.errors == []
    page.context.close()


def test_person_without_a_phone_gets_a_clear_message(served: Served, browser: Any) -> None:
    page = _page(browser, DESKTOP_UA)
    page.goto(f"{served.url}/call/{served.conn}/nora?k={served.secret}")
    assert "has no phone number in the CRM" in page.locator("#no-phone").inner_text()
    assert page.locator("a.dial").count() == 0
    page.context.close()


def test_bad_proof_is_403_and_reveals_nothing(served: Served, browser: Any) -> None:
    from switchboard.web.callpage import link_secret

    base = f"{served.url}/call/{served.conn}/dana"
    tampered = served.secret[:-1] + ("A" if served.secret[-1] != "A" else "B")
    page = _page(browser, DESKTOP_UA)
    for url in (
        base,
        f"{base}?k={tampered}",
        f"{base}?k=",
        f"{served.url}/call/conn_nope/dana?k={served.secret}",
    ):
        response = page.goto(url)
        assert response is not None and response.status == 403, url
        body = page.content()
        assert "This call link is not valid" in body
        assert not any(w in body for w in SECRET_WORDS), url

    # rotated away: the old secret stops working, the new one works
    new = link_secret.rotate(served.rt.db, served.rt.box, served.conn)
    try:
        response = page.goto(f"{base}?k={served.secret}")
        assert response is not None and response.status == 403
        assert not any(w in page.content() for w in SECRET_WORDS)
        response = page.goto(f"{base}?k={new}")
        assert response is not None and response.status == 200
    finally:
        served.secret = new
    page.context.close()


def test_click_needs_the_page_token_a_real_number_and_a_line(served: Served) -> None:
    import re

    page = httpx.get(f"{served.url}/call/{served.conn}/dana", params={"k": served.secret})
    match = re.search(r'data-token="([^"]+)"', page.text)
    assert match is not None
    token = match[1]
    click = f"{served.url}/call/{served.conn}/dana/click"
    ok = {"token": token, "phone": "+16502530001", "line": "PNfront0001"}
    assert httpx.post(click, json=ok).status_code == 204
    assert httpx.post(click, json={**ok, "token": "1." + "0" * 64}).status_code == 403
    other = f"{served.url}/call/{served.conn}/nora/click"  # token is for dana
    assert httpx.post(other, json=ok).status_code == 403
    assert httpx.post(click, json={**ok, "phone": "+19999999999"}).status_code == 409
    assert httpx.post(click, json={**ok, "line": "PNunknown"}).status_code == 409


def test_a_crm_signed_request_proves_the_click(served: Served) -> None:
    """A CRM that signs the request it opens (Pipedrive's link actions) registers a check; the
    page then takes the person from the verified request. Tokens signed as Pipedrive does."""
    from switchboard.crm.pipedrive.link_action import LinkActionRefused, verify_link_action
    from switchboard.web.callpage import proofs
    from tests.crm.pipedrive.test_link_action import claims, params, sign

    app_secret = "pipedrive-client-secret-for-this-test"

    async def check(query: Any, _info: Any) -> str:
        try:
            action = verify_link_action(query, app_secret, expected_company_id="1337")
        except LinkActionRefused as exc:
            raise proofs.ProofRefused(str(exc)) from exc
        if action.resource != "person" or len(action.selected_ids) != 1:
            raise proofs.ProofRefused("not one person")
        return action.selected_ids[0]

    from switchboard import connections

    info = connections.find_connection(served.rt.db, served.conn)
    assert info is not None
    url = f"{served.url}/call/{served.conn}"
    good = params(sign(claims(), app_secret), selectedIds="dana")
    assert httpx.get(url, params=good).status_code == 403  # nothing registered yet
    proofs.register(info.crm, check)
    try:
        page = httpx.get(url, params=good)
        assert page.status_code == 200 and "Dana Whitfield" in page.text
        bad = params(sign(claims(), "not-the-secret"), selectedIds="dana")
        refused = httpx.get(url, params=bad)
        assert refused.status_code == 403
        assert not any(w in refused.text for w in SECRET_WORDS)
    finally:
        proofs.unregister(info.crm)


def test_a_pipedrive_link_action_opens_the_page_of_the_person_or_the_deals_person(
    served: Served,
) -> None:
    """Pipedrive's registry record checks its link action's token with the connection's
    `link_action_jwt_secret` (no link secret in the URL); a deal selection opens the deal's
    person, read through the connector from the Pipedrive emulator (`GET /api/v2/deals/{id}`)."""
    import base64
    import json

    from switchboard import connections
    from switchboard.crm.pipedrive import PipedriveConnector
    from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
    from tests.crm.pipedrive.test_link_action import claims, params, sign

    emu = PipedriveEmulator(token="pd-token")
    co = emu.default_company
    ada = co.create_person(
        {"name": "Ada Lovelace", "phones": ["+16502530077"]}, co.admin_user_id, "app"
    )
    deal = co.create_deal({"title": "Renewal", "person_id": ada.id}, co.admin_user_id, "app")
    orphan = co.create_deal({"title": "No one"}, co.admin_user_id, "app")
    words = ("Ada Lovelace", "+16502530077")

    info = connections.create_connection(
        served.rt.db, served.rt.box, crm="pipedrive", quo_api_key="q-key", crm_token="pd-token",
        quo_base_url="http://quo.invalid", crm_base_url="http://pipedrive.test",
    )  # fmt: skip
    PAGE_CRMS[info.id] = lambda: PipedriveConnector(
        "pd-token", "http://pipedrive.test", transport=httpx.ASGITransport(create_app(emu))
    )
    app_secret = "pipedrive-jwt-secret-for-this-test"
    url = f"{served.url}/call/{info.id}"
    good = sign(claims(), app_secret)
    try:
        # no JWT secret set for the connection yet: nothing verifies
        refused = httpx.get(url, params=params(good, selectedIds=str(ada.id)))
        assert refused.status_code == 403
        connections.update_settings(
            served.rt.db,
            info.id,
            {"link_action_jwt_secret": app_secret, "link_action_company_id": "1337"},
        )

        page = httpx.get(url, params=params(good, selectedIds=str(ada.id)))
        assert page.status_code == 200 and all(w in page.text for w in words)
        assert "data-token=" in page.text  # clicks can be recorded for this person
        on_deal = httpx.get(url, params=params(good, resource="deal", selectedIds=str(deal.id)))
        assert on_deal.status_code == 200 and "Ada Lovelace" in on_deal.text

        head, _body, mac = good.split(".")
        forged = json.dumps({**claims(), "companyId": 1337, "userId": 1}).encode()
        tampered = f"{head}.{base64.urlsafe_b64encode(forged).rstrip(b'=').decode()}.{mac}"
        for bad in (
            params(sign(claims(), "not-the-secret"), selectedIds=str(ada.id)),
            params(tampered, selectedIds=str(ada.id), userId="1"),
            params(good[:-2] + ("AA" if not good.endswith("AA") else "BB")),
            params(sign(claims(companyId=999), app_secret), companyId="999"),  # another company
            params(good, selectedIds=f"{ada.id},{ada.id}"),
            params(good, resource="organization", selectedIds="1"),
            params(good, resource="deal", selectedIds=str(orphan.id)),  # a deal without a person
            params(good, resource="deal", selectedIds="987654"),  # no such deal
            {k: v for k, v in params(good).items() if k != "token"},
        ):
            refused = httpx.get(url, params=bad)
            assert refused.status_code == 403, bad
            assert "This call link is not valid" in refused.text
            assert not any(w in refused.text for w in words + SECRET_WORDS), bad
    finally:
        PAGE_CRMS.pop(info.id, None)


def test_dashboard_shows_the_set_up_rotates_and_lists_clicks(served: Served) -> None:
    from switchboard.activity import intents

    auth = {"Authorization": "Bearer callpage-admin-token"}
    page_url = f"{served.url}/dashboard/connections/{served.conn}/click-to-call"
    assert httpx.get(page_url).status_code == 401  # admin only: it shows the link secret
    intents.record_click(
        served.rt.db, served.conn, person_id="dana", phone="+16502530001",
        line_id="PNfront0001", person_name="Dana Whitfield",
    )  # fmt: skip
    page = httpx.get(page_url, headers=auth)
    assert page.status_code == 200
    template = f"http://127.0.0.1:8400/call/{served.conn}/{{person_id}}?k={served.secret}"
    assert template in page.text
    assert "Dana Whitfield" in page.text and "+16502530001" in page.text

    rotated = httpx.post(f"{page_url}/rotate", headers=auth)
    assert rotated.status_code == 303
    old = served.secret
    after = httpx.get(page_url, headers=auth)
    assert old not in after.text
    flashed = httpx.get(served.url + rotated.headers["location"], headers=auth)
    assert "Link secret rotated" in flashed.text
    refused = httpx.get(f"{served.url}/call/{served.conn}/dana", params={"k": old})
    assert refused.status_code == 403
    from switchboard.web.callpage import link_secret

    served.secret = link_secret.current(served.rt.db, served.rt.box, served.conn)
    assert served.secret in after.text
