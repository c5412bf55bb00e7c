"""What is failing on a connection, in words, with what to do about it.

Two halves, both free of web and CLI code so the dashboard, the CLI and the alerts share them:

* `cause_of(event)` groups a failed ledger event by its cause: who refused (the CRM or Quo),
  how (rejected credentials, a refused write, an outage) and the HTTP status. Failed events with
  the same cause are replayed together (`dispatch.replay_many`) once the cause is fixed.
* `diagnose(db, infos)` derives each connection's problems from what is actually failing —
  writes refused since the last success, webhook channels missing or no longer active, ledger
  rows stuck in processing or waiting for a worker — each a `Problem` with a sentence and the
  action that fixes it. No traffic is not health: unresolved failures stay until a later event
  succeeds or the failures are replayed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select

from switchboard import connections, metrics
from switchboard.crm import registry
from switchboard.ledger import EventRecord, record_of
from switchboard.store.db import Database
from switchboard.store.models import Event, WebhookSubscription

# "ApiError: <provider> notes.create: HTTP 401 [code] message (POST /v2/notes)"
_API_ERROR = re.compile(
    r"(?:ApiError: )?(?P<provider>[a-z][\w-]*) (?P<op>[\w.]+): HTTP (?P<st>\d{3})"
)

# Failed events older than this no longer decide the health (they stay listed as failures).
FAILURE_WINDOW = timedelta(hours=24)
# Rows `accepted` for longer than this are "waiting": no worker picks them up.
WAITING_AFTER = timedelta(seconds=60)


def _crm_record(provider: str) -> registry.CrmProvider | None:
    try:
        return registry.get(provider)
    except registry.UnknownCrm:
        return None


def provider_label(provider: str) -> str:
    """How a provider is named in sentences ("Quo", or the CRM's display name from its
    registry record)."""
    if provider == "quo":
        return "Quo"
    record = _crm_record(provider)
    return record.display_name if record is not None else provider.capitalize()


def credential_rejected(provider: str) -> str:
    """ "Quo rejects the API key", or the CRM's own sentence from its registry record."""
    if provider == "quo":
        return "Quo rejects the API key"
    record = _crm_record(provider)
    if record is not None:
        return record.rejected_sentence
    return f"{provider_label(provider)} rejects the token"


def credential_word(provider: str) -> str:
    """The name of the secret a connection stores for the provider ("API key", "token")."""
    if provider == "quo":
        return "API key"
    record = _crm_record(provider)
    return record.credential if record is not None else "token"


@dataclass(frozen=True)
class Cause:
    """Why an event failed, as a group key plus the words for it."""

    key: str  # e.g. "<crm>:auth", "<crm>:http_422", "quo:unavailable", "other"
    provider: str | None
    http_status: int | None
    title: str


@dataclass(frozen=True)
class Action:
    """What fixes a problem: a label, the CLI command, and the dashboard form (if any)."""

    label: str
    command: str
    form: str = ""  # reconnect | setup | replay | "" (none on the dashboard)


@dataclass(frozen=True)
class Problem:
    code: str  # crm_auth | quo_auth | writes_refused | provider_down | failures |
    #            webhooks_missing | channel_inactive | stuck | waiting | setup
    severity: str  # error | warn
    sentence: str
    action: Action | None = None
    count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _status_and_provider(event: EventRecord) -> tuple[int | None, str | None]:
    status = event.detail.get("http_status")
    provider = event.detail.get("api_provider")
    if status is None or provider is None:
        m = _API_ERROR.search(event.reason or "")
        if m:
            status = status if status is not None else int(m["st"])
            provider = provider or m["provider"]
    return (int(status) if status is not None else None), (str(provider) if provider else None)


def cause_of(event: EventRecord) -> Cause:
    """The failure group of a failed event (stable key, human title)."""
    status, provider = _status_and_provider(event)
    if provider is None:
        if (event.detail.get("exception") or "") == "ApiError" or "network error" in (
            event.reason or ""
        ):
            return Cause("network", None, None, "a provider could not be reached")
        return Cause("other", None, None, "failed while processing")
    name = provider_label(provider)
    if status in (401, 403):
        return Cause(f"{provider}:auth", provider, status, credential_rejected(provider))
    if status is not None and 400 <= status < 500:
        return Cause(
            f"{provider}:http_{status}",
            provider,
            status,
            f"{name} refused the write (HTTP {status})",
        )
    return Cause(f"{provider}:unavailable", provider, status, f"{name} was unavailable")


