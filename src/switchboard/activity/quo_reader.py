"""`QuoReader` over the shared `switchboard.quo.QuoClient`: Quo's JSON as sent, not remodelled.

The activity pipeline stores what Quo says (facts are built from the raw camelCase resources, the
same shape the webhooks carry), so the four reads go through the client's `ApiClient` — its one
retry policy, the shared 10 req/s limiter and the per-connection request counter — and return
the `data` object untouched.
"""

from __future__ import annotations

from typing import Any

from switchboard.activity.ports import QuoNotFound, QuoRequestRefused
from switchboard.http import ApiError


class QuoClientReader:
    def __init__(self, client: Any) -> None:
        self._client = client

    async def _get(self, path: str, operation: str) -> Any:
        try:
            response = await self._client.api.request("GET", path, operation=operation)
        except ApiError as exc:
            if exc.status == 404:
                raise QuoNotFound(str(exc)) from exc
            if exc.status == 400:
                raise QuoRequestRefused(str(exc)) from exc
            raise
        return response.json().get("data")

    async def list_phone_numbers(self) -> list[dict[str, Any]]:
        return list(await self._get("/v1/phone-numbers", "phone_numbers.list") or [])

    async def get_user(self, user_id: str) -> dict[str, Any]:
        return dict(await self._get(f"/v1/users/{user_id}", "users.get") or {})

    async def get_call(self, call_id: str) -> dict[str, Any]:
        return dict(await self._get(f"/v1/calls/{call_id}", "calls.get") or {})

    async def get_call_voicemail(self, call_id: str) -> dict[str, Any]:
        return dict(await self._get(f"/v1/call-voicemails/{call_id}", "voicemails.get") or {})

    async def aclose(self) -> None:
        await self._client.aclose()
