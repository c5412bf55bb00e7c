"""`switchboard_connection_backlog`: each connection's unprocessed ledger events, by its label."""

from __future__ import annotations

from types import SimpleNamespace

from switchboard.metrics import _collect, connection_label
from switchboard.store import Database, migrate
from switchboard.store.models import Connection, Event


def test_backlog_per_connection(sqlite_url: str) -> None:
    migrate(sqlite_url)
    db = Database(sqlite_url)
    with db.session() as s:
        for cid in ("conn_a", "conn_b"):
            s.add(
                Connection(
                    id=cid, crm="attio", quo_base_url="http://quo", crm_base_url="http://crm",
                    quo_api_key_enc="v1:x", crm_token_enc="v1:y", settings={},
                )
            )  # fmt: skip
    with db.session() as s:
        statuses = {"conn_a": ["accepted"] * 3 + ["processing", "processed"], "conn_b": ["failed"]}
        for cid, values in statuses.items():
            for i, status in enumerate(values):
                s.add(
                    Event(
                        id=f"{cid}-{i}", connection_id=cid, provider="quo", status=status,
                        event_type="call.completed", idempotency_key=f"{cid}-{i}",
                    )
                )  # fmt: skip
    families = {f.name: f for f in _collect(SimpleNamespace(db=db))}
    samples = {
        (s.labels["connection"], s.labels["status"]): s.value
        for s in families["switchboard_connection_backlog"].samples
    }
    a = connection_label("conn_a")
    assert samples == {(a, "accepted"): 3.0, (a, "processing"): 1.0}
    db.dispose()
