"""`switchboard probe quo SCENARIO`: does Quo still behave the way Switchboard is built for?

    QUO_API_KEY=... switchboard probe quo all --env dev
    switchboard probe quo webhooks --env local --profile dev-2025-11 --json
    switchboard probe quo generation-2026 --env local --profile 2026-03-30

The key comes from QUO_API_KEY (or --api-key); it is never printed or logged. `--env local`
without `--base-url` starts a Quo emulator in this process (with `--profile`). Exit code 1 when
any expectation fails, 2 on usage errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from typing import Any

import typer

from switchboard.logs import configure_logging, register_secret

app = typer.Typer(help="Check live provider behaviour against what Switchboard expects.")

SCENARIO_NAMES = (
    "list-contacts", "single-create", "bulk-create", "duplicate-phone", "duplicate-external-id",
    "webhooks", "generation-2026", "all",
)  # fmt: skip


@contextlib.contextmanager
def _local_emulator(api_key: str, profile: str, bulk_delay: float) -> Iterator[str]:
    from switchboard.emulators.common import run_in_thread
    from switchboard.emulators.quo import QuoEmulator, create_app

    emu = QuoEmulator(profile=profile, bulk_delay_s=bulk_delay)
    # A dozen existing contacts, so list-contacts has a second page to fetch.
    seed = [
        {
            "defaultFields": {"firstName": "Existing", "lastName": str(i),
                              "phoneNumbers": [{"name": "mobile", "value": f"+1555030{i:04d}"}]},
            "externalId": f"seed-{i}",
            "source": "emulator-seed",
        }
        for i in range(12)
    ]  # fmt: skip
    emu.create_workspace(api_key=api_key, contacts=seed)
    with run_in_thread(create_app(emu)) as server:
        yield server.url


def _print_human(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(f"Quo probe — env [bold]{report.env}[/] at {report.base_url}")
    for s in report.scenarios:
        verdict = "[green]PASS[/]" if s.passed else "[red]FAIL[/]"
        if s.skipped:
            verdict = f"[yellow]SKIP[/] ({s.skipped})"
        console.print(f"\n[bold]{s.name}[/] {verdict} ({s.duration_s:.2f} s) — {s.description}")
        table = Table(show_header=True, header_style="bold", expand=False)
        table.add_column("expectation (documented)")
        table.add_column("observed")
        table.add_column("result")
        for c in s.checks:
            table.add_row(
                c.expectation, c.observed, "[green]PASS[/]" if c.passed else "[red]FAIL[/]"
            )
        if s.error:
            table.add_row("scenario runs to the end", s.error, "[red]FAIL[/]")
        console.print(table)
        if s.observations:
            console.print("observed: " + json.dumps(s.observations, default=str, sort_keys=True))
        if s.cleanup["created"] or s.cleanup["deleted"]:
            console.print(
                f"cleanup: created {s.cleanup['created']}, deleted {s.cleanup['deleted']}"
            )
    total = sum(len(s.checks) for s in report.scenarios)
    failed = sum(1 for s in report.scenarios for c in s.checks if not c.passed)
    failed += sum(1 for s in report.scenarios if s.error)
    console.print(f"\n{total - failed if failed <= total else 0}/{total} expectations passed")
    if report.generations:
        offered = [g for g, ok in report.generations.items() if ok]
        console.print("API generations offered: " + (", ".join(offered) or "none"))


@app.command("quo")
def quo(
    scenario: str = typer.Argument(..., help="One of: " + ", ".join(SCENARIO_NAMES)),
    env: str = typer.Option("local", help="prod, dev or local (emulator)."),
    base_url: str | None = typer.Option(None, "--base-url", help="Override the API host."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
    profile: str = typer.Option(
        "current", help="Profile of the emulator started for --env local without --base-url."
    ),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        help="Quo API key (default: QUO_API_KEY). Never printed.",
        show_default=False,
    ),
    bulk_deadline: float = typer.Option(30.0, help="Seconds to wait for bulk-created contacts."),
    bulk_delay: float = typer.Option(2.5, help="Bulk delay of a self-started emulator."),
    receiver_url: str | None = typer.Option(
        None,
        "--receiver-url",
        help="Public URL forwarding to the local test-delivery receiver (live workspaces).",
    ),
) -> None:
    """Run SCENARIO against Quo and print PASS/FAIL per documented expectation."""
    if scenario not in SCENARIO_NAMES:
        raise typer.BadParameter(
            f"choose one of {', '.join(SCENARIO_NAMES)}", param_hint="SCENARIO"
        )
    if env not in ("prod", "dev", "local"):
        raise typer.BadParameter("prod, dev or local", param_hint="--env")
    configure_logging("WARNING")
    key = api_key or os.environ.get("QUO_API_KEY")
    start_emulator = env == "local" and not base_url
    if not key:
        if not start_emulator:
            typer.echo("set QUO_API_KEY (or pass --api-key)", err=True)
            raise typer.Exit(2)
        key = "sb-probe-" + secrets.token_hex(12)
    register_secret(key)

    async def run(url: str | None) -> Any:
        from switchboard.config import get_settings
        from switchboard.quo.client import QuoClient
        from switchboard.quo.probe import run_scenarios

        settings = get_settings()
        async with QuoClient(
            key,
            env=env,
            base_url=url,
            redis_url=settings.redis_url,
            database_url=settings.database_url and settings.resolved_database_url(),
        ) as client:
            return await run_scenarios(
                client,
                [scenario],
                env=env,
                bulk_deadline=bulk_deadline,
                receiver_url=receiver_url,
            )

    if start_emulator:
        with _local_emulator(key, profile, bulk_delay) as url:
            report = asyncio.run(run(url))
    else:
        report = asyncio.run(run(base_url))
    if json_out:
        typer.echo(json.dumps(report.to_json(), default=str))
    else:
        _print_human(report)
    if not report.passed:
        raise typer.Exit(1)
