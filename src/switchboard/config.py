"""Settings, read from `SWITCHBOARD_*` environment variables and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    admin_token: SecretStr | None = None
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    public_url: str = Field(
        default="http://127.0.0.1:8400", description="Base URL the providers post webhooks to."
    )
    quo_webhooks_version: Literal["v1", "v2"] = "v1"
    redis_url: str | None = Field(
        default=None, description="Optional Redis URL for the shared rate-limit buckets."
    )
    executor_id: str | None = Field(default=None, description="Unique per worker process.")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'switchboard.db').resolve()}"


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
