"""The admin surface against a hostile browser and network, over real HTTP (uvicorn in a thread):
the Host allow-list (DNS rebinding), cross-site requests to the admin API, the admin token that is
always required, /metrics /docs /openapi.json behind it, the non-secret metrics label, the login
throttle and server-side sessions, stricter settings, and private files on disk."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard import connection_settings, connections
from switchboard.config import Settings

TOKEN = "security-admin-token-7777"
METRICS_TOKEN = "security-metrics-token-8888"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLIC_HOST = "sb.example.test"


@dataclass
class Stack:
    rt: Any
    url: str  # bound 0.0.0.0 with TOKEN; public URL https://sb.example.test
    listed_url: str  # SWITCHBOARD_ALLOWED_HOSTS=admin.internal
    generated_url: str  # no token configured: one generated into the data dir
    throttle_url: str  # its own login throttle, so the lock-out touches no other test
    conn: str
    data_dir: Path


def _app(rt: Any, bind_host: str, **overrides: Any) -> Any:
    from switchboard.web import create_app

    base = rt.settings
    rt.settings = base.model_copy(update=overrides)
    try:
        return create_app(rt, bind_host=bind_host)
    finally:
        rt.settings = base


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from switchboard.emulators.common import ServerThread
    from switchboard.runtime import Runtime

    tmp = tmp_path_factory.mktemp("security")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'sb.db'}",
        data_dir=tmp,
        public_url=f"https://{PUBLIC_HOST}",
        admin_token=TOKEN,
        metrics_token=METRICS_TOKEN,
    )
    rt = Runtime(settings, workers=False, kind="test").start()
    servers: list[Any] = []
    try:
        conn = connections.create_connection(
            rt.db, rt.box, crm="attio", quo_api_key="quo-sec-key", crm_token="crm-sec-token",
            quo_base_url="http://127.0.0.1:9", crm_base_url="http://127.0.0.1:9",
        ).id  # fmt: skip
        apps = [
            _app(rt, "0.0.0.0"),
            _app(rt, "0.0.0.0", allowed_hosts="admin.internal"),
            _app(rt, "127.0.0.1", admin_token=None),
            _app(rt, "0.0.0.0"),
        ]
        servers = [ServerThread(a).start() for a in apps]
        yield Stack(rt, *(s.url for s in servers), conn, tmp)
    finally:
        for srv in servers:
            srv.stop()
        rt.stop()


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


# ------------------------------------------------------------------------ Host allow-list
def test_unknown_host_is_refused_dns_rebinding(stack: Stack) -> None:
    """A page on evil.example that re-resolves its name to the server's address sends
    `Host: evil.example`: refused everywhere but webhooks and probes, token or not."""
    evil = {"host": f"evil.example:{_port(stack.url)}"}
    for path in ("/api/connections", "/dashboard", "/metrics", "/docs"):
        r = httpx.get(stack.url + path, headers={**AUTH, **evil})
        assert r.status_code == 400 and "Host" in r.json()["error"], path
    assert httpx.get(stack.url + "/healthz", headers=evil).status_code == 200
    # webhooks are authenticated by their signature, not by the Host they name
    r = httpx.post(f"{stack.url}/webhooks/quo/{stack.conn}", headers=evil, content=b"{}")
    assert r.status_code == 401
    # the loopback names and the public URL's host are allowed by default
    assert httpx.get(stack.url + "/api/connections", headers=AUTH).status_code == 200
    public = {**AUTH, "host": PUBLIC_HOST}
    assert httpx.get(stack.url + "/api/connections", headers=public).status_code == 200


def test_allowed_hosts_setting_replaces_the_default(stack: Stack) -> None:
    r = httpx.get(stack.listed_url + "/api/connections", headers=AUTH)
    assert r.status_code == 400  # 127.0.0.1 is not in SWITCHBOARD_ALLOWED_HOSTS
    listed = {**AUTH, "host": f"admin.internal:{_port(stack.listed_url)}"}
    assert httpx.get(stack.listed_url + "/api/connections", headers=listed).status_code == 200


# --------------------------------------------------------------------------- cross-site
def test_cross_site_admin_api_requests_are_refused(stack: Stack) -> None:
    url = f"{stack.url}/api/connections/{stack.conn}/settings"
    change = {"auto_create_people": True}
    for headers in (
        {"origin": "http://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "null"},
        # the Origin names the server's own Host header value, but a port away: another origin
        {"origin": "http://127.0.0.1:1"},
    ):
        r = httpx.patch(url, json=change, headers={**AUTH, **headers})
        assert r.status_code == 403, (headers, r.text)
    info = connections.get_connection(stack.rt.db, stack.conn)
    assert info.settings["auto_create_people"] is False
    # the same request from the server's own page (or from a non-browser client) goes through
    own = {"origin": stack.url, "sec-fetch-site": "same-origin"}
    for headers in (own, {"origin": f"https://{PUBLIC_HOST}"}, {}):
        r = httpx.patch(url, json={"auto_create_people": False}, headers={**AUTH, **headers})
        assert r.status_code == 200, (headers, r.text)


def test_dashboard_forms_do_not_trust_forwarded_host(stack: Stack) -> None:
    """A client-supplied X-Forwarded-Host naming the attacker's origin used to make it 'ours'."""
    r = httpx.post(
        f"{stack.url}/dashboard/connections/{stack.conn}/reconcile",
        headers={**AUTH, "origin": "http://evil.example", "x-forwarded-host": "evil.example"},
    )
    assert r.status_code == 403 and "another origin" in r.text


