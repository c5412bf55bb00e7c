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


async def test_the_registry_records_proof_takes_a_person_or_a_deals_person() -> None:
    from switchboard.crm import registry
    from switchboard.crm.registry import LinkProofContext, LinkProofRefused

    class Deals:
        async def deal_person_id(self, deal_id: str) -> str | None:
            return {"7": "42"}.get(deal_id)

    proof = registry.get("pipedrive").signed_link_proof
    assert proof is not None
    settings = {"link_action_jwt_secret": SECRET, "link_action_company_id": None}
    ctx = LinkProofContext(settings, None, Deals())  # type: ignore[arg-type]
    token = sign(claims(), SECRET)
    assert await proof(params(token), ctx) == "42"
    assert await proof(params(token, resource="deal", selectedIds="7"), ctx) == "42"
    for bad in (
        params(sign(claims(), "other-secret")),
        params(token, resource="deal", selectedIds="8"),
        params(token, selectedIds="42,43"),
        params(token, resource="lead"),
    ):
        with pytest.raises(LinkProofRefused):
            await proof(bad, ctx)
    with pytest.raises(LinkProofRefused, match="company"):  # the connection's company only
        await proof(params(token), LinkProofContext(settings, "9", Deals()))  # type: ignore[arg-type]
    with pytest.raises(LinkProofRefused, match="link_action_jwt_secret"):
        await proof(params(token), LinkProofContext({}, None, Deals()))  # type: ignore[arg-type]


def test_the_link_action_settings_are_pipedrives_own() -> None:
    from switchboard.connection_settings import InvalidSettings, validate_settings

    # `switchboard connections settings ID link_action_company_id=1337` parses JSON: a number
    valid = validate_settings(
        {"link_action_company_id": 1337, "link_action_jwt_secret": SECRET}, "pipedrive"
    )
    assert valid == {"link_action_company_id": "1337", "link_action_jwt_secret": SECRET}
    with pytest.raises(InvalidSettings, match="link_action_company_id"):
        validate_settings({"link_action_company_id": "acme"}, "pipedrive")
    with pytest.raises(InvalidSettings, match="unknown setting"):
        validate_settings({"link_action_jwt_secret": SECRET}, "attio")
