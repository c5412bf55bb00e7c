"""`switchboard emulate <crm>` and `switchboard connect <crm>`, parametrized by CRM, each a
separate process over real HTTP. Run here for the tiny CRM defined only in the tests (found by
the children through SWITCHBOARD_CRM_MODULES); Attio's connect is covered, with more, by
tests/web/test_cli.py — add a CRM to EMULATOR_ARGS to run it here too (Pipedrive and Zoho are)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from tests.crm.tiny.provider import PROVIDER as TINY
from tests.servers import cli_server, free_port, quo_emulator, switchboard_command

from switchboard.crm import registry
from switchboard.crm.base import ConnectorConfig

ROOT = Path(__file__).resolve().parents[2]
QUO_KEY = "quo-connect-key-123456"
CRM_TOKEN = "crm-connect-token-123456"
EMULATOR_ARGS: dict[str, list[str]] = {"pipedrive": [], "tiny": [], "zoho": []}


@pytest.fixture(autouse=True, scope="module")
def _tiny_registered() -> object:
    registry.register(TINY)
    yield
    registry.unregister(TINY.name)


async def _webhook_urls(crm: str, base_url: str) -> list[str]:
    connector = registry.get(crm).connect(ConnectorConfig(token=CRM_TOKEN, base_url=base_url))
    try:
        return [s.target_url for s in await connector.list_subscriptions()]
    finally:
        await connector.aclose()


@pytest.mark.parametrize("crm", sorted(EMULATOR_ARGS))
def test_connect_sets_up_webhooks_at_quo_and_the_crm(tmp_path: Path, crm: str) -> None:
    public = f"http://127.0.0.1:{free_port()}"
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "SWITCHBOARD_CRM_MODULES": "tests.crm.tiny.provider",
        "SWITCHBOARD_DATA_DIR": str(tmp_path),
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'sb.db'}",
        "SWITCHBOARD_PUBLIC_URL": public,
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        "SWITCHBOARD_SCHEDULES": "off",
    }
    with (
        quo_emulator("--api-key", QUO_KEY, "--phase-scale", "0") as quo,
        cli_server(
            "emulate", crm, "--token", CRM_TOKEN, *EMULATOR_ARGS[crm],
            env=env, ready_path="/_emulator/health",
        ) as emulated,
    ):  # fmt: skip
        done = subprocess.run(
            [
                *switchboard_command(), "connect", crm, "--quo-api-key", QUO_KEY,
                "--token", CRM_TOKEN, "--quo-base-url", quo.url, "--base-url", emulated.url,
                "--name", f"{crm} test", "--json",
            ],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout)
        conn_id = out["connection_id"]
        assert out["status"] == "active", out
        assert CRM_TOKEN not in done.stdout + done.stderr
        crm_url = f"{public}/webhooks/{crm}/{conn_id}"
        assert out["webhook_urls"][crm] == crm_url
        assert asyncio.run(_webhook_urls(crm, emulated.url)) == [crm_url]
        # the initial sync was queued by setup (workers run it; none run here)
        assert "sync_run_id" in out["setup"]
