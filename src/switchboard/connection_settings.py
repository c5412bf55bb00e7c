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

A CRM may add settings of its own: its registry record's `settings` model (pydantic, every field
with a default). `validate_settings(changes, crm)` accepts those keys for that CRM's connections
and `effective_settings(stored, crm)` merges their defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from switchboard.crm import registry
from switchboard.quo.kinds import EVENT_KINDS

QUO_EVENT_KINDS = EVENT_KINDS

DEFAULT_SETTINGS: dict[str, Any] = {
    "default_region": "US",
    "enabled_lines": None,
    "event_kinds": list(QUO_EVENT_KINDS),
    "auto_create_people": False,
    "sync_objects": ["people"],
    "create_without_phone": False,
    # New Quo lines, noticed by the scheduled webhook check when `enabled_lines` is a list:
    # enabled at once when `auto_enable_new_lines`, else listed in `offered_lines` to enable.
    "auto_enable_new_lines": False,
    "offered_lines": [],
    "known_lines": None,
    # Quo webhook generation of this connection: "v1" (legacy per-kind webhooks) or
    # "2026-03-30" (the dated /webhooks resource); None = not decided yet (the deployment's
    # SWITCHBOARD_QUO_WEBHOOKS_VERSION until setup probes the workspace). Changed only by
    # setup and by `migrate-webhooks`, never as a plain setting.
    "quo_webhooks": None,
    # Click-to-call: how long a click pins the outgoing call that follows it, and the Quo line
    # the call page offers first (null: the first line; a user's own choice is remembered).
    "click_to_call_window_minutes": 10,
    "click_to_call_default_line": None,
    "quo_contact_policy": "crm_wins",
}
QUO_CONTACT_POLICIES = ("crm_wins", "quo_edits_to_crm")
QUO_WEBHOOK_GENERATIONS = ("v1", "2026-03-30")


class InvalidSettings(ValueError):
    pass


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


#: A Quo phone-number id ("PN" + letters and digits).
LINE_ID = re.compile(r"^PN[A-Za-z0-9]{1,62}$")
#: A CRM object slug (lower case letters, digits, underscores).
OBJECT_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_LIST = 200


def _line_ids(key: str, value: Any) -> list[str]:
    if (
        not isinstance(value, list)
        or len(value) > MAX_LIST
        or not all(isinstance(v, str) and LINE_ID.match(v) for v in value)
    ):
        raise InvalidSettings(f"{key} must be a list of Quo line ids (PN...), at most {MAX_LIST}")
    return sorted(set(value))


def _crm_setting(crm: str | None, key: str, value: Any) -> Any:
    provider = registry.find(crm) if crm else None
    model = provider.settings if provider is not None else None
    if model is None or key not in model.model_fields:
        known = sorted(DEFAULT_SETTINGS) + sorted(model.model_fields if model else ())
        raise InvalidSettings(f"unknown setting {key!r}; known: {known}")
    try:
        return model.model_validate({key: value}).model_dump(mode="json")[key]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidSettings(f"{key}: {first['msg']}") from None


def validate_settings(changes: Mapping[str, Any], crm: str | None = None) -> dict[str, Any]:
    """Validated copy of a settings change (the common settings, and `crm`'s own); raises
    InvalidSettings with a clear message."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in DEFAULT_SETTINGS:
            out[key] = _crm_setting(crm, key, value)
            continue
        if key == "quo_webhooks":
            raise InvalidSettings(
                "quo_webhooks changes by migration: switchboard connections migrate-webhooks"
            )
        if key == "default_region":
            import phonenumbers

            if not isinstance(value, str) or value.upper() not in (phonenumbers.SUPPORTED_REGIONS):
                raise InvalidSettings(f"default_region must be a region code like 'US': {value!r}")
            value = value.upper()
        elif key == "enabled_lines":
            if value is not None:
                value = _line_ids(key, value)
                if not value:
                    # An empty list would delete every Quo webhook while the connection still
                    # reads as active; stopping Quo events is `event_kinds: []`, which shows.
                    raise InvalidSettings(
                        "enabled_lines must name at least one line (null = every line); "
                        "to stop logging calls and messages, set event_kinds to []"
                    )
        elif key == "event_kinds":
            if not isinstance(value, list) or any(v not in QUO_EVENT_KINDS for v in value):
                raise InvalidSettings(f"event_kinds must be a list drawn from {QUO_EVENT_KINDS}")
            value = [k for k in QUO_EVENT_KINDS if k in value]
        elif key == "offered_lines":
            value = _line_ids(key, value)
        elif key == "known_lines":
            if value is not None:
                value = _line_ids(key, value)
        elif key in ("auto_create_people", "create_without_phone", "auto_enable_new_lines"):
            if not isinstance(value, bool):
                raise InvalidSettings(f"{key} must be true or false")
        elif key == "click_to_call_window_minutes":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 < value <= 1440
            ):
                raise InvalidSettings(f"{key} must be a number of minutes in (0, 1440]")
        elif key == "click_to_call_default_line":
            if value is not None and not (isinstance(value, str) and LINE_ID.match(value)):
                raise InvalidSettings(f"{key} must be a Quo line id (PN...) or null")
        elif key == "quo_contact_policy":
            if value not in QUO_CONTACT_POLICIES:
                raise InvalidSettings(f"{key} must be one of {QUO_CONTACT_POLICIES}")
        elif key == "sync_objects":
            if (
                not isinstance(value, list)
                or not value
                or len(value) > 20
                or not all(isinstance(v, str) and OBJECT_SLUG.match(v) for v in value)
            ):
                raise InvalidSettings(
                    "sync_objects must be a non-empty list of CRM object slugs like 'people'"
                )
            value = list(dict.fromkeys(value))
        out[key] = value
    return out
