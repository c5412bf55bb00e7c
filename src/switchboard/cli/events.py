"""`switchboard events --connection ID [--status ...]` and `switchboard events replay EVENT_ID`."""

from __future__ import annotations

import json
from typing import Any

import typer

from switchboard.config import get_settings

app = typer.Typer(help="The event ledger: list and replay webhook events.")


def _runtime(dbos: bool) -> Any:
    from switchboard.logs import configure_logging
    from switchboard.runtime import Runtime

    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    return Runtime(settings, workers=False, kind="cli", launch_dbos=dbos).start()


@app.callback(invoke_without_command=True)
def list_events(
    ctx: typer.Context,
    connection: str | None = typer.Option(None, "--connection", "-c", help="Connection id."),
    status: list[str] = typer.Option(
        None,
        "--status",
        "-s",
        help="accepted, processing, processed, ignored, skipped, failed (repeatable).",
    ),
    event_type: str | None = typer.Option(None, "--type", help="Event type, e.g. call.completed."),
    resource: str | None = typer.Option(None, "--resource", help="Call / message / record id."),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List ledger events, newest first, with status and reason."""
    if ctx.invoked_subcommand is not None:
        return
    from switchboard import ledger

    bad = [s for s in status or [] if s not in ledger.STATUSES]
    if bad:
        typer.echo(
            f"error: unknown status {bad[0]!r}; use one of {', '.join(ledger.STATUSES)}", err=True
        )
        raise typer.Exit(2)
    rt = _runtime(dbos=False)
    try:
        rows = ledger.list_events(
            rt.db,
            connection_id=connection,
            status=status or None,
            event_type=event_type,
            resource_id=resource,
            limit=limit,
        )
        counts = ledger.count_by_status(rt.db, connection)
    finally:
        rt.stop()
    if as_json:
        typer.echo(
            json.dumps(
                {"events": [r.to_dict(with_payload=False) for r in rows], "counts": counts},
                indent=2,
                default=str,
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("event", "received", "type", "resource", "status", "tries", "reason")
    for r in rows:
        table.add_row(
            r.id,
            (r.received_at.isoformat(timespec="seconds") if r.received_at else ""),
            r.event_type,
            r.resource_id or "",
            r.status,
            str(r.attempts),
            (r.reason or "")[:80],
        )
    console = Console()
    console.print(table)
    console.print("counts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@app.command("replay")
def replay(
    event_id: str,
    force: bool = typer.Option(False, help="Replay an event that did not fail, too."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Re-run a failed event (a running worker picks it up)."""
    from switchboard import dispatch, ledger

    check = _runtime(dbos=False)  # fail fast, without launching DBOS, on a bad id or status
    try:
        ev = ledger.get_event(check.db, event_id)
    finally:
        check.stop()
    if ev is None:
        typer.echo(f"error: unknown event {event_id}", err=True)
        raise typer.Exit(1)
    if ev.status != "failed" and not (force and ev.status in ledger.FINAL_STATUSES):
        typer.echo(f"error: event {event_id} is {ev.status}; only failed events are replayed "
                   "(--force replays a finished one)", err=True)  # fmt: skip
        raise typer.Exit(1)
    rt = _runtime(dbos=True)
    try:
        try:
            wid = dispatch.replay(rt.db, event_id, force=force)
        except (ledger.EventNotFound, ledger.ReplayRefused) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    finally:
        rt.stop()
    if as_json:
        typer.echo(json.dumps({"event_id": event_id, "workflow_id": wid}))
    else:
        typer.echo(f"replaying {event_id} as workflow {wid}")
