"""Connection setup against the Quo and Attio emulators (real HTTP, emulators in threads):
webhooks for the enabled lines (≤ 10 per webhook), tolerant of a fresh key's 401s and 500s on
webhook creation, idempotent re-runs, orphan cleanup, re-subscribe on line changes, partial
failures visible on the connection, and disconnect removing every webhook it created."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dbos import DBOS

from switchboard import connection_settings, connections, setup
from switchboard.emulators.attio import AttioEmulator
from switchboard.emulators.attio import create_app as attio_app
from switchboard.emulators.common import run_in_thread
from switchboard.emulators.quo import QuoEmulator
from switchboard.emulators.quo import create_app as quo_app
from switchboard.runtime import Runtime
from tests.web.conftest import make_settings

QUO_KEY = "quo-fresh-key-0001"
LINES = [f"+1555010{i:04d}" for i in range(12)]


@pytest.fixture
def emulators() -> Iterator[dict[str, Any]]:
    quo = QuoEmulator(phase_delay_scale=0, bulk_delay_s=0, rate_limit=100)
    ws = quo.create_workspace(
        api_key=QUO_KEY,
        phone_numbers=[
            {"number": n, "name": f"Line {i}", "symbol": "📞"} for i, n in enumerate(LINES)
        ],
        key_propagation_s=2.0,  # a fresh key answers 401 at first
    )
    attio = AttioEmulator(allow_http_targets=True, seed_value=3)
    with run_in_thread(quo_app(quo)) as q, run_in_thread(attio_app(attio)) as a:
        yield {"quo": quo, "ws": ws, "quo_url": q.url, "attio": attio, "attio_url": a.url}


@pytest.fixture
def rt(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setitem(setup.STEP_RETRY, "delay", 0.2)
    runtime = Runtime(make_settings(sqlite_url, tmp_path)).start()
    try:
        yield runtime
    finally:
        runtime.stop()


def _quo_hooks(env: dict[str, Any]) -> list[dict[str, Any]]:
    r = httpx.get(f"{env['quo_url']}/_emulator/workspaces/{env['ws'].id}/webhooks")
    return list(r.json()["data"])


def _attio_hooks(env: dict[str, Any]) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{env['attio_url']}/v2/webhooks",
        headers={"Authorization": f"Bearer {env['attio'].default_token}"},
    )
    return list(r.json()["data"])


def _run(wid: str) -> Any:
    return DBOS.retrieve_workflow(wid).get_result()


def _line_ids(env: dict[str, Any]) -> list[str]:
    return sorted(env["ws"].phone_numbers)


def test_setup_resubscribe_disconnect(emulators: dict[str, Any], rt: Runtime) -> None:
    env = emulators
    fresh = "quo-key-made-a-moment-ago"
    info = connections.create_connection(
        rt.db, rt.box, crm="attio", quo_api_key=fresh, crm_token=env["attio"].default_token,
        quo_base_url=env["quo_url"], crm_base_url=env["attio_url"],
    )  # fmt: skip
    # Quo answers 500 twice on webhook creation, and 401 while the new key propagates.
    env["quo"].faults.update(
        {"errors": {"createCallWebhook_v1": {"rate": 1.0, "status": 500, "count": 2}}}
    )
    lines = _line_ids(env)
    connections.update_settings(rt.db, info.id, {"enabled_lines": lines})
    env["quo"].add_api_key(env["ws"].id, fresh, propagation_s=3.0)  # 401 for its first 3 s
    report = _run(setup.start_setup(info.id, start_sync=False))
    assert report["problems"] == []
    stats = httpx.get(f"{env['quo_url']}/_emulator/stats").json()
    assert stats["perStatus"].get("401", 0) >= 1  # the fresh key was refused at first
    assert stats["perStatus"].get("500", 0) == 2  # and webhook creation failed twice
    hooks = _quo_hooks(env)
    assert len(hooks) == 8  # 4 kinds x 2 groups of lines (12 = 10 + 2)
    assert all(len(h["resourceIds"]) <= 10 for h in hooks)
    assert {h["url"] for h in hooks} == {f"http://127.0.0.1:8400/webhooks/quo/{info.id}"}
    events = {e for h in hooks for e in h["events"]}
    assert events == set(setup.wanted_events(list(connection_settings.QUO_EVENT_KINDS)))
    stored = connections.get_connection(rt.db, info.id)
    assert stored.status == "active"
    assert {w.remote_id for w in stored.webhooks if w.provider == "quo"} == {h["id"] for h in hooks}
    keys = set(connections.webhook_keys(rt.db, rt.box, info.id, "quo", fresh=True))
    assert keys == {h["key"] for h in hooks}
    attio_hooks = _attio_hooks(env)
    assert len(attio_hooks) == 1
    assert attio_hooks[0]["target_url"] == f"http://127.0.0.1:8400/webhooks/attio/{info.id}"
    assert len(connections.webhook_keys(rt.db, rt.box, info.id, "attio", fresh=True)) == 1

    # Re-running converges to the same state: nothing created, nothing deleted.
    again = _run(setup.start_setup(info.id, start_sync=False))
    assert again["quo"]["created"] == 0 and again["quo"]["deleted"] == 0
    assert again["crm"]["created"] == 0
    assert {h["id"] for h in _quo_hooks(env)} == {h["id"] for h in hooks}

    # A webhook deleted at Quo behind our back is recreated by the scheduled webhook check.
    httpx.delete(f"{env['quo_url']}/v1/webhooks/{hooks[0]['id']}", headers={"Authorization": fresh})
    import asyncio
    from datetime import UTC, datetime

    tick = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    asyncio.run(setup.webhook_check_tick(tick, None))
    checked = _run(f"webhook-check:{info.id}:{tick.isoformat()}")
    assert checked["quo"]["recreated_missing"] == 1, checked
    assert len(_quo_hooks(env)) == 8

    # A webhook at our URL that we have no record of (crash between create and store) goes.
    httpx.post(
        f"{env['quo_url']}/v1/webhooks/messages",
        headers={"Authorization": QUO_KEY},
        json={
            "url": f"http://127.0.0.1:8400/webhooks/quo/{info.id}",
            "events": ["message.received"],
        },
    ).raise_for_status()
    cleaned = _run(setup.start_resubscribe(info.id))
    assert cleaned["quo"]["orphans_deleted"] == 1 and len(_quo_hooks(env)) == 8

    # Fewer lines: create new, then delete old.
    connections.update_settings(
        rt.db, info.id, {"enabled_lines": lines[:3], "event_kinds": ["calls", "messages"]}
    )
    changed = _run(setup.start_resubscribe(info.id))
    assert changed["quo"]["created"] == 2 and changed["quo"]["deleted"] == 8
    hooks = _quo_hooks(env)
    assert sorted(h["resourceIds"] for h in hooks) == [sorted(lines[:3])] * 2
    assert {w.remote_id for w in connections.list_subscriptions(rt.db, info.id, "quo")} == {
        h["id"] for h in hooks
    }

    # Disconnect removes every webhook we created, keeps an audit row, wipes the secrets, and
    # (asked to) deletes the Quo contacts Switchboard created — only those.
    from switchboard.store.models import ContactMapping

    made = []
    for ext in ("crm-1", "crm-2"):
        r = httpx.post(
            f"{env['quo_url']}/v1/contacts",
            headers={"Authorization": fresh},
            json={
                "defaultFields": {"firstName": ext},
                "externalId": ext,
                "source": "switchboard-attio",
            },
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["data"]["id"])
    with rt.db.session() as s:
        s.add(ContactMapping(connection_id=info.id, external_id="crm-1", quo_contact_id=made[0]))
        s.add(
            ContactMapping(
                connection_id=info.id,
                external_id="crm-2",
                quo_contact_id=made[1],
                created_by_us=False,
            )
        )
    result = asyncio.run(
        setup.disconnect(rt.db, rt.box, rt.settings, info.id, delete_quo_contacts=True)
    )
    assert result["quo_webhooks_deleted"] == 2 and result["crm_webhooks_deleted"] == 1
    assert result["quo_contacts_deleted"] == 1
    left = httpx.get(f"{env['quo_url']}/_emulator/workspaces/{env['ws'].id}/contacts").json()
    assert {c["id"] for c in left["data"]} == {made[1]}
    assert result["errors"] == []
    assert _quo_hooks(env) == [] and _attio_hooks(env) == []
    gone = connections.get_connection(rt.db, info.id)
    assert gone.status == "disconnected" and gone.webhooks == []
    from sqlalchemy import select

    from switchboard.store.models import AuditEntry

    with rt.db.session() as s:
        actions = [a.action for a in s.execute(select(AuditEntry)).scalars()]
    assert "disconnect" in actions and "setup" in actions


def test_partial_failure_is_visible(emulators: dict[str, Any], rt: Runtime) -> None:
    env = emulators
    info = connections.create_connection(
        rt.db, rt.box, crm="attio", quo_api_key=QUO_KEY, crm_token="not-a-valid-attio-token",
        quo_base_url=env["quo_url"], crm_base_url=env["attio_url"],
    )  # fmt: skip
    report = _run(setup.start_setup(info.id, start_sync=False))
    assert len(report["problems"]) == 1 and report["problems"][0].startswith("CRM webhook")
    state = connections.get_connection(rt.db, info.id)
    assert state.status == "degraded"
    assert "CRM webhook" in state.status_message and "retry setup" in state.status_message
    assert "not-a-valid-attio-token" not in state.status_message
    assert len(_quo_hooks(env)) == 4  # the Quo half is in place (every line: one per kind)
    assert all(h["resourceIds"] == ["*"] for h in _quo_hooks(env))


@pytest.mark.slow
def test_setup_survives_a_fresh_key_401ing_for_30s(emulators: dict[str, Any], rt: Runtime) -> None:
    """The production case literally: a key made a moment ago answers 401 for 30 s."""
    env = emulators
    fresh = "quo-key-brand-new-30s"
    info = connections.create_connection(
        rt.db, rt.box, crm="attio", quo_api_key=fresh, crm_token=env["attio"].default_token,
        quo_base_url=env["quo_url"], crm_base_url=env["attio_url"],
    )  # fmt: skip
    env["quo"].add_api_key(env["ws"].id, fresh, propagation_s=30.0)
    started = time.monotonic()
    report = _run(setup.start_setup(info.id, start_sync=False))
    assert report["problems"] == [], report
    assert time.monotonic() - started >= 25
    assert connections.get_connection(rt.db, info.id).status == "active"
    stats = httpx.get(f"{env['quo_url']}/_emulator/stats").json()
    assert stats["perStatus"].get("401", 0) >= 3
    assert len(_quo_hooks(env)) == 4


def test_new_quo_lines_are_offered_or_enabled(emulators: dict[str, Any], rt: Runtime) -> None:
    import dataclasses

    env = emulators
    info = connections.create_connection(
        rt.db, rt.box, crm="attio", quo_api_key=QUO_KEY, crm_token=env["attio"].default_token,
        quo_base_url=env["quo_url"], crm_base_url=env["attio_url"],
    )  # fmt: skip
    lines = _line_ids(env)
    chosen = lines[:2]
    connections.update_settings(rt.db, info.id, {"enabled_lines": chosen})
    _run(setup.start_setup(info.id, start_sync=False))
    settings = connections.get_settings_for(rt.db, info.id)
    assert settings["known_lines"] == lines  # lines that existed at first look are not "new"
    assert settings["offered_lines"] == []

    def add_line(pid: str, number: str) -> None:
        template = next(iter(env["ws"].phone_numbers.values()))
        env["ws"].phone_numbers[pid] = dataclasses.replace(template, id=pid, number=number)

    def subscribed() -> set[str]:
        return {r for h in _quo_hooks(env) for r in h["resourceIds"]}

    add_line("PNnewline0001", "+15550199001")
    _run(setup.start_setup(info.id, start_sync=False))
    settings = connections.get_settings_for(rt.db, info.id)
    assert settings["offered_lines"] == ["PNnewline0001"]  # offered, not enabled
    assert settings["enabled_lines"] == chosen
    assert subscribed() == set(chosen)

    connections.update_settings(rt.db, info.id, {"auto_enable_new_lines": True})
    add_line("PNnewline0002", "+15550199002")
    _run(setup.start_setup(info.id, start_sync=False))
    settings = connections.get_settings_for(rt.db, info.id)
    assert settings["enabled_lines"] == sorted([*chosen, "PNnewline0002"])
    assert subscribed() == {*chosen, "PNnewline0002"}


def test_new_connection_takes_the_dated_generation_when_offered(
    emulators: dict[str, Any], rt: Runtime
) -> None:
    env = emulators
    env["quo"].apply_settings({"profile": "2026-03-30"})
    info = connections.create_connection(
        rt.db, rt.box, crm="attio", quo_api_key=QUO_KEY, crm_token=env["attio"].default_token,
        quo_base_url=env["quo_url"], crm_base_url=env["attio_url"],
    )  # fmt: skip
    connections.update_settings(rt.db, info.id, {"enabled_lines": _line_ids(env)})
    report = _run(setup.start_setup(info.id, start_sync=False))
    assert report["problems"] == []
    stored = connections.get_connection(rt.db, info.id)
    assert stored.settings["quo_webhooks"] == "2026-03-30"
    # The CRM account's facts, kept for links into the CRM (the dashboard's event rows).
    assert connections.crm_account(rt.db, info.id).get("workspace_slug")
    hooks = [h for h in _quo_hooks(env) if h["version"] == 3]
    assert len(hooks) == 2 and len(_quo_hooks(env)) == 2  # 12 lines = 10 + 2, no v1 webhooks
    events = set(hooks[0]["events"])
    assert {"call.completed", "call.voicemail.completed", "message.failed"} <= events
    # Contact events (two-way contacts) are workspace-wide: on one webhook, so delivered once.
    contact_events = {"contact.updated", "contact.deleted"}
    assert sorted(bool(contact_events & set(h["events"])) for h in hooks) == [False, True]
    assert all(contact_events <= set(h["events"]) or h["resourceIds"] for h in hooks)
    subs = [w for w in stored.webhooks if w.provider == "quo"]
    assert {w.version for w in subs} == {"2026-03-30"} and {w.kind for w in subs} == {"dated"}
    again = _run(setup.start_setup(info.id, start_sync=False))
    assert again["quo"]["created"] == 0 and again["quo"]["deleted"] == 0
    with pytest.raises(connections.InvalidSettings, match="migrate-webhooks"):
        connections.update_settings(rt.db, info.id, {"quo_webhooks": "v1"})
