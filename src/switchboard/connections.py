"""Connections: one Quo workspace key + one CRM account, stored with encrypted secrets.

    from switchboard.connections import create_connection, get_connection, quo_client_for, ...

    info = create_connection(db, box, crm="attio", quo_api_key=..., crm_token=...,
                             quo_base_url=..., crm_base_url=...)
    info.id                         # "conn_<random>", unguessable: it is also the webhook URL path
    info.settings                   # effective settings (defaults merged)
    creds = load_credentials(db, box, info.id)     # decrypted; never log them
    quo = quo_client_for(info.id)                  # E2's QuoClient, counted + rate-limited
    crm = crm_connector_for(info.id)               # E5's AttioConnector (CrmConnector)

Secrets are only ever stored encrypted (`SecretBox`, AES-GCM) and registered with the log
redactor when loaded. `ConnectionInfo.to_dict()` never contains a secret.

Settings (per connection; `update_settings` validates and merges):

- `default_region` ("US"): phone parsing region.
- `enabled_lines` (null = every line): Quo phone-number ids to log.
- `event_kinds` (calls, messages, summaries, transcripts): Quo webhook kinds subscribed.
- `auto_create_people` (false): create CRM people for unknown callers.
- `sync_objects` (["people"]): CRM objects synced to Quo.
- `create_without_phone` (false): create Quo contacts for people without phones.
- `click_to_call_window_minutes` (10): an outgoing call to a clicked number from the clicked line
  this soon after the click is logged on the clicked person.
- `click_to_call_default_line` (null = the first line): the line the call page offers first.

API-call accounting: `ApiCallCounter.hook(connection_id)` returns a `switchboard.http` request
hook that counts requests, 429s and errors per (connection, provider, minute) in memory; the
runtime flushes them into `api_call_counts` every second (one upsert per key, not per request).
"""

from __future__ import annotations

import inspect
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from switchboard.crypto import SecretBox
from switchboard.logs import get_logger, register_secret
from switchboard.store.db import Database
from switchboard.store.models import (
    ApiCallCount,
    AuditEntry,
    Connection,
    WebhookSubscription,
)

log = get_logger("switchboard.connections")

QUO_EVENT_KINDS = ("calls", "messages", "summaries", "transcripts")
SUPPORTED_CRMS = ("attio",)

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
    # Click-to-call: how long a click pins the outgoing call that follows it, and the Quo line
    # the call page offers first (null: the first line; a user's own choice is remembered).
    "click_to_call_window_minutes": 10,
    "click_to_call_default_line": None,
}


class ConnectionNotFound(LookupError):
    pass


class InvalidSettings(ValueError):
    pass


class SecretsUnreadable(RuntimeError):
    """Stored secrets do not decrypt with this process's master key."""


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


def new_connection_id() -> str:
    return "conn_" + secrets.token_urlsafe(18)


