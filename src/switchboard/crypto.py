"""Secrets at rest: AES-GCM under a master key.

The master key comes from `SWITCHBOARD_SECRET_KEY` (urlsafe base64 of 32 bytes) or, for the
embedded default, from a 0600 file generated in the data directory on first use.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from switchboard.config import Settings

_VERSION = b"v1:"


class SecretBox:
    """Encrypts and decrypts short secrets (API keys, tokens, webhook signing keys)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return (_VERSION + base64.urlsafe_b64encode(nonce + sealed)).decode()

    def decrypt(self, token: str) -> str:
        raw = token.encode()
        if not raw.startswith(_VERSION):
            raise ValueError("not a Switchboard secret")
        blob = base64.urlsafe_b64decode(raw[len(_VERSION) :])
        return self._aead.decrypt(blob[:12], blob[12:], None).decode()


def generate_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def load_master_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return base64.urlsafe_b64decode(settings.secret_key.get_secret_value())
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(generate_master_key())
    return base64.urlsafe_b64decode(path.read_text().strip())


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(load_master_key(settings))
