"""The activity stack as separate processes: Quo emulator, a CRM emulator (Attio by default,
`crm=` names another; its driver in `tests/e2e/crms.py` seeds people and reads notes), Switchboard.

Used by tests/e2e/test_activity*.py and bench/activity.py:

    with ExitStack() as stack:
        sb = ActivityStack.start(stack, tmp_path, separate_worker=False)
        person = sb.create_person("Dana", "+15550142231")
        sb.simulate_call(direction="incoming", outcome="answered", participants=[...])
        sb.wait_settled()
        sb.notes_for(person)

The connection is created directly in the database (encrypted credentials, like `switchboard
connect` does) and subscribed to the Quo emulator's webhooks over its REST API, pointing at
Switchboard's `/webhooks/quo/<connection>` (or at `webhook_target`, e.g. a measuring proxy).
No contact sync runs, so activity is measured alone.
"""

from __future__ import annotations

import contextlib
import html
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from switchboard.activity.facts import CallFacts, MessageFacts
from switchboard.activity.render import (
    LineInfo,
    RenderContext,
    render_note,
    user_names_from_phone_numbers,
)
from switchboard.config import workflow_database_url
from switchboard.emulators.quo.webhooks import deep_link
from tests.e2e.crms import CrmDriver, driver_for
from tests.servers import RunningServer, cli_server, free_port, switchboard_command

QUO_KEY = "quo-activity-key"
OWN_NUMBER = "+15550100100"
DANA = "+15550142231"  # the worked examples' caller (Attio refuses it: linked by the mapping)
LINE = "📞 Front Desk +15550100100"
KNOWN = [f"+1650253{n:04d}" for n in range(1, 31)]
UNKNOWN = [f"+1650254{n:04d}" for n in range(1, 6)]
LINK_RE = re.compile(
    r"\[View the (?:call|message) activity in Quo\]\((?P<link>[^)]*at=(?P<id>AC\w+))\)$"
)
HTML_LINK_RE = re.compile(
    r'<a href="(?P<link>[^"]*at=(?P<id>AC\w+))">View the (?:call|message) activity in Quo</a></p>$'
)


PLAIN_LINK_RE = re.compile(
    r"View the (?:call|message) activity in Quo: (?P<link>\S*at=(?P<id>AC\w+))$"
)


def quo_link(content: str) -> re.Match[str] | None:
    """The "View the … activity in Quo" link at the end of a note (markdown, HTML, plain)."""
    return LINK_RE.search(content) or HTML_LINK_RE.search(content) or PLAIN_LINK_RE.search(content)


ATTIO_TOKEN = "attio-activity-token"
PIPEDRIVE_TOKEN = "pipedrive-activity-token"
CRM_TOKENS = {"attio": ATTIO_TOKEN, "pipedrive": PIPEDRIVE_TOKEN, "zoho": "1000.zoho-activity"}
ACTIVITY_OPERATIONS = (
    "getCallById_v1",
    "getCallVoicemails_v1",
    "listPhoneNumbers_v1",
    "getUserById_v1",
)
WEBHOOK_KINDS = {
    "calls": ["call.completed", "call.ringing", "call.recording.completed"],
    "call-summaries": ["call.summary.completed"],
    "call-transcripts": ["call.transcript.completed"],
    "messages": ["message.received", "message.delivered"],
}
DATED = "2026-03-30"  # Quo's dated API generation (one /webhooks resource, new envelope)
DATED_EVENTS = [
    *(e for events in WEBHOOK_KINDS.values() for e in events),
    "call.voicemail.completed",
    "call.missed",
    "message.failed",
]
#: Edits and deletions made in Quo (two-way contacts); workspace-wide on the dated generation.
DATED_CONTACT_EVENTS = ["contact.updated", "contact.deleted"]


