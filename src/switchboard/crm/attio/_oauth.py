"""Attio OAuth 2.0 (authorization-code grant).

The flow: send the user to `authorize_url(...)`; Attio redirects back with `?code=...&state=...`;
`exchange_code(...)` trades the code for an access token at `<oauth_base>/oauth/token`. Attio's
OAuth access tokens do not expire and come without a refresh token; they are used exactly like
a workspace access token (`Authorization: Bearer ...`). Store them sealed: `token.seal(box)` /
`AttioOAuthToken.unseal(box, sealed)` with the process's `switchboard.crypto.SecretBox`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from switchboard.crypto import SecretBox
from switchboard.http import ApiClient, ApiError, RetryPolicy, default_error_parser
from switchboard.logs import register_secret

ATTIO_APP_URL = "https://app.attio.com"


class AttioOAuthToken(BaseModel):
    """An access token obtained through OAuth. The token itself is a SecretStr: it never shows
    in a repr, a log line or a model dump unless asked for explicitly."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: SecretStr
    token_type: str = "Bearer"
    scope: str | None = None
    obtained_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def seal(self, box: SecretBox) -> str:
        """The token as one encrypted string, for a database column."""
        payload = self.model_dump(mode="json")
        payload["access_token"] = self.access_token.get_secret_value()
        return box.encrypt(json.dumps(payload))

    @classmethod
    def unseal(cls, box: SecretBox, sealed: str) -> AttioOAuthToken:
        return cls.model_validate(json.loads(box.decrypt(sealed)))


def authorize_url(
    client_id: str, redirect_uri: str, state: str, *, app_url: str = ATTIO_APP_URL
) -> str:
    """Where to send the user to grant access. `state` must be unguessable and checked on return."""
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{app_url.rstrip('/')}/authorize?{query}"


def token_request_form(
    code: str, *, client_id: str, client_secret: str, redirect_uri: str
) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
    }


# An authorization code is single-use: a retry after an ambiguous failure (network error, 5xx)
# could only fail with invalid_grant, so only a 429 — "nothing happened" — is retried.
_EXCHANGE_RETRY = RetryPolicy(max_attempts=4, statuses=frozenset({429}), retry_network=False)


async def exchange_code(
    code: str,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    oauth_url: str = ATTIO_APP_URL,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 30.0,
) -> AttioOAuthToken:
    """Trade an authorization code for an access token (`POST <oauth_url>/oauth/token`,
    form-encoded). Raises `switchboard.http.ApiError` when Attio refuses (e.g. 400
    `invalid_grant` for a used or expired code); neither the code nor the client secret nor the
    token appears in the error."""
    async with ApiClient(
        provider="attio",
        base_url=oauth_url,
        secrets=[code, client_secret],
        retry=_EXCHANGE_RETRY,
        timeout=timeout,
        transport=transport,
        error_parser=_oauth_error,
    ) as client:
        response = await client.request(
            "POST",
            "/oauth/token",
            operation="oauth.token",
            content=urlencode(
                token_request_form(
                    code,
                    client_id=client_id,
                    client_secret=client_secret,
                    redirect_uri=redirect_uri,
                )
            ).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            payload = response.json()
            token = AttioOAuthToken.model_validate(payload)
        except ValueError as exc:
            raise ApiError(
                provider="attio",
                operation="oauth.token",
                status=response.status_code,
                message="token response without an access_token",
                method="POST",
                path="/oauth/token",
            ) from exc
    register_secret(token.access_token.get_secret_value())
    return token


def _oauth_error(body: object) -> tuple[str | None, str | None]:
    """OAuth errors: `{"error", "error_description"}`; API errors: `{"code", "message"}`."""
    if isinstance(body, dict) and "error" in body:
        description = body.get("error_description")
        return str(body["error"]), None if description is None else str(description)
    return default_error_parser(body)
