"""A whole Switchboard stack over real HTTP for the contact-sync end-to-end tests.

Quo emulator, a CRM emulator (Attio by default; `crm=` names another) and
(optionally) `switchboard serve` run as separate processes (`tests/servers.py`); CLI commands
run as subprocesses with the same environment. Ground truth is read from the emulators: CRM
people through the CRM's public API, Quo contacts through the Quo emulator's control surface
(every contact, visible or not). The CRM-specific parts (edits as a user, ground truth) live in
the CRM's driver (`tests/e2e/crms.py`) behind a few methods — `people`, `create_person`,
`rename`, `set_phones`, `delete_person`, `merge`, `silent_change`, `webhook_faults` — so one
test body runs for every CRM.
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

from tests.e2e.crms import AttioDriver, CrmDriver, driver_for
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
    _driver: CrmDriver | None = None

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

    # ------------------------------------------------------------------ the CRM
    def attio_api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.attio.url,
            headers={"Authorization": f"Bearer {ATTIO_TOKEN}"},
            timeout=30,
        )

    @property
    def driver(self) -> CrmDriver:
        """The CRM's test driver (`tests/e2e/crms.py`): edits as a user, ground truth."""
        if self._driver is None:
            self._driver = driver_for(self.crm, self.attio.url, CRM_TOKENS[self.crm])
        return self._driver

    def people(self) -> list[dict[str, Any]]:
        """Every CRM person (raw records), by paging (nothing changes meanwhile)."""
        return self.driver.people()

    def expected_contacts(self, people: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return expected_contacts(people, self.driver)

    def control(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.attio.url}/_emulator{path}", timeout=30, **kw)
        r.raise_for_status()
        return r.json()

    def records_path(self) -> str:
        if not self.workspace_id:
            self.workspace_id = self.control("GET", "/workspaces")["data"][0]["workspace_id"]
        return f"/workspaces/{self.workspace_id}/objects/people/records"

    def create_person(self, first: str, *phones: str) -> str:
        return self.driver.create_person(first, *phones)

    def update_person(self, record_id: str, values: dict[str, Any]) -> None:
        """Attio: set attribute values directly."""
        self.control("PATCH", f"{self.records_path()}/{record_id}", json={"values": values})

    def delete_person(self, record_id: str) -> None:
        self.driver.delete_person(record_id)

    def rename(self, record_id: str, first: str, last: str) -> None:
        self.driver.rename(record_id, first, last)

    def set_phones(self, record_id: str, phones: list[str]) -> None:
        self.driver.set_phones(record_id, phones)

    def webhook_faults(self, **faults: float) -> None:
        """The common webhook fault knobs (duplicate rate, reorder jitter) at the CRM."""
        self.driver.webhook_faults(**faults)

    def silent_change(self, record_id: str) -> str:
        """A change whose webhook never arrives; returns the person it concerns."""
        return self.driver.silent_change(record_id)

    def drain_webhooks(self) -> None:
        self.driver.drain_webhooks()

    def merge(self, primary: str, secondary: str) -> None:
        """`secondary` disappears into `primary`."""
        self.driver.merge(primary, secondary)

    # ------------------------------------------------------------------ Quo
    def quo_contacts(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.quo.url}/_emulator/workspaces/{QUO_KEY}/contacts", timeout=30)
        r.raise_for_status()
        return list(r.json()["data"])

    def quo_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.quo.url}/_emulator/stats", timeout=30).json())


CRM_TOKENS = {
    "attio": ATTIO_TOKEN,
    "pipedrive": "pipedrive-sync-token",
    "zoho": "1000.zoho-sync-token",
}


def expected_contacts(
    people: list[dict[str, Any]], driver: CrmDriver | None = None
) -> dict[str, dict[str, Any]]:
    """externalId → what Quo must hold, computed from the CRM's raw records by its test
    driver (not by our code); Attio's when no driver is given."""
    driver = driver or AttioDriver("http://unused", ATTIO_TOKEN)
    out: dict[str, dict[str, Any]] = {}
    for rec in people:
        if (found := driver.expected(rec)) is not None:
            external_id, phones, first = found
            out[external_id] = {"phones": phones, "first": first}
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
