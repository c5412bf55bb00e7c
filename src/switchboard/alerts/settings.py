"""Where alerts go: `SWITCHBOARD_ALERT_*` environment variables (or `.env`)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_ALERT_", env_file=".env", extra="ignore"
    )

    webhook_url: str | None = None  # Slack incoming webhook or any JSON receiver
    email_to: str | None = None  # comma-separated recipients
    email_from: str = "switchboard@localhost"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    summary_hour_utc: int = 8  # the daily summary goes out at the first tick after this hour
    timeout_s: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url or (self.email_to and self.smtp_host))
