"""Prometheus metrics, served at `/metrics`.

In-process (this process only): `switchboard_webhook_ack_seconds` (histogram, by provider and
result), `switchboard_webhook_rejections_total` (refused webhooks by provider and status) and
`switchboard_webhook_rejections_unstored_total` (refusals not sampled into the database),
`switchboard_api_requests_total` / `switchboard_api_429_total` (by provider, counted by
the HTTP request hook of clients built through `switchboard.connections`).

From the database at scrape time (the whole deployment, whatever process did the work):
`switchboard_events` (ledger rows by provider and status), `switchboard_api_requests_recorded`
/ `switchboard_api_429_recorded` (api_call_counts totals by provider), `switchboard_sync_done`,
`switchboard_sync_total`, `switchboard_sync_progress_ratio` (running syncs by connection) and
`switchboard_queue_depth` (DBOS workflows ENQUEUED or PENDING by queue),
`switchboard_connection_backlog` (per connection: ledger events accepted or processing, by
provider — the share of the event queues each connection holds),
`switchboard_connection_workflows` (per connection: its DBOS workflows on the queues keyed by
connection, `sync` and `setup`, ENQUEUED — waiting for a slot — or PENDING — running),
`switchboard_connection_problems` (what is failing per live connection, by problem code and
severity: the dashboard's health as numbers; built by `switchboard.failures`, registered with
`add_family_source` since this module sits below connections and the ledger).

A connection is labelled `connection="<connection_label(id)>"`, never by its id: the id is the
secret part of the connection's webhook URLs, and metrics travel to places (scrapers, dashboards,
alert payloads) that must not be able to post webhooks. The admin API shows each connection's
label (`metrics_label`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from switchboard import context

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOK_ACK = Histogram(
    "switchboard_webhook_ack_seconds",
    "Time from request start to webhook response.",
    ["provider", "result"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "switchboard_api_requests",
    "External API request attempts made by this process.",
    ["provider", "status"],
    registry=REGISTRY,
)
API_429 = Counter(
    "switchboard_api_429",
    "External API answers with 429 seen by this process.",
    ["provider"],
    registry=REGISTRY,
)
WEBHOOKS = Counter(
    "switchboard_webhooks",
    "Webhook requests by provider and HTTP status returned.",
    ["provider", "code"],
    registry=REGISTRY,
)

WEBHOOK_REJECTIONS = Counter(
    "switchboard_webhook_rejections",
    "Refused webhook requests by provider and HTTP status (all of them, stored or not).",
    ["provider", "code"],
    registry=REGISTRY,
)
WEBHOOK_REJECTIONS_UNSTORED = Counter(
    "switchboard_webhook_rejections_unstored",
    "Refused webhook requests not sampled into webhook_rejections (rate cap or backlog).",
    ["provider"],
    registry=REGISTRY,
)


def connection_label(connection_id: str) -> str:
    """The non-secret metrics label of a connection: a short hash of its id (48 bits: unique in
    any real deployment, and useless for guessing a webhook URL)."""
    digest = hashlib.sha256(b"switchboard-metrics-label:" + connection_id.encode()).hexdigest()
    return "c_" + digest[:12]


class DatabaseCollector(Collector):
    """Deployment-wide figures read from the shared database at scrape time."""

    def collect(self) -> Iterator[Any]:
        rt = context.current_or_none()
        if rt is None:
            return
        try:
            yield from _collect(rt)
        except Exception:  # a scrape must never fail because of a transient DB error
            return


def _collect(rt: Any) -> Iterator[Any]:
    from sqlalchemy import func, select, text

    from switchboard.store.models import ApiCallCount, Connection, Event, SyncRun

    events = GaugeMetricFamily(
        "switchboard_events", "Ledger events by provider and status.", labels=["provider", "status"]
    )
    req = GaugeMetricFamily(
        "switchboard_api_requests_recorded",
        "External API requests recorded in api_call_counts (all processes).",
        labels=["provider"],
    )
    r429 = GaugeMetricFamily(
        "switchboard_api_429_recorded",
        "External API 429 answers recorded in api_call_counts (all processes).",
        labels=["provider"],
    )
    sync_done = GaugeMetricFamily(
        "switchboard_sync_done", "People processed by the running sync.", labels=["connection"]
    )
    sync_total = GaugeMetricFamily(
        "switchboard_sync_total", "People expected by the running sync.", labels=["connection"]
    )
    sync_ratio = GaugeMetricFamily(
        "switchboard_sync_progress_ratio",
        "done / total of the running sync (0..1).",
        labels=["connection"],
    )
    conns = GaugeMetricFamily(
        "switchboard_connection_status",
        "1 for each connection's current status (needs_reauth: sign in at the CRM again).",
        labels=["connection", "crm", "status"],
    )
    depth = GaugeMetricFamily(
        "switchboard_queue_depth", "DBOS workflows waiting or running.", labels=["queue", "status"]
    )
    per_conn = GaugeMetricFamily(
        "switchboard_connection_workflows",
        "Workflows of a connection on the queues partitioned by connection (sync, setup): "
        "ENQUEUED waits for a slot, PENDING runs.",
        labels=["connection", "queue", "status"],
    )
    backlog = GaugeMetricFamily(
        "switchboard_connection_backlog",
        "Ledger events of a connection not processed yet (accepted: waiting in its queue; "
        "processing: being worked), by provider.",
        labels=["connection", "provider", "status"],
    )
    with rt.db.session() as s:
        for provider, status, n in s.execute(
            select(Event.provider, Event.status, func.count()).group_by(
                Event.provider, Event.status
            )
        ):
            events.add_metric([provider, status], float(n))
        for provider, total, t429 in s.execute(
            select(
                ApiCallCount.provider,
                func.sum(ApiCallCount.requests),
                func.sum(ApiCallCount.http_429),
            ).group_by(ApiCallCount.provider)
        ):
            req.add_metric([provider], float(total or 0))
            r429.add_metric([provider], float(t429 or 0))
        for cid, crm, status in s.execute(
            select(Connection.id, Connection.crm, Connection.status).where(
                Connection.disconnected_at.is_(None)
            )
        ):
            conns.add_metric([connection_label(cid), crm, status], 1.0)
        for conn_id, provider, status, n in s.execute(
            select(Event.connection_id, Event.provider, Event.status, func.count())
            .where(Event.status.in_(("accepted", "processing")))
            .group_by(Event.connection_id, Event.provider, Event.status)
        ):
            backlog.add_metric([connection_label(conn_id), provider, status], float(n))
        for run in s.execute(select(SyncRun).where(SyncRun.status == "running")).scalars():
            label = connection_label(run.connection_id)
            sync_done.add_metric([label], float(run.done))
            if run.total:
                sync_total.add_metric([label], float(run.total))
                sync_ratio.add_metric([label], min(1.0, run.done / run.total))
    try:
        with rt.db.workflow_tables() as (conn, schema):
            for queue, status, n in conn.execute(
                text(
                    f"SELECT queue_name, status, count(*) FROM {schema}workflow_status "
                    "WHERE status IN ('ENQUEUED', 'PENDING') AND queue_name IS NOT NULL "
                    "GROUP BY queue_name, status"
                )
            ):
                depth.add_metric([str(queue), str(status)], float(n))
            for queue, key, status, n in conn.execute(
                text(
                    f"SELECT queue_name, queue_partition_key, status, count(*) "
                    f"FROM {schema}workflow_status WHERE status IN ('ENQUEUED', 'PENDING') "
                    f"AND queue_name IN ({', '.join(repr(q) for q in CONNECTION_QUEUES)}) "
                    "AND queue_partition_key IS NOT NULL "
                    "GROUP BY queue_name, queue_partition_key, status"
                )
            ):
                per_conn.add_metric([connection_label(str(key)), str(queue), str(status)], float(n))
    except Exception:  # DBOS has not created its tables yet (a process that never launched it)
        pass
    yield from (
        events, req, r429, sync_done, sync_total, sync_ratio, conns, depth, backlog, per_conn
    )  # fmt: skip
    for source in list(_family_sources):
        yield source(rt)


#: DBOS queues whose partition key is the connection id (`switchboard.workflows`).
CONNECTION_QUEUES = ("sync", "setup")


#: Further scrape-time families, each built from the runtime by a module above this one (the
#: connection problems come from `switchboard.failures`, which reads connections and the ledger).
_family_sources: list[Callable[[Any], Any]] = []


def add_family_source(source: Callable[[Any], Any]) -> None:
    """Have `/metrics` also yield `source(runtime)` (a metric family) at every scrape."""
    if source not in _family_sources:
        _family_sources.append(source)


REGISTRY.register(DatabaseCollector())


def render() -> bytes:
    return generate_latest(REGISTRY)
