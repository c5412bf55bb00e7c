"""Application tables. The DBOS system tables live beside them in the same database.

Every table is keyed by connection so one deployment serves many Quo workspaces.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class Connection(Base):
    """One Quo workspace key joined to one CRM account. Secrets are stored encrypted (`*_enc`)."""

    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    crm: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(32), default="new")
    status_message: Mapped[str] = mapped_column(Text, default="")
    quo_base_url: Mapped[str] = mapped_column(String(500))
    crm_base_url: Mapped[str] = mapped_column(String(500))
    quo_api_key_enc: Mapped[str] = mapped_column(Text)
    crm_token_enc: Mapped[str] = mapped_column(Text)
    crm_refresh_token_enc: Mapped[str | None] = mapped_column(Text, default=None)
    crm_workspace_id: Mapped[str | None] = mapped_column(String(200), default=None)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    last_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    last_reconcile_at: Mapped[datetime | None] = mapped_column(default=None)
    last_reconcile_status: Mapped[str | None] = mapped_column(Text, default=None)
    disconnected_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookSubscription(Base):
    """A webhook Switchboard created at a provider; `key_enc` is the signing key or secret."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    remote_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(8), default="v1")
    url: Mapped[str] = mapped_column(String(1000))
    events: Mapped[list[Any]] = mapped_column(default=list)
    resource_ids: Mapped[list[Any]] = mapped_column(default=list)
    key_enc: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(32), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("provider", "remote_id", name="uq_webhook_remote"),)


class ContactMapping(Base):
    """CRM record id (the Quo contact's externalId) ↔ Quo contact id, with what we last pushed."""

    __tablename__ = "contact_mappings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    external_id: Mapped[str] = mapped_column(String(100))
    quo_contact_id: Mapped[str | None] = mapped_column(String(100), default=None)
    phones: Mapped[list[Any]] = mapped_column(default=list)
    fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    crm_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_us: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("connection_id", "external_id", name="uq_mapping_external"),
        Index("ix_mapping_quo_contact", "connection_id", "quo_contact_id"),
    )


class MappingPhone(Base):
    """One row per (person, E.164 phone): answers "which synced person has this number?"."""

    __tablename__ = "mapping_phones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    phone: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(100))

    __table_args__ = (
        UniqueConstraint("connection_id", "phone", "external_id", name="uq_mapping_phone"),
        Index("ix_mapping_phone_lookup", "connection_id", "phone"),
    )


class Event(Base):
    """The event ledger: every accepted webhook, written before the 2xx."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    provider: Mapped[str] = mapped_column(String(16))
    event_type: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(300))
    resource_id: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(32), default="accepted")
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("connection_id", "provider", "idempotency_key", name="uq_event_idem"),
        Index("ix_event_conn_status", "connection_id", "status", "received_at"),
        Index("ix_event_resource", "connection_id", "resource_id"),
    )


class WebhookRejection(Base):
    """A webhook request we refused (bad signature, stale, malformed...). Nothing else happens."""

    __tablename__ = "webhook_rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    provider: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActivityResource(Base):
    """Everything known so far about one call or message, merged across its webhook phases."""

    __tablename__ = "activity_resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # phone → how it resolved to a CRM person (switchboard.activity.people.Lookup), reused by
    # every later phase of the call so a person is looked up once per call, not once per phase.
    lookups: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("connection_id", "resource_id", name="uq_activity_resource"),
    )


class ActivityRecord(Base):
    """The one CRM note per (call or message, person), and the content it currently holds."""

    __tablename__ = "activity_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[str] = mapped_column(String(100))
    note_id: Mapped[str | None] = mapped_column(String(100), default=None)
    content_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # Write intent (switchboard.activity.notes): set before a note is created at the CRM and
    # cleared with the new note id, so a re-run after a crash knows a note may already exist.
    pending_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    pending_since: Mapped[datetime | None] = mapped_column(default=None)
    # Replaced notes still to delete at the CRM (create new first, then delete old).
    stale_note_ids: Mapped[list[Any]] = mapped_column(default=list)
    writes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("connection_id", "resource_id", "person_id", name="uq_activity_record"),
    )


class CallLink(Base):
    """A connection's click-to-call link secret: part of the call-page URL configured once in the
    CRM. Rotating replaces it, so links carrying the old one stop working."""

    __tablename__ = "call_links"

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    secret_enc: Mapped[str] = mapped_column(Text)
    rotated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallClick(Base):
    """A click on a call page's number button: who was meant when the outgoing call comes in."""

    __tablename__ = "call_clicks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    person_id: Mapped[str] = mapped_column(String(100))
    person_name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(32))
    line_id: Mapped[str] = mapped_column(String(64))
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The outgoing call this click pinned (set when the call is logged).
    call_id: Mapped[str | None] = mapped_column(String(100), default=None)

    __table_args__ = (
        Index("ix_call_click_lookup", "connection_id", "phone", "line_id", "clicked_at"),
    )


