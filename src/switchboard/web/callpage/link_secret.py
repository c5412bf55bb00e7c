"""The per-connection click-to-call link secret, and the click tokens a call page hands out.

The link secret is part of the call-page URL an admin configures once in the CRM (a custom
button, a link action): whoever opens the page with it is taken to be a user of that CRM
account. It is stored encrypted (`call_links`), created on first use, compared in constant time,
and rotated from the dashboard; rotating makes every URL with the old one stop working.

A page served with a valid proof embeds a click token (HMAC of connection, person and expiry,
keyed with the link secret) so the click it records cannot be forged for another person, and
stops working when the secret is rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

from switchboard.crypto import SecretBox
from switchboard.logs import register_secret
from switchboard.store.db import Database
from switchboard.store.models import CallLink

#: How long a click token from a served page stays valid.
CLICK_TOKEN_TTL_S = 4 * 3600


def _new_secret() -> str:
    return secrets.token_urlsafe(24)


def current(db: Database, box: SecretBox, connection_id: str) -> str:
    """The connection's link secret, created on first use."""
    with db.session() as s:
        row = s.get(CallLink, connection_id)
        if row is not None:
            secret = box.decrypt(row.secret_enc)
            register_secret(secret)  # it travels in URLs: keep it out of any logged line
            return secret
        secret = _new_secret()
        register_secret(secret)
        s.add(CallLink(connection_id=connection_id, secret_enc=box.encrypt(secret)))
        return secret


def rotate(db: Database, box: SecretBox, connection_id: str) -> str:
    """Replace the link secret; URLs carrying the old one are refused from now on."""
    secret = _new_secret()
    register_secret(secret)
    with db.session() as s:
        row = s.get(CallLink, connection_id)
        if row is None:
            s.add(CallLink(connection_id=connection_id, secret_enc=box.encrypt(secret)))
        else:
            row.secret_enc = box.encrypt(secret)
            row.rotated_at = datetime.now(UTC)
    return secret


def rotated_at(db: Database, connection_id: str) -> datetime | None:
    with db.session() as s:
        row = s.get(CallLink, connection_id)
        return row.rotated_at if row is not None else None


def matches(secret: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(secret.encode(), (presented or "").encode())


def _mac(secret: str, connection_id: str, person_id: str, expires: int) -> str:
    msg = f"click|{connection_id}|{person_id}|{expires}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def click_token(secret: str, connection_id: str, person_id: str, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + CLICK_TOKEN_TTL_S)
    return f"{expires}.{_mac(secret, connection_id, person_id, expires)}"


def click_token_valid(
    secret: str, connection_id: str, person_id: str, token: str, now: float | None = None
) -> bool:
    expires_s, _, mac = token.partition(".")
    if not expires_s.isdigit() or not mac:
        return False
    expires = int(expires_s)
    if expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(mac, _mac(secret, connection_id, person_id, expires))
