"""`/metrics` under real traffic: every metric family issue 7 asks for is exposed, and moves.

Quo emulator, Attio emulator and `switchboard serve` (web + workers, SQLite) run as separate
processes. The traffic is real: an initial sync pushed through a Quo 429 storm, webhook setup,
a Quo message and an Attio change delivered as signed webhooks. The families:

- events by status: `switchboard_events{provider,status}` (ledger, deployment-wide);
- API requests by provider: `switchboard_api_requests_total{provider,status}` (this process),
  `switchboard_api_requests_recorded{provider}` (all processes, from the database);
- 429s by provider: `switchboard_api_429_total{provider}`, `switchboard_api_429_recorded{provider}`;
- sync progress: `switchboard_sync_done|total|progress_ratio{connection}` (running syncs; total
  and ratio once the CRM scan is complete);
- queue depth: `switchboard_queue_depth{queue,status}`;
- webhook ack latency: `switchboard_webhook_ack_seconds{provider,result}` (histogram) and
  `switchboard_webhooks_total{provider,code}`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from switchboard.metrics import connection_label
from tests.sync.stack import ADMIN, QUO_KEY, SyncStack, sync_stack, wait_for

pytestmark = pytest.mark.timeout(180)

FAMILIES = (
    "switchboard_events",
    "switchboard_api_requests",
    "switchboard_api_requests_recorded",
    "switchboard_api_429",
    "switchboard_api_429_recorded",
    "switchboard_sync_done",
    "switchboard_sync_total",
    "switchboard_sync_progress_ratio",
    "switchboard_queue_depth",
    "switchboard_webhook_ack_seconds",
    "switchboard_webhooks",
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(s: SyncStack) -> tuple[set[str], Samples]:
    assert s.serve is not None
    r = httpx.get(s.serve.url + "/metrics", headers=ADMIN, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families: set[str] = set()
    samples: Samples = {}
    for fam in text_string_to_metric_families(r.text):
        families.add(fam.name)
        for sm in fam.samples:
            samples[(sm.name, tuple(sorted(sm.labels.items())))] = sm.value
    return families, samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(
        v
        for (n, lab), v in samples.items()
        if n == name and all(dict(lab).get(k) == want for k, want in labels.items())
    )


def test_every_family_is_exposed_and_moves_with_real_traffic(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pages of 20 people, two pushed at a time: the run's progress is visible between pages
    monkeypatch.setenv("SWITCHBOARD_SYNC_PAGE_SIZE", "20")
    monkeypatch.setenv("SWITCHBOARD_SYNC_PAGES_IN_FLIGHT", "2")
    with sync_stack(tmp_path, sqlite_url, people=60, serve=True, seed=3) as s:
        families, before = scrape(s)
        missing = [f for f in FAMILIES if f not in families]
        assert not missing, missing

        conn = s.connect(setup=False)
        # Quo answers 429 to its next 3 requests: the initial sync waits them out (Retry-After)
        s_quo = f"{s.quo.url}/_emulator"
        storm = {"errors": {"*": {"rate": 1.0, "status": 429, "retry_after": 1, "count": 3}}}
        httpx.put(s_quo + "/faults", json=storm).raise_for_status()
        out = s.cli("sync", conn, "--json")
        assert out.returncode == 0, out.stdout + out.stderr

        # while it runs: sync progress and queue depth are visible
        seen: dict[str, float] = {}

        def running() -> bool:
            _, now = scrape(s)
            for key, name, labels in (
                ("done", "switchboard_sync_done", {"connection": connection_label(conn)}),
                (
                    "ratio",
                    "switchboard_sync_progress_ratio",
                    {"connection": connection_label(conn)},
                ),
                ("depth", "switchboard_queue_depth", {"queue": "sync"}),
            ):
                if any(n == name and set(labels.items()) <= set(lab) for n, lab in now):
                    seen[key] = total(now, name, **labels)
            return seen.get("done", 0) > 0 and "depth" in seen and "ratio" in seen

        try:
            wait_for(running, timeout=30, interval=0.1)
        except AssertionError:
            raise AssertionError(f"while the sync ran, only saw {seen}") from None
        assert seen["depth"] >= 1 and 0 < seen["done"] < 60
        assert 0.0 < seen["ratio"] < 1.0
        report = s.cli_json("sync", conn, "--status", "--wait", timeout=120)
        assert report["status"] == "succeeded", report

        _, synced = scrape(s)
        assert total(synced, "switchboard_api_429_total", provider="quo") > 0
        assert total(synced, "switchboard_api_requests_total", provider="quo", status="429") > 0
        assert total(synced, "switchboard_api_requests_total", provider="quo") > 0
        assert total(synced, "switchboard_api_requests_total", provider="attio") > 0
        # the sync is over: no progress gauge for it, nothing left in the sync queue
        assert total(synced, "switchboard_sync_done", connection=connection_label(conn)) == 0
        assert total(synced, "switchboard_queue_depth", queue="sync") == 0

        # recorded (deployment-wide) counters are flushed to the database within seconds
        def recorded() -> Samples | None:
            _, now = scrape(s)
            ok = total(now, "switchboard_api_429_recorded", provider="quo") > 0 and total(
                now, "switchboard_api_requests_recorded", provider="attio"
            ) > total(before, "switchboard_api_requests_recorded", provider="attio")
            return now if ok else None

        wait_for(recorded, timeout=15)

        # webhooks: register them (admin API: loopback, no token), then real deliveries
        r = httpx.post(f"{s.serve.url}/api/connections/{conn}/setup", headers=ADMIN, timeout=30)
        assert r.status_code == 200, r.text
        wait_for(
            lambda: (
                {
                    w["provider"]
                    for w in httpx.get(
                        f"{s.serve.url}/api/connections/{conn}", headers=ADMIN, timeout=30
                    ).json()["webhooks"]
                }
                >= {"quo", "attio"}
            ),
            timeout=60,
        )
        _, hooked = scrape(s)
        person = next(iter(s.people()))
        s.update_person(person["id"]["record_id"], {"job_title": "Metrics tester"})
        httpx.post(
            s_quo + "/messages",
            json={"workspace": QUO_KEY, "participant": "+15550142231", "text": "hello"},
            timeout=30,
        ).raise_for_status()
        httpx.post(s_quo + "/deliveries/wait", params={"timeout": 30}, timeout=40)
        s.control("POST", "/webhooks/drain", json={"timeout": 30})

        def delivered() -> Samples | None:
            _, now = scrape(s)
            final = sum(
                total(now, "switchboard_events", provider=p, status=st)
                for p in ("quo", "attio")
                for st in ("processed", "ignored", "skipped")
            )
            pending = total(now, "switchboard_queue_depth")
            return now if final >= 2 and pending == 0 else None

        after = wait_for(delivered, timeout=60)
        for provider in ("quo", "attio"):
            count = "switchboard_webhook_ack_seconds_count"
            assert total(after, count, provider=provider) > total(hooked, count, provider=provider)
            assert total(after, "switchboard_webhook_ack_seconds_sum", provider=provider) > 0
            assert total(after, "switchboard_webhooks_total", provider=provider, code="200") > 0
            assert total(after, "switchboard_events", provider=provider) >= 1
        ack = {
            k[1]: v
            for k, v in after.items()
            if k[0] == "switchboard_webhook_ack_seconds_bucket" and dict(k[1])["provider"] == "quo"
        }
        assert ack, "ack latency histogram has buckets"
        print(
            "metrics:",
            json.dumps(
                {
                    "quo_requests": total(after, "switchboard_api_requests_total", provider="quo"),
                    "quo_429": total(after, "switchboard_api_429_total", provider="quo"),
                    "sync_seen_while_running": seen,
                    "events": {
                        f"{dict(k[1])['provider']}/{dict(k[1])['status']}": v
                        for k, v in after.items()
                        if k[0] == "switchboard_events"
                    },
                }
            ),
        )
        _ = time
