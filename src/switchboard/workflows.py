"""DBOS wiring: one durable-execution runtime on the same database as the application tables.

Queues and the workflows that run on them are registered by the modules that own them
(`switchboard.sync`, `switchboard.activity`); this module only configures and launches DBOS.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from dbos import DBOS

from switchboard.config import Settings, normalise_database_url


def dbos_config(settings: Settings) -> dict[str, Any]:
    url = settings.resolved_database_url().replace("postgresql+psycopg://", "postgresql://")
    executor_id = (
        settings.executor_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )
    return {
        "name": "switchboard",
        "system_database_url": normalise_database_url(url).replace(
            "postgresql+psycopg://", "postgresql://"
        ),
        "executor_id": executor_id,
        "application_version": "switchboard-1",
        "log_level": "WARNING",
        "notification_listener_polling_interval_sec": 0.1,
    }


def init_dbos(settings: Settings) -> DBOS:
    """Create the DBOS runtime (call before registering queues that need it, then `launch`)."""
    return DBOS(config=dbos_config(settings))  # type: ignore[arg-type]
