"""`switchboard demo`: the whole system, offline, in one command."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console


def demo(
    crm: str | None = typer.Option(
        None, help="Which registered CRM to emulate (default: the first with an emulator)."
    ),
    people: int = typer.Option(500, min=1, max=20_000, help="People seeded into the CRM."),
    calls: int = typer.Option(30, min=0, max=1000, help="Simulated calls."),
    messages: int = typer.Option(20, min=0, max=1000, help="Simulated text messages."),
    port: int = typer.Option(0, help="Switchboard port (default: a free one)."),
    data_dir: Path = typer.Option(
        Path(".switchboard") / "demo", help="Demo state (wiped at start)."
    ),
    exit_when_done: bool = typer.Option(
        False, "--exit", help="Exit after the report instead of keeping the dashboard up."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run Quo + CRM emulators and Switchboard, connect, sync, simulate calls, show notes."""
    from switchboard.demo import Demo, DemoError, DemoOptions, demo_crms

    if crm is not None and crm not in demo_crms():
        raise typer.BadParameter(f"choose one of {', '.join(demo_crms())}", param_hint="--crm")
    console = Console(stderr=as_json)
    runner = Demo(
        DemoOptions(
            crm=crm,
            people=people,
            calls=calls,
            messages=messages,
            port=port,
            data_dir=data_dir,
            exit_when_done=exit_when_done,
        ),
        console,
    )
    try:
        report = runner.run()
    except DemoError as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        if as_json:
            typer.echo(json.dumps(report.to_dict(), default=str))
        else:
            runner.print_report()
        if not exit_when_done:
            runner.wait_forever()
    finally:
        runner.stop()
