"""The OAuth 2.0 authorization-code flow against any CRM's `OAuthSpec` (no state, no storage).

    endpoints = endpoints_for(provider.auth.oauth, settings.oauth_clients[crm], public_url)
    url = authorize_url(endpoints, state, challenge)          # send the browser there
    tokens = await exchange_code(endpoints, code, verifier)   # TokenSet (secrets inside)
    tokens = await refresh(endpoints, refresh_token)          # raises GrantRefused for good

A refused grant (`invalid_grant`: used or expired code, revoked refresh token; `invalid_client`)
is `GrantRefused` — permanent. Anything else (network, 5xx, 429 after retries) is an ApiError
worth retrying later. Secrets never appear in an error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from switchboard.config import OAuthClient
from switchboard.crm.registry import OAuthSpec
from switchboard.http import ApiClient, ApiError, RetryPolicy, default_error_parser
from switchboard.logs import register_secret

#: Where every provider sends the browser back (registered as the OAuth app's redirect URI).
CALLBACK_PATH = "/oauth/callback"

# A code is single-use and a refresh token may rotate: after an ambiguous failure (network
# error, 5xx) a retry could only fail with invalid_grant or lose the rotated token, so only a
# 429 — "nothing happened" — is retried here.
_TOKEN_RETRY = RetryPolicy(max_attempts=4, statuses=frozenset({429}), retry_network=False)


class GrantRefused(ApiError):
    """The provider refused the code or refresh token for good (or the client credentials)."""


@dataclass(frozen=True)
class Endpoints:
    """One CRM's OAuth endpoints and this deployment's app registered there."""

    crm: str
    spec: OAuthSpec
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    redirect_uri: str


def endpoints_for(crm: str, spec: OAuthSpec, client: OAuthClient, public_url: str) -> Endpoints:
    return Endpoints(
        crm=crm,
        spec=spec,
        client_id=client.client_id,
        client_secret=client.client_secret.get_secret_value(),
        authorize_url=client.authorize_url or spec.authorize_url,
        token_url=client.token_url or spec.token_url,
        redirect_uri=public_url.rstrip("/") + CALLBACK_PATH,
    )


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint answered. `expires_at` is epoch seconds (None: never expires);
    `base_url` the account's own API URL when the CRM names one (`OAuthSpec.base_url_field`)."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    lifetime_s: float | None = None
    scope: str | None = None
    base_url: str | None = None

    def __repr__(self) -> str:  # never print secrets by accident
        return f"TokenSet(expires_at={self.expires_at}, scope={self.scope!r})"

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, raw: str) -> TokenSet:
        return cls(**json.loads(raw))


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43–128 unreserved characters)."""
    return secrets.token_urlsafe(48)


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(endpoints: Endpoints, state: str, verifier: str | None) -> str:
    spec = endpoints.spec
    query: dict[str, str] = {
        "client_id": endpoints.client_id,
        "response_type": "code",
        "redirect_uri": endpoints.redirect_uri,
        "state": state,
        **spec.authorize_params,
    }
    if spec.scopes:
        query["scope"] = spec.scope_separator.join(spec.scopes)
    if spec.pkce and verifier:
        query["code_challenge"] = challenge_of(verifier)
        query["code_challenge_method"] = "S256"
    sep = "&" if "?" in endpoints.authorize_url else "?"
    return f"{endpoints.authorize_url}{sep}{urlencode(query)}"


async def exchange_code(
    endpoints: Endpoints,
    code: str,
    verifier: str | None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Any = time.time,
) -> TokenSet:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": endpoints.redirect_uri,
    }
    if endpoints.spec.pkce and verifier:
        form["code_verifier"] = verifier
    return await _token_request(endpoints, form, [code], "oauth.token", transport, clock)


async def refresh(
    endpoints: Endpoints,
    refresh_token: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Any = time.time,
) -> TokenSet:
    """A new access token. Without rotation the same refresh token stays valid and is kept."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    tokens = await _token_request(
        endpoints, form, [refresh_token], "oauth.refresh", transport, clock
    )
    if tokens.refresh_token is None:
        tokens = TokenSet(**{**tokens.__dict__, "refresh_token": refresh_token})
    return tokens


async def _token_request(
    endpoints: Endpoints,
    form: dict[str, str],
    secrets_in_form: list[str],
    operation: str,
    transport: httpx.AsyncBaseTransport | None,
    clock: Any,
) -> TokenSet:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if endpoints.spec.client_auth == "basic":
        pair = f"{endpoints.client_id}:{endpoints.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    else:
        form = {**form, "client_id": endpoints.client_id, "client_secret": endpoints.client_secret}
    url = urlsplit(endpoints.token_url)
    async with ApiClient(
        provider=endpoints.crm,
        base_url=f"{url.scheme}://{url.netloc}",
        secrets=[endpoints.client_secret, *secrets_in_form],
        retry=_TOKEN_RETRY,
        transport=transport,
        error_parser=_oauth_error,
    ) as client:
        try:
            response = await client.request(
                "POST",
                url.path or "/",
                operation=operation,
                content=urlencode(form).encode(),
                headers=headers,
            )
        except ApiError as exc:
            if exc.status in (400, 401) and exc.code in ("invalid_grant", "invalid_client"):
                raise GrantRefused(
                    provider=exc.provider,
                    operation=exc.operation,
                    status=401,  # counted with the CRM's rejected credentials (failures.cause_of)
                    code=exc.code,
                    message=exc.message,
                    method=exc.method,
                    path=exc.path,
                ) from None
            raise
    return _token_set(endpoints, response, operation, clock)


def _token_set(
    endpoints: Endpoints, response: httpx.Response, operation: str, clock: Any
) -> TokenSet:
    try:
        body = response.json()
        access = str(body["access_token"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(
            provider=endpoints.crm,
            operation=operation,
            status=response.status_code,
            message="token response without an access_token",
        ) from exc
    register_secret(access)
    refresh_token = body.get("refresh_token")
    if isinstance(refresh_token, str):
        register_secret(refresh_token)
    lifetime = body.get("expires_in")
    lifetime_s = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else None
    field = endpoints.spec.base_url_field
    base_url = body.get(field) if field else None
    return TokenSet(
        access_token=access,
        refresh_token=refresh_token if isinstance(refresh_token, str) else None,
        expires_at=None if lifetime_s is None else clock() + lifetime_s,
        lifetime_s=lifetime_s,
        scope=body.get("scope") if isinstance(body.get("scope"), str) else None,
        base_url=base_url if isinstance(base_url, str) else None,
    )


def _oauth_error(body: object) -> tuple[str | None, str | None]:
    """OAuth errors: `{"error", "error_description"}`; API-style errors: `{"code", "message"}`."""
    if isinstance(body, dict) and "error" in body:
        description = body.get("error_description")
        return str(body["error"]), None if description is None else str(description)
    return default_error_parser(body)
