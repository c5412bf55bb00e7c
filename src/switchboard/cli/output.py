"""What every command prints and how it exits, in one place.

Exit codes (the same in every command):

    0  done
    1  the operation failed or was refused (a disconnected connection, an event that did not
       fail, a provider that said no)
    2  bad usage (an unknown option value, a malformed KEY=VALUE)
    3  an unknown id (connection, event) — or no data directory / no connections at all

Listings print one block per row: the id first and whole on its head line (what is printed can
be pasted into the next command at any terminal width), then long text wrapped, never truncated,
as plain text (a reason such as "[unauthorized]" is not markup). `--json` prints everything.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3

NO_CONNECTIONS = (
    "no connections yet — run `switchboard connect <crm>` "
    "(`switchboard connect --help` lists the CRMs; QUO_API_KEY and the CRM token in the "
    "environment)"
)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def not_found(what: str, ident: str) -> NoReturn:
    fail(f"unknown {what} {ident}", EXIT_NOT_FOUND)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def terminal_width() -> int:
    return max(40, shutil.get_terminal_size((100, 24)).columns)


def records(items: Sequence[tuple[Sequence[str], Sequence[tuple[str, Any]]]]) -> None:
    """Print one block per item: a head line of fields (the id first, whole, never cut), then
    indented `label: value` lines wrapped at the terminal width (empty values are left out).
    Plain text: nothing is interpreted as markup."""
    width = terminal_width()
    for head, lines in items:
        typer.echo("  ".join(str(h) for h in head if h not in (None, "")))
        for label, value in lines:
            if value in (None, "", [], {}):
                continue
            text = f"{label}: {value}"
            wrapped = textwrap.wrap(
                text,
                width=width,
                initial_indent="    ",
                subsequent_indent="      ",
                break_long_words=True,
                break_on_hyphens=False,
            )
            typer.echo("\n".join(wrapped))
