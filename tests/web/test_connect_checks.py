"""`switchboard connect` refuses early and stores nothing: a Quo key that Quo rejects fails at
once with exit 1 (emulators over real HTTP), and a plain-http base URL to a remote host is
refused unless explicitly allowed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

QUO_KEY = "quo-connect-check-key-1"


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[str, str, str]]:
    from switchboard.emulators.attio import AttioEmulator
    from switchboard.emulators.attio import create_app as crm_app
    from switchboard.emulators.common import ServerThread
    from switchboard.emulators.quo import QuoEmulator
    from switchboard.emulators.quo import create_app as quo_app

    quo = QuoEmulator(bulk_delay_s=0, phase_delay_scale=0)
    quo.create_workspace(api_key=QUO_KEY)
    crm = AttioEmulator(allow_http_targets=True, seed_value=1)
    servers = [ServerThread(quo_app(quo)).start(), ServerThread(crm_app(crm)).start()]
    try:
        yield servers[0].url, servers[1].url, crm.default_token
    finally:
        for s in servers:
            s.stop()


def _connect(tmp_path: Path, monkeypatch: Any, *args: str) -> Any:
    from typer.testing import CliRunner

    from switchboard.cli.main import app
    from switchboard.config import get_settings

    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", f"sqlite:///{tmp_path / 'sb.db'}")
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["connect", "attio", "--json", *args])
    finally:
        get_settings.cache_clear()
        import structlog

        structlog.reset_defaults()


def _stored(tmp_path: Path) -> int:
    from switchboard.store.db import Database, migrate

    url = f"sqlite:///{tmp_path / 'sb.db'}"
    if not (tmp_path / "sb.db").exists():
        return 0
    migrate(url)
    db = Database(url)
    try:
        from switchboard import connections

        return len(connections.list_connections(db))
    finally:
        db.dispose()


def test_bad_quo_key_fails_fast_and_stores_nothing(
    tmp_path: Path, monkeypatch: Any, emulators: tuple[str, str, str]
) -> None:
    quo_url, crm_url, crm_token = emulators
    started = time.monotonic()
    out = _connect(
        tmp_path, monkeypatch,
        "--quo-base-url", quo_url, "--attio-base-url", crm_url,
        "--quo-api-key", "not-a-quo-key-000", "--attio-token", crm_token,
    )  # fmt: skip
    assert out.exit_code == 1, out.output
    assert "Quo rejected the API key" in out.output
    assert "not-a-quo-key-000" not in out.output
    assert time.monotonic() - started < 30  # was: exit 0 after ~85 s, a degraded connection
    assert _stored(tmp_path) == 0


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path, monkeypatch: Any) -> None:
    for flag in ("--quo-base-url", "--attio-base-url"):
        out = _connect(
            tmp_path, monkeypatch, flag, "http://api.example.com",
            "--quo-api-key", "k-quo-remote-1", "--attio-token", "k-crm-remote-1",
        )  # fmt: skip
        assert out.exit_code == 1 and "in clear" in out.output, out.output
    assert _stored(tmp_path) == 0


def test_insecure_http_needs_an_explicit_yes(tmp_path: Path, monkeypatch: Any) -> None:
    from switchboard.config import insecure_http_reason

    assert insecure_http_reason("https://api.openphone.com") is None
    assert insecure_http_reason("http://127.0.0.1:8123") is None
    assert insecure_http_reason("http://localhost:8123") is None
    assert insecure_http_reason("http://[::1]:8123") is None
    assert insecure_http_reason("http://10.0.0.5") is not None
    assert insecure_http_reason("ftp://x") is not None
    # allowed explicitly (flag or setting), the URL is accepted (no check, no setup: offline)
    out = _connect(
        tmp_path, monkeypatch, "--quo-base-url", "http://quo.internal.example:8080",
        "--allow-insecure-http", "--skip-check", "--no-setup",
        "--quo-api-key", "k-quo-remote-2", "--attio-token", "k-crm-remote-2",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert _stored(tmp_path) == 1
