"""Scale-out end to end on PostgreSQL: one web replica, two workers, a mixed load, one SIGKILL.

Processes (all real subprocesses, one shared PostgreSQL database, one shared secret key):

- `switchboard emulate quo` and `switchboard emulate attio` (a few hundred seeded people);
- `switchboard serve --no-workers` (the webhook receiver: ledger + enqueue, never dequeues);
- two `switchboard worker` processes with their own `SWITCHBOARD_EXECUTOR_ID` and data dir
  (B starts once A has picked up the initial sync, so the sync is among A's work in flight);
- the `switchboard connect attio --no-wait` CLI (a worker runs the setup: Quo + Attio webhooks,
  then it enqueues the initial sync; Quo's bulk endpoint answers slowly, so the sync lasts).

The load runs at the same time: the initial sync of every Attio person, Attio changes while it
runs (creates, renames, phone changes, deletes → Attio webhooks → incremental sync), and a stream
of simulated Quo calls and messages (→ Quo webhooks → activity notes in Attio). Once worker A
owns work in flight it is SIGKILLed (half of the calls and all messages arrive afterwards);
worker B (watchdog: heartbeat gone stale / pid gone) takes its workflows over and finishes
everything. The watchdog settings are low (heartbeat 0.5 s, stale after 3 s).

Afterwards, from the emulators' own state: exactly one Quo contact per Attio person with a phone
(matching the person), exactly one note per (call or message, person), every ledger event final
and none failed, no DBOS workflow left behind, zero 429s from Quo and never more than 10 Quo
requests in any sliding second for the key — across all processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.activity.harness import Worker
from tests.servers import cli_server, free_port, quo_emulator
from tests.sync.stack import (
    ATTIO_TOKEN,
    QUO_KEY,
    SyncStack,
    assert_quo_matches,
    expected_contacts,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

PEOPLE = int(os.environ.get("SB_SCALE_PEOPLE", "300"))
CALLS = int(os.environ.get("SB_SCALE_CALLS", "24"))
MESSAGES = int(os.environ.get("SB_SCALE_MESSAGES", "12"))
OWN_NUMBER = "+15550100100"  # the Quo emulator's default line
LINK_RE = re.compile(r"\[View the (?:call|message) activity in Quo\]\([^)]*at=(?P<id>AC\w+)\)")
FINAL = {"processed", "ignored", "skipped", "failed"}


class Db:
    """Read-only SQL against the shared database (ledger, DBOS tables, heartbeats)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as c:
            return list(c.execute(text(sql), params))

    def scalar(self, sql: str, **params: Any) -> Any:
        return self.rows(sql, **params)[0][0]


@contextlib.contextmanager
def scale_out_stack(tmp_path: Path, db_url: str) -> Iterator[tuple[SyncStack, Worker, Worker]]:
    from switchboard.crypto import generate_master_key
    from switchboard.store.db import migrate

    serve_port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "web"),
        "SWITCHBOARD_DATABASE_URL": db_url,
        "SWITCHBOARD_SECRET_KEY": generate_master_key(),  # shared by every process
        "SWITCHBOARD_PUBLIC_URL": f"http://127.0.0.1:{serve_port}",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_HEARTBEAT_INTERVAL": "0.5",
        "SWITCHBOARD_EXECUTOR_STALE_AFTER": "3",
        "SWITCHBOARD_VOICEMAIL_DELAY_S": "0.5",
        "SWITCHBOARD_DBOS_POOL_SIZE": "4",  # a shared PostgreSQL: keep our connection count low
    }
    env.pop("SWITCHBOARD_EXECUTOR_ID", None)
    env.pop("SWITCHBOARD_ADMIN_TOKEN", None)
    with contextlib.ExitStack() as stack:
        # The three servers start in parallel (imports dominate start-up on a busy machine);
        # the database is migrated once, before any Switchboard process touches it.
        migrate(db_url)
        starting = {
            "quo": quo_emulator(
                "--api-key", QUO_KEY, "--phase-scale", "0", "--bulk-delay", "2.5", timeout=90
            ),
            "attio": cli_server(
                "emulate", "attio", "--token", ATTIO_TOKEN, "--allow-http-targets",
                "--people", str(PEOPLE), "--seed", "11",
                ready_path="/_emulator/health", timeout=90,
            ),
            "serve": cli_server(
                "serve", "--no-workers", port=serve_port, env=env, ready_path="/readyz", timeout=90
            ),
        }  # fmt: skip
        with ThreadPoolExecutor(len(starting)) as pool:
            futures = {k: pool.submit(cm.__enter__) for k, cm in starting.items()}
        servers = {}
        for k, f in futures.items():
            if f.exception() is None:
                servers[k] = f.result()
                stack.push(starting[k].__exit__)
        for f in futures.values():
            if f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
        s = SyncStack(quo=servers["quo"], attio=servers["attio"], env=env, db_url=db_url)
        s.serve = servers["serve"]
        workers = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            w = Worker(
                {
                    **env,
                    "SWITCHBOARD_EXECUTOR_ID": f"worker-{name}",
                    "SWITCHBOARD_DATA_DIR": str(tmp_path / name),
                },
                tmp_path / name,
            )
            if name == "a":  # worker B is started by the test, once the initial sync runs on A
                w.start()
            stack.callback(w.stop)
            workers.append(w)
        try:
            yield s, workers[0], workers[1]
        finally:
            for proc in s.procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, 9)
                    proc.wait(10)