# -------------------------------------------------------------------------- admin token
def test_a_token_is_required_even_on_loopback(stack: Stack) -> None:
    token_file = stack.data_dir / "admin.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    generated = token_file.read_text().strip()
    for path in ("/api/connections", "/dashboard/connections/" + stack.conn):
        assert httpx.get(stack.generated_url + path).status_code == 401, path
    r = httpx.get(stack.generated_url + "/api/connections", headers={"x-admin-token": generated})
    assert r.status_code == 200


def test_metrics_docs_and_openapi_need_a_token(stack: Stack) -> None:
    for path in ("/metrics", "/docs", "/openapi.json"):
        assert httpx.get(stack.url + path).status_code == 401, path
        assert httpx.get(stack.url + path, headers=AUTH).status_code == 200, path
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert httpx.get(stack.url + "/metrics", headers=scraper).status_code == 200
    # the metrics token reads metrics and nothing else
    assert httpx.get(stack.url + "/api/connections", headers=scraper).status_code == 401
    assert httpx.get(stack.url + "/openapi.json", headers=scraper).status_code == 401


def test_metrics_label_is_not_the_webhook_secret(stack: Stack) -> None:
    from switchboard.metrics import connection_label
    from switchboard.store.models import SyncRun

    with stack.rt.db.session() as s:
        s.add(SyncRun(id="run_sec_1", connection_id=stack.conn, kind="initial", status="running",
                      done=3, total=10))  # fmt: skip
    try:
        text = httpx.get(stack.url + "/metrics", headers=AUTH).text
        assert f'switchboard_sync_done{{connection="{connection_label(stack.conn)}"}} 3.0' in text
        assert stack.conn not in text
        shown = httpx.get(f"{stack.url}/api/connections/{stack.conn}", headers=AUTH).json()
        assert shown["metrics_label"] == connection_label(stack.conn)
    finally:
        with stack.rt.db.session() as s:
            s.query(SyncRun).filter(SyncRun.id == "run_sec_1").delete()


