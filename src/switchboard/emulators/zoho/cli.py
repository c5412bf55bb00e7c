"""`switchboard emulate zoho`: the Zoho CRM emulator as a local HTTP server."""

from __future__ import annotations

import typer


def command(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8040, help="Port to listen on."),
    allow_http_targets: bool = typer.Option(
        True, "--allow-http-targets", help="Accepted for symmetry: Zoho notifies any URL."
    ),
    seed: int | None = typer.Option(None, help="Random seed (fault decisions, seeded data)."),
    token: str | None = typer.Option(None, help="Access token of the default org (US DC)."),
    contacts: int = typer.Option(0, "--contacts", "--people", help="Seed this many contacts."),
    leads: int = typer.Option(0, help="Seed this many leads."),
    edition: str = typer.Option(
        "enterprise", help="free, standard, professional, enterprise or ultimate."
    ),
    credits_per_day: int | None = typer.Option(None, help="Override the edition's daily credits."),
    max_concurrency: int | None = typer.Option(None, help="Override the edition's concurrency."),
    client_id: str | None = typer.Option(None, help="Register an OAuth client id."),
    client_secret: str | None = typer.Option(None, help="... and its secret."),
    notify_time_scale: float = typer.Option(
        1.0, help="Scale of notification redelivery delays; 0.001 for tests."
    ),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Serve the Zoho CRM v8 emulator with its accounts server (control surface: /_emulator)."""
    from switchboard.emulators.common import serve
    from switchboard.emulators.zoho import ZohoEmulator, create_app

    del allow_http_targets
    emu = ZohoEmulator(
        seed=seed or 0,
        edition=edition,
        credits_per_day=credits_per_day,
        max_concurrency=max_concurrency,
        client_id=client_id,
        client_secret=client_secret,
        token=token,
        notify_time_scale=notify_time_scale,
    )
    if contacts or leads:
        emu.seed(emu.default_org, contacts=contacts, leads=leads, seed=seed or 0)
    typer.echo(
        f"Zoho CRM emulator on http://{host}:{port}; access token {emu.default_token}; "
        "data centres by host or path prefix (/eu/crm/v8/...); control: /_emulator"
    )
    serve(create_app(emu), host=host, port=port, log_level=log_level, date_header=False)
