"""The settings form: parsing its fields and the context the settings page renders with."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from switchboard import connection_settings, connections
from switchboard.store.db import Database
from switchboard.web.dashboard.render import (
    DashboardError,
    _aware,
    _now,
)

# ----------------------------------------------------------------------------------- settings
_SPLIT = re.compile(r"[\s,;]+")
SETTINGS_FIELDS = (
    "default_region",
    "line",
    "enabled_lines",
    "event_kinds",
    "auto_create_people",
    "create_without_phone",
    "sync_objects",
    "quo_contact_policy",
)


def parse_settings_form(form: Mapping[str, list[str]]) -> dict[str, Any]:
    """Form fields → a full settings dict (raises DashboardError 400 on unknown fields)."""
    unknown = sorted(set(form) - set(SETTINGS_FIELDS) - {"submitted"})
    if unknown:
        raise DashboardError(400, f"Unknown form fields: {', '.join(unknown)}.")
    if "submitted" not in form:
        raise DashboardError(400, "Incomplete settings form; reload the settings page.")

    def one(name: str) -> str:
        values = form.get(name) or [""]
        if len(values) > 1:
            raise DashboardError(400, f"{name} was sent more than once.")
        return values[0].strip()

    picked = [x.strip() for x in form.get("line", []) if x.strip()]
    typed = [x for x in _SPLIT.split(one("enabled_lines")) if x]
    lines = list(dict.fromkeys(picked + typed))
    objects = [x for x in _SPLIT.split(one("sync_objects")) if x]
    # Absent from a form of an older page: the stored policy is kept.
    policy = (
        {"quo_contact_policy": one("quo_contact_policy")} if "quo_contact_policy" in form else {}
    )
    return {
        "default_region": one("default_region").upper(),
        "enabled_lines": lines or None,
        "event_kinds": [k for k in form.get("event_kinds", []) if k],
        "auto_create_people": bool(form.get("auto_create_people")),
        "create_without_phone": bool(form.get("create_without_phone")),
        "sync_objects": objects,
        **policy,
    }


def known_lines(db: Database, connection_id: str) -> tuple[list[dict[str, str]], datetime | None]:
    """The workspace's Quo lines as last cached by activity logging (`cache_entries`, kind
    `quo_phone_numbers`), so the settings form can offer them; ([], None) when never fetched."""
    from switchboard.store.models import CacheEntry

    with db.session() as s:
        row = s.scalar(
            select(CacheEntry).where(
                CacheEntry.connection_id == connection_id,
                CacheEntry.kind == "quo_phone_numbers",
                CacheEntry.key == "all",
            )
        )
        if row is None:
            return [], None
        data, fetched = row.data, _aware(row.fetched_at)
    items = data.get("data") if isinstance(data, dict) else None
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            out.append(
                {
                    "id": item["id"],
                    "name": str(item.get("name") or ""),
                    "number": str(item.get("number") or item.get("formattedNumber") or ""),
                }
            )
    return out, fetched


def _settings_context(
    info: connections.ConnectionInfo,
    values: Mapping[str, Any],
    lines_known: tuple[list[dict[str, str]], datetime | None],
    error: str = "",
) -> dict[str, Any]:
    lines = list(values.get("enabled_lines") or [])
    known, fetched = lines_known
    known_ids = {k["id"] for k in known}
    return {
        "title": f"Settings · {info.name or info.id}",
        "info": info,
        "values": values,
        "known_lines": known,
        "lines_fetched_at": fetched,
        "checked_lines": set(lines),
        "lines_text": "\n".join(x for x in lines if x not in known_ids),
        "objects_text": ", ".join(values.get("sync_objects") or []),
        "kinds": connection_settings.QUO_EVENT_KINDS,
        "error": error,
        "now": _now(),
    }
