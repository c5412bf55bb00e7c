"""`switchboard db`: database set-up."""

from __future__ import annotations

import typer

from switchboard.config import get_settings
from switchboard.store import migrate

app = typer.Typer(help="Database set-up.", no_args_is_help=True)


@app.command("migrate")
def migrate_cmd() -> None:
    """Create or upgrade the application tables (SQLite default or SWITCHBOARD_DATABASE_URL)."""
    url = get_settings().resolved_database_url()
    migrate(url)
    typer.echo("database is up to date")