def current(record: dict[str, Any], slug: str) -> list[dict[str, Any]]:
    """An Attio record's current values of an attribute (those not yet superseded)."""
    return [v for v in record["values"].get(slug) or [] if v.get("active_until") is None]


def _unique_phone_people(people: list[dict[str, Any]]) -> dict[str, str]:
    """phone → record id, for people with exactly one phone that nobody else has."""
    owners: dict[str, list[str]] = {}
    for rec in people:
        for p in {v["phone_number"] for v in current(rec, "phone_numbers")}:
            owners.setdefault(p, []).append(rec["id"]["record_id"])
    singles = {
        rec["id"]["record_id"]
        for rec in people
        if len({v["phone_number"] for v in current(rec, "phone_numbers")}) == 1
    }
    return {p: ids[0] for p, ids in owners.items() if len(ids) == 1 and ids[0] in singles}


def _all_notes(s: SyncStack) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with s.attio_api() as c:
        while True:
            r = c.get("/v2/notes", params={"limit": 50, "offset": len(out)})
            r.raise_for_status()
            page = r.json()["data"]
            out.extend(page)
            if len(page) < 50:
                return out


def _quo(s: SyncStack, method: str, path: str, **kw: Any) -> Any:
    r = httpx.request(method, f"{s.quo.url}/_emulator{path}", timeout=60, **kw)
    r.raise_for_status()
    return r.json() if r.content else None


