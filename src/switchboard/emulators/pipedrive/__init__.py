"""Pipedrive emulator: the parts of Pipedrive's API v1/v2 and OAuth that Switchboard and users'
own tooling call, Pipedrive's rate limits and webhooks, plus a control surface.

    from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
    emu = PipedriveEmulator(token="t1", webhook_time_scale=0.001)
    app = create_app(emu)          # ASGI; serve with uvicorn or drive with httpx.ASGITransport
    emu.default_token              # API token (header `x-api-token`) of the default company

`PipedriveEmulator(**options)` takes every knob as a keyword (see `emulator.py`); the control
surface is under `/_emulator/...` (see `control.py` and docs/emulators.md).
"""

from switchboard.emulators.pipedrive.app import create_app
from switchboard.emulators.pipedrive.company import ChangeEvent, Company
from switchboard.emulators.pipedrive.emulator import (
    DispatchedEvent,
    OAuthClient,
    PipedriveEmulator,
    Token,
    basic_credentials,
)
from switchboard.emulators.pipedrive.errors import PipedriveError
from switchboard.emulators.pipedrive.limits import TokenBudget
from switchboard.emulators.pipedrive.seed import SeedResult, phone_forms, seed_company

__all__ = [
    "ChangeEvent",
    "Company",
    "DispatchedEvent",
    "OAuthClient",
    "PipedriveEmulator",
    "PipedriveError",
    "SeedResult",
    "Token",
    "TokenBudget",
    "basic_credentials",
    "create_app",
    "phone_forms",
    "seed_company",
]
