"""An emulated OAuth 2.0 authorization server that any CRM emulator composes.

It owns what is the same at every provider: registered clients, the consent page a browser (or
a browser test) approves or denies, single-use authorization codes with PKCE, refresh tokens
(rotating or not, expiring or not, revocable), configurable access-token lifetimes, and counters
a test can assert on (how many refreshes the token endpoint saw). The CRM emulator supplies one
callback, `mint(grant, expires_at) -> access token`, so access tokens live in its own token
store, and optionally `extra(grant) -> dict` for provider fields in the token response
(e.g. an `api_domain`).

    server = OAuthServer(OAuthSettings(access_token_lifetime_s=5, refresh_tokens=True), mint)
    html = server.consent_page(query)                     # GET  <authorize path>
    location = server.decide(form, subject="ws-1")        # POST <authorize path>: 302 target
    status, body = server.token_endpoint(form, basic)     # POST <token path>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from pydantic import BaseModel, Field


class OAuthSettings(BaseModel):
    """Emulator knobs. The defaults: access tokens that never expire
    and no refresh token."""

    access_token_lifetime_s: float | None = Field(default=None, gt=0)
    refresh_tokens: bool = False
    rotate_refresh_tokens: bool = True
    refresh_token_lifetime_s: float | None = Field(default=None, gt=0)
    # Expiry by disuse: a refresh token unused this long stops working (each use
    # restarts the count; with rotation every use issues a new one anyway).
    refresh_token_idle_s: float | None = Field(default=None, gt=0)
    code_lifetime_s: float = Field(default=600, gt=0)


@dataclass(frozen=True)
class Grant:
    """What the resource owner approved: one account (`subject`) for one client."""

    subject: str
    client_id: str
    scope: str
    member_id: str | None = None


@dataclass
class _Code:
    grant: Grant
    redirect_uri: str | None
    challenge: str | None
    challenge_method: str
    expires_at: float


@dataclass
class _Refresh:
    grant: Grant
    expires_at: float | None
    last_used: float = 0.0


@dataclass
class OAuthStats:
    codes_exchanged: int = 0
    refreshes: int = 0
    refresh_refused: int = 0
    refreshed_at: list[float] = field(default_factory=list)


Mint = Callable[[Grant, float | None], str]
Extra = Callable[[Grant], Mapping[str, object]]


def _oauth_error(error: str, description: str) -> dict[str, object]:
    return {"error": error, "error_description": description}


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OAuthServer:
    """See the module docstring. Thread-safe: the emulator's HTTP server and its control calls
    may run on different threads."""

    def __init__(
        self,
        settings: OAuthSettings,
        mint: Mint,
        *,
        default_scope: str = "",
        extra: Extra | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.default_scope = default_scope
        self._mint = mint
        self._extra = extra
        self._clock = clock
        self._lock = threading.RLock()
        self.clients: dict[str, str] = {}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _Refresh] = {}
        self.stats = OAuthStats()

    # ------------------------------------------------------------------ clients and codes

    def register_client(self, client_id: str, client_secret: str) -> None:
        """From now on `client_id` must present `client_secret` at the token endpoint
        (unregistered clients are accepted with any secret)."""
        with self._lock:
            self.clients[client_id] = client_secret

    def client_authenticates(self, client_id: str | None, client_secret: str | None) -> bool:
        expected = self.clients.get(client_id or "")
        return expected is None or hmac.compare_digest(expected, client_secret or "")

    def issue_code(
        self,
        grant: Grant,
        redirect_uri: str | None,
        *,
        challenge: str | None = None,
        challenge_method: str = "S256",
    ) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                grant,
                redirect_uri,
                challenge,
                challenge_method,
                self._clock() + self.settings.code_lifetime_s,
            )
        return code

    def reset(self) -> None:
        with self._lock:
            self.clients.clear()
            self._codes.clear()
            self._refresh.clear()
            self.stats = OAuthStats()

    # ------------------------------------------------------------------ consent

    def consent_page(self, query: Mapping[str, str], account_name: str) -> str:
        """The authorize page: what the client asks for, with Approve and Deny buttons that post
        every authorize parameter back unchanged."""
        keep = (
            "client_id",
            "redirect_uri",
            "state",
            "scope",
            "response_type",
            "code_challenge",
            "code_challenge_method",
        )
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(query[k])}">'
            for k in keep
            if k in query
        )
        client = html.escape(query.get("client_id", "an application"))
        scope = html.escape(query.get("scope") or self.default_scope)
        return (
            "<!doctype html><html><head><title>Authorize</title></head><body>"
            f"<h1>Allow {client} to access {html.escape(account_name)}?</h1>"
            f"<p>Scopes: <code>{scope}</code></p>"
            f'<form method="post">{hidden}'
            '<button type="submit" name="decision" value="approve">Approve</button> '
            '<button type="submit" name="decision" value="deny">Deny</button>'
            "</form></body></html>"
        )

    def decide(self, form: Mapping[str, str], *, subject: str, member_id: str | None = None) -> str:
        """The redirect target after the consent page: `?code=` on approval,
        `?error=access_denied` on denial; `state` is echoed either way. Raises ValueError when
        the request cannot be redirected (no redirect_uri, wrong response_type)."""
        redirect_uri = form.get("redirect_uri")
        if not redirect_uri or form.get("response_type", "code") != "code":
            raise ValueError("redirect_uri and response_type=code are required.")
        params: dict[str, str]
        if form.get("decision") == "approve":
            grant = Grant(
                subject,
                form.get("client_id") or "emulator",
                form.get("scope") or self.default_scope,
                member_id,
            )
            code = self.issue_code(
                grant,
                redirect_uri,
                challenge=form.get("code_challenge") or None,
                challenge_method=form.get("code_challenge_method") or "plain",
            )
            params = {"code": code}
        else:
            params = {"error": "access_denied", "error_description": "The user denied access."}
        if form.get("state") is not None:
            params["state"] = form["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return f"{redirect_uri}{sep}{urlencode(params)}"

    # ------------------------------------------------------------------ token endpoint

    def token_endpoint(
        self, params: Mapping[str, str], basic: tuple[str, str] | None = None
    ) -> tuple[int, dict[str, object]]:
        """`POST <token path>` (form or JSON already parsed). Client credentials come from the
        body or HTTP Basic. Returns (status, body) in RFC 6749's shapes."""
        client_id = params.get("client_id") or (basic[0] if basic else None)
        client_secret = params.get("client_secret") or (basic[1] if basic else None)
        grant_type = params.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            return 400, {"error": "unsupported_grant_type"}
        if not self.client_authenticates(client_id, client_secret):
            return 401, _oauth_error("invalid_client", "Client authentication failed.")
        if grant_type == "authorization_code":
            grant = self._redeem_code(params, client_id)
            if grant is None:
                return 400, _oauth_error("invalid_grant", "Unknown, used or expired code.")
            with self._lock:
                self.stats.codes_exchanged += 1
            return 200, self._tokens(grant)
        return self._refresh_grant(params.get("refresh_token"), client_id)

    def _redeem_code(self, params: Mapping[str, str], client_id: str | None) -> Grant | None:
        """The grant behind a valid code, which is then used up; a mismatch leaves it alone."""
        with self._lock:
            found = self._codes.get(params.get("code") or "")
            if found is None or found.expires_at < self._clock():
                return None
            if found.grant.client_id not in ("emulator", client_id):
                return None
            if found.redirect_uri is not None and found.redirect_uri != params.get("redirect_uri"):
                return None
            if found.challenge is not None:
                verifier = params.get("code_verifier") or ""
                expected = (
                    pkce_challenge(verifier) if found.challenge_method == "S256" else verifier
                )
                if not verifier or not hmac.compare_digest(expected, found.challenge):
                    return None
            del self._codes[params.get("code") or ""]
        grant = found.grant
        if grant.client_id == "emulator" and client_id:  # a code not bound to a client
            grant = replace(grant, client_id=client_id)
        return grant

    def _refresh_grant(
        self, value: str | None, client_id: str | None
    ) -> tuple[int, dict[str, object]]:
        now = self._clock()
        with self._lock:
            found = self._refresh.get(value or "")
            idle = self.settings.refresh_token_idle_s
            valid = (
                found is not None
                and (found.expires_at is None or found.expires_at >= now)
                and (idle is None or now - found.last_used < idle)
                and found.grant.client_id in ("emulator", client_id)
            )
            if not valid or found is None:
                self.stats.refresh_refused += 1
                return 400, _oauth_error("invalid_grant", "Unknown, revoked or expired token.")
            if self.settings.rotate_refresh_tokens:
                del self._refresh[value or ""]
            found.last_used = now
            self.stats.refreshes += 1
            self.stats.refreshed_at.append(now)
        body = self._tokens(found.grant, keep_refresh=None if self._rotates else value)
        return 200, body

    @property
    def _rotates(self) -> bool:
        return self.settings.rotate_refresh_tokens

    def _tokens(self, grant: Grant, keep_refresh: str | None = None) -> dict[str, object]:
        lifetime = self.settings.access_token_lifetime_s
        now = self._clock()
        access = self._mint(grant, None if lifetime is None else now + lifetime)
        body: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "scope": grant.scope,
        }
        if lifetime is not None:
            body["expires_in"] = lifetime
        if self.settings.refresh_tokens:
            refresh = keep_refresh or secrets.token_urlsafe(32)
            if keep_refresh is None:
                ttl = self.settings.refresh_token_lifetime_s
                with self._lock:
                    self._refresh[refresh] = _Refresh(
                        grant, None if ttl is None else now + ttl, last_used=now
                    )
            body["refresh_token"] = refresh
        if self._extra is not None:
            body.update(self._extra(grant))
        return body

    # ------------------------------------------------------------------ revocation

    def revoke(self, token: str) -> bool:
        """RFC 7009: forget a refresh token (True when it was one)."""
        with self._lock:
            return self._refresh.pop(token, None) is not None

    def revoke_subject(self, subject: str | None = None, client_id: str | None = None) -> int:
        """The user removed the app: every refresh token of `subject` (or of everyone; of one
        client when `client_id` is given) stops working. Returns how many were revoked."""
        with self._lock:
            doomed = [
                k
                for k, r in self._refresh.items()
                if (subject is None or r.grant.subject == subject)
                and (client_id is None or r.grant.client_id == client_id)
            ]
            for key in doomed:
                del self._refresh[key]
            return len(doomed)

    def stats_json(self) -> dict[str, object]:
        with self._lock:
            return {
                "settings": self.settings.model_dump(),
                "codes_exchanged": self.stats.codes_exchanged,
                "refreshes": self.stats.refreshes,
                "refresh_refused": self.stats.refresh_refused,
                "refreshed_at": list(self.stats.refreshed_at),
                "live_refresh_tokens": len(self._refresh),
            }
