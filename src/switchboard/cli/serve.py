"""`switchboard serve` (web + workers) and `switchboard worker` (workers only)."""

from __future__ import annotations

import signal
import threading

import typer

from switchboard.config import get_settings
from switchboard.logs import configure_logging, get_logger

log = get_logger("switchboard.cli.serve")


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8400, help="Port to listen on."),
    no_workers: bool = typer.Option(
        False, "--no-workers", help="Web only: accept webhooks and enqueue, never dequeue."
    ),
    proxy_headers: bool = typer.Option(
        True, help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips (a reverse proxy)."
    ),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        help="Proxy addresses whose forwarded headers are trusted (comma-separated). "
        "Default: $FORWARDED_ALLOW_IPS or 127.0.0.1.",
    ),
) -> None:
    """Run the webhook receiver, admin API, /healthz, /readyz and /metrics (and workers)."""
    import uvicorn

    from switchboard.runtime import Runtime
    from switchboard.web import create_app

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    rt = Runtime(settings, workers=not no_workers, kind="serve").start()
    try:
        app = create_app(rt, bind_host=host)
        if app.state.generated_token_file is not None:
            # Printed once, at the start that generated it; afterwards it is only in the file.
            typer.echo(
                f"admin token (generated; stored in {app.state.generated_token_file}): "
                f"{app.state.admin_token}",
                err=True,
            )
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
        )
        server = uvicorn.Server(config)
        typer.echo(
            f"switchboard serving on http://{host}:{port} (workers={'off' if no_workers else 'on'})"
        )
        server.run()
    finally:
        rt.stop()


def worker() -> None:
    """Run workers only: dequeue and execute workflows until SIGINT/SIGTERM."""
    from switchboard.runtime import Runtime

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    rt = Runtime(settings, workers=True, kind="worker").start()
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    typer.echo(f"switchboard worker {rt.executor_id} running", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        rt.stop()
