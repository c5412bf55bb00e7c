"""`switchboard events --connection ID [--status ...]` and `switchboard events replay EVENT_ID`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from switchboard.cli import output as out
from switchboard.config import get_settings

app = typer.Typer(help="The event ledger: list and replay webhook events.")


def _runtime(dbos: bool) -> Any:
    from switchboard.logs import configure_logging
    from switchboard.runtime import Runtime

    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    return Runtime(settings, workers=False, kind="cli", launch_dbos=dbos).start()


def _parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO time (UTC when no offset) or a duration ago: 30m, 2h, 7d."""
    if not value:
        return None
    units = {"m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        out.fail(f"{option}: expected an ISO time or a duration like 2h, got {value!r}", 2)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _known_connection(db: Any, connection_id: str) -> Any:
    from switchboard import connections

    info = connections.find_connection(db, connection_id)
    if info is None:
        out.not_found("connection", connection_id)
    return info


def _require_live(info: Any, verb: str) -> None:
    if info.disconnected_at is not None or info.status == "disconnected":
        out.fail(f"connection {info.id} is disconnected; nothing is {verb} for it")


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
    """List ledger events, newest first, with status and reason (ids printed whole)."""
    if ctx.invoked_subcommand is not None:
        return
    from switchboard import connections, ledger

    bad = [s for s in status or [] if s not in ledger.STATUSES]
    if bad:
        out.fail(f"unknown status {bad[0]!r}; use one of {', '.join(ledger.STATUSES)}", 2)
    rt = _runtime(dbos=False)
    try:
        if connection:
            _known_connection(rt.db, connection)
        elif not connections.list_connections(rt.db):
            if as_json:
                out.emit_json({"events": [], "counts": {}})
                return
            typer.echo(out.NO_CONNECTIONS)
            return
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
        out.emit_json({"events": [r.to_dict(with_payload=False) for r in rows], "counts": counts})
        return
    from switchboard.activity.story import story
    from switchboard.failures import cause_of

    out.records(
        [
            (
                [
                    r.id,
                    r.status,
                    r.event_type,
                    r.received_at.isoformat(timespec="seconds") if r.received_at else "",
                ],
                [
                    ("connection", r.connection_id if not connection else ""),
                    ("who", st.who),
                    ("what", st.what),
                    ("result", st.result),
                    ("resource", r.resource_id),
                    ("tries", r.attempts if r.attempts > 1 else ""),
                    ("cause", cause_of(r).title if r.status == "failed" else ""),
                    ("reason", r.reason),
                ],
            )
            for r, st in ((r, story(r)) for r in rows)
        ]
    )
    if not rows:
        typer.echo("no events match")
    typer.echo("counts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@app.command("replay")
def replay(
    event_id: str | None = typer.Argument(None, help="The event to replay."),
    force: bool = typer.Option(False, help="Replay an event that did not fail, too."),
    connection: str | None = typer.Option(
        None, "--connection", "-c", help="Bulk: replay this connection's failed events."
    ),
    all_failed: bool = typer.Option(
        False, "--all-failed", help="Bulk: every failed event (with --connection)."
    ),
    cause: str | None = typer.Option(
        None, "--cause", help="Bulk: only this cause (see `events failures`), e.g. quo:auth."
    ),
    since: str | None = typer.Option(None, help="Bulk: received at or after (ISO time or 2h)."),
    until: str | None = typer.Option(None, help="Bulk: received before (ISO time or 30m)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Bulk: do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Re-run a failed event (a running worker picks it up), or (with --connection and
    --all-failed / --cause / --since) every failed event of a group or time range after
    confirming the count."""
    from switchboard import dispatch, ledger

    if event_id is None:
        if not connection or not (all_failed or cause or since or until):
            out.fail("give an EVENT_ID, or --connection with --all-failed, --cause or --since", 2)
        assert connection is not None
        _replay_bulk(connection, cause, since, until, yes, as_json)
        return
    check = _runtime(dbos=False)  # fail fast, without launching DBOS, on a bad id or status
    try:
        ev = ledger.get_event(check.db, event_id)
        info = _known_connection(check.db, ev.connection_id) if ev is not None else None
    finally:
        check.stop()
    if ev is None:
        out.not_found("event", event_id)
    _require_live(info, "replayed")
    if ev.status != "failed" and not (force and ev.status in ledger.FINAL_STATUSES):
        out.fail(f"event {event_id} is {ev.status}; only failed events are replayed "
                 "(--force replays a finished one)")  # fmt: skip
    rt = _runtime(dbos=True)
    try:
        try:
            wid = dispatch.replay(rt.db, event_id, force=force)
        except ledger.EventNotFound:
            out.not_found("event", event_id)
        except ledger.ReplayRefused as exc:
            out.fail(str(exc))
    finally:
        rt.stop()
    if as_json:
        out.emit_json({"event_id": event_id, "workflow_id": wid})
    else:
        typer.echo(f"replaying {event_id} as workflow {wid}")


def _replay_bulk(
    connection: str,
    cause: str | None,
    since: str | None,
    until: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    from switchboard import dispatch, failures, ledger

    start, end = _parse_time(since, "--since"), _parse_time(until, "--until")
    check = _runtime(dbos=False)
    try:
        _require_live(_known_connection(check.db, connection), "replayed")
        events = ledger.failed_events(check.db, connection_id=connection, since=start, until=end)
    finally:
        check.stop()
    if cause:
        events = [e for e in events if failures.cause_of(e).key == cause]
    if not events:
        if as_json:
            out.emit_json({"replayed": [], "refused": {}})
        else:
            typer.echo("no failed events match")
        return
    if not yes and (
        as_json or not typer.confirm(f"replay {len(events)} failed events?", default=False)
    ):
        out.fail(f"not confirmed; {len(events)} events would be replayed (pass --yes)")
    rt = _runtime(dbos=True)
    try:
        result = dispatch.replay_many(rt.db, [e.id for e in events])
    finally:
        rt.stop()
    if as_json:
        out.emit_json(result)
    else:
        typer.echo(f"replaying {len(result['replayed'])} events", err=False)
        for event_id, why in result["refused"].items():
            typer.echo(f"skipped {event_id}: {why}", err=True)


@app.command("failures")
def failures_cmd(
    connection: str = typer.Option(..., "--connection", "-c", help="Connection id."),
    since: str | None = typer.Option(None, help="Received at or after (ISO time or 2h)."),
    until: str | None = typer.Option(None, help="Received before (ISO time or 30m)."),
    csv_out: bool = typer.Option(False, "--csv", help="Every failed event as CSV on stdout."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Failed events grouped by cause (replay a group with `events replay --cause`)."""
    from switchboard import failures, ledger

    start, end = _parse_time(since, "--since"), _parse_time(until, "--until")
    rt = _runtime(dbos=False)
    try:
        _known_connection(rt.db, connection)
        events = ledger.failed_events(rt.db, connection_id=connection, since=start, until=end)
    finally:
        rt.stop()
    if csv_out:
        typer.echo(failures.to_csv(events), nl=False)
        return
    groups = failures.group_failures(events)
    if as_json:
        out.emit_json({"groups": groups, "total": len(events)})
        return
    if not groups:
        typer.echo("no failed events")
        return
    out.records(
        [
            (
                [g["key"], f"{g['count']} events"],
                [
                    ("what", g["title"]),
                    ("newest", g["newest"].isoformat(timespec="seconds")),
                    ("replay", f"switchboard events replay -c {connection} --cause {g['key']}"),
                ],
            )
            for g in groups
        ]
    )
