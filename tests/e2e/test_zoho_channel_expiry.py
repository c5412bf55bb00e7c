"""Zoho's watch channel over time, end to end (Quo emulator, Zoho emulator and `switchboard
serve` as processes; the Zoho emulator's clock advanced, never slept):

1. connect: one channel, unique id, explicit expiry a week ahead;
2. three days later the webhook check (`switchboard connections setup`, the workflow the
   15-minute schedule runs) renews it in place — same channel, a week ahead again — so it is
   still live after the first expiry;
3. a channel that lapsed anyway (eight days with nobody checking) is created anew by the next
   check; the change made while it was down is brought in by reconciliation, and changes after
   it arrive by notification again. Nothing is lost.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.sync.stack import SyncStack, assert_quo_matches, sync_stack, wait_for

pytestmark = pytest.mark.timeout(300)
DAY = 86400


def _channels(s: SyncStack) -> list[dict[str, Any]]:
    return [c for c in s.driver.control("GET", "/orgs/default/channels")["data"]]


def _live(s: SyncStack) -> list[dict[str, Any]]:
    return [c for c in _channels(s) if not c["expired"]]


def _now(s: SyncStack) -> float:
    return float(s.driver.control("GET", "/clock")["now"])


def _days_left(s: SyncStack, channel: dict[str, Any]) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(channel["channel_expiry"]).timestamp() - _now(s)) / DAY


def _check_webhooks(s: SyncStack) -> dict[str, Any]:
    done = s.cli("connections", "setup", s.connection_id, "--json", timeout=200)
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "active", out
    return dict(out)


def _converged(s: SyncStack) -> bool:
    assert_quo_matches(s, s.expected_contacts(s.people()))
    return True


def test_channel_is_renewed_or_recreated_and_nothing_is_lost(
    tmp_path: Path, sqlite_url: str
) -> None:
    with sync_stack(tmp_path, sqlite_url, people=60, serve=True, crm="zoho") as s:
        s.connect(setup=True)
        report = s.cli_json("sync", s.connection_id, "--status", "--wait", timeout=200)
        assert report["status"] == "succeeded", report
        (channel,) = _live(s)
        assert channel["explicit_expiry"] and 6.99 < _days_left(s, channel) <= 7
        ids = list(s.expected_contacts(s.people()))

        # Renewal: three days on, the check extends the same channel a week ahead.
        s.driver.control("POST", "/clock", json={"advance_s": 3 * DAY})
        _check_webhooks(s)
        (renewed,) = _live(s)
        assert renewed["channel_id"] == channel["channel_id"]
        assert _days_left(s, renewed) > 6.99
        s.driver.control("POST", "/clock", json={"advance_s": 5 * DAY})  # past the first expiry
        assert [c["channel_id"] for c in _live(s)] == [channel["channel_id"]]
        s.rename(ids[0], "Noticed", "Renewed")
        wait_for(lambda: _converged(s), timeout=30, interval=0.5)

        # Lapsed: eight days with nobody checking; a change made meanwhile notifies nobody.
        s.driver.control("POST", "/clock", json={"advance_s": 8 * DAY})
        assert _live(s) == []
        s.rename(ids[1], "Missed", "Whiledown")
        s.drain_webhooks()
        _check_webhooks(s)
        (fresh,) = _live(s)
        assert fresh["channel_id"] != channel["channel_id"] and _days_left(s, fresh) > 6.99
        done = s.cli_json("sync", s.connection_id, "--reconcile", "--wait", timeout=120)
        assert done["status"] == "succeeded" and done["failed"] == 0, done
        assert _converged(s)

        # The new channel notifies: a later change arrives without reconciliation.
        s.rename(ids[2], "After", "Recreated")
        wait_for(lambda: _converged(s), timeout=30, interval=0.5)
        names = {c["externalId"]: c["defaultFields"]["firstName"] for c in s.quo_contacts()}
        assert (names[ids[0]], names[ids[1]], names[ids[2]]) == ("Noticed", "Missed", "After")
