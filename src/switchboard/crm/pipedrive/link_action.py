"""Pipedrive link actions: verifying the signed token Pipedrive adds to the URL it opens.

A link action (the "⋯" menu of a person or deal detail view, set up in Pipedrive's Developer
Hub) opens our URL with the context as query parameters — `resource` (`person`, `deal`, …),
`view` (`details`, `list`), `userId`, `companyId`, `selectedIds` (comma-separated),
`isShared` — and `token`: a JSON Web Token signed with HS256 using the extension's JWT secret
(or, when none is set, the app's client secret) whose claims name the same `userId` and
`companyId`. Anyone can type the parameters; only Pipedrive can sign them, so the token is the
proof that a user of that Pipedrive company clicked.

    action = verify_link_action(query_params, secret, expected_company_id="13")
    action.resource, action.selected_ids      # ("person", ("42",))

Refusals raise `LinkActionRefused` (a ValueError) with the reason, for the log. The signature is
checked before any claim is read; `alg` must be HS256 (never `none`); `exp`, when present, is
enforced with a small leeway; the signed `userId`/`companyId` must match the query's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from switchboard.crm.registry import LinkProofContext, LinkProofRefused
from switchboard.logs import register_secret

#: Seconds of clock difference tolerated on `exp` / `iat`.
LEEWAY_S = 60.0
#: A token is refused when its `iat` is older than this (a copied URL stops working).
MAX_AGE_S = 15 * 60.0


class LinkActionRefused(ValueError):
    """The link action request is not one Pipedrive signed (or no longer valid)."""


@dataclass(frozen=True)
class LinkAction:
    resource: str
    view: str
    selected_ids: tuple[str, ...]
    user_id: str
    company_id: str
    claims: Mapping[str, Any]


def _b64decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise LinkActionRefused("token is not base64url") from exc


def _json(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(part))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LinkActionRefused("token part is not JSON") from exc
    if not isinstance(value, dict):
        raise LinkActionRefused("token part is not a JSON object")
    return value


def verify_token(token: str, secret: str | bytes, *, now: float | None = None) -> dict[str, Any]:
    """The claims of an HS256 JSON Web Token signed with `secret`, or LinkActionRefused."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise LinkActionRefused("token is not a signed JWT")
    header = _json(parts[0])
    if header.get("alg") != "HS256":
        raise LinkActionRefused(f"token algorithm {header.get('alg')!r} is not HS256")
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise LinkActionRefused("no secret to verify with")
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64decode(parts[2])):
        raise LinkActionRefused("token signature does not match the secret")
    claims = _json(parts[1])
    t = now if now is not None else time.time()
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or t > exp + LEEWAY_S):
        raise LinkActionRefused("token has expired")
    iat = claims.get("iat")
    if iat is not None and isinstance(iat, int | float):
        if iat > t + LEEWAY_S:
            raise LinkActionRefused("token is issued in the future")
        if t - iat > MAX_AGE_S:
            raise LinkActionRefused("token is too old")
    return claims


def verify_link_action(
    params: Mapping[str, str],
    secret: str | bytes,
    *,
    expected_company_id: str | None = None,
    now: float | None = None,
) -> LinkAction:
    """Check a link action request's query parameters; see the module docstring."""
    token = params.get("token")
    if not token:
        raise LinkActionRefused("no token parameter")
    claims = verify_token(token, secret, now=now)
    user_id = str(params.get("userId") or "")
    company_id = str(params.get("companyId") or "")
    if str(claims.get("userId", "")) != user_id or str(claims.get("companyId", "")) != company_id:
        raise LinkActionRefused("signed userId/companyId differ from the request's")
    if expected_company_id is not None and company_id != str(expected_company_id):
        raise LinkActionRefused("token is for another Pipedrive company")
    selected = tuple(s for s in str(params.get("selectedIds") or "").split(",") if s)
    return LinkAction(
        resource=str(params.get("resource") or ""),
        view=str(params.get("view") or ""),
        selected_ids=selected,
        user_id=user_id,
        company_id=company_id,
        claims=claims,
    )


# ---------------------------------------------------------------------- the call page's check

#: The connection setting holding the link action's JWT secret (the app's client secret when the
#: extension has none); the call page refuses every link action until it is set.
SECRET_SETTING = "link_action_jwt_secret"
#: Optional connection setting: the Pipedrive company id the tokens must name (else the id
#: recorded at connect time, when there is one).
COMPANY_SETTING = "link_action_company_id"


async def signed_link_proof(params: Mapping[str, str], context: LinkProofContext) -> str:
    """The registry record's `signed_link_proof`: the clicked person of a verified link action.

    A `person` selection is the person; a `deal` selection is the deal's person (through the
    connector, `GET /api/v2/deals/{id}`). One selected id only; anything else is refused.
    """
    secret = context.settings.get(SECRET_SETTING)
    if not isinstance(secret, str) or not secret:
        raise LinkProofRefused(f"no {SECRET_SETTING} set for this connection")
    register_secret(secret)  # never in a log line
    company = context.settings.get(COMPANY_SETTING) or context.workspace_id
    try:
        action = verify_link_action(
            params, secret, expected_company_id=str(company) if company else None
        )
    except LinkActionRefused as exc:
        raise LinkProofRefused(str(exc)) from exc
    if len(action.selected_ids) != 1 or not action.selected_ids[0].isdigit():
        raise LinkProofRefused("the link action does not select exactly one record")
    selected = action.selected_ids[0]
    if action.resource == "person":
        return selected
    if action.resource == "deal":
        deal_person = getattr(context.connector, "deal_person_id", None)
        if deal_person is None:
            raise LinkProofRefused("the connector cannot read deals")
        person_id = await deal_person(selected)
        if not person_id:
            raise LinkProofRefused(f"deal {selected} has no person (or does not exist)")
        return str(person_id)
    raise LinkProofRefused(f"link action on {action.resource!r}, not a person or deal")
