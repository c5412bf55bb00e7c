"""The shared emulated authorization server: PKCE, code and token lifetimes on a fake clock."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from switchboard.emulators.oauth import Grant, OAuthServer, OAuthSettings, pkce_challenge


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _server(clock: Clock, **settings: object) -> tuple[OAuthServer, list[float | None]]:
    minted: list[float | None] = []

    def mint(grant: Grant, expires_at: float | None) -> str:
        minted.append(expires_at)
        return f"access-{len(minted)}"

    server = OAuthServer(
        OAuthSettings.model_validate(settings),
        mint,
        extra=lambda grant: {"api_domain": f"https://{grant.subject}.test"},
        clock=clock,
    )
    return server, minted


def test_pkce_is_enforced_and_codes_expire() -> None:
    clock = Clock()
    server, _ = _server(clock)
    form = {
        "client_id": "app",
        "redirect_uri": "https://sb.test/cb",
        "state": "st",
        "decision": "approve",
        "code_challenge": pkce_challenge("v" * 43),
        "code_challenge_method": "S256",
    }
    code = parse_qs(urlsplit(server.decide(form, subject="acme")).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "client_id": "app"}
    exchange["redirect_uri"] = "https://sb.test/cb"
    assert server.token_endpoint({**exchange, "code_verifier": "w" * 43})[0] == 400
    status, body = server.token_endpoint({**exchange, "code_verifier": "v" * 43})
    assert status == 200 and body["api_domain"] == "https://acme.test"
    assert server.token_endpoint({**exchange, "code_verifier": "v" * 43})[0] == 400  # used
    late = server.issue_code(Grant("acme", "app", ""), None)
    clock.now += 601
    assert server.token_endpoint({"grant_type": "authorization_code", "code": late})[0] == 400


def test_lifetimes_and_non_rotating_refresh_tokens() -> None:
    clock = Clock()
    server, minted = _server(
        clock,
        access_token_lifetime_s=5,
        refresh_tokens=True,
        rotate_refresh_tokens=False,
        refresh_token_lifetime_s=30,
    )
    code = server.issue_code(Grant("acme", "app", "read"), None)
    form = {"grant_type": "authorization_code", "code": code, "client_id": "app"}
    _, first = server.token_endpoint(form)
    assert first["expires_in"] == 5 and minted == [1_005.0]
    refresh = {"grant_type": "refresh_token", "refresh_token": str(first["refresh_token"])}
    refresh["client_id"] = "app"
    status, second = server.token_endpoint(refresh)
    assert status == 200 and second["refresh_token"] == first["refresh_token"]
    clock.now += 31
    assert server.token_endpoint(refresh)[0] == 400
    assert server.stats.refreshes == 1 and server.stats.refresh_refused == 1


def test_registered_clients_authenticate_by_body_or_basic() -> None:
    server, _ = _server(Clock())
    server.register_client("app", "s3cret")
    code = server.issue_code(Grant("acme", "app", ""), None)
    form = {"grant_type": "authorization_code", "code": code}
    assert server.token_endpoint(form, ("app", "wrong"))[0] == 401
    assert server.token_endpoint(form, ("app", "s3cret"))[0] == 200
