"""Connection health at a glance, recent sync runs, history and background work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from switchboard import connections, failures
from switchboard.store.db import Database
from switchboard.store.models import (
    ApiCallCount,
    AuditEntry,
    Event,
    SyncRun,
    WebhookRejection,
    WebhookSubscription,
)
from switchboard.web.dashboard.render import (
    _aware,
    _now,
)


@dataclass
class Health:
    level: str  # ok | warn | error | off
    summary: str
    webhooks_ok: bool
    webhooks_text: str
    last_event_at: datetime | None
    last_sync: dict[str, Any] | None
    failed_1h: int
    rejected_1h: int
    api_errors_1h: int
    problems: list[str] = field(default_factory=list)
    # What is failing, most severe first, each with the action that fixes it.
    diagnosis: list[failures.Problem] = field(default_factory=list)

    @property
    def errors_1h(self) -> int:
        return self.failed_1h + self.rejected_1h + self.api_errors_1h


def _count_by_connection(db: Database, stmt: Any) -> dict[str, int]:
    with db.session() as s:
        return {str(cid): int(n) for cid, n in s.execute(stmt) if cid is not None}


def _latest_runs(db: Database, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    from switchboard.sync.runs import to_progress

    out: dict[str, dict[str, Any]] = {}
    with db.session() as s:
        for cid in ids:
            row = s.scalar(
                select(SyncRun)
                .where(SyncRun.connection_id == cid)
                .order_by(SyncRun.started_at.desc())
                .limit(1)
            )
            if row is not None:
                out[cid] = to_progress(row).to_dict()
    return out


def health_for(db: Database, infos: Sequence[connections.ConnectionInfo]) -> dict[str, Health]:
    """Health at a glance for each connection (a handful of grouped queries)."""
    ids = [i.id for i in infos]
    if not ids:
        return {}
    since = _now() - timedelta(hours=1)
    failed = _count_by_connection(
        db,
        select(Event.connection_id, func.count())
        .where(Event.connection_id.in_(ids), Event.status == "failed", Event.received_at >= since)
        .group_by(Event.connection_id),
    )
    rejected = _count_by_connection(
        db,
        select(WebhookRejection.connection_id, func.count())
        .where(WebhookRejection.connection_id.in_(ids), WebhookRejection.received_at >= since)
        .group_by(WebhookRejection.connection_id),
    )
    api_errors = _count_by_connection(
        db,
        select(ApiCallCount.connection_id, func.sum(ApiCallCount.errors + ApiCallCount.http_429))
        .where(ApiCallCount.connection_id.in_(ids), ApiCallCount.minute >= since)
        .group_by(ApiCallCount.connection_id),
    )
    with db.session() as s:
        subs: dict[str, list[tuple[str, str]]] = {}
        for cid, provider, status in s.execute(
            select(
                WebhookSubscription.connection_id,
                WebhookSubscription.provider,
                WebhookSubscription.status,
            ).where(WebhookSubscription.connection_id.in_(ids))
        ):
            subs.setdefault(str(cid), []).append((str(provider), str(status)))
    runs = _latest_runs(db, ids)
    diagnosis = failures.diagnose(db, infos)
    out: dict[str, Health] = {}
    for info in infos:
        mine = subs.get(info.id, [])
        quo_n = sum(1 for p, _ in mine if p == "quo")
        crm_n = sum(1 for p, _ in mine if p == info.crm)
        inactive = [p for p, st in mine if st != "active"]
        missing = []
        if info.settings.get("event_kinds") and quo_n == 0:
            missing.append("Quo")
        if crm_n == 0:
            missing.append(failures.provider_label(info.crm))
        webhooks_ok = not missing and not inactive and info.status != "degraded"
        if info.disconnected_at is not None or info.status == "disconnected":
            webhooks_text = "disconnected"
            webhooks_ok = False
        elif missing:
            webhooks_text = "missing: " + ", ".join(missing)
        elif inactive:
            webhooks_text = f"{len(inactive)} not active"
        else:
            webhooks_text = f"{quo_n} Quo + {crm_n} {failures.provider_label(info.crm)}"
        found = list(diagnosis.get(info.id, []))
        run = runs.get(info.id)
        if run and run.get("status") == "failed":
            found.append(
                failures.Problem(
                    "sync_failed",
                    "error",
                    f"The last {run.get('kind')} sync failed: {run.get('error') or ''} "
                    "— run it again",
                    failures.Action("Run the sync again", f"switchboard sync {info.id}"),
                )
            )
        h = Health(
            level="ok",
            summary="healthy",
            webhooks_ok=webhooks_ok,
            webhooks_text=webhooks_text,
            last_event_at=_aware(info.last_event_at),
            last_sync=run,
            failed_1h=failed.get(info.id, 0),
            rejected_1h=rejected.get(info.id, 0),
            api_errors_1h=api_errors.get(info.id, 0),
            problems=[p.sentence for p in found],
            diagnosis=found,
        )
        worst = "error" if any(p.severity == "error" for p in found) else "warn" if found else ""
        if webhooks_text == "disconnected":
            h.level, h.summary = "off", "disconnected"
        elif worst:
            h.level, h.summary = worst, found[0].sentence
        elif info.status in ("new", "setting_up"):
            h.level, h.summary = "warn", "setting up"
        elif h.rejected_1h:
            h.level, h.summary = (
                "warn",
                f"{h.rejected_1h} webhook requests refused in the last hour",
            )
        out[info.id] = h
    return out


def recent_runs(db: Database, connection_id: str, limit: int = 6) -> list[dict[str, Any]]:
    from switchboard.sync.runs import to_progress

    with db.session() as s:
        rows = s.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == connection_id)
            .order_by(SyncRun.started_at.desc())
            .limit(limit)
        )
        return [to_progress(r).to_dict() for r in rows]


def history(db: Database, connection_id: str, limit: int = 10) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.connection_id == connection_id)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
        return [{"action": r.action, "detail": r.detail or {}, "at": _aware(r.at)} for r in rows]


def workflows_for(connection_id: str, limit: int = 8) -> list[dict[str, Any]]:
    """Recent DBOS workflows of this connection (setup, re-subscribe, syncs); [] without DBOS."""
    try:
        from dbos import DBOS

        rows = DBOS.list_workflows(
            workflow_id_prefix=[
                f"setup:{connection_id}:",
                f"resubscribe:{connection_id}:",
                f"{connection_id}-",
            ],
            limit=limit,
            sort_desc=True,
            load_input=False,
            load_output=False,
        )
    except Exception:
        return []
    out = []
    for w in rows:
        created = (
            datetime.fromtimestamp(w.created_at / 1000, UTC) if w.created_at is not None else None
        )
        out.append(
            {
                "id": w.workflow_id,
                "status": str(w.status),
                "queue": w.queue_name or "",
                "created_at": created,
                "kind": w.workflow_id.split(":", 1)[0]
                if ":" in w.workflow_id
                else w.workflow_id.rsplit("-", 2)[-2],
            }
        )
    return out
