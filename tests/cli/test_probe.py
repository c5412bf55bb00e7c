"""`switchboard probe quo`: the real CLI as a subprocess, self-started and external emulators."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import httpx
import pytest
from tests.servers import quo_emulator, switchboard_command


def probe(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QUO_API_KEY"}
    if key:
        env["QUO_API_KEY"] = key
    return subprocess.run(
        [*switchboard_command(), "probe", "quo", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("profile", ["current", "2026-03-30"])
def test_all_scenarios_pass_against_a_self_started_emulator(profile: str) -> None:
    key = "probe-secret-" + uuid.uuid4().hex
    run = probe("all", "--env", "local", "--json", "--profile", profile, key=key)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["passed"] is True
    names = [s["name"] for s in report["scenarios"]]
    assert names == [
        "list-contacts", "single-create", "bulk-create", "duplicate-phone",
        "duplicate-external-id", "webhooks", "generation-2026",
    ]  # fmt: skip
    dated = profile == "2026-03-30"
    assert report["generations"] == {"v1": True, "2026-03-30": dated}
    for s in report["scenarios"]:
        if s["name"] == "generation-2026" and not dated:
            assert s["skipped"] and not s["checks"]  # says so, does not FAIL
            continue
        assert s["checks"] and all(c["passed"] for c in s["checks"]), s
        assert s["cleanup"]["created"] == s["cleanup"]["deleted"]
    listing = report["scenarios"][0]
    assert listing["observations"]["hasNext"] and len(listing["checks"]) == 4  # paged to page 2
    bulk = next(s for s in report["scenarios"] if s["name"] == "bulk-create")
    assert min(bulk["observations"]["visibleAfterS"]) >= 2.0  # the emulator's 2.5 s
    assert key not in run.stdout + run.stderr
    if dated:
        checks = {c["expectation"] for c in report["scenarios"][-1]["checks"]}
        assert any("test delivery reaches the receiver" in c for c in checks)
        assert any("without Quo-Api-Version answers 400" in c for c in checks)
        assert any("rotate" in c for c in checks) and len(checks) >= 15


def test_dev_2025_11_profile_reports_v2_webhooks_failing_with_500() -> None:
    run = probe("webhooks", "--env", "local", "--profile", "dev-2025-11", "--json")
    assert run.returncode == 1
    scenario = json.loads(run.stdout)["scenarios"][0]
    v1, v2 = scenario["checks"]
    assert v1["passed"] and "/v1/" in v1["expectation"]
    assert not v2["passed"] and v2["observed"].startswith("500")
    assert scenario["observations"]["v2"]["body"]["code"] == "0301500"


def test_external_emulator_human_output_and_cleanup() -> None:
    key = "probe-secret-" + uuid.uuid4().hex
    with quo_emulator("--api-key", key) as srv:
        run = probe("duplicate-external-id", "--env", "local", "--base-url", srv.url, key=key)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "PASS" in run.stdout and "FAIL" not in run.stdout and "0800409" in run.stdout
        assert key not in run.stdout + run.stderr
        contacts = httpx.get(f"{srv.url}/_emulator/workspaces/{key}/contacts").json()["data"]
        assert contacts == []  # what the probe created, it deleted
        # A FAIL is visible and sets the exit code: make contact creation fail.
        httpx.put(
            f"{srv.url}/_emulator/faults", json={"errors": {"createContact_v1": {"status": 500}}}
        )
        run = probe("single-create", "--env", "local", "--base-url", srv.url, key=key)
        assert run.returncode == 1 and "FAIL" in run.stdout
        assert key not in run.stdout + run.stderr


def test_usage_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from switchboard.cli.main import app

    monkeypatch.delenv("QUO_API_KEY", raising=False)
    run = CliRunner().invoke(app, ["probe", "quo", "list-contacts", "--env", "dev"])
    assert run.exit_code == 2 and "QUO_API_KEY" in run.output
    assert CliRunner().invoke(app, ["probe", "quo", "nonsense"]).exit_code == 2
