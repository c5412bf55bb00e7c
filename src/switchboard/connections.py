"""Connections: one Quo workspace key + one CRM account, stored with encrypted secrets.

    from switchboard.connections import create_connection, get_connection, quo_client_for, ...

    info = create_connection(db, box, crm=<registered CRM name>, quo_api_key=..., crm_token=...,
                             quo_base_url=..., crm_base_url=...)
    info.id                         # "conn_<random>", unguessable: it is also the webhook URL path
    info.settings                   # effective settings (defaults merged)
    creds = load_credentials(db, box, info.id)     # decrypted; never log them

Secrets are only ever stored encrypted (`SecretBox`, AES-GCM) and registered with the log
redactor when loaded. `ConnectionInfo.to_dict()` never contains a secret.

Settings (per connection): `switchboard.connection_settings` validates them (the common ones
and the CRM's own); `update_settings` merges a validated change.

API-call accounting lives in `switchboard.usage`; the clients built for a connection (counted,
rate-limited) in `switchboard.clients`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from switchboard.connection_records import PREVIOUS_KEY_SUFFIX as PREVIOUS_KEY_SUFFIX

# The records live in `connection_records`; they are part of this module's interface too.
from switchboard.connection_records import STORED_VERSIONS
from switchboard.connection_records import ConnectionInfo as ConnectionInfo
from switchboard.connection_records import ConnectionNotFound as ConnectionNotFound
from switchboard.connection_records import Credentials as Credentials
from switchboard.connection_records import SubscriptionInfo as SubscriptionInfo
from switchboard.connection_records import connection_info as _info
from switchboard.connection_records import subscription_info as _sub_info
from switchboard.connection_settings import (
    QUO_WEBHOOK_GENERATIONS,
    InvalidSettings,
    effective_settings,
    validate_settings,
)
from switchboard.crm import registry
from switchboard.crypto import SecretBox
from switchboard.logs import get_logger, register_secret
from switchboard.store.db import Database
from switchboard.store.models import (
    AuditEntry,
    CacheEntry,
    Connection,
    WebhookSubscription,
)

log = get_logger("switchboard.connections")


class SecretsUnreadable(RuntimeError):
    """Stored secrets do not decrypt with this process's master key."""


def new_connection_id() -> str:
    return "conn_" + secrets.token_urlsafe(18)


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
    if registry.find(crm) is None:
        raise ValueError(f"unsupported CRM {crm!r}; supported: {', '.join(registry.names())}")
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
        settings=validate_settings(settings or {}, crm),
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
        if row is None:
            return effective_settings(None)
        return effective_settings(row.settings, row.crm)


def update_settings(db: Database, connection_id: str, changes: Mapping[str, Any]) -> ConnectionInfo:
    """Validate and merge settings. Re-subscription on line/event-kind changes is the caller's
    job (`switchboard.setup.start_resubscribe`), so this stays a pure database operation."""
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is None:
            raise ConnectionNotFound(connection_id)
        valid = validate_settings(changes, row.crm)
        before = effective_settings(row.settings, row.crm)
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


def update_credentials(
    db: Database,
    box: SecretBox,
    connection_id: str,
    *,
    crm_token: str | None = None,
    quo_api_key: str | None = None,
) -> None:
    """Reconnect: replace the CRM token and/or the Quo key of a live connection (checked by the
    caller). Workers notice through `credentials_stamp` and build new clients."""
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is None or row.disconnected_at is not None:
            raise ConnectionNotFound(connection_id)
        changed = []
        if crm_token:
            row.crm_token_enc = box.encrypt(crm_token)
            changed.append("crm_token")
        if quo_api_key:
            row.quo_api_key_enc = box.encrypt(quo_api_key)
            changed.append("quo_api_key")
        s.add(
            AuditEntry(
                connection_id=connection_id, action="reconnect", detail={"replaced": changed}
            )
        )


def credentials_stamp(db: Database, connection_id: str) -> str:
    """Changes whenever the stored secrets change (a digest of their ciphertexts), so processes
    that cache clients per connection rebuild them after a reconnect."""
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is None:
            return ""
        raw = f"{row.quo_api_key_enc}|{row.crm_token_enc}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


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
            version=STORED_VERSIONS.get(version, version),
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


