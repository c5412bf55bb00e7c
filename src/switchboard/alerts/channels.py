"""Delivering an alert: a signed JSON POST and an SMTP e-mail.

The webhook body is Slack-compatible (`text`, plus a `switchboard` object with the structured
facts). `X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under
the installation's signing secret lets a receiver check it came from this installation
(`switchboard alerts secret` prints the secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import httpx

from switchboard.alerts.settings import AlertSettings
from switchboard.logs import get_logger, mask_text

if TYPE_CHECKING:
    from switchboard.alerts.incidents import Message

log = get_logger(__name__)
SIGNATURE_HEADER = "X-Switchboard-Signature"


def signing_secret(master_key: bytes) -> str:
    """Per installation, stable across restarts and replicas: derived from the master key."""
    return hmac.new(master_key, b"switchboard alert signing v1", hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, ts: int | None = None) -> str:
    t = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(body: bytes, header: str, secret: str, tolerance_s: int = 300) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance_s:
        return False
    return hmac.compare_digest(sign(body, secret, t), header)


def webhook_body(message: Message) -> bytes:
    payload: dict[str, Any] = {"text": message.text, "switchboard": message.facts()}
    return json.dumps(payload, sort_keys=True).encode()


def send_webhook(settings: AlertSettings, message: Message, secret: str) -> None:
    assert settings.webhook_url
    body = webhook_body(message)
    r = httpx.post(
        settings.webhook_url,
        content=body,
        headers={"content-type": "application/json", SIGNATURE_HEADER: sign(body, secret)},
        timeout=settings.timeout_s,
    )
    r.raise_for_status()


def send_email(settings: AlertSettings, message: Message) -> None:
    assert settings.smtp_host and settings.email_to
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = settings.email_from
    mail["To"] = settings.email_to
    mail.set_content(message.text + "\n\n" + json.dumps(message.facts(), indent=2))
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_s) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(mail)


def deliver(settings: AlertSettings, message: Message, secret: str) -> dict[str, str]:
    """Send to every configured channel; returns {channel: "sent" | error text}. A failing
    channel does not stop the other."""
    outcome: dict[str, str] = {}
    if settings.webhook_url:
        try:
            send_webhook(settings, message, secret)
            outcome["webhook"] = "sent"
        except Exception as exc:
            outcome["webhook"] = mask_text(f"{type(exc).__name__}: {exc}")[:300]
    if settings.email_to and settings.smtp_host:
        try:
            send_email(settings, message)
            outcome["email"] = "sent"
        except Exception as exc:
            outcome["email"] = mask_text(f"{type(exc).__name__}: {exc}")[:300]
    if any(v != "sent" for v in outcome.values()):
        log.warning("alert_delivery_failed", kind=message.kind, outcome=outcome)
    return outcome
