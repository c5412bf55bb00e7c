"""Quo webhook signatures: verify both schemes over the raw body; sign for emulators and tests.

Two schemes exist (see the Quo reference):

- Legacy: header `openphone-signature: hmac;1;<timestamp>;<base64 signature>`,
  signature = base64(HMAC-SHA256(key=base64decode(webhook key), data=b"<timestamp>.<raw body>")).
  The timestamp is in milliseconds in Quo's payloads; seconds are accepted too.
- Standard Webhooks: headers `webhook-id`, `webhook-timestamp` (seconds), `webhook-signature`
  (space-separated `v1,<base64>`), data `<id>.<timestamp>.<raw body>`,
  key = base64decode(the part after `whsec_`).

`verify(headers, body, key)` picks the scheme from the headers, checks the timestamp is within
`tolerance` (5 minutes) of `now` (timestamps are ASCII digits only: `nan`, `inf`, `1e9`, `+5` or
whitespace are refused as malformed), compares in constant time, and raises `SignatureError(reason)`
on any failure. Always pass the raw request bytes — never re-serialised JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping

DEFAULT_TOLERANCE = 300.0
LEGACY_HEADER = "openphone-signature"


class SignatureError(Exception):
    """A webhook failed verification. `reason` is a short machine-friendly phrase."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _decode_key(key: str | bytes) -> bytes:
    if isinstance(key, bytes):
        return key
    raw = key.removeprefix("whsec_")
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("signing key is not base64") from exc


def _mac(key: bytes, data: bytes) -> str:
    return base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode()


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


# Digits only: `int()`/`float()` also take "nan", "inf", "1e9", "+5", " 5", "1_0" — and a NaN
# timestamp compares false against any tolerance, so it would never expire.
_TIMESTAMP = re.compile(r"[0-9]{1,16}")


def _parse_timestamp(ts: str) -> int:
    if not _TIMESTAMP.fullmatch(ts):
        raise SignatureError("malformed timestamp")
    return int(ts)


def _check_time(ts_seconds: float, now: float, tolerance: float) -> None:
    if not abs(now - ts_seconds) <= tolerance:
        raise SignatureError("timestamp outside tolerance")


def _legacy_ts_seconds(ts: str) -> float:
    value = _parse_timestamp(ts)
    return value / 1000.0 if value > 1e11 else float(value)  # milliseconds (Quo) or seconds


def sign_legacy(body: bytes, key: str | bytes, timestamp: int | str) -> str:
    """The `openphone-signature` header value for `body` (timestamp as Quo sends it: ms)."""
    mac = _mac(_decode_key(key), f"{timestamp}.".encode() + body)
    return f"hmac;1;{timestamp};{mac}"


def sign_standard(body: bytes, key: str | bytes, msg_id: str, timestamp: int) -> dict[str, str]:
    """Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`)."""
    mac = _mac(_decode_key(key), f"{msg_id}.{timestamp}.".encode() + body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{mac}",
    }


def verify_legacy(
    header: str, body: bytes, key: str | bytes, *, now: float, tolerance: float = DEFAULT_TOLERANCE
) -> None:
    parts = header.strip().split(";")
    if len(parts) != 4 or parts[0] != "hmac":
        raise SignatureError("malformed openphone-signature header")
    _scheme, version, ts, given = parts
    if version != "1":
        raise SignatureError(f"unsupported signature version {version!r}")
    _check_time(_legacy_ts_seconds(ts), now, tolerance)
    expected = _mac(_decode_key(key), f"{ts}.".encode() + body)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise SignatureError("signature mismatch")


def verify_standard(
    headers: Mapping[str, str],
    body: bytes,
    key: str | bytes,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    h = _lower(headers)
    msg_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not msg_id or not ts or not sigs:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    _check_time(float(_parse_timestamp(ts)), now, tolerance)
    expected = _mac(_decode_key(key), f"{msg_id}.{ts}.".encode() + body).encode()
    matched = False
    for entry in sigs.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(expected, value.encode()):
            matched = True
    if not matched:
        raise SignatureError("signature mismatch")


def verify(
    headers: Mapping[str, str],
    body: bytes,
    key: str | bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    clock: Callable[[], float] = time.time,
) -> str:
    """Verify a Quo webhook by whichever scheme its headers use; return "legacy" or "standard".

    Args:
        headers: the request headers (any case).
        body: the raw request body bytes.
        key: the webhook's signing key as Quo returned it (base64, or `whsec_...`).
        tolerance: allowed |now - timestamp| in seconds.
        clock: returns the current epoch seconds (injectable for tests).

    Raises:
        SignatureError: no signature headers, malformed, stale/future timestamp, or mismatch.
    """
    h = _lower(headers)
    now = clock()
    if LEGACY_HEADER in h:
        verify_legacy(h[LEGACY_HEADER], body, key, now=now, tolerance=tolerance)
        return "legacy"
    if "webhook-signature" in h:
        verify_standard(h, body, key, now=now, tolerance=tolerance)
        return "standard"
    raise SignatureError("no signature header")
