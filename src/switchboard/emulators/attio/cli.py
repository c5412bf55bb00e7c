"""`switchboard emulate attio`: the Attio emulator as a local HTTP server."""

from __future__ import annotations

import typer


def command(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8020, help="Port to listen on."),
    allow_http_targets: bool = typer.Option(
        False, "--allow-http-targets", help="Accept plain-http loopback webhook target_urls."
    ),
    seed: int | None = typer.Option(None, help="Random seed (ids, secrets stay random)."),
    token: str | None = typer.Option(None, help="Bearer token of the default workspace."),
    people: int = typer.Option(0, help="Seed this many people (and one company per ten)."),
    reads_per_second: int = typer.Option(100, help="Read budget per workspace (0 = unlimited)."),
    writes_per_second: int = typer.Option(25, help="Write budget per workspace (0 = unlimited)."),
    webhook_max_attempts: int = typer.Option(10, help="Delivery attempts per webhook event."),
    webhook_time_scale: float = typer.Option(
        1.0, help="Scale of the redelivery backoff (1 s × 2^n); 0.001 for tests."
    ),
    access_token_lifetime: float | None = typer.Option(
        None, help="OAuth access-token lifetime in seconds (default: never expire, as Attio)."
    ),
    refresh_tokens: bool = typer.Option(
        False, "--refresh-tokens", help="Issue (rotating) refresh tokens with OAuth tokens."
    ),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Serve the Attio REST API v2 emulator (control surface under /_emulator)."""
    from switchboard.emulators.attio import AttioEmulator, create_app
    from switchboard.emulators.common import serve
    from switchboard.emulators.oauth import OAuthSettings

    emu = AttioEmulator(
        allow_http_targets=allow_http_targets,
        seed_value=seed,
        token=token,
        reads_per_second=reads_per_second,
        writes_per_second=writes_per_second,
        webhook_max_attempts=webhook_max_attempts,
        webhook_time_scale=webhook_time_scale,
        oauth_settings=OAuthSettings(
            access_token_lifetime_s=access_token_lifetime, refresh_tokens=refresh_tokens
        ),
    )
    if people:
        emu.seed(emu.default_workspace, people, seed=seed or 0)
    typer.echo(
        f"Attio emulator on http://{host}:{port}; token {emu.default_token}; control: /_emulator"
    )
    serve(create_app(emu), host=host, port=port, log_level=log_level)
