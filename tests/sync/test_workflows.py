"""The sync workflows under a real runtime (DBOS on SQLite) with fake Quo and CRM clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dbos import DBOS

from switchboard.crm.base import PeoplePage
from switchboard.runtime import Runtime
from switchboard.store.models import Connection
from switchboard.sync import clients, start_initial_sync, start_reconcile, sync_progress
from switchboard.sync.transform import SyncSettings
from tests.sync.conftest import runtime_with_connection
from tests.sync.fakes import FakeCrm, FakeQuo, person

C = "conn_wf"


@pytest.fixture
def rt(tmp_path: Path, sqlite_url: str) -> Iterator[Runtime]:
    yield from runtime_with_connection(tmp_path, sqlite_url, C)


def _install(crm: FakeCrm, quo: FakeQuo) -> None:
    async def factory(connection_id: str) -> clients.SyncClients:
        return clients.SyncClients(
            connection_id, "attio", SyncSettings(source="switchboard-attio"), crm, quo
        )

    clients.set_factory(factory)


async def _result(run_id: str) -> dict:
    handle = await DBOS.retrieve_workflow_async(run_id)
    return await asyncio.wait_for(handle.get_result(), 60)


async def test_initial_sync_pages_reruns_and_reconcile(rt: Runtime, monkeypatch) -> None:
    from switchboard.sync import initial

    monkeypatch.setattr(initial, "PAGE_SIZE", 7)
    people = [person(f"p{i:03}", f"+1555010{i:04}") for i in range(40)]
    people += [person("nophone"), person("bad", raw=["12"])]
    crm, quo = FakeCrm(people), FakeQuo()
    _install(crm, quo)

    run_id, joined = await asyncio.to_thread(start_initial_sync, rt.db, C)
    again, joined_again = await asyncio.to_thread(start_initial_sync, rt.db, C)
    assert not joined and joined_again and again == run_id
    assert (await _result(run_id))["status"] == "succeeded"
    p = sync_progress(rt.db, C, run_id=run_id)
    assert p is not None
    assert (p["created"], p["skipped"], p["failed"], p["done"], p["total"]) == (40, 2, 0, 42, 42)
    assert p["skip_reasons"] == {"no_phone": 1, "invalid_phone": 1}
    assert len(quo.contacts) == 40 and all(len(quo.by_external(f"p{i:03}")) == 1 for i in range(40))

    # a second run costs no Quo writes
    quo.calls.clear()
    run2, _ = await asyncio.to_thread(start_initial_sync, rt.db, C)
    assert run2 != run_id
    await _result(run2)
    p2 = sync_progress(rt.db, C, run_id=run2)
    assert p2 is not None and p2["unchanged"] == 40 and quo.writes() == 0

    # reconcile: a missed create and a missed update are repaired, the rest costs nothing
    now = datetime.now(UTC)
    crm.put(person("p001", "+15550100001", first="Changed", updated=now))
    crm.put(person("late", "+15550109999", updated=now))
    quo.calls.clear()
    rec, _ = await asyncio.to_thread(start_reconcile, rt.db, C)
    assert (await _result(rec))["status"] == "succeeded"
    pr = sync_progress(rt.db, C, run_id=rec)
    assert pr is not None and (pr["created"], pr["updated"]) == (1, 1)
    assert quo.by_external("p001")[0]["defaultFields"]["firstName"] == "Changed"
    assert len(quo.by_external("late")) == 1

    # a delete whose webhook was lost: invisible to the delta, found by a deep pass
    del crm.people["p002"]
    deep, _ = await asyncio.to_thread(start_reconcile, rt.db, C, deep=True)
    assert (await _result(deep))["removed"] == 1
    assert quo.by_external("p002") == [] and len(quo.by_external("p003")) == 1


async def test_reconcile_tick_enqueues_one_pass_per_active_connection(rt: Runtime) -> None:
    from switchboard.sync.reconcile import reconcile_tick

    with rt.db.session() as s:
        conn = s.get(Connection, C)
        assert conn is not None
        conn.status = "active"
    crm, quo = FakeCrm([person("p1", "+15550100001")]), FakeQuo()
    _install(crm, quo)
    handle = await DBOS.start_workflow_async(reconcile_tick, datetime.now(UTC), None)
    await asyncio.wait_for(handle.get_result(), 60)
    p = sync_progress(rt.db, C, "reconcile")
    assert p is not None
    await _result(p["run_id"])
    p = sync_progress(rt.db, C, run_id=p["run_id"])
    assert p is not None and p["status"] == "succeeded" and p["created"] == 1


# ------------------------------------------------------------------ fairness between connections
_activity_done: list[str] = []


@DBOS.workflow()
async def _log_call(call_id: str) -> str:
    _activity_done.append(call_id)
    return call_id


class _GatedCrm(FakeCrm):
    """A CRM whose page reads hold until the gate opens: a sync that is still running."""

    def __init__(self, people: list, started: set[str], name: str, gate: threading.Event) -> None:
        super().__init__(people)
        self._started, self._name, self._gate = started, name, gate

    async def list_people_page(self, cursor: str | None, limit: int = 500) -> PeoplePage:
        self._started.add(self._name)
        while not self._gate.is_set():
            await asyncio.sleep(0.02)
        return await super().list_people_page(cursor, limit)


async def test_syncs_of_many_connections_run_together_and_calls_are_still_logged(
    rt: Runtime,
) -> None:
    """More connections than the old per-process sync limit (4) sync at once: each run is
    working (reading its CRM) before any finishes, and a call on the activity queue is logged
    while every sync is still running."""
    from switchboard import workflows

    names = [f"conn_fair{i}" for i in range(6)]
    with rt.db.session() as s:
        for name in names:
            s.add(
                Connection(
                    id=name, crm="attio", quo_base_url="http://q", crm_base_url="http://a",
                    quo_api_key_enc="x", crm_token_enc="y", settings={},
                )
            )  # fmt: skip
    gate, started = threading.Event(), set[str]()
    crms = {
        n: _GatedCrm(
            [person(f"{n}-p{i}", f"+155501{k:02}{i:03}") for i in range(30)], started, n, gate
        )
        for k, n in enumerate(names)
    }
    quos = {n: FakeQuo() for n in names}

    async def factory(connection_id: str) -> clients.SyncClients:
        return clients.SyncClients(
            connection_id, "attio", SyncSettings(source="switchboard-attio"),
            crms[connection_id], quos[connection_id],
        )  # fmt: skip

    clients.set_factory(factory)
    runs = [(await asyncio.to_thread(start_initial_sync, rt.db, n))[0] for n in names]
    try:
        for _ in range(300):
            if started == set(names):
                break
            await asyncio.sleep(0.05)
        assert started == set(names), f"syncs waiting for a slot: {set(names) - started}"
        # /metrics shows each connection's own sync running, none waiting for a slot.
        from switchboard.metrics import _collect, connection_label

        families = {f.name: f for f in await asyncio.to_thread(lambda: list(_collect(rt)))}
        per_conn = {
            (s.labels["connection"], s.labels["queue"], s.labels["status"]): s.value
            for s in families["switchboard_connection_workflows"].samples
        }
        assert per_conn == {(connection_label(n), "sync", "PENDING"): 1.0 for n in names}
        handle = await workflows.enqueue_async(
            "activity", _log_call, "call-1", partition_key="conn_fair0:call-1",
            workflow_id="fair-call-1",
        )  # fmt: skip
        assert await asyncio.wait_for(handle.get_result(), 30) == "call-1"
        statuses = [
            (sync_progress(rt.db, n, run_id=r) or {}).get("status")
            for n, r in zip(names, runs, strict=True)
        ]
        assert all(s in ("queued", "running") for s in statuses), statuses
    finally:
        gate.set()
    for n, run in zip(names, runs, strict=True):
        assert (await _result(run))["status"] == "succeeded"
        assert len(quos[n].contacts) == 30
