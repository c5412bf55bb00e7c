"""Zoho CRM emulator: Zoho's v8 CRM API (the parts Switchboard touches), the accounts server's
OAuth endpoints, data centres, API credits and concurrency, the watch API with notifications, and
a control surface.

    from switchboard.emulators.zoho import ZohoEmulator, create_app
    emu = ZohoEmulator(seed=1)
    app = create_app(emu)          # ASGI; serve with uvicorn or drive with httpx.ASGITransport
    token = emu.default_token      # access token of the default org (US data centre)
    # requests send `Authorization: Zoho-oauthtoken <token>`

Control surface: `/_emulator/...` (see `control.py` and docs/emulators.md).
"""

from switchboard.emulators.zoho.app import create_app
from switchboard.emulators.zoho.emulator import (
    DATA_CENTRES,
    AccessToken,
    Notification,
    ZohoEmulator,
    ZohoFaultConfig,
)
from switchboard.emulators.zoho.errors import ZohoError
from switchboard.emulators.zoho.org import Channel, Org, Record
from switchboard.emulators.zoho.seed import SeedResult, seed_org

__all__ = [
    "DATA_CENTRES",
    "AccessToken",
    "Channel",
    "Notification",
    "Org",
    "Record",
    "SeedResult",
    "ZohoEmulator",
    "ZohoError",
    "ZohoFaultConfig",
    "create_app",
    "seed_org",
]
