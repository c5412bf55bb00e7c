"""The tiny CRM's connector: the whole contract in one small class."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from switchboard import phones
from switchboard.crm.base import (
    ConnectorConfig,
    CrmChange,
    CrmConnector,
    CrmNote,
    NoteRef,
    PeoplePage,
    Person,
    StoredNote,
    WebhookSubscriptionInfo,
)
from switchboard.http import ApiClient, ApiError, RateLimit, limiter_key, make_limiter
from tests.crm.tiny import codec

NAME = "tiny"
API_URL = "https://api.tiny-crm.invalid"
READ = RateLimit(rate=20, period=1.0)
WRITE = RateLimit(rate=10, period=1.0)


def _person(data: Mapping[str, Any]) -> Person:
    return Person(
        id=str(data["id"]),
        first_name=data.get("first_name"),
        last_name=data.get("last_name"),
        emails=tuple(data.get("emails") or ()),
        phones=tuple(p for p in (phones.normalise(x, None) for x in data.get("phones") or ()) if p),
        company_id=data.get("company_id"),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
    )


class TinyConnector(CrmConnector):
    name = NAME

    def __init__(self, config: ConnectorConfig) -> None:
        limiters = config.limiters
        if limiters is None:
            limiters = {
                budget: make_limiter(
                    limiter_key(NAME, config.token, budget), limit,
                    database_url=config.database_url, redis_url=config.redis_url,
                    clock=config.clock,
                )
                for budget, limit in (("read", READ), ("write", WRITE))
            }  # fmt: skip
        self.http = ApiClient(
            provider=NAME,
            base_url=(config.base_url or API_URL).rstrip("/"),
            headers={"Authorization": f"Bearer {config.token}"},
            secrets=[config.token],
            limiters=limiters,
            budget_for=lambda method: "read" if method == "GET" else "write",
            retry=config.retry,
            timeout=config.timeout,
            transport=config.transport,
            hook=config.hook,
            clock=config.clock,
        )

    async def _json(self, method: str, path: str, operation: str, **kw: Any) -> Any:
        response = await self.http.request(method, path, operation=operation, **kw)
        return response.json() if response.content else {}

    async def check_credentials(self) -> Mapping[str, str]:
        me = await self._json("GET", "/v1/me", "me")
        return {"workspace_id": str(me["account"])}

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ people source
    async def list_people_page(self, cursor: str | None, limit: int = 500) -> PeoplePage:
        params = {"after": cursor or "0", "limit": limit}
        data = (await self._json("GET", "/v1/people", "people.list", params=params))["data"]
        done = len(data) < limit
        return PeoplePage([_person(d) for d in data], None if done else str(data[-1]["seq"]))

    async def get_person(self, person_id: str) -> Person | None:
        try:
            return _person(
                (await self._json("GET", f"/v1/people/{person_id}", "people.get"))["data"]
            )
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def find_people_by_phone(self, e164: str) -> list[Person]:
        number = phones.normalise(e164, None)
        if number is None:
            return []
        params = {"phone": number, "limit": 1000}
        data = (await self._json("GET", "/v1/people", "people.find", params=params))["data"]
        return [_person(d) for d in data]

    async def list_people_changed_since(self, since: datetime) -> list[Person]:
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        params = {"changed_since": since.isoformat(), "limit": 100_000}
        data = (await self._json("GET", "/v1/people", "people.changed", params=params))["data"]
        return [_person(d) for d in data]

    async def create_person(self, e164: str, name: str | None = None) -> Person:
        existing = await self.find_people_by_phone(e164)
        if existing:
            return existing[0]
        body = {"phones": [e164], "name": name or ""}
        return _person((await self._json("POST", "/v1/people", "people.create", json=body))["data"])

    async def company_names(self, company_ids: set[str]) -> dict[str, str]:
        if not company_ids:
            return {}
        params = {"ids": ",".join(sorted(company_ids))}
        data = (await self._json("GET", "/v1/companies", "companies.list", params=params))["data"]
        return {str(c["id"]): str(c["name"]) for c in data}

    # ------------------------------------------------------------------ activity sink
    async def write_note(self, note: CrmNote) -> NoteRef:
        body = {
            "person_id": note.person_id,
            "title": note.title,
            "content": note.content,
            "format": note.content_format,
            "created_at": note.created_at.isoformat() if note.created_at else None,
        }
        data = (await self._json("POST", "/v1/notes", "notes.create", json=body))["data"]
        return NoteRef(id=str(data["id"]))

    async def delete_note(self, note_id: str) -> None:
        try:
            await self._json("DELETE", f"/v1/notes/{note_id}", "notes.delete")
        except ApiError as exc:
            if not exc.not_found:
                raise

    async def list_notes(self, person_id: str) -> list[StoredNote]:
        params = {"person_id": person_id}
        data = (await self._json("GET", "/v1/notes", "notes.list", params=params))["data"]
        return [
            StoredNote(
                id=str(n["id"]), title=n["title"], content=n["content"],
                created_at=datetime.fromisoformat(n["created_at"]),
            )
            for n in data
        ]  # fmt: skip

    # ------------------------------------------------------------------ change feed
    async def subscribe(self, target_url: str) -> WebhookSubscriptionInfo:
        body = {"url": target_url}
        data = (await self._json("POST", "/v1/webhooks", "hooks.create", json=body))["data"]
        return WebhookSubscriptionInfo(str(data["id"]), data["secret"], data["url"])

    async def unsubscribe(self, remote_id: str) -> None:
        try:
            await self._json("DELETE", f"/v1/webhooks/{remote_id}", "hooks.delete")
        except ApiError as exc:
            if not exc.not_found:
                raise

    async def list_subscriptions(self) -> list[WebhookSubscriptionInfo]:
        data = (await self._json("GET", "/v1/webhooks", "hooks.list"))["data"]
        return [WebhookSubscriptionInfo(str(h["id"]), None, h["url"]) for h in data]

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
        codec.verify(raw_body, headers, secret)

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
        return codec.parse(raw_body, headers)
