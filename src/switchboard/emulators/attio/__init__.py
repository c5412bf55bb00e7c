"""Attio emulator: Attio's REST API v2 (the parts Switchboard touches) plus a control surface.

    from switchboard.emulators.attio import AttioEmulator, create_app
    emu = AttioEmulator(allow_http_targets=True, seed_value=1)
    app = create_app(emu)          # ASGI; serve with uvicorn or drive with httpx.ASGITransport
    token = emu.default_token      # Bearer token of the default workspace

CLI: `switchboard emulate attio [--host] [--port] [--allow-http-targets] [--seed N] [--token T]`.
Control surface: `/_emulator/...` (see `control.py` and docs/emulators.md).
"""

from switchboard.emulators.attio.app import create_app
from switchboard.emulators.attio.emulator import (
    AttioEmulator,
    AttioFaultConfig,
    AttioRateLimiter,
    DispatchedEvent,
    Token,
    sign,
)
from switchboard.emulators.attio.errors import AttioError
from switchboard.emulators.attio.seed import SeedResult, seed_workspace
from switchboard.emulators.attio.workspace import Workspace

__all__ = [
    "AttioEmulator",
    "AttioError",
    "AttioFaultConfig",
    "AttioRateLimiter",
    "DispatchedEvent",
    "SeedResult",
    "Token",
    "Workspace",
    "create_app",
    "seed_workspace",
    "sign",
]
