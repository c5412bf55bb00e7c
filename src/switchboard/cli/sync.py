"""`switchboard sync CONNECTION`: start (or join) a connection's contact sync and show progress.

    switchboard sync conn_x --wait            # rich progress bar on a TTY, plain lines otherwise
    switchboard sync conn_x --wait --json     # one JSON object at the end
    switchboard sync conn_x --reconcile       # a delta pass now instead of the initial sync
    switchboard sync conn_x --status --json   # progress of the latest run, start nothing

Where it runs: when a `switchboard serve`/`worker` process is alive on the same database the run
is enqueued for it; otherwise (or with `--run-here`) this process works the queues itself until
the run ends. Killing this process mid-run loses nothing: start the command again and the run
resumes from its last checkpoint (the same run is joined, never a second one).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from switchboard.cli import output as out
from switchboard.config import get_settings
from switchboard.logs import configure_logging

TERMINAL = ("succeeded", "failed")


def _live_workers(db: Any, fresh_s: float = 15.0) -> int:
    from sqlalchemy import func, select

    from switchboard.store.models import ExecutorHeartbeat

    cutoff = datetime.now(UTC) - timedelta(seconds=fresh_s)
    with db.session() as s:
        n = s.scalar(
            select(func.count())
            .select_from(ExecutorHeartbeat)
            .where(ExecutorHeartbeat.kind.in_(("serve", "worker")))
            .where(ExecutorHeartbeat.last_seen >= cutoff)
        )
    return int(n or 0)


def _line(p: dict[str, Any]) -> str:
    total = p["total"] if p["total"] is not None else "?"
    eta = f"{p['eta_s']:.0f}s" if p.get("eta_s") is not None else "?"
    return (
        f"{p['kind']} {p['run_id']} {p['status']}: done {p['done']}/{total} "
        f"created {p['created']} updated {p['updated']} unchanged {p['unchanged']} "
        f"skipped {p['skipped']} failed {p['failed']} rate {p['rate_per_s']}/s eta {eta}"
    )


def _wait(db: Any, connection_id: str, run_id: str, as_json: bool) -> dict[str, Any]:
    from switchboard.sync import sync_progress

    def current() -> dict[str, Any]:
        p = sync_progress(db, connection_id, run_id=run_id)
        if p is None:
            raise typer.BadParameter(f"run {run_id} vanished")
        return p

    if as_json:
        p = current()
        while p["status"] not in TERMINAL:
            time.sleep(0.5)
            p = current()
        return p
    if sys.stdout.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns) as bar:
            p = current()
            task = bar.add_task(f"{p['kind']} sync", total=p["total"], detail="")
            while True:
                detail = (
                    f"+{p['created']} ~{p['updated']} ={p['unchanged']} "
                    f"skip {p['skipped']} fail {p['failed']} {p['rate_per_s']}/s"
                )
                bar.update(task, completed=p["done"], total=p["total"], detail=detail)
                if p["status"] in TERMINAL:
                    break
                time.sleep(0.5)
                p = current()
        typer.echo(_line(p))
        return p
    p = current()
    last = ""
    last_at = 0.0
    while True:
        text = _line(p)
        if text != last and (p["status"] in TERMINAL or time.monotonic() - last_at >= 2.0):
            typer.echo(text)
            last, last_at = text, time.monotonic()
        if p["status"] in TERMINAL:
            return p
        time.sleep(0.5)
        p = current()


def sync(
    connection_id: str = typer.Argument(..., help="Connection id (see `switchboard connections`)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the run and show its progress."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    reconcile: bool = typer.Option(False, "--reconcile", help="Run a delta pass instead."),
    deep: bool = typer.Option(False, "--deep", help="With --reconcile: also find deleted people."),
    status: bool = typer.Option(
        False, "--status", help="Show the latest run (with --wait: until it ends); start nothing."
    ),
    run_here: bool = typer.Option(
        False, "--run-here", help="Work the run in this process even if workers are alive."
    ),
) -> None:
    """Sync a connection's CRM people into Quo (initial sync), or reconcile, or show progress."""
    from switchboard.runtime import Runtime
    from switchboard.sync import start_initial_sync, start_reconcile, sync_progress

    settings = get_settings()
    # Quiet by default (the progress display is the output); an explicit level is honoured.
    level = settings.log_level if "SWITCHBOARD_LOG_LEVEL" in os.environ else "WARNING"
    configure_logging(level, settings.log_format)
    if status:
        rt = Runtime(settings, launch_dbos=False, kind="cli").start()
        try:
            from switchboard import connections as known

            if known.find_connection(rt.db, connection_id) is None:
                out.not_found("connection", connection_id)
            p = sync_progress(rt.db, connection_id, "reconcile" if reconcile else None)
            if p is not None and wait:
                p = _wait(rt.db, connection_id, p["run_id"], as_json)
        finally:
            rt.stop()
        if p is None:
            typer.echo(
                json.dumps({"connection_id": connection_id, "run": None})
                if as_json
                else f"no sync run for {connection_id}"
            )
            raise typer.Exit(1)
        if as_json or not wait:
            typer.echo(json.dumps(p) if as_json else _line(p))
        return

    from sqlalchemy.exc import OperationalError, ProgrammingError

    from switchboard import connections
    from switchboard.store import Database

    probe = Database(settings.resolved_database_url())
    try:
        try:
            info = connections.find_connection(probe, connection_id)
        except (OperationalError, ProgrammingError):  # no tables yet: nothing is connected
            info = None
        if info is None:
            out.not_found("connection", connection_id)
        if info.disconnected_at is not None or info.status == "disconnected":
            out.fail(f"connection {connection_id} is disconnected; nothing is synced for it")
        here = run_here or _live_workers(probe) == 0
    finally:
        probe.dispose()

    rt = Runtime(settings, workers=here, kind="sync").start()
    try:
        if reconcile:
            run_id, joined = start_reconcile(rt.db, connection_id, deep=deep)
        else:
            run_id, joined = start_initial_sync(rt.db, connection_id)
        if not as_json:
            verb = "joined running" if joined else "started"
            where = "in this process" if here else "on the service's workers"
            typer.echo(f"{verb} {'reconcile' if reconcile else 'initial sync'} {run_id} {where}")
        if not wait and not here:
            if as_json:
                typer.echo(json.dumps({"run_id": run_id, "joined": joined, "queued": True}))
            return
        p = _wait(rt.db, connection_id, run_id, as_json)
        if as_json:
            typer.echo(json.dumps({**p, "joined": joined}))
        if p["status"] != "succeeded":
            raise typer.Exit(1)
    finally:
        rt.stop()
