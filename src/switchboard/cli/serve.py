"""`switchboard serve` (web + workers) and `switchboard worker` (workers only).

Both stop gracefully on SIGTERM (systemd, Docker, Kubernetes) and SIGINT: stop accepting
(uvicorn closes its listener and lets open requests finish), then `Runtime.stop` drains running
workflows for up to `SWITCHBOARD_SHUTDOWN_DRAIN_S` (10 s) in total, hands the unfinished ones
back to the queue, removes the heartbeat row and the process exits 0. A second signal during the
drain is ignored: the drain is bounded anyway, and dying half-way would skip the hand-back.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import typer

from switchboard.config import get_settings
from switchboard.logs import configure_logging, get_logger

log = get_logger("switchboard.cli.serve")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _ignore_further_signals() -> None:
    def _ignore(signum: int, _frame: object) -> None:
        log.warning("shutdown_in_progress", signal=signal.Signals(signum).name)

    for sig in _STOP_SIGNALS:
        signal.signal(sig, _ignore)


def _drain_left(signalled_at: float | None, drain_s: float) -> float:
    """What is left of the drain bound for the runtime once the web server has stopped."""
    if signalled_at is None:
        return drain_s
    return max(0.0, drain_s - (time.monotonic() - signalled_at))


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
    signalled: list[float] = []

    class Server(uvicorn.Server):
        """uvicorn re-raises the signal it caught once `run()` returns, which kills the process
        before the runtime is stopped; we keep uvicorn's handling (stop accepting, finish open
        requests) and drop the re-raise, then stop the runtime ourselves."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            if not signalled:
                signalled.append(time.monotonic())
                log.info("shutdown_requested", signal=signal.Signals(sig).name)
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:
                    self._captured_signals.clear()

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
            timeout_graceful_shutdown=max(1, int(rt.drain_s / 2)),
        )
        server = Server(config)
        typer.echo(
            f"switchboard serving on http://{host}:{port} (workers={'off' if no_workers else 'on'})"
        )
        server.run()
    finally:
        _ignore_further_signals()
        rt.stop(_drain_left(signalled[0] if signalled else None, rt.drain_s))


def worker() -> None:
    """Run workers only: dequeue and execute workflows until SIGINT/SIGTERM."""
    from switchboard.runtime import Runtime

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    rt = Runtime(settings, workers=True, kind="worker").start()
    stop = threading.Event()
    signalled: list[float] = []

    def _on_signal(signum: int, _frame: object) -> None:
        if not signalled:
            signalled.append(time.monotonic())
            log.info("shutdown_requested", signal=signal.Signals(signum).name)
        stop.set()

    for sig in _STOP_SIGNALS:
        signal.signal(sig, _on_signal)
    typer.echo(f"switchboard worker {rt.executor_id} running", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        _ignore_further_signals()
        rt.stop(_drain_left(signalled[0] if signalled else None, rt.drain_s))
