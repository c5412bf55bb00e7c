"""End to end over real HTTP, every piece a separate process: Quo and Attio emulators,
`switchboard connect attio`, `switchboard serve`, `switchboard events`, `switchboard disconnect`.
A simulated call reaches the service's webhook URL, lands in the ledger and is listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import cli_server, free_port, quo_emulator

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).parent / "switchboard")
QUO_KEY = "quo-cli-key-123456"
ATTIO_TOKEN = "attio-cli-token-123456"
CLI_ADMIN_TOKEN = "admin-cli-token-123456"
CLI_ADMIN = {"Authorization": f"Bearer {CLI_ADMIN_TOKEN}"}


def _cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def _inproc(*args: str, env: dict[str, str], monkeypatch: Any, input: str | None = None) -> Any:
    """Run a database-only CLI command in this process (no interpreter start-up)."""
    from typer.testing import CliRunner

    from switchboard.cli.main import app
    from switchboard.config import get_settings

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), input=input)
    finally:
        get_settings.cache_clear()
        import structlog

        structlog.reset_defaults()  # the command configured logging onto CliRunner's stream


@pytest.mark.slow
def test_connect_serve_events_disconnect(tmp_path: Path, monkeypatch: Any) -> None:
    port = free_port()
    env = {
        "SWITCHBOARD_DATA_DIR": str(tmp_path),
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'sb.db'}",
        "SWITCHBOARD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_SCHEDULES": "off",
        "SWITCHBOARD_ADMIN_TOKEN": CLI_ADMIN_TOKEN,
    }
    with (
        quo_emulator("--api-key", QUO_KEY, "--phase-scale", "0") as quo,
        cli_server("emulate", "attio", "--allow-http-targets", "--token", ATTIO_TOKEN) as attio,
    ):
        bad = _inproc(
            "connect", "attio", "--quo-base-url", quo.url, "--attio-base-url", attio.url,
            "--quo-api-key", QUO_KEY, "--attio-token", "wrong-token-99999", "--json",
            env=env, monkeypatch=monkeypatch,
        )  # fmt: skip
        assert bad.exit_code != 0 and "credential check failed" in bad.output
        assert "wrong-token-99999" not in bad.output
        done = _cli(
            "connect", "attio", "--quo-base-url", quo.url, "--attio-base-url", attio.url,
            "--json", env={**env, "QUO_API_KEY": QUO_KEY, "ATTIO_TOKEN": ATTIO_TOKEN},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        out: dict[str, Any] = json.loads(done.stdout)
        conn_id = out["connection_id"]
        assert out["status"] == "active", out
        assert QUO_KEY not in done.stdout + done.stderr
        assert ATTIO_TOKEN not in done.stdout + done.stderr
        assert "loopback address the providers cannot reach" in done.stderr
        hooks = httpx.get(f"{quo.url}/_emulator/workspaces/{QUO_KEY}/webhooks").json()["data"]
        assert hooks and all(h["url"].endswith(f"/webhooks/quo/{conn_id}") for h in hooks)

        with cli_server("serve", port=port, env=env) as srv:
            assert httpx.get(f"{srv.url}/readyz").status_code == 200
            listed = httpx.get(f"{srv.url}/api/connections", headers=CLI_ADMIN).json()
            assert [c["id"] for c in listed] == [conn_id]
            assert QUO_KEY not in json.dumps(listed)
            r = httpx.post(
                f"{quo.url}/_emulator/calls",
                json={
                    "workspace": QUO_KEY,
                    "outcome": "answered",
                    "participants": ["+15550142231"],
                },
            )
            assert r.status_code == 201, r.text
            deadline = time.monotonic() + 30
            events: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                events = httpx.get(
                    f"{srv.url}/api/events?connection_id={conn_id}", headers=CLI_ADMIN
                ).json()["events"]
                if any(e["event_type"] == "call.completed" for e in events):
                    break
                time.sleep(0.2)
            assert any(e["event_type"] == "call.completed" for e in events), events
            unsigned = httpx.post(
                f"{srv.url}/webhooks/quo/{conn_id}", json={"type": "call.completed"}
            )
            assert unsigned.status_code == 401
            assert httpx.get(f"{srv.url}/metrics").status_code == 401
            assert httpx.get(f"{srv.url}/metrics", headers=CLI_ADMIN).status_code == 200

        listed_cli = _cli("events", "--connection", conn_id, "--json", env=env)
        assert listed_cli.returncode == 0, listed_cli.stderr
        assert any(
            e["event_type"] == "call.completed" for e in json.loads(listed_cli.stdout)["events"]
        )
        bad_status = _cli("events", "--status", "nonsense", env=env)
        assert bad_status.returncode == 2
        show = _cli("connections", "show", conn_id, "--json", env=env)
        assert show.returncode == 0 and json.loads(show.stdout)["status"] == "active"
        assert json.loads(show.stdout)["name"].startswith("Quo ↔ ")  # the workspace's name
        gone = _cli("disconnect", conn_id, "--json", "--yes", env=env)
        assert gone.returncode == 0, gone.stderr
        report = json.loads(gone.stdout)
        assert report["quo_webhooks_deleted"] == len(hooks) and report["crm_webhooks_deleted"] == 1
        assert httpx.get(f"{quo.url}/_emulator/workspaces/{QUO_KEY}/webhooks").json()["data"] == []
        again = _inproc("disconnect", conn_id, env=env, monkeypatch=monkeypatch)
        assert again.exit_code == 1


def test_connections_cli_in_process(tmp_path: Path, monkeypatch: Any) -> None:
    """list / show / settings / events on a database prepared in-process (no DBOS needed)."""
    from switchboard import connections
    from switchboard.crypto import generate_master_key
    from switchboard.runtime import Runtime

    key = generate_master_key()
    url = f"sqlite:///{tmp_path / 'sb.db'}"
    env = {"SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_DATA_DIR": str(tmp_path),
           "SWITCHBOARD_SECRET_KEY": key}  # fmt: skip
    from switchboard.config import Settings

    rt = Runtime(Settings(database_url=url, data_dir=tmp_path, secret_key=key), launch_dbos=False)  # type: ignore[arg-type]
    rt.start()
    try:
        info = connections.create_connection(
            rt.db, rt.box, crm="attio", quo_api_key=QUO_KEY, crm_token=ATTIO_TOKEN,
            quo_base_url="http://q", crm_base_url="http://a",
        )  # fmt: skip
    finally:
        rt.stop()
    listed = _inproc("connections", "list", "--json", env=env, monkeypatch=monkeypatch)
    assert listed.exit_code == 0 and [c["id"] for c in json.loads(listed.stdout)] == [info.id]
    assert QUO_KEY not in listed.output and ATTIO_TOKEN not in listed.output
    table = _inproc("connections", "list", env=env, monkeypatch=monkeypatch)
    assert table.exit_code == 0 and info.id[:10] in table.output
    changed = _inproc(
        "connections", "settings", info.id, "auto_create_people=true", "default_region=gb",
        env=env, monkeypatch=monkeypatch,
    )  # fmt: skip
    assert changed.exit_code == 0, changed.output
    out = json.loads(changed.stdout)
    assert out["settings"]["auto_create_people"] is True
    assert out["settings"]["default_region"] == "GB"
    bad = _inproc(
        "connections", "settings", info.id, "default_region=XX", env=env, monkeypatch=monkeypatch
    )
    assert bad.exit_code == 2
    missing = _inproc("connections", "show", "conn_nope", env=env, monkeypatch=monkeypatch)
    assert missing.exit_code == 3
    shown = _inproc("connections", "show", info.id, env=env, monkeypatch=monkeypatch)
    assert shown.exit_code == 0 and "auto_create_people" in shown.output
    events = _inproc("events", "--connection", info.id, env=env, monkeypatch=monkeypatch)
    assert events.exit_code == 0
    replay = _inproc("events", "replay", "evt_nope", env=env, monkeypatch=monkeypatch)
    assert replay.exit_code == 3


def _prepare(tmp_path: Path) -> tuple[dict[str, str], Any]:
    from switchboard.config import Settings
    from switchboard.crypto import generate_master_key
    from switchboard.runtime import Runtime

    key = generate_master_key()
    url = f"sqlite:///{tmp_path / 'sb.db'}"
    env = {"SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_DATA_DIR": str(tmp_path),
           "SWITCHBOARD_SECRET_KEY": key, "COLUMNS": "80"}  # fmt: skip
    rt = Runtime(Settings(database_url=url, data_dir=tmp_path, secret_key=key), launch_dbos=False)  # type: ignore[arg-type]
    return env, rt


def test_ids_printed_whole_at_80_columns_and_pasteable_everywhere(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Every id any listing prints is whole at 80 columns and accepted by every command that
    takes one; unknown ids exit 3 everywhere; reasons wrap and keep their brackets."""
    import re

    from switchboard import connections, ledger

    env, rt = _prepare(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    empty = _inproc("connections", env=env, monkeypatch=monkeypatch)
    assert empty.exit_code == 0 and "no connections yet" in empty.output
    rt.start()
    reason = "ApiError: attio notes.create: HTTP 401 [unauthorized] " + "token revoked " * 12
    try:
        info = connections.create_connection(
            rt.db, rt.box, crm="attio", quo_api_key=QUO_KEY, crm_token=ATTIO_TOKEN,
            quo_base_url="http://127.0.0.1:9", crm_base_url="http://127.0.0.1:9",
            name="A very long name " * 4,
        )  # fmt: skip
        ev, _ = ledger.insert_event(
            rt.db, connection_id=info.id, provider="quo", event_type="call.summary.completed",
            idempotency_key="k1", payload={}, resource_id="AC" + "x" * 40,
        )  # fmt: skip
        ledger.finish(rt.db, ev.id, "failed", reason=reason)
    finally:
        rt.stop()

    bare = _inproc("connections", env=env, monkeypatch=monkeypatch)
    assert bare.exit_code == 0
    listed_ids = re.findall(r"conn_[\w-]+", bare.output)
    assert listed_ids == [info.id]
    events = _inproc("events", env=env, monkeypatch=monkeypatch)
    assert events.exit_code == 0
    assert re.findall(r"evt_[\w-]+", events.output) == [ev.id]
    assert max(len(line) for line in events.output.splitlines() if "reason" in line) <= 80
    assert "[unauthorized]" in events.output and "token revoked token" in events.output
    assert "…" not in events.output and "…" not in bare.output

    for args in (
        ("connections", "show", info.id),
        ("events", "--connection", info.id),
        ("events", "failures", "--connection", info.id),
    ):
        ok = _inproc(*args, env=env, monkeypatch=monkeypatch)
        assert ok.exit_code == 0, (args, ok.output)
    for args in (
        ("connections", "show", "conn_nope"),
        ("connections", "settings", "conn_nope"),
        ("events", "--connection", "conn_nope"),
        ("events", "failures", "--connection", "conn_nope"),
        ("events", "replay", "evt_nope"),
        ("events", "replay", "--connection", "conn_nope", "--all-failed", "--yes"),
        ("disconnect", "conn_nope", "--yes"),
        ("sync", "conn_nope"),
        ("sync", "conn_nope", "--status"),
    ):
        bad = _inproc(*args, env=env, monkeypatch=monkeypatch)
        assert bad.exit_code == 3, (args, bad.output)
        assert "unknown" in bad.output

    for args in (
        ("connections", "list", "--json"),
        ("events", "--json"),
        ("events", "failures", "--connection", info.id, "--json"),
    ):
        listed = _inproc(*args, env=env, monkeypatch=monkeypatch)
        assert listed.exit_code == 0 and json.loads(listed.stdout), args

    shown = _inproc("connections", "show", info.id, "--json", env=env, monkeypatch=monkeypatch)
    problems = json.loads(shown.stdout)["problems"]
    assert problems[0]["sentence"] == "Attio rejects the token — reconnect"

    csv_out = _inproc(
        "events", "failures", "--connection", info.id, "--csv", env=env, monkeypatch=monkeypatch
    )
    from switchboard.failures import from_csv

    rows = from_csv(csv_out.stdout)
    assert [r["id"] for r in rows] == [ev.id] and rows[0]["reason"] == reason

    refused = _inproc("disconnect", info.id, env=env, monkeypatch=monkeypatch, input="n\n")
    assert refused.exit_code == 1 and "not confirmed" in refused.output
    still = _inproc("connections", "show", info.id, "--json", env=env, monkeypatch=monkeypatch)
    assert json.loads(still.stdout)["status"] != "disconnected"

    rt.start()  # disconnected (the remote clean-up of `disconnect` is tested end to end above)
    try:
        connections.delete_connection(rt.db, info.id)
    finally:
        rt.stop()
    for args in (
        ("sync", info.id),
        ("sync", info.id, "--reconcile"),
        ("events", "replay", ev.id),
        ("events", "replay", "--connection", info.id, "--all-failed", "--yes"),
        ("disconnect", info.id, "--yes"),
    ):
        refused = _inproc(*args, env=env, monkeypatch=monkeypatch)
        assert refused.exit_code == 1 and "disconnected" in refused.output, (args, refused.output)
