"""`/docs` renders with no network: Swagger UI's files come from the installed package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard.config import Settings
from tests.web.test_dashboard import CHROMIUM, CHROMIUM_ARGS

ADMIN_TOKEN = "docs-admin-token-5555"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    from switchboard.emulators.common import ServerThread
    from switchboard.runtime import Runtime
    from switchboard.web import create_app

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'sb.db'}", data_dir=tmp_path,
        public_url="http://127.0.0.1:8400", admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
    )  # fmt: skip
    rt = Runtime(settings, workers=False, launch_dbos=False, kind="test").start()
    srv = ServerThread(create_app(rt, bind_host="127.0.0.1")).start()
    try:
        yield str(srv.url)
    finally:
        srv.stop()
        rt.stop()


def test_docs_page_points_at_local_assets_only(server: str) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert httpx.get(server + "/docs").status_code == 401
    page = httpx.get(server + "/docs", headers=auth)
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "/docs/assets/swagger-ui-bundle.js" in page.text
    js = httpx.get(server + "/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and "SwaggerUIBundle" in js.text
    assert httpx.get(server + "/docs/assets/../app.py").status_code == 404
    assert httpx.get(server + "/docs/assets/index.html").status_code == 404


def test_docs_render_offline_in_chromium(server: str) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    foreign: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = browser.new_context(extra_http_headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

            def offline(route: Any) -> None:
                # No network but this server: anything else is refused, as on a machine
                # without internet access.
                if route.request.url.startswith(server):
                    route.continue_()
                else:
                    foreign.append(route.request.url)
                    route.abort("internetdisconnected")

            ctx.route("**/*", offline)
            page = ctx.new_page()
            page.goto(server + "/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text(
                "Switchboard", timeout=20000
            )
            expect(page.locator(".opblock").first).to_be_visible()
        finally:
            browser.close()
    assert foreign == []
