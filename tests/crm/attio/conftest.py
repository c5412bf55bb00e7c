"""The Attio emulator on a real port (module-scoped; tests `reset()` it), for connector tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from switchboard.emulators.attio import AttioEmulator, create_app
from switchboard.emulators.common import ServerThread

TOKEN = "attio-contract-kit-token"


@pytest.fixture(scope="module")
def attio_server() -> Iterator[tuple[AttioEmulator, ServerThread]]:
    """Emulator at Attio's limits (100 reads/s, 25 writes/s), plain-HTTP webhook targets allowed,
    fast redelivery."""
    emu = AttioEmulator(allow_http_targets=True, token=TOKEN, seed_value=11)
    emu.set_webhook_delivery(time_scale=0.001)
    server = ServerThread(create_app(emu)).start()
    try:
        yield emu, server
    finally:
        emu.deliverer.cancel_all()
        server.stop()