@dataclass
class Worker:
    """A `switchboard worker` process that can be killed with SIGKILL and started again."""

    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"worker-{self.starts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*switchboard_command(), "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class ActivityStack:
    tmp: Path
    db_url: str
    env: dict[str, str]
    quo: RunningServer
    attio: RunningServer
    sb: RunningServer
    connection_id: str
    worker: Worker | None = None
    people: dict[str, str] = field(default_factory=dict)
    extra_workers: list[Worker] = field(default_factory=list)
    generation: str = "v1"
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))
    crm: str = "attio"
    """The CRM (its emulator's server is `attio`, named for the first CRM)."""
    dated_events: list[str] = field(default_factory=lambda: list(DATED_EVENTS))

    _driver: CrmDriver | None = None

    @property
    def driver(self) -> CrmDriver:
        """The CRM's test driver (`tests/e2e/crms.py`)."""
        if self._driver is None:
            self._driver = driver_for(self.crm, self.attio.url, CRM_TOKENS[self.crm])
        return self._driver

    @property
    def note_format(self) -> str:
        return self.driver.note_format

    # ------------------------------------------------------------------ start
    @classmethod
    def start(
        cls,
        stack: ExitStack,
        tmp: Path,
        *,
        separate_worker: bool = False,
        settings: dict[str, Any] | None = None,
        extra_env: dict[str, str] | None = None,
        webhook_target: str | None = None,
        database_url: str | None = None,
        worker_env: dict[str, str] | None = None,
        generation: str = "v1",
        quo_profile: str | None = None,
        crm: str = "attio",
        contact_events: bool = False,
    ) -> ActivityStack:
        """`generation`: the Quo webhooks the connection subscribes through — "v1" (one legacy
        webhook per kind) or "2026-03-30" (one dated webhook; the emulator runs that profile).
        `contact_events`: the dated webhook also takes `contact.updated` / `contact.deleted`."""
        from switchboard import connections
        from switchboard.config import Settings
        from switchboard.crypto import generate_master_key, secret_box
        from switchboard.store.db import Database, migrate

        tmp.mkdir(parents=True, exist_ok=True)
        db_url = database_url or f"sqlite:///{tmp / 'switchboard.db'}"
        secret = generate_master_key()
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "SWITCHBOARD_DATA_DIR": str(tmp),
            "SWITCHBOARD_DATABASE_URL": db_url,
            "SWITCHBOARD_SECRET_KEY": secret,
            "SWITCHBOARD_LOG_LEVEL": "WARNING",
            "SWITCHBOARD_VOICEMAIL_DELAY_S": "0.5",
            **(extra_env or {}),
        }
        quo = stack.enter_context(
            cli_server(
                "emulate",
                "quo",
                "--api-key",
                QUO_KEY,
                "--phase-scale",
                "0",
                "--seed",
                "7",
                "--profile",
                quo_profile or (DATED if generation == DATED else "current"),
                ready_path="/_emulator/health",
            )
        )
        attio = stack.enter_context(
            cli_server(
                "emulate",
                crm,
                "--token",
                CRM_TOKENS[crm],
                "--seed",
                "7",
                ready_path="/_emulator/health",
            )
        )
        migrate(db_url)
        settings_obj = Settings(data_dir=tmp, database_url=db_url, secret_key=secret)
        db = Database(db_url)
        try:
            info = connections.create_connection(
                db,
                secret_box(settings_obj),
                crm=crm,
                quo_api_key=QUO_KEY,
                crm_token=CRM_TOKENS[crm],
                quo_base_url=quo.url,
                crm_base_url=attio.url,
                name="activity e2e",
                settings=settings or {},
            )
        finally:
            db.dispose()
        sb_args = ["serve", "--no-workers"] if separate_worker else ["serve"]
        sb = stack.enter_context(cli_server(*sb_args, ready_path="/healthz", env=env))
        worker = None
        if separate_worker:
            worker = Worker({**env, **(worker_env or {})}, tmp)
            worker.start()
            stack.callback(worker.stop)
        me = cls(tmp, db_url, env, quo, attio, sb, info.id, worker, generation=generation, crm=crm)
        me.dated_events = DATED_EVENTS + (DATED_CONTACT_EVENTS if contact_events else [])
        stack.callback(me._http.close)
        me.subscribe((webhook_target or sb.url) + f"/webhooks/quo/{info.id}", secret)
        stack.callback(me.driver.close)
        if me.driver.fetches_media:  # call records carry the audio: Quo's emulator serves it
            me.quo_control("PATCH", "/settings", json={"mediaUrl": f"{quo.url}/_emulator/media"})
        return me

    @property
    def media_url(self) -> str:
        """Where Quo's recording and voicemail URLs point."""
        return str(self.quo_control("GET", "/settings")["mediaUrl"])

    def add_worker(self) -> Worker:
        """Another worker process (scale-out), stopped with the stack by the caller."""
        extra = Worker(dict(self.worker.env if self.worker else self.env), self.tmp)
        extra.starts = 100 * (len(self.extra_workers) + 1)  # distinct log file names
        extra.start()
        self.extra_workers.append(extra)
        return extra

    def subscribe(self, url: str, secret: str) -> None:
        """Create the Quo webhooks (one per kind) and store their keys on the connection."""
        from switchboard import connections
        from switchboard.config import Settings
        from switchboard.crypto import secret_box
        from switchboard.store.db import Database

        db = Database(self.db_url)
        box = secret_box(Settings(data_dir=self.tmp, database_url=self.db_url, secret_key=secret))
        try:
            if self.generation == DATED:
                # Retries on the documented schedule, a thousand times faster.
                self.quo_control("PATCH", "/settings", json={"webhookScheduleScale": 0.001})
                r = self._http.post(
                    f"{self.quo.url}/webhooks",
                    headers={"Authorization": QUO_KEY, "Quo-Api-Version": DATED},
                    json={"url": url, "events": self.dated_events, "resourceIds": ["*"]},
                )
                r.raise_for_status()
                hook = r.json()["data"]
                connections.add_subscription(
                    db,
                    box,
                    connection_id=self.connection_id,
                    provider="quo",
                    remote_id=hook["id"],
                    kind="dated",
                    url=url,
                    events=self.dated_events,
                    resource_ids=["*"],
                    key=hook["key"],
                    version=DATED,
                )
                connections.set_quo_webhooks_generation(db, self.connection_id, DATED)
                return
            for kind, events in WEBHOOK_KINDS.items():
                r = self._http.post(
                    f"{self.quo.url}/v1/webhooks/{kind}",
                    headers={"Authorization": QUO_KEY},
                    json={"url": url, "events": events, "resourceIds": ["*"]},
                )
                r.raise_for_status()
                hook = r.json()["data"]
                connections.add_subscription(
                    db,
                    box,
                    connection_id=self.connection_id,
                    provider="quo",
                    remote_id=hook["id"],
                    kind=kind,
                    url=url,
                    events=events,
                    resource_ids=["*"],
                    key=hook["key"],
                )
        finally:
            db.dispose()

    # ------------------------------------------------------------------ Attio side
    def attio_api(self, method: str, path: str, **kw: Any) -> Any:
        """A request to the CRM emulator (API or control surface) with the CRM's token."""
        return self.driver.api(method, path, **kw)

    def create_person(self, name: str, phone: str) -> str:
        self.people[phone] = self.driver.create_person(name, phone)
        return self.people[phone]

    def add_mapping(self, person_id: str, phone: str) -> None:
        """Record `person_id` as synced by Switchboard with `phone` (the sync mapping)."""
        from switchboard.store.db import Database
        from switchboard.store.models import ContactMapping, MappingPhone

        db = Database(self.db_url)
        try:
            with db.session() as s:
                s.add(
                    ContactMapping(
                        connection_id=self.connection_id, external_id=person_id, phones=[phone]
                    )
                )
                s.add(
                    MappingPhone(
                        connection_id=self.connection_id, phone=phone, external_id=person_id
                    )
                )
        finally:
            db.dispose()
        self.people[phone] = person_id

    def notes_for(self, person_id: str) -> list[dict[str, Any]]:
        """The person's notes, each with `title`, `content` (in the CRM's format) and
        `id.note_id`; a native call record also carries `record` (as stored)."""
        return self.driver.notes_for(person_id)

    def attio_request_log(self) -> list[dict[str, Any]]:
        """The Attio emulator's request log (method, path, operation, status, ts)."""
        return list(self._http.get(self.attio.url + "/_emulator/requests").json()["data"])

    def attio_stats(self) -> dict[str, Any]:
        return dict(self._http.get(self.attio.url + "/_emulator/stats").json())

    # ------------------------------------------------------------------ Quo side
    def quo_control(self, method: str, path: str, **kw: Any) -> Any:
        r = self._http.request(method, self.quo.url + "/_emulator" + path, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def quo_api(self, path: str, **params: Any) -> Any:
        r = self._http.get(self.quo.url + path, headers={"Authorization": QUO_KEY}, params=params)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()["data"]

    def simulate_call(self, **body: Any) -> dict[str, Any]:
        return dict(self.quo_control("POST", "/calls", json={"workspace": QUO_KEY, **body}))

    def simulate_message(self, **body: Any) -> dict[str, Any]:
        return dict(self.quo_control("POST", "/messages", json={"workspace": QUO_KEY, **body}))

    def quo_stats(self) -> dict[str, Any]:
        return dict(self.quo_control("GET", "/stats"))

    def quo_activity_requests(self) -> int:
        per_op = self.quo_stats().get("perOperation", {})
        return sum(int(per_op.get(op, 0)) for op in ACTIVITY_OPERATIONS)

    def workspace(self) -> dict[str, Any]:
        return dict(self.quo_control("GET", f"/workspaces/{QUO_KEY}"))

    # ------------------------------------------------------------------ Switchboard side
    def events(self) -> list[Any]:
        from switchboard import ledger
        from switchboard.store.db import Database

        db = Database(self.db_url)
        try:
            out: list[Any] = []
            offset = 0
            while True:
                page = ledger.list_events(
                    db, connection_id=self.connection_id, limit=1000, offset=offset
                )
                out.extend(page)
                if len(page) < 1000:
                    return out
                offset += 1000
        finally:
            db.dispose()

    def recovered_workflows(self) -> int:
        """Workflows DBOS started more than once (recovered after their executor died)."""
        import sqlalchemy as sa

        engine = sa.create_engine(workflow_database_url(self.db_url))
        try:
            with engine.connect() as c:
                table = (
                    "workflow_status"
                    if self.db_url.startswith("sqlite")
                    else "dbos.workflow_status"
                )
                return int(
                    c.execute(
                        sa.text(f"SELECT count(*) FROM {table} WHERE recovery_attempts > 1")
                    ).scalar_one()
                )
        finally:
            engine.dispose()

    def worker_log_count(self, needle: str) -> int:
        return sum(
            p.read_text(errors="replace").count(needle) for p in self.tmp.glob("worker-*.log")
        )

    def pending_workflows(self) -> int:
        """DBOS workflows not finished yet (queued, delayed or running), from the database."""
        import sqlalchemy as sa

        engine = sa.create_engine(workflow_database_url(self.db_url))
        try:
            with engine.connect() as c:
                table = (
                    "workflow_status"
                    if self.db_url.startswith("sqlite")
                    else "dbos.workflow_status"
                )
                return int(
                    c.execute(
                        sa.text(
                            f"SELECT count(*) FROM {table} WHERE status IN "
                            "('PENDING','ENQUEUED','DELAYED')"
                        )
                    ).scalar_one()
                )
        finally:
            engine.dispose()

    def wait_settled(
        self, timeout: float = 120.0, quiet_s: float = 0.5, restart_worker: bool = False
    ) -> None:
        """Wait until Quo has delivered everything and every event and workflow has finished.
        With `restart_worker`, a worker that died meanwhile is started again.

        Polled with two count queries on one open database: loading every ledger event (as
        `events()` does) ten times a second cost the test process a CPU share the processes
        under test need on a 2-core machine, and a new engine per poll more."""
        import sqlalchemy as sa

        from switchboard.ledger import FINAL_STATUSES
        from switchboard.store.db import Database
        from switchboard.store.models import Event

        self.quo_control("POST", "/deliveries/wait", params={"timeout": timeout})
        unfinished = (
            sa.select(sa.func.count())
            .select_from(Event)
            .where(Event.connection_id == self.connection_id)
            .where(Event.status.not_in(FINAL_STATUSES))
        )
        waiting = sa.text(
            "SELECT count(*) FROM {prefix}workflow_status "
            "WHERE status IN ('PENDING','ENQUEUED','DELAYED')"
        )
        db = Database(self.db_url)
        try:
            deadline = time.monotonic() + timeout
            quiet_since: float | None = None
            while time.monotonic() < deadline:
                if restart_worker and self.worker is not None:
                    proc = self.worker.process
                    if proc is not None and proc.poll() is not None:
                        self.worker.start()
                with db.session() as s:
                    done = s.execute(unfinished).scalar_one() == 0
                if done:
                    with db.workflow_tables() as (conn, prefix):
                        sql = sa.text(waiting.text.format(prefix=prefix))
                        done = conn.execute(sql).scalar_one() == 0
                if done:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= quiet_s:
                        return
                else:
                    quiet_since = None
                time.sleep(0.1)
        finally:
            db.dispose()
        raise TimeoutError(f"activity did not settle in {timeout}s")

    def sync_people(self) -> dict[str, Any]:
        """Run Switchboard's own initial contact sync (CRM people → Quo contacts) and wait for
        it: afterwards the people are in the sync mapping, the steady state of a connection."""
        import json

        done = self.cli("sync", self.connection_id, "--wait", "--json")
        if done.returncode != 0:
            raise RuntimeError(f"sync failed: {done.stdout[-500:]} {done.stderr[-500:]}")
        lines = [line for line in done.stdout.splitlines() if line.strip().startswith("{")]
        return dict(json.loads(lines[-1])) if lines else {}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*switchboard_command(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def call_scenarios(rng: random.Random, n: int) -> list[dict[str, Any]]:
    kinds = [
        {"direction": "incoming", "outcome": "answered"},
        {"direction": "outgoing", "outcome": "answered"},
        {"direction": "incoming", "outcome": "missed"},
        {"direction": "incoming", "outcome": "voicemail"},
        {"direction": "incoming", "outcome": "ai-handled"},
        {"direction": "incoming", "outcome": "forwarded"},
        {"direction": "outgoing", "outcome": "missed"},
    ]
    out = []
    for i in range(n):
        body: dict[str, Any] = dict(kinds[i % len(kinds)])
        body["duration"] = rng.choice([7, 42, 125, 3665])
        caller = rng.choice(KNOWN if rng.random() < 0.9 else UNKNOWN)
        body["participants"] = [caller]
        if i % 11 == 0:
            body["participants"] = [caller, rng.choice(KNOWN)]  # three parties with the line
        if i % 13 == 0:
            body["emptyParticipants"] = True
        answered = body["outcome"] in ("answered", "ai-handled", "forwarded")
        if answered:
            body["recording"] = rng.choice([False, True, True, 2])
            body["summary"] = rng.random() < 0.6
            body["transcript"] = rng.random() < 0.5
        if body["outcome"] == "voicemail":
            body["voicemail"] = {
                "duration": rng.choice([5, 16, 61]),
                "transcript": rng.choice(["", "Call me back"]),
            }
        out.append(body)
    return out


def expected_call_note(
    sb: ActivityStack, sim: dict[str, Any], phone: str, ctx: dict[str, Any]
) -> tuple[str, str]:
    cid = sim["callId"]
    call = sim["call"]  # GET /v1/calls/{id} refuses calls with more than two participants
    facts = CallFacts.empty(cid).with_call(
        call, deep_link=deep_link(call["phoneNumberId"], sim["conversationId"], cid)
    )
    facts = facts.with_recordings(sb.quo_api(f"/v1/call-recordings/{cid}") or [])
    voicemail = sb.quo_api(f"/v1/call-voicemails/{cid}")
    if voicemail is not None:
        facts = facts.with_voicemail(voicemail)
    summary = sb.quo_api(f"/v1/call-summaries/{cid}")
    if summary is not None:
        facts = facts.with_summary(summary)
    transcript = sb.quo_api(f"/v1/call-transcripts/{cid}")
    if transcript is not None:
        facts = facts.with_transcript(transcript)
    note = render_note(
        facts,
        RenderContext(contact_number=phone, note_format=sb.note_format, **ctx),  # type: ignore[arg-type]
    )
    return note.title, note.body


def expected_message_note(
    sb: ActivityStack, mid: str, link: str, phone: str, ctx: dict[str, Any]
) -> tuple[str, str]:
    message = sb.quo_api(f"/v1/messages/{mid}")
    facts = MessageFacts.empty(mid).with_message(message, deep_link=html.unescape(link))
    note = render_note(
        facts,
        RenderContext(contact_number=phone, note_format=sb.note_format, **ctx),  # type: ignore[arg-type]
    )
    return note.title, note.body


@dataclass
class NotesReport:
    checked: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    mismatches: list[tuple[Any, ...]] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)

    def explain(self) -> list[Any]:
        return [
            (m, [(e.event_type, e.status, e.reason) for e in self.events if e.resource_id == m[1]])
            for m in self.mismatches
        ]


def verify_notes(
    sb: ActivityStack, calls: list[dict[str, Any]], messages: list[tuple[str, dict[str, Any]]]
) -> NotesReport:
    """Exactly one note per (call or message, person with that number), each byte-identical to
    the renderer's output for the call's final state read back over Quo's REST API."""
    sb.quo_control("PATCH", "/settings", json={"rateLimit": 0})  # fast read-back
    lines = sb.quo_api("/v1/phone-numbers")
    ctx = {
        "lines": {pn["id"]: LineInfo.from_quo(pn) for pn in lines},
        "user_names": user_names_from_phone_numbers(lines),
    }
    report = NotesReport(events=sb.events())
    media = sb.media_url
    person_of = dict(sb.people)
    count: Counter[tuple[str, str]] = Counter()
    actual: dict[tuple[str, str], dict[str, Any]] = {}
    for pid in set(person_of.values()):
        for note in sb.notes_for(pid):
            m = quo_link(note["content"])
            key = (m["id"] if m else f"?{note['id']['note_id']}", pid)
            count[key] += 1
            actual[key] = {**note, "link": m["link"] if m else ""}
    report.duplicates = sorted(k for k, v in count.items() if v > 1)
    expected: set[tuple[str, str]] = set()
    for sim in calls:
        cid = sim["callId"]
        for phone in [p for p in sim["call"]["participants"] if p != OWN_NUMBER]:
            pid = person_of.get(phone)
            if pid is None:
                continue
            expected.add((cid, pid))
            got = actual.get((cid, pid))
            if got is None:
                report.mismatches.append(("missing", cid, phone))
                continue
            title, body = expected_call_note(sb, sim, phone, ctx)
            title = sb.driver.stored_title(title)
            report.checked += 1
            if (got["title"], got["content"]) != (title, body):
                report.mismatches.append(
                    ("differs", cid, title, body, got["title"], got["content"])
                )
            elif "record" in got:
                report.mismatches.extend(sb.driver.call_record_mismatches(sim, got, media))
    for phone, sim in messages:
        mid, pid = sim["messageId"], person_of.get(phone)
        if pid is None:
            continue
        expected.add((mid, pid))
        got = actual.get((mid, pid))
        if got is None:
            report.mismatches.append(("missing", mid, phone))
            continue
        title, body = expected_message_note(sb, mid, got["link"], phone, ctx)
        title = sb.driver.stored_title(title)
        report.checked += 1
        if (got["title"], got["content"]) != (title, body):
            report.mismatches.append(("differs", mid, title, body, got["title"], got["content"]))
    report.extra = sorted(set(actual) - expected)
    return report


def python_executable() -> str:
    return sys.executable


def temp_dir(prefix: str = "sb-activity-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


__all__ = ["ActivityStack", "Worker", "free_port", "python_executable", "temp_dir"]
