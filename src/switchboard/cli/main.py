"""Entry point: `switchboard <group> ...`."""

from __future__ import annotations

import typer

from switchboard import __version__
from switchboard.cli import alerts as alerts_cli
from switchboard.cli import connections as connections_cli
from switchboard.cli import db as db_cli
from switchboard.cli import demo as demo_cli
from switchboard.cli import emulate as emulate_cli
from switchboard.cli import events as events_cli
from switchboard.cli import probe as probe_cli
from switchboard.cli import serve as serve_cli
from switchboard.cli import sync as sync_cli

app = typer.Typer(
    name="switchboard",
    help="Switchboard connects Quo to your CRM: contacts into Quo, calls and texts onto people.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_cli.app, name="db")
app.add_typer(emulate_cli.app, name="emulate")
app.add_typer(probe_cli.app, name="probe")
app.command("serve")(serve_cli.serve)
app.command("worker")(serve_cli.worker)
app.add_typer(connections_cli.connect_app, name="connect")
app.add_typer(connections_cli.connections_app, name="connections")
app.command("disconnect")(connections_cli.disconnect_cmd)
app.add_typer(events_cli.app, name="events")
app.command("sync")(sync_cli.sync)
app.command("demo")(demo_cli.demo)
app.add_typer(alerts_cli.app, name="alerts")


@app.command()
def version() -> None:
    """Print the Switchboard version."""
    typer.echo(__version__)
