"""Settings, read from `SWITCHBOARD_*` environment variables and an optional `.env` file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class OAuthClient(BaseModel):
    """The OAuth app registered at one CRM for this deployment. `authorize_url` / `token_url`
    override the CRM's public endpoints (its registry record), e.g. to sign in at an emulator."""

    client_id: str
    client_secret: SecretStr
    authorize_url: str | None = None
    token_url: str | None = None


class Settings(BaseSettings):
    """Process-wide settings. Per-connection settings live on the connection row."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default=Path(".switchboard"), description="Embedded-default state.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to a SQLite file in data_dir. "
        "postgresql://... for scale-out.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Master key for secrets at rest; generated into data_dir if unset.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Token for the admin API, dashboard, /docs and /metrics; generated into "
        "data_dir/admin.token (and printed once) if unset.",
    )
    admin_open_on_loopback: bool = Field(
        default=False,
        description="Development only: with no admin_token set, a server bound to a loopback "
        "address answers the admin API and dashboard without a token.",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="A token that reads /metrics only (the admin token works too)."
    )
    allowed_hosts: str | None = Field(
        default=None,
        description="Comma-separated Host names the web app answers to; '*' = any. Default: "
        "the public_url host, the bind address and the loopback names.",
    )
    allow_insecure_http: bool = Field(
        default=False,
        description="Allow plain-http provider base URLs to non-loopback hosts (keys in clear).",
    )
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    public_url: str = Field(
        default="http://127.0.0.1:8400", description="Base URL the providers post webhooks to."
    )
    quo_webhooks_version: Literal["v1", "v2"] = "v1"
    oauth_clients: dict[str, OAuthClient] = Field(
        default_factory=dict,
        description='JSON: the OAuth app per CRM, e.g. {"<crm>": {"client_id": "...", '
        '"client_secret": "..."}}. Redirect URI: <public_url>/oauth/callback.',
    )
    redis_url: str | None = Field(
        default=None, description="Optional Redis URL for the shared rate-limit buckets."
    )
    executor_id: str | None = Field(default=None, description="Unique per worker process.")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'switchboard.db').resolve()}"


def insecure_http_reason(url: str) -> str | None:
    """Why a provider base URL would send API keys in clear (plain http to a host other than
    this machine), or None. `http://127.0.0.1:…` and `http://localhost:…` (emulators) are fine."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https":
        return None
    if parts.scheme != "http":
        return f"{url!r} is not an http(s) URL"
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"{url!r} is plain http to {host or 'an empty host'}: API keys would cross the network "
        "in clear. Use https, or pass --allow-insecure-http (SWITCHBOARD_ALLOW_INSECURE_HTTP=true)"
    )


def prepare_data_dir(path: Path) -> None:
    """Create the data directory private to this user (0700), and tighten an existing one that
    we own: it holds the master key, the admin token and (SQLite) texts and transcripts."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:  # a read-only mount or a directory someone else provides: leave it
        pass


def _sqlite_sibling(database_url: str, suffix: str) -> str:
    """PostgreSQL: the same database. SQLite: a file next to the application's
    (`switchboard.db` → `switchboard-<suffix>.db`); in-memory databases stay as they are."""
    url = normalise_database_url(database_url)
    if not url.startswith("sqlite"):
        return url
    head, sep, path = url.partition(":///")
    if not sep or not path or path.startswith(":memory:") or "?" in path:
        return url
    base, dot, ext = path.rpartition(".")
    if dot and "/" not in ext:
        return f"{head}{sep}{base}-{suffix}.{ext}"
    return f"{head}{sep}{path}-{suffix}"


# SQLite has one write lock per file, and the webhook acknowledgement's single ledger insert
# waits for it. DBOS writes on every enqueue, dequeue poll, step and completion; the shared rate
# limiters write three times per API request. Nothing needs a transaction spanning them and the
# application tables, so on SQLite each has its own file (measured with bench/activity.py at 40
# events/s: ack p99 85 ms with DBOS in the application file, ~70 ms with the limiters there,
# ~43 ms with both apart). On PostgreSQL (row locks) everything stays in one database.


def workflow_database_url(database_url: str) -> str:
    """Where DBOS keeps its workflow tables (SQLite: `switchboard-workflows.db`)."""
    return _sqlite_sibling(database_url, "workflows")


def rate_limit_database_url(database_url: str) -> str:
    """Where the shared rate limiters keep their buckets (SQLite: `switchboard-ratelimits.db`)."""
    return _sqlite_sibling(database_url, "ratelimits")


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the user gave."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
