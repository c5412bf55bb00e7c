"""Connection setup and teardown workflows (being written; see docs/service.md)."""

from __future__ import annotations

import secrets


def start_setup(connection_id: str, force: bool = False) -> str:
    """Enqueue the setup workflow for a connection; returns the workflow id."""
    raise NotImplementedError("setup workflow not yet available")


def start_resubscribe(connection_id: str) -> str:
    raise NotImplementedError("resubscribe workflow not yet available")


def _wid(prefix: str, connection_id: str) -> str:
    return f"{prefix}:{connection_id}:{secrets.token_hex(4)}"