# ------------------------------------------------------------------ sessions and logins
def _login(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/dashboard/login", data={"token": token, "next": "/dashboard"})


def test_sessions_rotate_at_login_and_die_at_logout(stack: Stack) -> None:
    def cookie(sid: str | None) -> dict[str, str]:
        # the public URL is https, so the cookie is Secure and httpx would not send it over the
        # test's plain http: send it by hand
        return {"cookie": f"sb_dashboard={sid}"}

    with httpx.Client(base_url=stack.url) as client:
        r = _login(client, TOKEN)
        assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()
        first = client.cookies.get("sb_dashboard")
        assert first and TOKEN not in first
        assert client.get("/dashboard", headers=cookie(first)).status_code == 200
        # the session works for the admin API too (same origin, SameSite=Strict)
        assert client.get("/api/connections", headers=cookie(first)).status_code == 200
        r = client.post("/dashboard/login", data={"token": TOKEN}, headers=cookie(first))
        assert r.status_code == 303
        second = r.cookies.get("sb_dashboard")
        assert second and second != first
        assert client.get("/dashboard", headers=cookie(second)).status_code == 200
        assert client.get("/dashboard", headers=cookie(first)).status_code == 401  # rotated
        assert client.post("/dashboard/logout", headers=cookie(second)).status_code == 303
        assert client.get("/dashboard", headers=cookie(second)).status_code == 401  # revoked


def test_login_attempts_are_rate_limited(stack: Stack) -> None:
    with httpx.Client(base_url=stack.throttle_url) as client:
        for _ in range(5):
            assert _login(client, "wrong-guess").status_code == 401
        r = _login(client, TOKEN)  # even the right token waits out the window now
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "Too many wrong tokens" in r.text
        assert client.cookies.get("sb_dashboard") is None
    # the bearer token (scripts, the CLI's habits) is not locked out
    assert httpx.get(stack.throttle_url + "/dashboard", headers=AUTH).status_code == 200


# ------------------------------------------------------------------------------ settings
@pytest.mark.parametrize(
    "change",
    [
        {"enabled_lines": []},  # would delete every Quo webhook while the status stays active
        {"enabled_lines": ["not a line"]},
        {"sync_objects": ["../../etc"]},
        {"sync_objects": []},
        {"sync_objects": ["People"]},
    ],
)
def test_settings_refuse_junk(stack: Stack, change: dict[str, Any]) -> None:
    before = connections.get_connection(stack.rt.db, stack.conn).settings
    r = httpx.patch(f"{stack.url}/api/connections/{stack.conn}/settings", json=change, headers=AUTH)
    assert r.status_code == 400, r.text
    assert connections.get_connection(stack.rt.db, stack.conn).settings == before


def test_internal_line_settings_refuse_junk(stack: Stack) -> None:
    for change in (
        {"known_lines": ["PN1", 7]},
        {"known_lines": ["<script>"]},
        {"offered_lines": ["PN1", ""]},
        {"known_lines": [f"PN{i}" for i in range(500)]},
    ):
        with pytest.raises(connection_settings.InvalidSettings):
            connections.update_settings(stack.rt.db, stack.conn, change)
    info = connections.update_settings(stack.rt.db, stack.conn, {"known_lines": ["PNb", "PNa"]})
    assert info.settings["known_lines"] == ["PNa", "PNb"]


# ------------------------------------------------------------------------------- on disk
def test_data_dir_and_databases_are_private(stack: Stack) -> None:
    assert stat.S_IMODE(stack.data_dir.stat().st_mode) == 0o700
    for name in ("sb.db", "sb-workflows.db", "sb-ratelimits.db", "secret.key", "sb.db-wal"):
        path = stack.data_dir / name
        if name.endswith("-wal") and not path.exists():
            continue
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_existing_world_readable_files_are_tightened(tmp_path: Path) -> None:
    from switchboard.config import prepare_data_dir
    from switchboard.store.db import private_sqlite_file

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    db = data / "old.db"
    db.write_bytes(b"")
    db.chmod(0o644)
    (data / "old.db-wal").write_bytes(b"")
    (data / "old.db-wal").chmod(0o644)
    prepare_data_dir(data)
    private_sqlite_file(f"sqlite:///{db}")
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "old.db-wal").stat().st_mode) == 0o600
