"""The Quo reads activity logging needs, as plain JSON (Quo's camelCase resource shapes).

`QuoReader` is the seam: production adapts the shared Quo client (`switchboard.quo`) to it, unit
tests pass a fake. Every method is one Quo request; callers cache.
"""

from __future__ import annotations

from typing import Any, Protocol


class QuoNotFound(Exception):
    """The resource does not exist (yet): 404 from Quo."""


class QuoRequestRefused(Exception):
    """Quo refused the request for a reason retrying will not fix (400: e.g. a call with more
    than two participants, or a user id of the AI agent)."""


class QuoReader(Protocol):
    async def list_phone_numbers(self) -> list[dict[str, Any]]:
        """`GET /v1/phone-numbers` → the workspace's lines (each with its `users`)."""

    async def get_user(self, user_id: str) -> dict[str, Any]:
        """`GET /v1/users/{id}`."""

    async def get_call(self, call_id: str) -> dict[str, Any]:
        """`GET /v1/calls/{id}` (QuoRequestRefused for > 2 participants)."""

    async def get_call_voicemail(self, call_id: str) -> dict[str, Any]:
        """`GET /v1/call-voicemails/{callId}` (QuoNotFound when there is none)."""