def effective_settings(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(DEFAULT_SETTINGS)
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


def validate_settings(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validated copy of a settings change; raises InvalidSettings with a clear message."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in DEFAULT_SETTINGS:
            raise InvalidSettings(f"unknown setting {key!r}; known: {sorted(DEFAULT_SETTINGS)}")
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


def _sub_info(w: WebhookSubscription) -> SubscriptionInfo:
    return SubscriptionInfo(
        id=w.id,
        provider=w.provider,
        remote_id=w.remote_id,
        kind=w.kind,
        version=w.version,
        url=w.url,
        events=list(w.events or []),
        resource_ids=list(w.resource_ids or []),
        status=w.status,
        created_at=w.created_at,
    )


def _info(row: Connection, subs: list[WebhookSubscription] | None = None) -> ConnectionInfo:
    return ConnectionInfo(
        id=row.id,
        crm=row.crm,
        name=row.name,
        status=row.status,
        status_message=row.status_message,
        quo_base_url=row.quo_base_url,
        crm_base_url=row.crm_base_url,
        crm_workspace_id=row.crm_workspace_id,
        settings=effective_settings(row.settings),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_event_at=row.last_event_at,
        last_sync_at=row.last_sync_at,
        last_reconcile_at=row.last_reconcile_at,
        last_reconcile_status=row.last_reconcile_status,
        disconnected_at=row.disconnected_at,
        webhooks=[_sub_info(w) for w in (subs or [])],
    )


def audit(
    db: Database, connection_id: str, action: str, detail: dict[str, Any] | None = None
) -> None:
    with db.session() as s:
        s.add(AuditEntry(connection_id=connection_id, action=action, detail=detail or {}))


# ------------------------------------------------------------------------------------- CRUD
def create_connection(
    db: Database,
    box: SecretBox,
    *,
    crm: str,
    quo_api_key: str,
    crm_token: str,
    quo_base_url: str,
    crm_base_url: str,
    name: str = "",
    crm_workspace_id: str | None = None,
    settings: Mapping[str, Any] | None = None,
    connection_id: str | None = None,
) -> ConnectionInfo:
    """Store a new connection (secrets encrypted before anything else can use them)."""
    if crm not in SUPPORTED_CRMS:
        raise ValueError(f"unsupported CRM {crm!r}; supported: {', '.join(SUPPORTED_CRMS)}")
    if not quo_api_key or not crm_token:
        raise ValueError("both the Quo API key and the CRM token are required")
    register_secret(quo_api_key)
    register_secret(crm_token)
    row = Connection(
        id=connection_id or new_connection_id(),
        crm=crm,
        name=name[:200],
        status="new",
        status_message="",
        quo_base_url=quo_base_url.rstrip("/"),
        crm_base_url=crm_base_url.rstrip("/"),
        quo_api_key_enc=box.encrypt(quo_api_key),
        crm_token_enc=box.encrypt(crm_token),
        crm_workspace_id=crm_workspace_id,
        settings=validate_settings(settings or {}),
    )
    with db.session() as s:
        s.add(row)
        s.flush()
        s.add(AuditEntry(connection_id=row.id, action="connect", detail={"crm": crm}))
    return _info(row)


def get_connection(
    db: Database, connection_id: str, *, with_webhooks: bool = True
) -> ConnectionInfo:
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is None:
            raise ConnectionNotFound(connection_id)
        subs = (
            list(
                s.execute(
                    select(WebhookSubscription)
                    .where(WebhookSubscription.connection_id == connection_id)
                    .order_by(WebhookSubscription.id)
                ).scalars()
            )
            if with_webhooks
            else []
        )
        return _info(row, subs)


def find_connection(db: Database, connection_id: str) -> ConnectionInfo | None:
    try:
        return get_connection(db, connection_id, with_webhooks=False)
    except ConnectionNotFound:
        return None


def list_connections(db: Database, *, include_disconnected: bool = True) -> list[ConnectionInfo]:
    with db.session() as s:
        q = select(Connection).order_by(Connection.created_at)
        if not include_disconnected:
            q = q.where(Connection.disconnected_at.is_(None))
        return [_info(r) for r in s.execute(q).scalars()]


def get_settings_for(db: Database, connection_id: str) -> dict[str, Any]:
    """Effective settings ({} defaults merged); defaults when the connection is gone."""
    with db.session() as s:
        row = s.get(Connection, connection_id)
        return effective_settings(row.settings if row is not None else None)


def update_settings(db: Database, connection_id: str, changes: Mapping[str, Any]) -> ConnectionInfo:
    """Validate and merge settings. Re-subscription on line/event-kind changes is the caller's
    job (`switchboard.setup.start_resubscribe`), so this stays a pure database operation."""
    valid = validate_settings(changes)
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is None:
            raise ConnectionNotFound(connection_id)
        before = effective_settings(row.settings)
        row.settings = {**(row.settings or {}), **valid}
        s.add(
            AuditEntry(
                connection_id=connection_id,
                action="settings",
                detail={"before": {k: before.get(k) for k in valid}, "after": valid},
            )
        )
        s.flush()
        return _info(row)


def set_status(db: Database, connection_id: str, status: str, message: str = "") -> None:
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is not None:
            row.status = status
            row.status_message = message[:4000]


def touch_last_event(db: Database, connection_id: str) -> None:
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is not None:
            row.last_event_at = datetime.now(UTC)


def delete_connection(db: Database, connection_id: str) -> None:
    """Mark disconnected and drop stored secrets' usefulness (remote cleanup is
    `switchboard.setup.disconnect`). The row stays for the audit trail and the ledger."""
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is None:
            raise ConnectionNotFound(connection_id)
        row.status = "disconnected"
        row.disconnected_at = datetime.now(UTC)
        row.quo_api_key_enc = ""
        row.crm_token_enc = ""
        row.crm_refresh_token_enc = None
        s.execute(
            delete(WebhookSubscription).where(WebhookSubscription.connection_id == connection_id)
        )
        s.add(AuditEntry(connection_id=connection_id, action="disconnected", detail={}))


def load_credentials(db: Database, box: SecretBox, connection_id: str) -> Credentials:
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is None:
            raise ConnectionNotFound(connection_id)
        if not row.quo_api_key_enc or not row.crm_token_enc:
            raise ConnectionNotFound(f"{connection_id} is disconnected")
        try:
            creds = Credentials(box.decrypt(row.quo_api_key_enc), box.decrypt(row.crm_token_enc))
        except Exception as exc:
            raise SecretsUnreadable(
                f"cannot decrypt the secrets of {connection_id}: this process's master key "
                "(SWITCHBOARD_SECRET_KEY or <data dir>/secret.key) is not the one they were "
                "stored with"
            ) from exc
    register_secret(creds.quo_api_key)
    register_secret(creds.crm_token)
    return creds


# ------------------------------------------------------------------------ webhook subscriptions
def add_subscription(
    db: Database,
    box: SecretBox,
    *,
    connection_id: str,
    provider: str,
    remote_id: str,
    kind: str,
    url: str,
    events: list[str],
    resource_ids: list[str] | None = None,
    key: str | None = None,
    version: str = "v1",
) -> SubscriptionInfo:
    if key:
        register_secret(key)
    with db.session() as s:
        existing = s.execute(
            select(WebhookSubscription).where(
                WebhookSubscription.provider == provider,
                WebhookSubscription.remote_id == remote_id,
            )
        ).scalar_one_or_none()
        if existing is not None:
            return _sub_info(existing)
        row = WebhookSubscription(
            connection_id=connection_id,
            provider=provider,
            remote_id=remote_id,
            kind=kind,
            version=version,
            url=url,
            events=list(events),
            resource_ids=list(resource_ids or []),
            key_enc=box.encrypt(key) if key else None,
            status="active",
        )
        s.add(row)
        s.flush()
        info = _sub_info(row)
    _key_cache.invalidate(connection_id)
    return info


def remove_subscription(db: Database, provider: str, remote_id: str) -> None:
    with db.session() as s:
        row = s.execute(
            select(WebhookSubscription).where(
                WebhookSubscription.provider == provider,
                WebhookSubscription.remote_id == remote_id,
            )
        ).scalar_one_or_none()
        if row is not None:
            cid = row.connection_id
            s.delete(row)
        else:
            cid = None
    if cid:
        _key_cache.invalidate(cid)


def list_subscriptions(
    db: Database, connection_id: str, provider: str | None = None
) -> list[SubscriptionInfo]:
    with db.session() as s:
        q = select(WebhookSubscription).where(WebhookSubscription.connection_id == connection_id)
        if provider:
            q = q.where(WebhookSubscription.provider == provider)
        return [_sub_info(w) for w in s.execute(q.order_by(WebhookSubscription.id)).scalars()]


class _KeyCache:
    """Decrypted webhook keys per (connection, provider), cached briefly for the ack path."""

    ttl_s = 5.0
    fresh_min_s = 1.0

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def invalidate(self, connection_id: str | None = None) -> None:
        with self._lock:
            if connection_id is None:
                self._data.clear()
            else:
                for k in [k for k in self._data if k[0] == connection_id]:
                    del self._data[k]

    def get(
        self, db: Database, box: SecretBox, connection_id: str, provider: str, *, fresh: bool
    ) -> list[str]:
        import time

        now = time.monotonic()
        with self._lock:
            hit = self._data.get((connection_id, provider))
        # `fresh` (the cached keys did not verify) reloads at most once a second: forged
        # requests must not turn into a database read and decryptions each.
        if hit and now - hit[0] < (self.fresh_min_s if fresh else self.ttl_s):
            return hit[1]
        with db.session() as s:
            rows = s.execute(
                select(WebhookSubscription.key_enc).where(
                    WebhookSubscription.connection_id == connection_id,
                    WebhookSubscription.provider == provider,
                    WebhookSubscription.key_enc.is_not(None),
                )
            ).all()
        keys = []
        for (enc,) in rows:
            if not enc:
                continue
            try:
                keys.append(box.decrypt(enc))
            except Exception:
                log.warning("webhook_key_undecryptable", connection_id=connection_id)
        for k in keys:
            register_secret(k)
        with self._lock:
            self._data[(connection_id, provider)] = (now, keys)
        return keys


_key_cache = _KeyCache()


def webhook_keys(
    db: Database, box: SecretBox, connection_id: str, provider: str, *, fresh: bool = False
) -> list[str]:
    """Decrypted signing keys/secrets of the connection's webhooks at `provider`."""
    return _key_cache.get(db, box, connection_id, provider, fresh=fresh)


# ------------------------------------------------------------------------------ API call counts
class ApiCallCounter:
    """Counts external API calls per (connection, provider, minute); flushed in batches."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, datetime], list[int]] = {}

    def record(
        self, connection_id: str, provider: str, status: int | None, error: bool = False
    ) -> None:
        from switchboard import metrics

        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        with self._lock:
            c = self._pending.setdefault((connection_id, provider, minute), [0, 0, 0])
            c[0] += 1
            if status == 429:
                c[1] += 1
            if error or status is None or status >= 500:
                c[2] += 1
        metrics.API_REQUESTS.labels(provider=provider, status=str(status or "error")).inc()
        if status == 429:
            metrics.API_429.labels(provider=provider).inc()

    def hook(self, connection_id: str) -> Any:
        """A `switchboard.http.RequestHook` for clients of this connection."""

        def _hook(info: Any) -> None:
            self.record(connection_id, info.provider, info.status, error=info.error is not None)

        return _hook

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        dialect = sqlite if self.db.is_sqlite else postgresql
        with self.db.session() as s:
            for (cid, provider, minute), (req, r429, err) in pending.items():
                stmt = dialect.insert(ApiCallCount).values(
                    connection_id=cid,
                    provider=provider,
                    minute=minute,
                    requests=req,
                    http_429=r429,
                    errors=err,
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=["connection_id", "provider", "minute"],
                    set_={
                        "requests": ApiCallCount.requests + stmt.excluded.requests,
                        "http_429": ApiCallCount.http_429 + stmt.excluded.http_429,
                        "errors": ApiCallCount.errors + stmt.excluded.errors,
                    },
                )
                s.execute(stmt)
        return len(pending)


def api_usage(
    db: Database, connection_id: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Totals per (connection, provider): requests, 429s, errors."""
    q = select(
        ApiCallCount.connection_id,
        ApiCallCount.provider,
        func.sum(ApiCallCount.requests),
        func.sum(ApiCallCount.http_429),
        func.sum(ApiCallCount.errors),
    ).group_by(ApiCallCount.connection_id, ApiCallCount.provider)
    if connection_id:
        q = q.where(ApiCallCount.connection_id == connection_id)
    if since is not None:
        q = q.where(ApiCallCount.minute >= since)
    with db.session() as s:
        return [
            {
                "connection_id": cid,
                "provider": prov,
                "requests": int(req or 0),
                "http_429": int(r429 or 0),
                "errors": int(err or 0),
            }
            for cid, prov, req, r429, err in s.execute(q)
        ]


def api_usage_series(
    db: Database, connection_id: str, limit_minutes: int = 120
) -> list[dict[str, Any]]:
    """Per-minute counts (newest last) for charts."""
    q = (
        select(ApiCallCount)
        .where(ApiCallCount.connection_id == connection_id)
        .order_by(ApiCallCount.minute.desc())
        .limit(limit_minutes * 4)
    )
    with db.session() as s:
        rows = list(s.execute(q).scalars())
    return [
        {
            "minute": _iso(r.minute),
            "provider": r.provider,
            "requests": r.requests,
            "http_429": r.http_429,
            "errors": r.errors,
        }
        for r in reversed(rows)
    ]


# ---------------------------------------------------------------------------- provider clients
def _runtime_parts() -> tuple[Database, SecretBox, Any, Any]:
    from switchboard.runtime import runtime

    rt = runtime()
    return rt.db, rt.box, rt.settings, rt.api_counter


def _call_with_supported(cls: Any, **kwargs: Any) -> Any:
    """Construct `cls` with the keyword arguments its signature accepts (providers' clients are
    evolving; unknown optional knobs are dropped, required ones must be present)."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return cls(**kwargs)
    return cls(**{k: v for k, v in kwargs.items() if k in params})


def quo_client_for(connection_id: str, **overrides: Any) -> Any:
    """E2's `QuoClient` for this connection: decrypted key, counted, shared rate limit."""
    db, box, settings, counter = _runtime_parts()
    info = get_connection(db, connection_id, with_webhooks=False)
    creds = load_credentials(db, box, connection_id)
    return build_quo_client(
        creds.quo_api_key,
        info.quo_base_url,
        hook=counter.hook(connection_id) if counter else None,
        database_url=settings.resolved_database_url(),
        redis_url=settings.redis_url,
        webhooks_version=settings.quo_webhooks_version,
        **overrides,
    )


def build_quo_client(api_key: str, base_url: str, **kwargs: Any) -> Any:
    from switchboard.quo import client as quo_client_module

    cls = quo_client_module.QuoClient
    return _call_with_supported(cls, api_key=api_key, base_url=base_url, **kwargs)


def crm_connector_for(connection_id: str, **overrides: Any) -> Any:
    """E5's connector (`switchboard.crm.attio.AttioConnector`) for this connection."""
    db, box, settings, counter = _runtime_parts()
    info = get_connection(db, connection_id, with_webhooks=False)
    creds = load_credentials(db, box, connection_id)
    return build_crm_connector(
        info.crm,
        creds.crm_token,
        info.crm_base_url,
        hook=counter.hook(connection_id) if counter else None,
        database_url=settings.resolved_database_url(),
        redis_url=settings.redis_url,
        **overrides,
    )


def build_crm_connector(
    crm: str,
    token: str,
    base_url: str,
    *,
    hook: Any = None,
    database_url: str | None = None,
    redis_url: str | None = None,
    **overrides: Any,
) -> Any:
    if crm != "attio":
        raise ValueError(f"unsupported CRM {crm!r}")
    from switchboard.crm.attio import AttioConnector, attio_limiters

    limiters = overrides.pop("limiters", None)
    if limiters is None and (database_url or redis_url):
        limiters = attio_limiters(token, database_url=database_url, redis_url=redis_url)
    return _call_with_supported(
        AttioConnector, token=token, base_url=base_url, hook=hook, limiters=limiters, **overrides
    )


def crm_verifier(crm: str) -> Any:
    """A connector instance usable only for `verify_webhook` / `parse_webhook` (no network)."""
    return build_crm_connector(crm, "verify-only-token", "http://127.0.0.1:9")
