"""`switchboard demo`: the whole system working end to end, offline, in one command.

It starts the Quo emulator, the chosen CRM's emulator (any registered CRM with one; the first by
default) and Switchboard (web app + workers, SQLite) on free loopback ports in this process,
seeds a realistic CRM account, connects the two through the real `connections` + `setup` code
(webhooks registered at both emulators), runs the initial sync with a progress bar, simulates a
stream of calls and messages that the Quo emulator delivers as signed webhooks, waits until every
event is processed, and prints what landed in the CRM. Nothing is mocked: every byte between the
pieces crosses real HTTP.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from switchboard.config import Settings
from switchboard.crm import registry
from switchboard.crm.registry import CrmProvider

if TYPE_CHECKING:
    from switchboard.emulators.hosting import EmulatedCrm

LINES = [
    {"number": "+15550100100", "name": "Front Desk", "symbol": "📞"},
    {"number": "+15550100200", "name": "Sales", "symbol": "💼"},
]
USERS = [
    {"email": "sam@example.test", "firstName": "Sam", "lastName": "Ortiz", "role": "owner"},
    {"email": "ana@example.test", "firstName": "Ana", "lastName": "Lee", "role": "member"},
]
SUMMARY = {
    "summary": ["Asked to move Tuesday's appointment", "Confirmed the new address"],
    "nextSteps": ["Send the updated invite"],
    "jobs": [
        {
            "icon": "✍️",
            "name": "Message taking",
            "result": {"data": [{"name": "Callback number", "value": "mobile"}]},
        }
    ],
}
# Outcome mix of the simulated stream: (direction, outcome, recording, summary, transcript).
CALL_KINDS: list[tuple[str, str, bool, bool, bool]] = [
    ("incoming", "answered", True, True, False),
    ("outgoing", "answered", True, True, True),
    ("incoming", "missed", False, False, False),
    ("incoming", "voicemail", False, False, False),
    ("incoming", "ai-handled", True, True, False),
    ("incoming", "forwarded", True, False, False),
    ("outgoing", "missed", False, False, False),
]
SETTLED_STATUSES = {"processed", "ignored", "skipped", "failed"}


@dataclass
class DemoOptions:
    people: int = 500
    calls: int = 30
    messages: int = 20
    port: int = 0
    exit_when_done: bool = False
    data_dir: Path = Path(".switchboard") / "demo"
    seed: int = 7
    timeout_s: float = 150.0
    crm: str | None = None  # a registered CRM with an emulator; None: the first one


def demo_crms() -> list[str]:
    """The registered CRMs the demo can run (those with an emulator)."""
    return [p.name for p in registry.all_providers() if p.emulator is not None]


@dataclass
class DemoReport:
    connection_id: str = ""
    dashboard_url: str = ""
    people_seeded: int = 0
    sync: dict[str, Any] = field(default_factory=dict)
    quo_contacts: int = 0
    calls: int = 0
    messages: int = 0
    events: dict[str, int] = field(default_factory=dict)
    notes: int = 0
    api_usage: dict[str, dict[str, int]] = field(default_factory=dict)
    sample_notes: list[dict[str, str]] = field(default_factory=list)
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class DemoError(RuntimeError):
    """The demo could not complete a stage; the message says which and why."""


class Demo:
    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.opts = options
        self.console = console
        self.report = DemoReport()
        self._servers: list[Any] = []
        self._runtime: Any = None
        self._rng = random.Random(options.seed)
        name = options.crm or (demo_crms() or [""])[0]
        provider = registry.find(name)
        if provider is None or provider.emulator is None:
            raise DemoError(f"no emulated CRM {name!r}; choose one of {demo_crms()}")
        self.provider: CrmProvider = provider

    # ------------------------------------------------------------------ stages
    def run(self) -> DemoReport:
        started = time.monotonic()
        try:
            self._start_emulators()
            self._start_switchboard()
            self._connect()
            self._initial_sync()
            self._simulate_activity()
            self._collect()
        except BaseException:
            self.stop()
            raise
        self.report.wall_s = round(time.monotonic() - started, 1)
        return self.report

    def _start_emulators(self) -> None:
        from switchboard.emulators.common import ServerThread
        from switchboard.emulators.quo import QuoEmulator
        from switchboard.emulators.quo import create_app as quo_app

        self.quo_key = "demo-" + secrets.token_urlsafe(18)
        self.crm_token = "demo-" + secrets.token_urlsafe(18)
        # Quo's phases (recording, summary, voicemail...) arrive at a tenth of real time.
        self.quo = QuoEmulator(phase_delay_scale=0.1, seed=self.opts.seed)
        self.quo_server = self._serve(ServerThread(quo_app(self.quo)))
        self.quo_url = self.quo_server.url
        # Recordings and voicemails served by the emulator itself, so a CRM that stores the
        # audio on its call records can download it.
        self.quo.apply_settings({"mediaUrl": f"{self.quo_url}/_emulator/media"})
        created = httpx.post(
            f"{self.quo_url}/_emulator/workspaces",
            json={
                "apiKey": self.quo_key,
                "name": "Demo Clinic",
                "phoneNumbers": LINES,
                "users": USERS,
            },
            timeout=10,
        )
        created.raise_for_status()
        self.quo_workspace = created.json()

        assert self.provider.emulator is not None
        host = self.provider.emulator.load_hosting()
        self.crm: EmulatedCrm = host(
            token=self.crm_token, seed=self.opts.seed, allow_http_targets=True
        )
        self.crm_server = self._serve(ServerThread(self.crm.app))
        self.crm_url = self.crm_server.url
        self.crm.seed_people(self.opts.people, seed=self.opts.seed)
        self.report.people_seeded = self.opts.people
        self.console.print(
            f"[bold]Emulators[/bold]  Quo {self.quo_url}  ·  "
            f"{self.provider.display_name} {self.crm_url} ({self.opts.people} people seeded)"
        )

    def _start_switchboard(self) -> None:
        from switchboard.emulators.common import ServerThread, free_port
        from switchboard.logs import configure_logging, register_secret
        from switchboard.runtime import Runtime
        from switchboard.web import create_app

        register_secret(self.quo_key)
        register_secret(self.crm_token)
        if self.opts.data_dir.exists():
            shutil.rmtree(self.opts.data_dir)  # a demo always starts from an empty workspace
        port = self.opts.port or free_port()
        settings = Settings(
            data_dir=self.opts.data_dir,
            database_url=None,
            public_url=f"http://127.0.0.1:{port}",
            log_level="ERROR",
        )
        configure_logging("ERROR", "json")
        # The emulated Quo runs its phases at a tenth of real time; the voicemail follow-up
        # (5 s after the call by default) is scaled the same way unless set explicitly.
        os.environ.setdefault("SWITCHBOARD_VOICEMAIL_DELAY_S", "0.5")
        self._runtime = Runtime(settings, workers=True, kind="demo").start()
        app = create_app(self._runtime, bind_host="127.0.0.1")
        self.sb_server = self._serve(ServerThread(app, port=port))
        self.report.dashboard_url = f"{self.sb_server.url}/dashboard"
        self.console.print(
            f"[bold]Switchboard[/bold] {self.sb_server.url}  (SQLite in {self.opts.data_dir})"
        )

    def _connect(self) -> None:
        from dbos import DBOS

        from switchboard import connections, setup

        rt = self._runtime
        info = connections.create_connection(
            rt.db,
            rt.box,
            crm=self.provider.name,
            quo_api_key=self.quo_key,
            crm_token=self.crm_token,
            quo_base_url=self.quo_url,
            crm_base_url=self.crm_url,
            name=f"Demo Clinic ↔ {self.provider.display_name}",
        )
        self.conn_id = info.id
        self.report.connection_id = info.id
        with self.console.status(f"Setting up webhooks at Quo and {self.provider.display_name}..."):
            wid = setup.start_setup(info.id)
            DBOS.retrieve_workflow(wid).get_result()
        conn = connections.get_connection(rt.db, info.id)
        subs = connections.list_subscriptions(rt.db, info.id)
        if conn.status not in ("active", "syncing", "ready"):
            raise DemoError(f"setup ended with status {conn.status}: {conn.status_message}")
        self.console.print(
            f"[bold]Connected[/bold] {info.id}: {len(subs)} webhooks registered "
            f"({', '.join(sorted({s.provider + ':' + s.kind for s in subs}))})"
        )

    def _initial_sync(self) -> None:
        from switchboard.sync import sync_progress

        db = self._runtime.db
        deadline = time.monotonic() + self.opts.timeout_s
        progress_bar = Progress(
            TextColumn("Initial sync"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        with progress_bar:
            task = progress_bar.add_task("sync", total=None, detail="")
            while True:
                p = sync_progress(db, self.conn_id, kind="initial")
                if p is not None:
                    progress_bar.update(
                        task,
                        completed=p["done"],
                        total=p["total"] or max(p["done"], self.opts.people),
                        detail=f"created {p['created']} · skipped {p['skipped']} · "
                        f"failed {p['failed']} · {p['rate_per_s']:.0f}/s",
                    )
                    if p["status"] not in ("running", "queued", "pending"):
                        break
                if time.monotonic() > deadline:
                    raise DemoError("the initial sync did not finish in time")
                time.sleep(0.2)
        if p["status"] != "succeeded":
            raise DemoError(f"the initial sync failed: {p.get('error')}")
        self.report.sync = {
            k: p[k]
            for k in (
                "done",
                "created",
                "updated",
                "unchanged",
                "skipped",
                "failed",
                "skip_reasons",
                "elapsed_s",
            )
        }
        self.report.quo_contacts = len(self.quo.workspace(self.quo_key).contacts)

    def _people_with_phones(self) -> list[tuple[str, str]]:
        return self.crm.people_with_phones(200)

    def _simulate_activity(self) -> None:
        people = self._people_with_phones()
        if not people:
            raise DemoError("the seeded workspace has no people with phone numbers")
        self.called: list[str] = []
        lines = [n["id"] for n in self.quo_workspace["phoneNumbers"]]
        with self.console.status("Simulating calls and messages..."):
            for i in range(self.opts.calls):
                direction, outcome, recording, summary, transcript = CALL_KINDS[i % len(CALL_KINDS)]
                record_id, phone = self._rng.choice(people)
                body: dict[str, Any] = {
                    "workspace": self.quo_key,
                    "direction": direction,
                    "outcome": outcome,
                    "duration": 0 if outcome in ("missed",) else self._rng.randint(20, 400),
                    "phoneNumberId": lines[i % len(lines)],
                    "participants": [phone],
                    "recording": recording,
                    "transcript": transcript,
                }
                if summary:
                    body["summary"] = SUMMARY
                self._post(f"{self.quo_url}/_emulator/calls", body)
                self.called.append(record_id)
            for i in range(self.opts.messages):
                record_id, phone = self._rng.choice(people)
                direction = "incoming" if i % 2 == 0 else "outgoing"
                text = (
                    "Is Tuesday at 10 still OK?"
                    if direction == "incoming"
                    else ("Yes - see you Tuesday at 10.")
                )
                self._post(
                    f"{self.quo_url}/_emulator/messages",
                    {
                        "workspace": self.quo_key,
                        "direction": direction,
                        "text": text,
                        "phoneNumberId": lines[0],
                        "participant": phone,
                    },
                )
                self.called.append(record_id)
            self.report.calls = self.opts.calls
            self.report.messages = self.opts.messages
            self._post(f"{self.quo_url}/_emulator/deliveries/wait?timeout=120", {}, timeout=125)
            self._wait_settled()

    def _wait_settled(self) -> None:
        from dbos import DBOS

        from switchboard import ledger

        db = self._runtime.db
        deadline = time.monotonic() + self.opts.timeout_s
        quiet = 0
        while quiet < 3:
            counts = ledger.count_by_status(db, self.conn_id)
            busy = sum(n for s, n in counts.items() if s not in SETTLED_STATUSES)
            pending = DBOS.list_workflows(status=["PENDING", "ENQUEUED", "DELAYED"])
            quiet = quiet + 1 if busy == 0 and not pending else 0
            if time.monotonic() > deadline:
                raise DemoError(f"events still in flight after {self.opts.timeout_s:.0f} s")
            time.sleep(0.3)

    def _collect(self) -> None:
        from switchboard import ledger, usage

        db = self._runtime.db
        self._runtime.api_counter.flush()
        self.report.events = ledger.count_by_status(db, self.conn_id)
        notes = self.crm.notes()
        self.report.notes = len(notes)
        for row in usage.api_usage(db, self.conn_id):
            self.report.api_usage[row["provider"]] = {
                "requests": int(row["requests"]),
                "http_429": int(row["http_429"]),
            }
        shown: set[str] = set()
        for note in notes:
            kind = note.title.split(" ", 2)[:2]
            key = " ".join(kind) + note.content.split("\n", 1)[0]
            if key in shown or len(self.report.sample_notes) >= 4:
                continue
            shown.add(key)
            self.report.sample_notes.append({"title": note.title, "content": note.content})

    # ------------------------------------------------------------------ output
    def print_report(self) -> None:
        r = self.report
        table = Table(title="What landed", show_header=False)
        crm = self.provider.display_name
        table.add_row(f"people in {crm}", str(r.people_seeded))
        table.add_row(
            "initial sync",
            f"{r.sync.get('created', 0)} created, {r.sync.get('skipped', 0)} skipped "
            f"{r.sync.get('skip_reasons') or ''}, {r.sync.get('failed', 0)} failed "
            f"in {r.sync.get('elapsed_s', 0):.1f} s",
        )
        table.add_row("contacts in Quo", str(r.quo_contacts))
        table.add_row("simulated", f"{r.calls} calls, {r.messages} messages")
        table.add_row("events", ", ".join(f"{k} {v}" for k, v in sorted(r.events.items())))
        table.add_row(f"notes in {crm}", str(r.notes))
        for provider, usage in sorted(r.api_usage.items()):
            table.add_row(
                f"{provider} API calls", f"{usage['requests']} ({usage['http_429']} × 429)"
            )
        table.add_row("wall time", f"{r.wall_s} s")
        self.console.print(table)
        for note in r.sample_notes:
            self.console.rule(note["title"])
            self.console.print(note["content"], markup=False, highlight=False)
        self.console.rule()
        self.console.print(
            f"Dashboard: {r.dashboard_url}  (admin token: {self.opts.data_dir / 'admin.token'})"
        )

    # ------------------------------------------------------------------ plumbing
    def _serve(self, server: Any) -> Any:
        server.start()
        self._servers.append(server)
        return server

    def _post(self, url: str, body: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        response = httpx.post(url, json=body, timeout=timeout)
        if response.status_code >= 400:
            raise DemoError(f"{url} answered {response.status_code}: {response.text[:300]}")
        result: dict[str, Any] = response.json() if response.content else {}
        return result

    def stop(self) -> None:
        # Switchboard's web server first, then its workers (in-flight workflows finish against
        # live emulators), then the emulators: stopping an emulator under a running workflow
        # would end the demo with a connection error.
        sb = getattr(self, "sb_server", None)
        if sb is not None and sb in self._servers:
            with contextlib.suppress(Exception):
                sb.stop()
            self._servers.remove(sb)
        if self._runtime is not None:
            self._runtime.stop()
            self._runtime = None
        for server in reversed(self._servers):
            with contextlib.suppress(Exception):  # best effort on the way out
                server.stop()
        self._servers.clear()

    def wait_forever(self) -> None:
        self.console.print("Dashboard running; press Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
