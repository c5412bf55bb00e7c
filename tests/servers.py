"""Start any `switchboard ...` server command as a real subprocess for real-HTTP tests.

    from tests.servers import cli_server, quo_emulator

    with cli_server("emulate", "quo", "--api-key", "k1") as srv:
        httpx.get(srv.url + "/v1/phone-numbers", headers={"Authorization": "k1"})

    with quo_emulator("--api-key", "k1") as srv:   # same thing, shorter
        ...

The server gets a free loopback port (`--host 127.0.0.1 --port N` are appended), the helper polls
until it answers HTTP (any status), and on exit the whole process group is terminated (SIGTERM,
then SIGKILL after a grace period). Output goes to a temp file; `srv.output()` reads it, and it is
included in the error when the server fails to start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def switchboard_command() -> list[str]:
    """The `switchboard` console script next to this interpreter, or an equivalent `-c` call."""
    script = Path(sys.executable).parent / "switchboard"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from switchboard.cli.main import app; app()"]


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)


class _PortTaken(RuntimeError):
    pass


def _start(
    args: tuple[str, ...],
    host: str,
    port: int,
    ready_path: str,
    env: dict[str, str] | None,
    timeout: float,
    host_flag: str | None,
    port_flag: str | None,
) -> RunningServer:
    cmd = [*switchboard_command(), *args]
    if host_flag:
        cmd += [host_flag, host]
    if port_flag:
        cmd += [port_flag, str(port)]
    fd, log_name = tempfile.mkstemp(prefix="sb-server-", suffix=".log")
    log_path = Path(log_name)
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with os.fdopen(fd, "wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,  # own process group: killpg reaches workers too
        )
    server = RunningServer(proc, host, port, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                out = server.output()
                error = _PortTaken if "address already in use" in out.lower() else RuntimeError
                raise error(f"{' '.join(cmd)} exited with {proc.returncode}:\n{out}")
            try:
                httpx.get(server.url + ready_path, timeout=1.0)
                if proc.poll() is None:  # the answer came from our process, not a port thief
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{' '.join(cmd)} did not answer in {timeout}s:\n{server.output()}"
                )
            time.sleep(0.05)
    except BaseException:
        _stop(proc)
        with contextlib.suppress(OSError):
            log_path.unlink()
        raise


@contextlib.contextmanager
def cli_server(
    *args: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    ready_path: str = "/",
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    host_flag: str | None = "--host",
    port_flag: str | None = "--port",
) -> Iterator[RunningServer]:
    """Run `switchboard *args --host H --port P` until the block exits.

    Pass `host_flag=None` / `port_flag=None` when the command takes them differently (then put
    the port in `args` yourself and pass `port=`). With an automatic port, a start that fails
    because another process grabbed the port meanwhile is retried on a new port.
    """
    attempts = 1 if port else 3
    for attempt in range(attempts):
        try:
            server = _start(
                args, host, port or free_port(host), ready_path, env, timeout, host_flag, port_flag
            )
            break
        except _PortTaken:
            if attempt == attempts - 1:
                raise
    try:
        yield server
    finally:
        _stop(server.process)
        with contextlib.suppress(OSError):
            server.log_path.unlink()


@contextlib.contextmanager
def quo_emulator(*args: str, **kwargs: object) -> Iterator[RunningServer]:
    """`switchboard emulate quo *args` (e.g. "--api-key", "k1", "--profile", "dev-2025-11")."""
    with cli_server("emulate", "quo", *args, ready_path="/_emulator/health", **kwargs) as srv:  # type: ignore[arg-type]
        yield srv
