"""The plain records `switchboard.connections` answers with: a connection without its secrets,
its webhook subscriptions, its decrypted credentials — and how they are built from rows.

Kept apart from the operations so the records can be read without them (and the module that
stores connections stays a size one can read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from switchboard.connection_settings import effective_settings
from switchboard.store.models import Connection, WebhookSubscription

#: Remote id suffix of the row that keeps a webhook's previous signing key after a rotation.
PREVIOUS_KEY_SUFFIX = "#previous"


class ConnectionNotFound(LookupError):
    pass


@dataclass(frozen=True)
class SubscriptionInfo:
    id: int
    provider: str
    remote_id: str
    kind: str
    version: str
    url: str
    events: list[Any]
    resource_ids: list[Any]
    status: str
    created_at: datetime

    @property
    def is_previous_key(self) -> bool:
        """A rotated-out signing key kept for verification (`replace_subscription_key`)."""
        return self.remote_id.endswith(PREVIOUS_KEY_SUFFIX)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "remote_id": self.remote_id,
            "kind": self.kind,
            "version": self.version,
            "url": self.url,
            "events": self.events,
            "resource_ids": self.resource_ids,
            "status": self.status,
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True)
class ConnectionInfo:
    """A connection without its secrets."""

    id: str
    crm: str
    name: str
    status: str
    status_message: str
    quo_base_url: str
    crm_base_url: str
    crm_workspace_id: str | None
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    last_event_at: datetime | None
    last_sync_at: datetime | None
    last_reconcile_at: datetime | None
    last_reconcile_status: str | None
    disconnected_at: datetime | None
    webhooks: list[SubscriptionInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "crm": self.crm,
            "name": self.name,
            "status": self.status,
            "status_message": self.status_message,
            "quo_base_url": self.quo_base_url,
            "crm_base_url": self.crm_base_url,
            "crm_workspace_id": self.crm_workspace_id,
            "settings": self.settings,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "last_event_at": _iso(self.last_event_at),
            "last_sync_at": _iso(self.last_sync_at),
            "last_reconcile_at": _iso(self.last_reconcile_at),
            "last_reconcile_status": self.last_reconcile_status,
            "disconnected_at": _iso(self.disconnected_at),
            "webhooks": [w.to_dict() for w in self.webhooks],
        }


@dataclass(frozen=True)
class Credentials:
    quo_api_key: str
    crm_token: str

    def __repr__(self) -> str:  # never print secrets by accident
        return "Credentials(quo_api_key=***, crm_token=***)"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


# The `version` column holds 8 characters: the dated generation is stored without dashes.
STORED_VERSIONS = {"2026-03-30": "20260330"}
_READ_VERSIONS = {v: k for k, v in STORED_VERSIONS.items()}


def subscription_info(w: WebhookSubscription) -> SubscriptionInfo:
    return SubscriptionInfo(
        id=w.id,
        provider=w.provider,
        remote_id=w.remote_id,
        kind=w.kind,
        version=_READ_VERSIONS.get(w.version, w.version),
        url=w.url,
        events=list(w.events or []),
        resource_ids=list(w.resource_ids or []),
        status=w.status,
        created_at=w.created_at,
    )


def connection_info(
    row: Connection, subs: list[WebhookSubscription] | None = None
) -> ConnectionInfo:
    return ConnectionInfo(
        id=row.id,
        crm=row.crm,
        name=row.name,
        status=row.status,
        status_message=row.status_message,
        quo_base_url=row.quo_base_url,
        crm_base_url=row.crm_base_url,
        crm_workspace_id=row.crm_workspace_id,
        settings=effective_settings(row.settings, row.crm),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_event_at=row.last_event_at,
        last_sync_at=row.last_sync_at,
        last_reconcile_at=row.last_reconcile_at,
        last_reconcile_status=row.last_reconcile_status,
        disconnected_at=row.disconnected_at,
        webhooks=[subscription_info(w) for w in (subs or [])],
    )
