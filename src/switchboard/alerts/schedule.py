"""Every minute, in worker processes: `incidents.evaluate` as a DBOS scheduled workflow (DBOS
runs each scheduled minute once in the whole deployment)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from dbos import DBOS

ALERTS_CRON = "0 * * * * *"  # every minute (DBOS crons have a seconds field)


def run_once(now: datetime | None = None) -> int:
    """Evaluate and send with the running runtime's database and key; returns messages sent."""
    from switchboard.alerts.channels import signing_secret
    from switchboard.alerts.incidents import evaluate
    from switchboard.alerts.settings import AlertSettings
    from switchboard.crypto import load_master_key
    from switchboard.runtime import runtime

    rt = runtime()
    settings = AlertSettings()
    secret = signing_secret(load_master_key(rt.settings))
    return len(evaluate(rt.db, settings, secret, rt.settings.public_url, now=now))


@DBOS.workflow()
async def alerts_tick(scheduled: datetime, context: Any) -> None:
    await _evaluate_step()


@DBOS.step()
async def _evaluate_step() -> int:
    return await asyncio.to_thread(run_once)


def install_schedule(cron: str = ALERTS_CRON) -> None:
    DBOS.apply_schedules(
        [{"schedule_name": "switchboard-alerts", "workflow_fn": alerts_tick, "schedule": cron}]
    )


def _register_hook() -> None:
    from switchboard.runtime import after_launch

    after_launch(install_schedule)


_register_hook()
