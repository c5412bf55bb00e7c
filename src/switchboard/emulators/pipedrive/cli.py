"""`switchboard emulate pipedrive`: the Pipedrive emulator as a local HTTP server."""

from __future__ import annotations

import typer


def command(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8030, help="Port to listen on."),
    allow_http_targets: bool = typer.Option(
        True, "--allow-http-targets", help="Accepted for symmetry: Pipedrive posts to any URL."
    ),
    seed: int | None = typer.Option(None, help="Random seed (fault decisions, seeded data)."),
    token: str | None = typer.Option(None, help="API token of the default company."),
    persons: int = typer.Option(
        0, "--persons", "--people", help="Seed this many persons (organizations, deals, leads)."
    ),
    plan: str = typer.Option(
        "professional", help="essential, advanced, professional or enterprise."
    ),
    seats: int = typer.Option(5, help="Seats (the daily token budget scales with them)."),
    burst_unit: str = typer.Option(
        "requests", help="What the 2-second window counts: requests or cost."
    ),
    rate_limits: bool = typer.Option(True, help="Enforce the burst window and daily budget."),
    webhook_time_scale: float = typer.Option(
        1.0, help="Scale of the 3/30/150 s redelivery delays; 0.001 for tests."
    ),
    access_token_lifetime: float = typer.Option(
        3599.0, help="OAuth access-token lifetime in seconds (Pipedrive: 3599)."
    ),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Serve the Pipedrive API v1/v2 emulator (control surface under /_emulator)."""
    from switchboard.emulators.common import serve
    from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
    from switchboard.emulators.pipedrive.emulator import PIPEDRIVE_OAUTH

    del allow_http_targets
    emu = PipedriveEmulator(
        token=token,
        seed_value=seed,
        plan=plan,
        seats=seats,
        burst_unit=burst_unit,
        rate_limits=rate_limits,
        webhook_time_scale=webhook_time_scale,
        oauth_settings=PIPEDRIVE_OAUTH.model_copy(
            update={"access_token_lifetime_s": access_token_lifetime}
        ),
    )
    if persons:
        emu.seed(emu.default_company, persons=persons, seed=seed or 0)
    typer.echo(
        f"Pipedrive emulator on http://{host}:{port}; token {emu.default_token}; "
        "control: /_emulator"
    )
    serve(create_app(emu), host=host, port=port, log_level=log_level)
