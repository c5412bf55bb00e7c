"""The sync workflows under a real runtime (DBOS on SQLite) with fake Quo and CRM clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dbos import DBOS

from switchboard.config import Settings
from switchboard.runtime import Runtime
from switchboard.store.models import Connection
from switchboard.sync import clients, start_initial_sync, start_reconcile, sync_progress
from switchboard.sync.transform import SyncSettings
from tests.sync.fakes import FakeCrm, FakeQuo, person

C = "conn_wf"


@pytest.fixture
def rt(tmp_path: Path, sqlite_url: str) -> Iterator[Runtime]:
    settings = Settings(database_url=sqlite_url, data_dir=tmp_path, secret_key=None)
    runtime = Runtime(settings, kind="test").start()
    with runtime.db.session() as s:
        s.add(
            Connection(
                id=C,
                crm="attio",
                quo_base_url="http://q",
                crm_base_url="http://a",
                quo_api_key_enc="x",
                crm_token_enc="y",
                settings={},
            )
        )
    yield runtime
    clients.set_factory(None)
    runtime.stop()


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
