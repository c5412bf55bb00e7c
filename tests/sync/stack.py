"""A whole Switchboard stack over real HTTP for the contact-sync end-to-end tests.

Quo emulator, a CRM emulator (Attio by default; `crm="pipedrive"` for Pipedrive) and
(optionally) `switchboard serve` run as separate processes (`tests/servers.py`); CLI commands
run as subprocesses with the same environment. Ground truth is read from the emulators: CRM
people through the CRM's public API, Quo contacts through the Quo emulator's control surface
(every contact, visible or not). The CRM-specific parts (edits as a user, ground truth) are
behind a few methods — `people`, `create_person`, `rename`, `set_phones`, `delete_person`,
`merge`, `silent_change`, `webhook_faults` — so one test body runs for every CRM.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import phonenumbers

from tests.servers import RunningServer, cli_server, free_port, quo_emulator, switchboard_command

QUO_KEY = "quo-sync-key"
ATTIO_TOKEN = "attio-sync-token"
ADMIN_TOKEN = "admin-sync-token-5555"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class SyncStack:
    quo: RunningServer
    attio: RunningServer
    """The CRM emulator's server (named for the first CRM; Pipedrive's when `crm` says so)."""
    env: dict[str, str]
    db_url: str
    serve: RunningServer | None = None
    connection_id: str = ""
    workspace_id: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    crm: str = "attio"

    # ------------------------------------------------------------------ CLI
    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*switchboard_command(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli_json(self, *args: str, timeout: float = 120) -> Any:
        out = self.cli(*args, "--json", timeout=timeout)
        if out.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        return json.loads(lines[-1])

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*switchboard_command(), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def connect(self, *, setup: bool) -> str:
        args = [
            "connect", self.crm,
            "--quo-api-key", QUO_KEY, f"--{self.crm}-token", CRM_TOKENS[self.crm],
            "--quo-base-url", self.quo.url, f"--{self.crm}-base-url", self.attio.url,
        ]  # fmt: skip
        if not setup:
            args.append("--no-setup")
        out = self.cli(*args, "--json", timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr
        data = json.loads(out.stdout)
        self.connection_id = data["connection_id"]
        return self.connection_id

    # ------------------------------------------------------------------ Attio
    def attio_api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.attio.url,
            headers={"Authorization": f"Bearer {ATTIO_TOKEN}"},
            timeout=30,
        )

    def people(self) -> list[dict[str, Any]]:
        """Every CRM person (raw records), by paging (nothing changes meanwhile)."""
        if self.crm == "pipedrive":
            return self._pipedrive_persons()
        out: list[dict[str, Any]] = []
        with self.attio_api() as c:
            while True:
                r = c.post(
                    "/v2/objects/people/records/query",
                    json={
                        "limit": 500,
                        "offset": len(out),
                        "sorts": [{"attribute": "created_at", "direction": "asc"}],
                    },
                )
                r.raise_for_status()
                page = r.json()["data"]
                out.extend(page)
                if len(page) < 500:
                    return out

    def control(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.attio.url}/_emulator{path}", timeout=30, **kw)
        r.raise_for_status()
        return r.json()

    def records_path(self) -> str:
        if not self.workspace_id:
            self.workspace_id = self.control("GET", "/workspaces")["data"][0]["workspace_id"]
        return f"/workspaces/{self.workspace_id}/objects/people/records"

    def create_person(self, first: str, *phones: str) -> str:
        if self.crm == "pipedrive":
            body = {"name": f"{first} E2e", "phones": list(phones)}
            return str(self.control("POST", "/companies/default/persons", json=body)["data"]["id"])
        body = {
            "values": {
                "name": {"first_name": first, "last_name": "E2e"},
                "phone_numbers": list(phones),
            }
        }
        return str(self.control("POST", self.records_path(), json=body)["data"]["id"]["record_id"])

    def update_person(self, record_id: str, values: dict[str, Any]) -> None:
        self.control("PATCH", f"{self.records_path()}/{record_id}", json={"values": values})

    def delete_person(self, record_id: str) -> None:
        if self.crm == "pipedrive":
            self.control("DELETE", f"/companies/default/persons/{record_id}")
            return
        self.control("DELETE", f"{self.records_path()}/{record_id}")

    def rename(self, record_id: str, first: str, last: str) -> None:
        if self.crm == "pipedrive":
            self._pipedrive_edit(record_id, {"name": f"{first} {last}"})
            return
        self.update_person(record_id, {"name": [{"first_name": first, "last_name": last}]})

    def set_phones(self, record_id: str, phones: list[str]) -> None:
        if self.crm == "pipedrive":
            self._pipedrive_edit(record_id, {"phones": phones})
            return
        self.update_person(record_id, {"phone_numbers": phones})

    def webhook_faults(self, **faults: float) -> None:
        """The common webhook fault knobs (duplicate rate, reorder jitter) at the CRM."""
        self.control("PATCH", "/faults", json=faults)

    def silent_change(self, record_id: str) -> str:
        """A change whose webhook never arrives; returns the person it concerns. Attio: the
        next delivery is dropped and the person's number changes. Pipedrive has no drop knob,
        but data it seeds fires no webhook: a seeded person is the change."""
        if self.crm == "pipedrive":
            self.control("POST", "/companies/default/seed", json={"persons": 1, "seed": 99})
            return str(max(int(p["id"]) for p in self.people()))
        self.control("PATCH", "/faults", json={"webhook_drop_count": 1})
        self.set_phones(record_id, ["+14155550199"])
        return record_id

    def drain_webhooks(self) -> None:
        self.control("POST", "/webhooks/drain", json={"timeout": 10})

    def merge(self, primary: str, secondary: str) -> None:
        """`secondary` disappears into `primary`."""
        if self.crm == "pipedrive":
            body = {"id": int(secondary), "merge_with_id": int(primary)}
            self.control("POST", "/companies/default/persons/merge", json=body)
            return
        self.control(
            "POST",
            f"{self.records_path()}/merge",
            json={"primary_record_id": primary, "secondary_record_id": secondary},
        )

    # ------------------------------------------------------------------ Pipedrive
    def _pipedrive_edit(self, person_id: str, body: dict[str, Any]) -> None:
        self.control("PATCH", f"/companies/default/persons/{person_id}", json=body)

    def _pipedrive_persons(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        with httpx.Client(
            base_url=self.attio.url, headers={"x-api-token": PIPEDRIVE_TOKEN}, timeout=30
        ) as c:
            while True:
                params: dict[str, Any] = {"limit": 500}
                if cursor:
                    params["cursor"] = cursor
                r = c.get("/api/v2/persons", params=params)
                if r.status_code == 429:
                    time.sleep(float(r.headers.get("retry-after", "1")))
                    continue
                r.raise_for_status()
                out.extend(r.json()["data"])
                cursor = r.json()["additional_data"]["next_cursor"]
                if not cursor:
                    return out

    # ------------------------------------------------------------------ Quo
    def quo_contacts(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.quo.url}/_emulator/workspaces/{QUO_KEY}/contacts", timeout=30)
        r.raise_for_status()
        return list(r.json()["data"])

    def quo_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.quo.url}/_emulator/stats", timeout=30).json())


PIPEDRIVE_TOKEN = "pipedrive-sync-token"
CRM_TOKENS = {"attio": ATTIO_TOKEN, "pipedrive": PIPEDRIVE_TOKEN}


def current(record: dict[str, Any], slug: str) -> list[dict[str, Any]]:
    return [v for v in record["values"].get(slug) or [] if v.get("active_until") is None]


def _e164(raw: str) -> str | None:
    try:
        parsed = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def expected_contacts(people: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """externalId → what Quo must hold, computed from the CRM's raw records (not our code):
    Attio records, or Pipedrive persons (numbers as typed, normalised here)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in people:
        if "values" not in rec:  # a Pipedrive person
            numbers = [_e164(p["value"]) for p in rec.get("phones") or []]
            found = list(dict.fromkeys(n for n in numbers if n))
            if found:
                out[str(rec["id"])] = {"phones": found, "first": rec.get("first_name") or ""}
            continue
        phones = list(dict.fromkeys(
            v.get("phone_number") for v in current(rec, "phone_numbers") if v.get("phone_number")
        ))  # fmt: skip
        if not phones:
            continue
        names = current(rec, "name")
        first = (names[0].get("first_name") or "").strip() if names else ""
        out[rec["id"]["record_id"]] = {"phones": phones, "first": first}
    return out


