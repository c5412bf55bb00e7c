"""Per-connection activity settings, from the connection's settings (`switchboard.connections`).

| connection setting | default | effect here |
|---|---|---|
| `enabled_lines` | null (all) | phone-number ids (`PN...`) whose calls and texts are logged |
| `event_kinds` | all four | kinds logged (`calls`, `messages`, `summaries`, `transcripts`); a |
| | | kind left out: its events are ignored with a reason, its blocks omitted |
| `auto_create_people` | false | create a CRM person for an unknown number and log onto it |
| `default_region` | US | region for numbers that are not E.164 |
| `click_to_call_window_minutes` | 10 | an outgoing call this soon after a click-to-call click |
| | | to the same number from the same line is logged on the clicked person |

Voicemail timing is process-wide: `SWITCHBOARD_VOICEMAIL_DELAY_S` (default 5 s, the first fetch
after an unanswered call) and `SWITCHBOARD_VOICEMAIL_ATTEMPTS` (default 6; the delay doubles
between attempts, capped at 60 s).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from switchboard.quo.kinds import EVENT_KINDS as ALL_KINDS


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class ActivitySettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    enabled_lines: tuple[str, ...] | None = None
    log_calls: bool = True
    log_messages: bool = True
    log_summaries: bool = True
    log_transcripts: bool = True
    auto_create: bool = False
    default_region: str = "US"
    voicemail_delay_s: float = Field(default=5.0, ge=0)
    voicemail_attempts: int = Field(default=6, ge=1)
    click_window_s: float = Field(default=600.0, ge=0)

    @classmethod
    def from_connection_settings(cls, settings: Mapping[str, Any] | None) -> ActivitySettings:
        s = dict(settings or {})
        kinds = s.get("event_kinds")
        kinds = list(ALL_KINDS) if kinds is None else list(kinds)
        lines = s.get("enabled_lines")
        return cls(
            enabled_lines=tuple(lines) if lines is not None else None,
            log_calls="calls" in kinds,
            log_messages="messages" in kinds,
            log_summaries="summaries" in kinds,
            log_transcripts="transcripts" in kinds,
            auto_create=bool(s.get("auto_create_people", False)),
            default_region=str(s.get("default_region") or "US"),
            click_window_s=60.0 * float(s.get("click_to_call_window_minutes") or 10),
            voicemail_delay_s=_env_float("SWITCHBOARD_VOICEMAIL_DELAY_S", 5.0),
            voicemail_attempts=int(_env_float("SWITCHBOARD_VOICEMAIL_ATTEMPTS", 6)),
        )

    def line_enabled(self, phone_number_id: str | None) -> bool:
        if self.enabled_lines is None:
            return True
        return phone_number_id is not None and phone_number_id in self.enabled_lines

    def voicemail_delay(self, attempt: int) -> float:
        """Delay before voicemail fetch number `attempt` (1-based): doubling, ≤ 60 s."""
        return float(min(60.0, self.voicemail_delay_s * (2 ** (attempt - 1))))
