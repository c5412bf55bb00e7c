"""Alerts: a receiver gets one signed "unhealthy" and one "recovered" message per incident (not
one per failed event), the same by e-mail through a local SMTP server, and one daily summary."""

from __future__ import annotations

import json
import os
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from switchboard import connections, ledger
from switchboard.alerts import AlertSettings, evaluate, signing_secret, verify
from switchboard.alerts.channels import SIGNATURE_HEADER, deliver
from switchboard.alerts.incidents import sample_message
from switchboard.crypto import SecretBox
from switchboard.store import Database, migrate

AUTH_REASON = "ApiError: attio notes.create: HTTP 401 [unauthorized] token revoked"


class Receiver:
    """A webhook receiver on a free loopback port: keeps each request's body and headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append((body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.requests]


class SmtpSink:
    """A minimal SMTP server (EHLO, MAIL, RCPT, DATA, QUIT) that keeps each message."""

    def __init__(self) -> None:
        self.mails: list[Any] = []
        mails = self.mails

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 sink ready\r\n")
                while line := self.rfile.readline():
                    cmd = line.strip().split(b" ")[0].upper()
                    if cmd in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250 sink\r\n")
                    elif cmd == b"DATA":
                        self.wfile.write(b"354 go on\r\n")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        mails.append(message_from_bytes(data))
                        self.wfile.write(b"250 queued\r\n")
                    elif cmd == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'sb.db'}"
    migrate(url)
    database = Database(url)
    yield database
    database.dispose()


def _fail(db: Database, cid: str, key: str) -> None:
    ev, _ = ledger.insert_event(
        db, connection_id=cid, provider="quo", event_type="message.received",
        idempotency_key=key, payload={},
    )  # fmt: skip
    ledger.finish(db, ev.id, "failed", reason=AUTH_REASON)


def _ok(db: Database, cid: str, key: str) -> None:
    ev, _ = ledger.insert_event(
        db, connection_id=cid, provider="quo", event_type="message.received",
        idempotency_key=key, payload={},
    )  # fmt: skip
    ledger.finish(db, ev.id, "processed")


def test_one_unhealthy_and_one_recovered_per_incident_by_webhook_and_email(
    db: Database,
) -> None:
    receiver, smtp = Receiver(), SmtpSink()
    try:
        key = os.urandom(32)
        secret = signing_secret(key)
        assert secret == signing_secret(key) and secret != signing_secret(os.urandom(32))
        settings = AlertSettings(
            webhook_url=receiver.url, email_to="ops@example.com", smtp_host="127.0.0.1",
            smtp_port=smtp.port, smtp_starttls=False, summary_hour_utc=23,
        )  # fmt: skip
        morning = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
        info = connections.create_connection(
            db, SecretBox(key), crm="attio", quo_api_key="k", crm_token="t",
            quo_base_url="http://q", crm_base_url="http://a", name="Acme Dental",
        )  # fmt: skip
        for provider in ("quo", "attio"):
            connections.add_subscription(
                db, SecretBox(key), connection_id=info.id, provider=provider, remote_id=provider,
                kind="k", url="u", events=["e"], key="w",
            )  # fmt: skip
        connections.set_status(db, info.id, "active", "")
        base = "https://sb.example.com"

        def tick() -> list[Any]:
            return evaluate(db, settings, secret, base, now=morning)

        assert tick() == []  # healthy: nothing to say
        for i in range(5):  # an incident: many failed events...
            _fail(db, info.id, f"f{i}")
            tick()
        _fail(db, info.id, "f-last")
        assert tick() == []
        _ok(db, info.id, "ok")  # ...then it works again
        assert [m.kind for m in tick()] == ["recovered"]
        kinds = [m["switchboard"]["kind"] for m in receiver.messages()]
        assert kinds == ["unhealthy", "recovered"]
        unhealthy = receiver.messages()[0]
        assert "Acme Dental: Attio rejects the token — reconnect" in unhealthy["text"]
        assert f"{base}/dashboard/connections/{info.id}" in unhealthy["text"]
        for body, headers in receiver.requests:
            assert verify(body, headers[SIGNATURE_HEADER.lower()], secret)
            assert not verify(body, headers[SIGNATURE_HEADER.lower()], signing_secret(b"x" * 32))
        assert [m["Subject"] for m in smtp.mails] == [
            "Switchboard: Acme Dental is unhealthy",
            "Switchboard: Acme Dental recovered",
        ]
        assert "Attio rejects the token" in smtp.mails[0].get_payload()

        # A second incident gets its own pair.
        _fail(db, info.id, "g1")
        tick()
        _ok(db, info.id, "ok2")
        tick()
        kinds = [m["switchboard"]["kind"] for m in receiver.messages()]
        assert kinds == ["unhealthy", "recovered", "unhealthy", "recovered"]

        # The daily summary: once a day, after its hour.
        evening = morning.replace(hour=23, minute=30)
        sent = evaluate(db, settings, secret, base, now=evening)
        assert [m.kind for m in sent] == ["summary"]
        assert "Acme Dental: 2 processed, 7 failed" in sent[0].text
        assert evaluate(db, settings, secret, base, now=evening + timedelta(minutes=1)) == []
        nxt = evaluate(db, settings, secret, base, now=evening + timedelta(days=1))
        assert [m.kind for m in nxt] == ["summary"]

        # The test button's message reaches both channels.
        assert deliver(settings, sample_message(base), secret) == {
            "webhook": "sent",
            "email": "sent",
        }
        assert receiver.messages()[-1]["switchboard"]["kind"] == "test"
        assert smtp.mails[-1]["Subject"] == "Switchboard test alert"
    finally:
        receiver.server.shutdown()
        smtp.server.shutdown()


def test_the_test_button_and_cli_reach_the_receiver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient
    from typer.testing import CliRunner

    from switchboard.cli.main import app as cli
    from switchboard.config import Settings, get_settings
    from switchboard.crypto import generate_master_key
    from switchboard.runtime import Runtime
    from switchboard.web import create_app

    receiver = Receiver()
    key = generate_master_key()
    url = f"sqlite:///{tmp_path / 'sb.db'}"
    for name, value in {
        "SWITCHBOARD_ALERT_WEBHOOK_URL": receiver.url,
        "SWITCHBOARD_DATABASE_URL": url,
        "SWITCHBOARD_DATA_DIR": str(tmp_path),
        "SWITCHBOARD_SECRET_KEY": key,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = Settings(database_url=url, data_dir=tmp_path, secret_key=key, admin_token="adm")  # type: ignore[arg-type]
    rt = Runtime(settings, workers=False, launch_dbos=False, kind="test").start()
    try:
        client = TestClient(create_app(rt, bind_host="127.0.0.1"), base_url="http://127.0.0.1")
        auth = {"Authorization": "Bearer adm"}
        assert 'id="alerts-test"' in client.get("/dashboard", headers=auth).text
        r = client.post("/dashboard/alerts/test", headers=auth)
        assert r.status_code == 200 and 'data-channel="webhook"' in r.text and "sent" in r.text
        done = CliRunner().invoke(cli, ["alerts", "test", "--json"])
        assert done.exit_code == 0 and json.loads(done.stdout) == {"webhook": "sent"}
        secret = CliRunner().invoke(cli, ["alerts", "secret"]).stdout.strip()
        assert [m["switchboard"]["kind"] for m in receiver.messages()] == ["test", "test"]
        for body, headers in receiver.requests:
            assert verify(body, headers[SIGNATURE_HEADER.lower()], secret)
    finally:
        rt.stop()
        receiver.server.shutdown()
        get_settings.cache_clear()
        import structlog

        structlog.reset_defaults()
