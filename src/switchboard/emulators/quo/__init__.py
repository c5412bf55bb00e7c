"""Quo (OpenPhone) public API emulator: `switchboard emulate quo`, or in-process:

from switchboard.emulators.quo import QuoEmulator, create_app

emu = QuoEmulator(bulk_delay_s=0, phase_delay_scale=0)
ws = emu.create_workspace(api_key="k1")
transport = httpx.ASGITransport(app=create_app(emu))
"""

from switchboard.emulators.quo.app import create_app
from switchboard.emulators.quo.emulator import QuoEmulator, load_seed
from switchboard.emulators.quo.state import QuoError, Workspace

__all__ = ["QuoEmulator", "QuoError", "Workspace", "create_app", "load_seed"]