def group_failures(events: Sequence[EventRecord]) -> list[dict[str, Any]]:
    """Failed events grouped by cause, largest group first: key, title, count, ids, oldest,
    newest."""
    groups: dict[str, dict[str, Any]] = {}
    for ev in events:
        cause = cause_of(ev)
        g = groups.setdefault(
            cause.key,
            {"key": cause.key, "title": cause.title, "count": 0, "event_ids": []},
        )
        g["count"] += 1
        g["event_ids"].append(ev.id)
        at = ev.received_at
        g["oldest"] = min(g.get("oldest") or at, at)
        g["newest"] = max(g.get("newest") or at, at)
    return sorted(groups.values(), key=lambda g: (-g["count"], g["key"]))


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class ConnectionFacts(Protocol):
    """The few fields of a connection `diagnose` needs (`connections.ConnectionInfo`)."""

    @property
    def id(self) -> str: ...
    @property
    def crm(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def status_message(self) -> str: ...
    @property
    def settings(self) -> dict[str, Any]: ...
    @property
    def disconnected_at(self) -> datetime | None: ...


def _unresolved_failures(
    db: Database, ids: Sequence[str], now: datetime
) -> dict[str, list[EventRecord]]:
    """Per connection: failed events finished after its last processed event (in the window)."""
    since = now - FAILURE_WINDOW
    out: dict[str, list[EventRecord]] = {}
    with db.session() as s:
        last_ok = {
            str(cid): at
            for cid, at in s.execute(
                select(Event.connection_id, func.max(Event.processed_at))
                .where(Event.connection_id.in_(ids), Event.status == "processed")
                .group_by(Event.connection_id)
            )
        }
        # Only the failures after each connection's last success are read (not the backlog).
        after_ok = or_(
            *(
                and_(Event.connection_id == cid, Event.processed_at > last_ok[cid])
                if last_ok.get(cid) is not None
                else Event.connection_id == cid
                for cid in ids
            )
        )
        q = (
            select(Event)
            .where(Event.status == "failed", Event.processed_at >= since, after_ok)
            .order_by(Event.processed_at.desc())
            .limit(2000)
        )
        for row in s.execute(q).scalars():
            out.setdefault(row.connection_id, []).append(record_of(row))
    return out


def _queue_counts(
    db: Database, ids: Sequence[str], now: datetime, stuck_after: timedelta
) -> tuple[dict[str, int], dict[str, int]]:
    with db.session() as s:
        stuck = {
            str(cid): int(n)
            for cid, n in s.execute(
                select(Event.connection_id, func.count())
                .where(
                    Event.connection_id.in_(ids),
                    Event.status == "processing",
                    Event.received_at < now - stuck_after,
                )
                .group_by(Event.connection_id)
            )
        }
        waiting = {
            str(cid): int(n)
            for cid, n in s.execute(
                select(Event.connection_id, func.count())
                .where(
                    Event.connection_id.in_(ids),
                    Event.status == "accepted",
                    Event.received_at < now - WAITING_AFTER,
                )
                .group_by(Event.connection_id)
            )
        }
    return stuck, waiting


def _subscriptions(db: Database, ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    with db.session() as s:
        for cid, provider, status in s.execute(
            select(
                WebhookSubscription.connection_id,
                WebhookSubscription.provider,
                WebhookSubscription.status,
            ).where(WebhookSubscription.connection_id.in_(ids))
        ):
            out.setdefault(str(cid), []).append((str(provider), str(status)))
    return out


def _failure_problems(info: ConnectionFacts, failed: list[EventRecord]) -> list[Problem]:
    problems: list[Problem] = []
    replay = Action(
        "Replay the failures",
        f"switchboard events replay --connection {info.id} --all-failed --yes",
        "replay",
    )
    for group in group_failures(failed):
        key, n = str(group["key"]), int(group["count"])
        provider = key.split(":", 1)[0]
        name = provider_label(provider)
        if key.endswith(":auth"):
            is_crm = provider == info.crm
            problems.append(
                Problem(
                    "crm_auth" if is_crm else "quo_auth",
                    "error",
                    f"{credential_rejected(provider)} — reconnect",
                    Action(
                        f"Reconnect {name}",
                        f"switchboard connections reconnect {info.id} "
                        + ("--crm-token" if is_crm else "--quo-api-key")
                        + " NEW_SECRET",
                        "reconnect",
                    ),
                    n,
                )
            )
        elif ":http_" in key:
            problems.append(
                Problem(
                    "writes_refused",
                    "error",
                    f"{name} refused {n} write{'s' if n != 1 else ''} "
                    f"(HTTP {group_status(key)}) — check the failures, then replay them",
                    replay,
                    n,
                )
            )
        elif key.endswith(":unavailable") or key == "network":
            problems.append(
                Problem(
                    "provider_down",
                    "warn",
                    f"{name if key != 'network' else 'A provider'} was unavailable for "
                    f"{n} event{'s' if n != 1 else ''} — replay them once it answers",
                    replay,
                    n,
                )
            )
        else:
            problems.append(
                Problem(
                    "failures",
                    "warn",
                    f"{n} event{'s' if n != 1 else ''} failed since the last success "
                    "— see the failures",
                    replay,
                    n,
                )
            )
    return problems


def group_status(key: str) -> str:
    return key.rsplit("_", 1)[-1]


def _webhook_problems(info: ConnectionFacts, subs: list[tuple[str, str]]) -> list[Problem]:
    if info.status in ("new", "setting_up"):
        return []
    setup = Action(
        "Register the webhooks again", f"switchboard connections setup {info.id}", "setup"
    )
    problems: list[Problem] = []
    missing = []
    if info.settings.get("event_kinds") and not any(p == "quo" for p, _ in subs):
        missing.append("Quo")
    if not any(p == info.crm for p, _ in subs):
        missing.append(provider_label(info.crm))
    if missing:
        problems.append(
            Problem(
                "webhooks_missing",
                "error",
                f"No webhooks at {' and '.join(missing)}: changes and calls are not arriving "
                "— register them again",
                setup,
            )
        )
    for provider, status in subs:
        if status == "active":
            continue
        name = provider_label(provider)
        sentence = (
            f"The {name} change channel expired — register it again"
            if status == "expired"
            else f"A {name} webhook is {status} — register it again"
        )
        problems.append(Problem("channel_inactive", "error", sentence, setup))
    return problems


def _queue_problems(info: ConnectionFacts, stuck: int, waiting: int) -> list[Problem]:
    problems: list[Problem] = []
    if stuck:
        problems.append(
            Problem(
                "stuck",
                "error",
                f"{stuck} event{'s' if stuck != 1 else ''} stuck in processing — "
                "check that a worker is running and healthy",
                Action("Start a worker", "switchboard worker"),
                stuck,
            )
        )
    if waiting:
        problems.append(
            Problem(
                "waiting",
                "warn",
                f"{waiting} event{'s' if waiting != 1 else ''} waiting for a worker — "
                "start `switchboard serve` or `switchboard worker`",
                Action("Start a worker", "switchboard worker"),
                waiting,
            )
        )
    return problems


def diagnose(
    db: Database,
    infos: Sequence[ConnectionFacts],
    *,
    now: datetime | None = None,
    stuck_after: timedelta = timedelta(minutes=5),
) -> dict[str, list[Problem]]:
    """Problems per connection id, most severe first (disconnected connections have none)."""
    live = [i for i in infos if i.disconnected_at is None and i.status != "disconnected"]
    ids = [i.id for i in live]
    out: dict[str, list[Problem]] = {i.id: [] for i in infos}
    if not ids:
        return out
    now = now or datetime.now(UTC)
    failed = _unresolved_failures(db, ids, now)
    stuck, waiting = _queue_counts(db, ids, now, stuck_after)
    subs = _subscriptions(db, ids)
    for info in live:
        problems: list[Problem] = []
        if info.status == "degraded":
            problems.append(
                Problem(
                    "setup",
                    "error",
                    (info.status_message or "setup is degraded") + " — run the setup again",
                    Action(
                        "Run the setup again", f"switchboard connections setup {info.id}", "setup"
                    ),
                )
            )
        problems += _failure_problems(info, failed.get(info.id, []))
        problems += _webhook_problems(info, subs.get(info.id, []))
        problems += _queue_problems(info, stuck.get(info.id, 0), waiting.get(info.id, 0))
        problems.sort(key=lambda p: 0 if p.severity == "error" else 1)
        out[info.id] = problems
    return out


# ------------------------------------------------------------------------------- CSV export
CSV_FIELDS = (
    "id",
    "connection_id",
    "provider",
    "event_type",
    "resource_id",
    "status",
    "cause",
    "http_status",
    "reason",
    "attempts",
    "received_at",
    "processed_at",
    "idempotency_key",
    "detail",
)


def to_csv(events: Sequence[EventRecord]) -> str:
    """Failed events as CSV (one row each, `detail` as JSON): everything but the payload."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for ev in events:
        cause = cause_of(ev)
        row = ev.to_dict(with_payload=False)
        writer.writerow(
            {
                **{k: row.get(k) for k in CSV_FIELDS if k in row},
                "cause": cause.key,
                "http_status": "" if cause.http_status is None else cause.http_status,
                "resource_id": ev.resource_id or "",
                "reason": ev.reason or "",
                "processed_at": row["processed_at"] or "",
                "detail": json.dumps(ev.detail, sort_keys=True, default=str),
            }
        )
    return buf.getvalue()


def from_csv(text: str) -> list[dict[str, Any]]:
    """Parse `to_csv` output back into typed fields (the inverse, for tooling and tests)."""
    out: list[dict[str, Any]] = []
    for row in csv.DictReader(io.StringIO(text)):
        out.append(
            {
                **row,
                "resource_id": row["resource_id"] or None,
                "reason": row["reason"] or None,
                "http_status": int(row["http_status"]) if row["http_status"] else None,
                "attempts": int(row["attempts"]),
                "processed_at": row["processed_at"] or None,
                "detail": json.loads(row["detail"]),
            }
        )
    return out


def problems_family(rt: Any) -> Any:
    """`switchboard_connection_problems`: what `diagnose` finds per live connection (1 per
    problem; healthy = absent), so Prometheus alerts on the dashboard's words (docs/dashboard.md
    has rules). Served by `/metrics` through `metrics.add_family_source`."""
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(
        "switchboard_connection_problems",
        "Problems of a live connection by code and severity (error | warn); count of events.",
        labels=["connection", "code", "severity"],
    )
    infos = connections.list_connections(rt.db, include_disconnected=False)
    for cid, problems in diagnose(rt.db, infos).items():
        for p in problems:
            family.add_metric(
                [metrics.connection_label(cid), p.code, p.severity], float(max(1, p.count))
            )
    return family


metrics.add_family_source(problems_family)
