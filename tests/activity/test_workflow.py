"""The DBOS path in one process: signed webhook → ledger → activity queue → one note, with fakes.

E6's runtime and web app run for real (SQLite, DBOS launched, queues registered); Quo and the
CRM are the in-memory fakes, injected with `set_services_factory`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard import connections, ledger
from switchboard.activity import workflows as activity_workflows
from switchboard.activity.directory import Directory, forget_cached_workspaces
from switchboard.activity.processor import Services
from switchboard.activity.settings import ActivitySettings
from switchboard.config import Settings
from switchboard.crypto import generate_master_key
from switchboard.quo.signatures import sign_legacy
from tests.activity.fakes import FakeCrm, FakeQuo, fixture

CALLER = "+15550142231"
KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from switchboard.runtime import Runtime

    monkeypatch.setenv("SWITCHBOARD_VOICEMAIL_DELAY_S", "0.2")
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sb.db'}",
        secret_key=generate_master_key(),
    )
    rt = Runtime(settings, workers=True).start()
    forget_cached_workspaces()
    yield rt
    activity_workflows.set_services_factory(None)
    rt.stop(timeout_s=2)


@pytest.fixture
async def client(runtime: Any) -> AsyncIterator[httpx.AsyncClient]:
    from switchboard.web import create_app

    app = create_app(runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sb.test"
    ) as c:
        yield c


def setup_connection(rt: Any, quo: FakeQuo, crm: FakeCrm, **settings: Any) -> str:
    info = connections.create_connection(
        rt.db,
        rt.box,
        crm="attio",
        quo_api_key="quo-key",
        crm_token="crm-token",
        quo_base_url="http://quo.invalid",
        crm_base_url="http://crm.invalid",
        settings=settings,
    )
    connections.add_subscription(
        rt.db,
        rt.box,
        connection_id=info.id,
        provider="quo",
        remote_id=f"WH-{info.id}",
        kind="calls",
        url="http://sb.test",
        events=["call.completed"],
        key=KEY,
    )

    async def factory(connection_id: str) -> Services:
        stored = connections.get_settings_for(rt.db, connection_id)
        return Services(
            db=rt.db,
            connection_id=connection_id,
            quo=quo,
            crm=crm,
            settings=ActivitySettings.from_connection_settings(stored),
            directory=Directory(rt.db, connection_id, quo),
        )

    activity_workflows.set_services_factory(factory)
    return info.id


async def post(
    client: httpx.AsyncClient, conn: str, event: dict[str, Any], **kw: Any
) -> httpx.Response:
    body = json.dumps(event).encode()
    ts = kw.get("ts", int(time.time() * 1000))
    headers = {"openphone-signature": sign_legacy(body, kw.get("key", KEY), ts)}
    return await client.post(f"/webhooks/quo/{conn}", content=body, headers=headers)


async def settle(rt: Any, conn: str, timeout: float = 20) -> list[ledger.EventRecord]:
    deadline = time.monotonic() + timeout
    while True:
        events = ledger.list_events(rt.db, connection_id=conn)
        events = events if isinstance(events, list) else list(events)
        if all(e.status in ledger.FINAL_STATUSES for e in events) or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.05)


async def test_phases_twice_in_any_order_make_one_complete_note(
    runtime: Any, client: httpx.AsyncClient
) -> None:
    quo, crm = FakeQuo(), FakeCrm()
    crm.add_person("dana", CALLER)
    conn = setup_connection(runtime, quo, crm)
    events = [
        fixture("call.summary.completed"),
        fixture("call.completed.answered-incoming"),
        fixture("call.recording.completed"),
        fixture("call.ringing"),
    ]
    for ev in [*events, *reversed(events)]:
        r = await post(client, conn, ev)
        assert r.status_code == 200, r.text
    recorded = await settle(runtime, conn)
    assert len(recorded) == 4  # the redeliveries were duplicates in the ledger
    by_type = {e.event_type: e for e in recorded}
    assert by_type["call.ringing"].status == "ignored"
    assert "call.ringing is not logged" in (by_type["call.ringing"].reason or "")
    assert by_type["call.completed"].status == "processed"
    notes = crm.notes_for("dana")
    assert len(notes) == 1
    assert "**Summary:**" in notes[0]["content"] and "[▶️ Recording (2:01)]" in notes[0]["content"]
    detail = by_type["call.completed"].detail
    assert detail["lookups"][0]["person_id"] == "dana"


async def test_voicemail_follow_up_is_durable_and_delayed(
    runtime: Any, client: httpx.AsyncClient
) -> None:
    quo, crm = FakeQuo(), FakeCrm()
    crm.add_person("dana", CALLER)
    quo.voicemails["ACcall0002"] = {
        "id": "VM1",
        "status": "in-progress",
        "duration": None,
        "recordingUrl": None,
        "transcript": None,
    }
    conn = setup_connection(runtime, quo, crm)
    started = time.monotonic()
    r = await post(client, conn, fixture("call.completed.unanswered-with-voicemail"))
    assert r.status_code == 200
    assert time.monotonic() - started < 1.0  # no sleeping in the request path
    await settle(runtime, conn)
    assert "**Voicemail:**" not in crm.notes_for("dana")[0]["content"]
    quo.voicemails["ACcall0002"] = {
        "id": "VM1",
        "status": "completed",
        "duration": 16,
        "recordingUrl": "V",
        "transcript": "T",
    }
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        notes = crm.notes_for("dana")
        if len(notes) == 1 and "**Voicemail:**" in notes[0]["content"]:
            break
        await asyncio.sleep(0.1)
    [note] = crm.notes_for("dana")
    assert "• [Listen to voicemail](V) (0:16)\n**Transcript:**\nT" in note["content"]


async def test_reasons_recorded_for_unknown_caller_and_disabled_line(
    runtime: Any, client: httpx.AsyncClient
) -> None:
    quo, crm = FakeQuo(), FakeCrm()
    conn = setup_connection(runtime, quo, crm, enabled_lines=["PNother"])
    await post(client, conn, fixture("call.completed.answered-incoming"))
    conn2 = setup_connection(runtime, quo, crm)
    # second connection needs its own signing key row: reuse the same key
    await post(client, conn2, fixture("call.completed.answered-incoming"))
    [ev1] = await settle(runtime, conn)
    assert ev1.status == "ignored" and "line PNline0001 is not enabled" in (ev1.reason or "")
    [ev2] = await settle(runtime, conn2)
    assert (
        ev2.status == "skipped" and ev2.reason == "unknown caller: no CRM person has +15550142231"
    )
    assert ev2.detail["lookups"][0]["source"] == "none"


async def test_forged_stale_and_unsigned_are_401_and_leave_nothing(
    runtime: Any, client: httpx.AsyncClient
) -> None:
    quo, crm = FakeQuo(), FakeCrm()
    crm.add_person("dana", CALLER)
    conn = setup_connection(runtime, quo, crm)
    ev = fixture("call.completed.answered-incoming")
    forged = await post(client, conn, ev, key=base64.b64encode(b"x" * 32).decode())
    stale = await post(client, conn, ev, ts=int((time.time() - 3600) * 1000))
    body = json.dumps(ev).encode()
    good_sig = sign_legacy(body, KEY, int(time.time() * 1000))
    tampered = await client.post(
        f"/webhooks/quo/{conn}",
        content=body.replace(b"125", b"126"),
        headers={"openphone-signature": good_sig},
    )
    unsigned = await client.post(f"/webhooks/quo/{conn}", content=body)
    assert [r.status_code for r in (forged, stale, tampered, unsigned)] == [401, 401, 401, 401]
    await asyncio.sleep(0.3)
    assert ledger.list_events(runtime.db, connection_id=conn) == []
    assert crm.notes == {}
