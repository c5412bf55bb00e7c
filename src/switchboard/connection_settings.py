"""Per-connection settings: the common ones, each CRM's own, validation and defaults.

The common settings:

- `default_region` ("US"): phone parsing region.
- `enabled_lines` (null = every line): Quo phone-number ids to log.
- `event_kinds` (calls, messages, summaries, transcripts): Quo webhook kinds subscribed.
- `auto_create_people` (false): create CRM people for unknown callers.
- `sync_objects` (["people"]): CRM objects synced to Quo.
- `create_without_phone` (false): create Quo contacts for people without phones.
- `click_to_call_window_minutes` (10): an outgoing call to a clicked number from the clicked line
  this soon after the click is logged on the clicked person.
- `click_to_call_default_line` (null = the first line): the line the call page offers first.
- `quo_contact_policy` ("crm_wins"): what an edit or deletion made in Quo to a contact
  Switchboard synced does — `crm_wins` (the CRM's values are written back at once, a deleted
  contact is re-created) or `quo_edits_to_crm` (name, phone and email edits go to the CRM
  person; a deletion unlinks). Needs the dated Quo webhooks (`contact.*` events).

The common settings are one pydantic model, `CommonSettings`. A CRM may add settings of its own:
its registry record's `settings` model (pydantic, every field with a default); a connection's
settings model is the two together (`settings_model(crm)`: a class extending both).
`validate_settings(changes, crm)` validates a change against that model (only the keys it
changes; unknown keys are refused by name) and `effective_settings(stored, crm)` merges the
defaults under what is stored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from switchboard.crm import registry
from switchboard.quo.kinds import EVENT_KINDS

QUO_EVENT_KINDS = EVENT_KINDS
QUO_WEBHOOK_GENERATIONS = ("v1", "2026-03-30")
QUO_CONTACT_POLICIES = ("crm_wins", "quo_edits_to_crm")

#: A Quo phone-number id ("PN" + letters and digits).
LINE_ID = re.compile(r"^PN[A-Za-z0-9]{1,62}$")
#: A CRM object slug (lower case letters, digits, underscores).
OBJECT_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_LIST = 200

#: Settings only their own operation changes (set-up, `migrate-webhooks`), never a settings edit.
NOT_EDITABLE = {
    "quo_webhooks": "quo_webhooks changes by migration: switchboard connections migrate-webhooks",
}


class InvalidSettings(ValueError):
    pass


def _line_ids(key: str, value: Any) -> list[str]:
    if (
        not isinstance(value, list)
        or len(value) > MAX_LIST
        or not all(isinstance(v, str) and LINE_ID.match(v) for v in value)
    ):
        raise ValueError(f"{key} must be a list of Quo line ids (PN...), at most {MAX_LIST}")
    return sorted(set(value))


class CommonSettings(BaseModel):
    """The settings every connection has, whatever its CRM. Validators take the raw JSON value
    (`mode="before"`) so a wrong type gets the setting's own message, not a coercion."""

    model_config = ConfigDict(extra="forbid")

    default_region: str = "US"
    enabled_lines: list[str] | None = None
    event_kinds: list[str] = Field(default_factory=lambda: list(QUO_EVENT_KINDS))
    auto_create_people: StrictBool = False
    sync_objects: list[str] = Field(default_factory=lambda: ["people"])
    create_without_phone: StrictBool = False
    # New Quo lines, noticed by the scheduled webhook check when `enabled_lines` is a list:
    # enabled at once when `auto_enable_new_lines`, else listed in `offered_lines` to enable.
    auto_enable_new_lines: StrictBool = False
    offered_lines: list[str] = Field(default_factory=list)
    known_lines: list[str] | None = None
    # Quo webhook generation of this connection: "v1" (legacy per-kind webhooks) or
    # "2026-03-30" (the dated /webhooks resource); None = not decided yet (the deployment's
    # SWITCHBOARD_QUO_WEBHOOKS_VERSION until setup probes the workspace). Changed only by
    # setup and by `migrate-webhooks`, never as a plain setting (`NOT_EDITABLE`).
    quo_webhooks: str | None = None
    # Click-to-call: how long a click pins the outgoing call that follows it, and the Quo line
    # the call page offers first (null: the first line; a user's own choice is remembered).
    click_to_call_window_minutes: int | float = 10
    click_to_call_default_line: str | None = None
    # Two-way contacts (`switchboard.sync.quo_edits`): what an edit made in Quo does.
    quo_contact_policy: Literal["crm_wins", "quo_edits_to_crm"] = "crm_wins"

    @field_validator("default_region", mode="before")
    @classmethod
    def _region(cls, value: Any) -> str:
        if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"default_region must be a region code like 'US': {value!r}")
        return value.upper()

    @field_validator("enabled_lines", mode="before")
    @classmethod
    def _enabled_lines(cls, value: Any) -> list[str] | None:
        if value is None:
            return None
        lines = _line_ids("enabled_lines", value)
        if not lines:
            # An empty list would delete every Quo webhook while the connection still reads
            # as active; stopping Quo events is `event_kinds: []`, which shows.
            raise ValueError(
                "enabled_lines must name at least one line (null = every line); "
                "to stop logging calls and messages, set event_kinds to []"
            )
        return lines

    @field_validator("offered_lines", mode="before")
    @classmethod
    def _offered_lines(cls, value: Any) -> list[str]:
        return _line_ids("offered_lines", value)

    @field_validator("known_lines", mode="before")
    @classmethod
    def _known_lines(cls, value: Any) -> list[str] | None:
        return None if value is None else _line_ids("known_lines", value)

    @field_validator("event_kinds", mode="before")
    @classmethod
    def _event_kinds(cls, value: Any) -> list[str]:
        if not isinstance(value, list) or any(v not in QUO_EVENT_KINDS for v in value):
            raise ValueError(f"event_kinds must be a list drawn from {QUO_EVENT_KINDS}")
        return [k for k in QUO_EVENT_KINDS if k in value]

    @field_validator("auto_create_people", "create_without_phone", "auto_enable_new_lines",
                     mode="before")  # fmt: skip
    @classmethod
    def _flag(cls, value: Any, info: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{info.field_name} must be true or false")
        return value

    @field_validator("click_to_call_window_minutes", mode="before")
    @classmethod
    def _window(cls, value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1440:
            raise ValueError(
                "click_to_call_window_minutes must be a number of minutes in (0, 1440]"
            )
        return value

    @field_validator("click_to_call_default_line", mode="before")
    @classmethod
    def _default_line(cls, value: Any) -> str | None:
        if value is not None and not (isinstance(value, str) and LINE_ID.match(value)):
            raise ValueError("click_to_call_default_line must be a Quo line id (PN...) or null")
        return value

    @field_validator("quo_contact_policy", mode="before")
    @classmethod
    def _policy(cls, value: Any) -> str:
        if value not in QUO_CONTACT_POLICIES:
            raise ValueError(f"quo_contact_policy must be one of {QUO_CONTACT_POLICIES}")
        return str(value)

    @field_validator("sync_objects", mode="before")
    @classmethod
    def _sync_objects(cls, value: Any) -> list[str]:
        if (
            not isinstance(value, list)
            or not value
            or len(value) > 20
            or not all(isinstance(v, str) and OBJECT_SLUG.match(v) for v in value)
        ):
            raise ValueError(
                "sync_objects must be a non-empty list of CRM object slugs like 'people'"
            )
        return list(dict.fromkeys(value))


DEFAULT_SETTINGS: dict[str, Any] = CommonSettings().model_dump(mode="json")


def settings_model(crm: str | None) -> type[CommonSettings]:
    """The settings model of `crm`'s connections: the common settings extended by the CRM's own
    (its registry record's `settings`), or the common ones alone."""
    provider = registry.find(crm) if crm else None
    own = provider.settings if provider is not None else None
    return CommonSettings if own is None else _with_common(own)


@functools.cache
def _with_common(own: type[BaseModel]) -> type[CommonSettings]:
    # The CRM's own config (e.g. reading numbers as strings) applies to its own fields; unknown
    # keys are refused by name before validation.
    return type(f"{own.__name__}WithCommon", (CommonSettings, own), {})


def crm_defaults(crm: str | None) -> dict[str, Any]:
    """The defaults of the CRM's own settings ({} when it has none)."""
    provider = registry.find(crm) if crm else None
    if provider is None or provider.settings is None:
        return {}
    return provider.settings().model_dump(mode="json")


def effective_settings(stored: Mapping[str, Any] | None, crm: str | None = None) -> dict[str, Any]:
    out = dict(DEFAULT_SETTINGS)
    out.update(crm_defaults(crm))
    out.update(stored or {})
    return out


def validate_settings(changes: Mapping[str, Any], crm: str | None = None) -> dict[str, Any]:
    """Validated, normalised copy of a settings change (the common settings, and `crm`'s own);
    raises InvalidSettings with a clear message naming the setting."""
    model = settings_model(crm)
    for key in changes:
        if key in NOT_EDITABLE:
            raise InvalidSettings(NOT_EDITABLE[key])
        if key not in model.model_fields:
            known = sorted(set(model.model_fields) - set(NOT_EDITABLE))
            raise InvalidSettings(f"unknown setting {key!r}; known: {known}")
    try:
        valid = model.model_validate(dict(changes))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        message = str(first.get("msg", "invalid"))
        if first.get("type") == "value_error":  # the setting's own sentence, which names it
            raise InvalidSettings(message.removeprefix("Value error, ")) from None
        raise InvalidSettings(f"{key}: {message}") from None
    return {key: value for key, value in valid.model_dump(mode="json").items() if key in changes}
