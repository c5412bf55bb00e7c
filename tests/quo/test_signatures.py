"""Quo webhook signatures: both schemes, the published Standard Webhooks vector, failure reasons."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from switchboard.quo.signatures import SignatureError, sign_legacy, sign_standard, verify

KEY = base64.b64encode(b"quo-webhook-signing-key-0123456789").decode()
BODY = b'{"id":"EV1","object":"event","type":"call.completed","data":{"object":{"id":"AC1"}}}'
NOW = 1_764_000_000.0


def clock() -> float:
    return NOW


def test_standard_webhooks_published_vector() -> None:
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    # The published Standard Webhooks test vector (public, see quo-api.md), not a secret.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert verify(headers, body, secret, clock=lambda: 1614265330) == "standard"
    assert sign_standard(body, secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330) == headers


def test_legacy_valid_ms_and_seconds() -> None:
    ts_ms = int(NOW * 1000)
    header = sign_legacy(BODY, KEY, ts_ms)
    assert verify({"OpenPhone-Signature": header}, BODY, KEY, clock=clock) == "legacy"
    assert verify({"openphone-signature": sign_legacy(BODY, KEY, int(NOW))}, BODY, KEY, clock=clock)


def test_standard_valid_with_several_signatures() -> None:
    secret = "whsec_" + KEY
    headers = sign_standard(BODY, secret, "msg_1", int(NOW))
    headers["webhook-signature"] = "v1,bm90LWl0 " + headers["webhook-signature"]
    assert verify(headers, BODY, secret, clock=clock) == "standard"


@pytest.mark.parametrize("scheme", ["legacy", "standard"])
def test_tampered_wrong_key_and_stale(scheme: str) -> None:
    def headers_for(body: bytes, key: str, ts: float) -> dict[str, str]:
        if scheme == "legacy":
            return {"openphone-signature": sign_legacy(body, key, int(ts * 1000))}
        return sign_standard(body, key, "msg_1", int(ts))

    good = headers_for(BODY, KEY, NOW)
    verify(good, BODY, KEY, clock=clock)
    with pytest.raises(SignatureError, match="mismatch"):
        verify(good, BODY.replace(b"AC1", b"AC2"), KEY, clock=clock)
    other = base64.b64encode(b"another-key-entirely").decode()
    with pytest.raises(SignatureError, match="mismatch"):
        verify(good, BODY, other, clock=clock)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(headers_for(BODY, KEY, NOW - 301), BODY, KEY, clock=clock)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(headers_for(BODY, KEY, NOW + 301), BODY, KEY, clock=clock)
    verify(headers_for(BODY, KEY, NOW - 299), BODY, KEY, clock=clock)


def test_reserialised_json_does_not_verify() -> None:
    header = {"openphone-signature": sign_legacy(BODY, KEY, int(NOW * 1000))}
    import json

    reserialised = json.dumps(json.loads(BODY)).encode()
    with pytest.raises(SignatureError):
        verify(header, reserialised, KEY, clock=clock)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"openphone-signature": "garbage"},
        {"openphone-signature": "hmac;2;1;abc"},
        {"openphone-signature": "hmac;1;notatime;abc"},
        {"webhook-id": "x", "webhook-signature": "v1,abc"},
        {"webhook-id": "x", "webhook-timestamp": "soon", "webhook-signature": "v1,abc"},
    ],
)
def test_malformed_headers_are_rejected_with_reason(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as info:
        verify(headers, BODY, KEY, clock=clock)
    assert info.value.reason


BAD_TIMESTAMPS = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e9",
    "+5",
    "-5",
    " 5",
    "5 ",
    "1_000",
    "0x10",
    "",
    "٣",
]


@pytest.mark.parametrize("ts", BAD_TIMESTAMPS)
def test_legacy_timestamp_must_be_plain_digits(ts: str) -> None:
    # A valid MAC over the odd timestamp: only the strict parse refuses it.
    header = sign_legacy(BODY, KEY, ts)
    with pytest.raises(SignatureError, match=r"malformed timestamp|malformed openphone"):
        verify({"openphone-signature": header}, BODY, KEY, clock=clock)


@pytest.mark.parametrize("ts", BAD_TIMESTAMPS)
def test_standard_timestamp_must_be_plain_digits(ts: str) -> None:
    # A valid MAC over the odd timestamp: only the strict parse refuses it.
    digest = hmac.new(base64.b64decode(KEY), f"msg_1.{ts}.".encode() + BODY, hashlib.sha256)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(digest.digest()).decode(),
    }
    with pytest.raises(SignatureError, match=r"malformed timestamp|missing"):
        verify(headers, BODY, KEY, clock=clock)