class SyncRun(Base):
    """One initial sync or reconcile pass, with its checkpoint and live counters."""

    __tablename__ = "sync_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="initial")
    status: Mapped[str] = mapped_column(String(16), default="running")
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    total: Mapped[int | None] = mapped_column(Integer, default=None)
    done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skip_reasons: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SyncIssue(Base):
    """A person a sync skipped or failed, with the reason, so counts can be explained."""

    __tablename__ = "sync_issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sync_run_id: Mapped[str] = mapped_column(ForeignKey("sync_runs.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)


class ApiCallCount(Base):
    """External API calls per connection, provider and minute: the budget shown to users."""

    __tablename__ = "api_call_counts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(16))
    minute: Mapped[datetime] = mapped_column()
    requests: Mapped[int] = mapped_column(Integer, default=0)
    http_429: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("connection_id", "provider", "minute", name="uq_api_calls_minute"),
    )


class CacheEntry(Base):
    """Cached provider data per connection (workspace phone numbers, users, CRM object ids)."""

    __tablename__ = "cache_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("connection_id", "kind", "key", name="uq_cache_entry"),)


class RateBucket(Base):
    """Rate-limit state shared by every process that uses the same API key.

    `tat` is the GCRA "theoretical arrival time" (epoch seconds): the next free send slot.
    See switchboard.http.limiters.
    """

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class RatePermit(Base):
    """One request that holds a place in its key's window: in flight, or completed less than a
    period ago (`expires_at`, epoch seconds). See switchboard.http.limiters."""

    __tablename__ = "rate_permits"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    permit: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class AuditEntry(Base):
    """Connect, disconnect, settings changes, replays: who did what to a connection."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ExecutorHeartbeat(Base):
    """One row per live Switchboard process (DBOS executor), refreshed every few seconds.

    Survivors recover the DBOS workflows of executors whose heartbeat went stale (or whose
    process is gone), so work owned by a process that never comes back is finished elsewhere.
    """

    __tablename__ = "executor_heartbeats"

    executor_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="worker")
    host: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class OAuthToken(Base):
    """A connection's OAuth tokens (encrypted) and the lock row of their refresh: whoever sets
    `lock_owner` (while `lock_until` is past or empty) refreshes; the others wait for
    `generation` to move and reuse the new access token. `failure` holds why a refresh failed
    for good (the connection then needs re-authorisation)."""

    __tablename__ = "oauth_tokens"

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    access_token_enc: Mapped[str] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    lifetime_s: Mapped[float | None] = mapped_column(Float, default=None)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    lock_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lock_until: Mapped[datetime | None] = mapped_column(default=None)
    refreshed_at: Mapped[datetime | None] = mapped_column(default=None)
    refreshes: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(Text, default=None)


class OAuthAuthorization(Base):
    """One sign-in at a CRM in progress: `state` (its primary key) is bound to the admin's
    session by `session_hash`; the PKCE verifier and, after the callback, the tokens are
    encrypted. `connection_id` is set when it re-authorises an existing connection. Single use:
    `status` goes pending → authorized (tokens held) → used, or → failed. `binding`: "browser"
    (the callback must come with the starting browser's cookie) or "terminal" (started by
    `switchboard connect --oauth`: any browser may finish it, only the terminal claims it)."""

    __tablename__ = "oauth_authorizations"

    state: Mapped[str] = mapped_column(String(100), primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64))
    crm: Mapped[str] = mapped_column(String(32))
    connection_id: Mapped[str | None] = mapped_column(String(64), default=None)
    redirect_uri: Mapped[str] = mapped_column(String(1000))
    verifier_enc: Mapped[str | None] = mapped_column(Text, default=None)
    tokens_enc: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(default=utcnow)
    binding: Mapped[str] = mapped_column(String(16), default="browser", server_default="browser")