def replace_subscription_key(
    db: Database, box: SecretBox, provider: str, remote_id: str, key: str, *, keep_as: str
) -> None:
    """Store a webhook's new signing key (after a rotation). The old key stays valid for
    verification in a sibling row `keep_as` (`<id>#previous`, same connection) until the
    scheduled webhook check drops it."""
    register_secret(key)
    with db.session() as s:
        row = s.execute(
            select(WebhookSubscription).where(
                WebhookSubscription.provider == provider,
                WebhookSubscription.remote_id == remote_id,
            )
        ).scalar_one()
        cid = row.connection_id
        previous = s.execute(
            select(WebhookSubscription).where(
                WebhookSubscription.provider == provider,
                WebhookSubscription.remote_id == keep_as,
            )
        ).scalar_one_or_none()
        if previous is None:
            previous = WebhookSubscription(
                connection_id=cid,
                provider=provider,
                remote_id=keep_as,
                kind=row.kind,
                version=row.version,
                url=row.url,
                events=list(row.events or []),
                resource_ids=list(row.resource_ids or []),
                status="active",
            )
            s.add(previous)
        previous.key_enc = row.key_enc
        row.key_enc = box.encrypt(key)
    _key_cache.invalidate(cid)


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

    def peek(self, connection_id: str, provider: str, *, fresh: bool) -> list[str] | None:
        """The keys `get` would answer without a database read, or None when it would read."""
        import time

        with self._lock:
            hit = self._data.get((connection_id, provider))
        # `fresh` (the cached keys did not verify) reloads at most once a second: forged
        # requests must not turn into a database read and decryptions each.
        if hit and time.monotonic() - hit[0] < (self.fresh_min_s if fresh else self.ttl_s):
            return hit[1]
        return None

    def get(
        self, db: Database, box: SecretBox, connection_id: str, provider: str, *, fresh: bool
    ) -> list[str]:
        import time

        cached = self.peek(connection_id, provider, fresh=fresh)
        if cached is not None:
            return cached
        now = time.monotonic()
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


def cached_webhook_keys(
    connection_id: str, provider: str, *, fresh: bool = False
) -> list[str] | None:
    """What `webhook_keys` would answer from memory alone (no database read, no decryption),
    or None when it would have to load: the event loop's cheap refusal path asks this."""
    return _key_cache.peek(connection_id, provider, fresh=fresh)


def quo_webhooks_generation(stored: Mapping[str, Any], default: str) -> str:
    """The connection's Quo webhook generation (`default`: the deployment's setting)."""
    value = stored.get("quo_webhooks")
    return str(value) if value else default


def set_quo_webhooks_generation(db: Database, connection_id: str, generation: str) -> None:
    """Record the generation the connection's Quo webhooks now use (setup and migration)."""
    if generation not in (*QUO_WEBHOOK_GENERATIONS, "v2"):
        raise InvalidSettings(f"unknown Quo webhook generation {generation!r}")
    with db.session() as s:
        row = s.get(Connection, connection_id)
        if row is None:
            raise ConnectionNotFound(connection_id)
        before = (row.settings or {}).get("quo_webhooks")
        row.settings = {**(row.settings or {}), "quo_webhooks": generation}
        s.add(
            AuditEntry(
                connection_id=connection_id,
                action="quo_webhooks_generation",
                detail={"before": before, "after": generation},
            )
        )


#: The CRM account's facts (`CrmConnector.check_credentials`: workspace slug, company domain...)
#: kept beside the connection, for links into the CRM's web app (`CrmProvider.person_url`).
_ACCOUNT_KIND = "crm_account"
_ACCOUNT_FACTS = 20


def save_crm_account(db: Database, connection_id: str, facts: Mapping[str, str]) -> None:
    """Keep the account facts (string values only; a few keys; never secrets)."""
    clean = {
        str(k)[:64]: str(v)[:200]
        for k, v in list(facts.items())[:_ACCOUNT_FACTS]
        if isinstance(v, str | int) and not isinstance(v, bool)
    }
    with db.session() as s:
        row = s.scalar(
            select(CacheEntry).where(
                CacheEntry.connection_id == connection_id,
                CacheEntry.kind == _ACCOUNT_KIND,
                CacheEntry.key == "self",
            )
        )
        if row is None:
            s.add(
                CacheEntry(connection_id=connection_id, kind=_ACCOUNT_KIND, key="self", data=clean)
            )
        else:
            row.data = clean
            row.fetched_at = datetime.now(UTC)


def crm_account(db: Database, connection_id: str) -> dict[str, str]:
    """The account facts kept for the connection ({} when never recorded)."""
    with db.session() as s:
        data = s.scalar(
            select(CacheEntry.data).where(
                CacheEntry.connection_id == connection_id,
                CacheEntry.kind == _ACCOUNT_KIND,
                CacheEntry.key == "self",
            )
        )
    return {str(k): str(v) for k, v in (data or {}).items()}
