"""`switchboard alerts test|check|secret`: try the alert channels, run one evaluation, print the
signing secret a webhook receiver verifies with."""

from __future__ import annotations

from typing import Any

import typer

from switchboard.cli import output as out
from switchboard.config import get_settings

app = typer.Typer(help="Alerts: outgoing webhook and e-mail.", no_args_is_help=True)


def _runtime() -> Any:
    from switchboard.logs import configure_logging
    from switchboard.runtime import Runtime

    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    return Runtime(settings, workers=False, kind="cli", launch_dbos=False).start()


def _secret() -> str:
    from switchboard.alerts import signing_secret
    from switchboard.crypto import load_master_key

    return signing_secret(load_master_key(get_settings()))


@app.command("test")
def test_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Send a test message to every configured channel (exit 1 if one fails or none is set)."""
    from switchboard.alerts import AlertSettings, deliver
    from switchboard.alerts.incidents import sample_message

    settings = AlertSettings()
    if not settings.enabled:
        out.fail(
            "no alert channel configured: set SWITCHBOARD_ALERT_WEBHOOK_URL, or "
            "SWITCHBOARD_ALERT_EMAIL_TO with SWITCHBOARD_ALERT_SMTP_HOST"
        )
    outcome = deliver(settings, sample_message(get_settings().public_url), _secret())
    if as_json:
        out.emit_json(outcome)
    else:
        for channel, result in outcome.items():
            typer.echo(f"{channel}: {result}")
    if any(v != "sent" for v in outcome.values()):
        raise typer.Exit(out.EXIT_FAILED)


@app.command("check")
def check_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Evaluate once now (what the every-minute schedule does) and send what is due."""
    from switchboard.alerts import AlertSettings, evaluate

    rt = _runtime()
    try:
        sent = evaluate(rt.db, AlertSettings(), _secret(), rt.settings.public_url)
    finally:
        rt.stop()
    if as_json:
        out.emit_json([m.facts() | {"text": m.text} for m in sent])
    else:
        typer.echo("\n".join(m.text for m in sent) or "nothing to send")


@app.command("secret")
def secret_cmd() -> None:
    """The per-installation secret that signs alert webhooks (X-Switchboard-Signature)."""
    typer.echo(_secret())