def test_two_workers_one_web_replica_mixed_load_and_a_sigkill(tmp_path: Path, pg_url: str) -> None:
    rng = random.Random(7)
    db = Db(pg_url)
    started = time.monotonic()

    def alive(executor: str) -> bool:
        sql = "select count(*) from executor_heartbeats where executor_id = :e"
        return bool(db.scalar(sql, e=executor))

    with scale_out_stack(tmp_path, pg_url) as (s, a, b):
        people = s.people()
        assert len(people) == PEOPLE
        wait_for(lambda: alive("worker-a"), timeout=60)
        boot_s = time.monotonic() - started

        # Who gets called / changed (disjoint, so the expected notes are unambiguous).
        callable_ = _unique_phone_people(people)
        phones = sorted(callable_)
        rng.shuffle(phones)
        call_phones, changed_phones = phones[:20], phones[20:32]
        changed = [callable_[p] for p in changed_phones]

        # Setup runs on worker A (webhooks on both sides, then it enqueues the initial sync, which
        # A picks up: B is not started yet). Bulk creates answer slowly, so the sync is still going
        # when B has joined and A is killed. The load starts with the sync: all three kinds of
        # work run together.
        _quo(
            s,
            "PUT",
            "/faults",
            json={"latency_ms": 3000, "latency_operations": ["bulkCreateContacts"]},
        )
        out = s.cli(
            "connect", "attio", "--quo-api-key", QUO_KEY, "--attio-token", ATTIO_TOKEN,
            "--quo-base-url", s.quo.url, "--attio-base-url", s.attio.url, "--no-wait", "--json",
            timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        conn = s.connection_id = json.loads(out.stdout)["connection_id"]
        wait_for(lambda: db.rows("select status from sync_runs"), timeout=60, interval=0.05)
        b.start()
        wait_for(lambda: alive("worker-b"), timeout=60)

        # --- the mixed load, while the initial sync runs
        new_people = {
            s.create_person(f"New{i}", f"+1415555012{i}"): f"+1415555012{i}" for i in range(6)
        }
        for rid in changed[:5]:
            s.update_person(rid, {"name": {"first_name": "Renamed", "last_name": rid[:6]}})
        for i, rid in enumerate(changed[5:9]):
            s.update_person(rid, {"phone_numbers": [f"+1415555013{i}"]})
        for rid in changed[9:11]:
            s.delete_person(rid)
        notes_expected: set[tuple[str, str]] = set()

        def call(i: int) -> None:
            phone = rng.choice(call_phones)
            body: dict[str, Any] = {
                "workspace": QUO_KEY,
                "direction": rng.choice(["incoming", "outgoing"]),
                "outcome": ["answered", "missed", "voicemail", "answered"][i % 4],
                "participants": [phone],
                "duration": rng.choice([7, 42, 125]),
            }
            if body["outcome"] == "answered":
                body.update(recording=True, summary=i % 3 == 0, transcript=i % 5 == 0)
            if body["outcome"] == "voicemail":
                body["direction"] = "incoming"
            sim = _quo(s, "POST", "/calls", json=body)
            notes_expected.add((sim["callId"], callable_[phone]))

        def message(i: int) -> None:
            phone = rng.choice(call_phones)
            body = {
                "workspace": QUO_KEY,
                "direction": "incoming" if i % 2 else "outgoing",
                "participant": phone,
                "text": f"message {i}",
            }
            sim = _quo(s, "POST", "/messages", json=body)
            notes_expected.add((sim["messageId"], callable_[phone]))

        for i in range(CALLS // 2):
            call(i)

        # --- SIGKILL worker A while it owns work in flight (mid-load)
        def a_in_flight() -> list[str]:
            return [
                r[0]
                for r in db.rows(
                    "select workflow_uuid from dbos.workflow_status "
                    "where executor_id = 'worker-a' and status = 'PENDING'"
                )
            ]

        # A has several workflows in flight (the sync and some activity / CRM changes), or at
        # least one if the burst is over before that happens
        deadline = time.monotonic() + 15
        orphans = wait_for(
            lambda: (
                [] if len(flight := a_in_flight()) < 2 and time.monotonic() < deadline else flight
            ),
            timeout=60,
            interval=0.02,
        )
        a.kill()
        killed_at = time.monotonic()
        # What A finished between that look and the SIGKILL (a loaded machine widens the gap)
        # is not an orphan.
        finished_by_a = {
            r[0]
            for r in db.rows(
                "select workflow_uuid from dbos.workflow_status where workflow_uuid = any(:ids) "
                "and executor_id = 'worker-a' and status <> 'PENDING'",
                ids=orphans,
            )
        }
        orphans = [wf for wf in orphans if wf not in finished_by_a]
        assert orphans, "worker A finished everything before it was killed"
        at_kill = {
            "a_in_flight": len(orphans),
            "events_not_final": db.scalar(
                "select count(*) from events where status not in "
                "('processed', 'ignored', 'skipped', 'failed')"
            ),
            "workflows_waiting": db.scalar(
                "select count(*) from dbos.workflow_status "
                "where status in ('PENDING', 'ENQUEUED', 'DELAYED')"
            ),
            "sync": [tuple(r) for r in db.rows("select status, done from sync_runs")],
        }
        assert b.process is not None and b.process.poll() is None

        # the rest of the load arrives after the kill: worker B alone does it
        for i in range(CALLS // 2, CALLS):
            call(i)
        for i in range(MESSAGES):
            message(i)

        # --- settle: deliveries done, every event final, no workflow left, sync finished
        _quo(s, "POST", "/deliveries/wait", params={"timeout": 90})
        s.control("POST", "/webhooks/drain", json={"timeout": 60})

        def settled() -> bool:
            statuses = dict(db.rows("select status, count(*) from events group by status"))
            if set(statuses) - FINAL:
                return False
            pending = db.scalar(
                "select count(*) from dbos.workflow_status "
                "where status in ('PENDING', 'ENQUEUED', 'DELAYED')"
            )
            runs = db.rows("select status from sync_runs where kind = 'initial'")
            return pending == 0 and runs == [("succeeded",)]

        wait_for(settled, timeout=120, interval=0.25)
        settle_s = time.monotonic() - killed_at

        # --- the worker-a workflows in flight at the SIGKILL were finished by worker-b
        owners = dict(
            db.rows(
                "select workflow_uuid, executor_id || ':' || status from dbos.workflow_status "
                "where workflow_uuid = any(:ids)",
                ids=orphans,
            )
        )
        assert owners == {wf: "worker-b:SUCCESS" for wf in orphans}, owners
        assert b.process.poll() is None, "the survivor is still running"
        b_log = (tmp_path / "b" / "worker-1.log").read_text(errors="replace")
        assert "recovered_dead_executors" in b_log and "worker-a" in b_log
        assert (
            db.scalar("select count(*) from executor_heartbeats where executor_id = 'worker-a'")
            == 0
        )

        # --- contacts: exactly one Quo contact per Attio person with a phone, up to date
        final_people = s.people()
        expected = expected_contacts(final_people)
        assert_quo_matches(s, expected)
        for rid, phone in new_people.items():
            assert expected[rid]["phones"] == [phone]
        for rid in changed[9:11]:
            assert rid not in expected

        # --- notes: exactly one per (call or message, person), nothing extra
        count: Counter[tuple[str, str]] = Counter()
        for note in _all_notes(s):
            m = LINK_RE.search(note["content_markdown"])
            if m:
                count[(m["id"], note["parent_record_id"])] += 1
        duplicates = {k: n for k, n in count.items() if n > 1}
        assert not duplicates, duplicates
        assert set(count) == notes_expected, (
            f"missing {sorted(notes_expected - set(count))[:5]}, "
            f"extra {sorted(set(count) - notes_expected)[:5]}"
        )

        # --- ledger: every event final, none failed; the run itself
        statuses = dict(db.rows("select status, count(*) from events group by status"))
        assert statuses.get("failed", 0) == 0, db.rows(
            "select event_type, reason from events where status = 'failed' limit 5"
        )
        by_provider = dict(db.rows("select provider, count(*) from events group by provider"))
        assert by_provider.get("quo", 0) >= CALLS + MESSAGES and by_provider.get("attio", 0) >= 10
        run = db.rows(
            "select status, failed, done, total, error from sync_runs "
            "where connection_id = :c and kind = 'initial'",
            c=conn,
        )
        assert [tuple(r) for r in run] == [("succeeded", 0, run[0][2], run[0][2], None)], run
        assert run[0][2] >= PEOPLE

        # --- the Quo rate limit held across all processes
        stats = _quo(s, "GET", "/stats")
        assert stats["perStatus"].get("429", 0) == 0, stats["perStatus"]
        assert stats["maxPerSecondByKey"][QUO_KEY] <= 10, stats["maxPerSecondByKey"]
        per_second = stats["perKeyPerSecond"][QUO_KEY]
        assert max(per_second.values()) <= 10

        summary = {
            "people": PEOPLE,
            "contacts": len(expected),
            "notes": sum(count.values()),
            "events": statuses,
            "events_by_provider": by_provider,
            "at_kill": at_kill,
            "orphans_recovered": len(orphans),
            "initial_sync_was_on_the_killed_worker": any("-initial-" in o for o in orphans),
            "workflows_by_executor": {
                str(k): int(v)
                for k, v in db.rows(
                    "select executor_id, count(*) from dbos.workflow_status group by executor_id"
                )
            },
            "quo_requests": stats["total"],
            "quo_max_per_sliding_second": stats["maxPerSecondByKey"][QUO_KEY],
            "boot_s": round(boot_s, 1),
            "settle_after_kill_s": round(settle_s, 1),
            "total_s": round(time.monotonic() - started, 1),
        }
        print("scale-out:", json.dumps(summary))
    db.engine.dispose()
