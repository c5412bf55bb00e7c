"""Pipedrive link-action tokens: JWT HS256 signed with the extension's JWT secret (or the app's
client secret), claims `userId` and `companyId` (Pipedrive's developer documentation and its
developer community's answers). Tokens are made here the way Pipedrive makes them, plus the
HS256 example of RFC 7515 (A.1) as an independent known answer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import pytest

from switchboard.crm.pipedrive.link_action import (
    LinkActionRefused,
    verify_link_action,
    verify_token,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(claims: dict[str, Any], secret: str, alg: str = "HS256") -> str:
    head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


SECRET = secrets.token_hex(20)  # a client secret / JWT secret, generated per run


def params(token: str, **extra: str) -> dict[str, str]:
    return {
        "resource": "person",
        "view": "details",
        "userId": "191352",
        "companyId": "1337",
        "selectedIds": "42",
        "isShared": "false",
        "token": token,
        **extra,
    }


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"userId": 191352, "companyId": 1337, "iat": now, "exp": now + 300, **extra}


def test_a_token_pipedrive_signed_is_accepted() -> None:
    action = verify_link_action(params(sign(claims(), SECRET)), SECRET, expected_company_id="1337")
    assert (action.resource, action.view, action.selected_ids) == ("person", "details", ("42",))
    assert (action.user_id, action.company_id) == ("191352", "1337")


def test_deal_view_lists_the_selected_ids() -> None:
    action = verify_link_action(
        params(sign(claims(), SECRET), resource="deal", selectedIds="7,9"), SECRET
    )
    assert action.resource == "deal" and action.selected_ids == ("7", "9")


@pytest.mark.parametrize(
    "token",
    [
        sign(claims(), "another-secret"),  # wrong secret
        sign(claims(), SECRET)[:-2] + "AA",  # tampered signature
        sign(claims(), SECRET, alg="none"),  # algorithm downgrade
        sign(claims(), SECRET, alg="HS512"),
        "not.a.jwt",
        "onlyonepart",
        "",
    ],
)
def test_invalid_tokens_are_refused(token: str) -> None:
    with pytest.raises(LinkActionRefused):
        verify_link_action(params(token), SECRET)


def test_tampered_claims_or_parameters_are_refused() -> None:
    good = sign(claims(), SECRET)
    head, _body, mac = good.split(".")
    forged = _b64(json.dumps(claims(companyId=9999)).encode())
    with pytest.raises(LinkActionRefused, match="signature"):
        verify_link_action(params(f"{head}.{forged}.{mac}"), SECRET)
    with pytest.raises(LinkActionRefused, match="differ"):
        verify_link_action(params(good, companyId="9999"), SECRET)
    with pytest.raises(LinkActionRefused, match="another Pipedrive company"):
        verify_link_action(params(good), SECRET, expected_company_id="2")
    with pytest.raises(LinkActionRefused, match="no token"):
        verify_link_action({k: v for k, v in params(good).items() if k != "token"}, SECRET)


def test_expired_and_old_tokens_are_refused() -> None:
    now = time.time()
    expired = sign(claims(exp=int(now) - 600), SECRET)
    with pytest.raises(LinkActionRefused, match="expired"):
        verify_link_action(params(expired), SECRET, now=now)
    old = sign({"userId": 191352, "companyId": 1337, "iat": int(now) - 3600}, SECRET)
    with pytest.raises(LinkActionRefused, match="too old"):
        verify_link_action(params(old), SECRET, now=now)


def test_rfc7515_hs256_example() -> None:
    token = (
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    )
    key = base64.urlsafe_b64decode(
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow=="
    )
    assert verify_token(token, key, now=1300819380) == {
        "iss": "joe",
        "exp": 1300819380,
        "http://example.com/is_root": True,
    }
    with pytest.raises(LinkActionRefused):
        verify_token(token, key[:-1], now=1300819380)
