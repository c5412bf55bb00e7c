"""`switchboard emulate <provider>`: run a provider emulator as a local HTTP server."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Run provider emulators (Quo, CRMs) locally.", no_args_is_help=True)


@app.command("quo")
def quo(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8010, help="Port to listen on."),
    profile: str = typer.Option(
        "current",
        help="current (v1+v2 webhooks work), dev-2025-11 (/v2/webhooks → 500) or 2026-03-30 "
        "(also the dated API generation: unprefixed paths, /webhooks resource).",
    ),
    seed_file: Path | None = typer.Option(
        None, "--seed-file", exists=True, dir_okay=False, help="JSON with workspaces to create."
    ),
    api_key: list[str] = typer.Option(
        [], "--api-key", help="Create a default workspace per key (repeatable)."
    ),
    bulk_delay: float = typer.Option(2.5, help="Seconds until bulk-created contacts appear."),
    key_propagation: float = typer.Option(0.0, help="Seconds a freshly created key answers 401."),
    rate_limit: int = typer.Option(10, help="Requests per second per key (0 = unlimited)."),
    phase_scale: float = typer.Option(
        1.0, help="Scale of delays between call phases (0 = immediate)."
    ),
    seed: int = typer.Option(0, help="Random seed (ids, fault decisions)."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Serve the Quo public API emulator (control surface under /_emulator)."""
    from switchboard.emulators.common import serve
    from switchboard.emulators.quo import QuoEmulator, create_app, load_seed
    from switchboard.emulators.quo.state import PROFILES

    if profile not in PROFILES:
        raise typer.BadParameter("profile must be " + " or ".join(PROFILES), param_hint="--profile")
    emu = QuoEmulator(
        profile=profile,
        bulk_delay_s=bulk_delay,
        key_propagation_s=key_propagation,
        rate_limit=rate_limit,
        phase_delay_scale=phase_scale,
        seed=seed,
    )
    if seed_file is not None:
        load_seed(emu, seed_file.read_text("utf-8"))
    for key in api_key:
        emu.create_workspace(api_key=key)
    typer.echo(f"Quo emulator on http://{host}:{port} (profile {profile}); control: /_emulator")
    serve(create_app(emu), host=host, port=port, log_level=log_level)


def _add_crm_emulators() -> None:
    """One `switchboard emulate <crm>` per registered CRM; each brings its own options."""
    from switchboard.crm import registry

    for provider in registry.all_providers():
        if provider.emulator is not None:
            app.command(provider.name, help=f"Serve the {provider.display_name} emulator.")(
                provider.emulator.load_command()
            )


_add_crm_emulators()