def assert_quo_matches(stack: SyncStack, expected: dict[str, dict[str, Any]]) -> None:
    source = f"switchboard-{stack.crm}"
    contacts = [c for c in stack.quo_contacts() if c.get("source") == source]
    by_ext: dict[str, list[dict[str, Any]]] = {}
    for c in contacts:
        by_ext.setdefault(c["externalId"], []).append(c)
    dupes = {k: len(v) for k, v in by_ext.items() if len(v) > 1}
    assert not dupes, f"duplicate contacts: {list(dupes.items())[:5]}"
    assert set(by_ext) == set(expected), (
        f"missing {len(set(expected) - set(by_ext))}, unexpected {len(set(by_ext) - set(expected))}"
    )
    for ext, want in expected.items():
        got = by_ext[ext][0]
        phones = [p["value"] for p in got["defaultFields"]["phoneNumbers"]]
        assert phones == want["phones"], (ext, phones, want)
        if want["first"]:
            assert got["defaultFields"]["firstName"] == want["first"], (ext, got, want)


def wait_for(predicate: Any, timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError as exc:
            last_exc = exc
        time.sleep(interval)
    if last_exc is not None:
        raise last_exc
    raise AssertionError("condition not met in time")


@contextlib.contextmanager
def sync_stack(
    tmp_path: Path,
    db_url: str,
    *,
    people: int,
    serve: bool,
    seed: int = 5,
    extra_env: dict[str, str] | None = None,
    crm: str = "attio",
    crm_args: tuple[str, ...] = (),
    crm_port: int | None = None,
) -> Iterator[SyncStack]:
    serve_port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_DATABASE_URL": db_url,
        "SWITCHBOARD_PUBLIC_URL": f"http://127.0.0.1:{serve_port}",
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_HEARTBEAT_INTERVAL": "0.5",
        "SWITCHBOARD_ADMIN_TOKEN": ADMIN_TOKEN,
        **(extra_env or {}),
    }
    env.pop("SWITCHBOARD_EXECUTOR_ID", None)
    with contextlib.ExitStack() as stack:
        quo = stack.enter_context(quo_emulator("--api-key", QUO_KEY))
        attio = stack.enter_context(
            cli_server(
                "emulate", crm, "--token", CRM_TOKENS[crm], "--allow-http-targets",
                "--people", str(people), "--seed", str(seed), *crm_args,
                port=crm_port, ready_path="/_emulator/health",
            )
        )  # fmt: skip
        s = SyncStack(quo=quo, attio=attio, env=env, db_url=db_url, crm=crm)
        try:
            if serve:
                s.serve = stack.enter_context(
                    cli_server("serve", port=serve_port, env=env, ready_path="/healthz", timeout=60)
                )
            yield s
        finally:
            for proc in s.procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, 9)
                    proc.wait(10)
