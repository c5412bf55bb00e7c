"""Progress of a connection's syncs, for the CLI, the admin API and the dashboard.

    from switchboard.sync import sync_progress
    sync_progress(db, connection_id)          # latest run (any kind) as a dict, or None
    sync_progress(db, connection_id, "initial")

The dict is `runs.Progress.to_dict()`: run_id, kind, status (queued/running/succeeded/failed),
done, total (None until known), created, updated, unchanged, skipped, failed, skip_reasons,
rate_per_s, eta_s, elapsed_s, started_at, finished_at, error.
"""

from __future__ import annotations

from typing import Any

from switchboard.store.db import Database
from switchboard.sync import runs


def sync_progress(
    db: Database, connection_id: str, kind: str | None = None, run_id: str | None = None
) -> dict[str, Any] | None:
    with db.session() as s:
        if run_id is not None:
            from switchboard.store.models import SyncRun

            row = s.get(SyncRun, run_id)
        else:
            row = runs.latest_run(s, connection_id, kind)
        return runs.to_progress(row).to_dict() if row is not None else None


def run_issues(db: Database, run_id: str, limit: int = 1000) -> list[dict[str, str]]:
    """The skipped and failed people of a run, with reasons."""
    with db.session() as s:
        return runs.issues(s, run_id, limit)
