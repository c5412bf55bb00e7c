"""Request helpers shared by the route modules: the emulator, the authenticated org, bodies and
query parameters with Zoho's error answers."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request

from switchboard.emulators.zoho.emulator import ZohoEmulator
from switchboard.emulators.zoho.errors import ZohoError, invalid_body, invalid_param
from switchboard.emulators.zoho.org import MAX_RECORDS_PER_CALL, Org


def emulator_of(request: Request) -> ZohoEmulator:
    emu: ZohoEmulator = request.app.state.emulator
    return emu


def org_of(request: Request) -> Org:
    """The org `ZohoGate` authenticated for this request."""
    return emulator_of(request).orgs[request.scope["zoho_org"]]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("non-finite number")
    return value


async def read_json(request: Request, *, wrap: str | None = None) -> Any:
    """The JSON body; malformed JSON (or NaN/Infinity, lone surrogates) → 400 INVALID_DATA."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        body = json.loads(text, parse_constant=lambda c: _finite(float(c)))
        json.dumps(body).encode("utf-8")
    except (UnicodeError, ValueError) as exc:
        err = invalid_body("body")
        err.wrap = wrap
        raise err from exc
    return body


async def read_data(request: Request, key: str = "data") -> list[Any]:
    """`{key: [ ... ]}` with 1..100 entries."""
    body = await read_json(request)
    if not isinstance(body, dict) or key not in body:
        raise ZohoError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": key, "json_path": f"$.{key}"},
        )
    items = body[key]
    if not isinstance(items, list) or not items:
        raise ZohoError(
            400,
            "INVALID_DATA",
            "invalid data",
            {"api_name": key, "json_path": f"$.{key}", "expected_data_type": "jsonarray"},
        )
    if len(items) > MAX_RECORDS_PER_CALL:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "Record insertion limit has been exceeded.",
            {"api_name": key, "json_path": f"$.{key}", "limit": MAX_RECORDS_PER_CALL},
        )
    return items


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise invalid_param(name) from exc
    if not lo <= value <= hi:
        raise invalid_param(name)
    return value
