"""QuoClient: the async client every part of Switchboard uses to talk to Quo.

    async with QuoClient(api_key, env="dev") as quo:              # or base_url=emulator.url
        page = await quo.list_contacts(max_results=50)
        async for contact in quo.iter_contacts():
            ...
        found = await quo.find_contacts_by_external_ids(ids)      # ≤ 20 per request, repeated keys

All requests go through one `switchboard.http.ApiClient`: Quo's 10 requests/second per key are
enforced by a limiter shared by every process using the key (Redis if configured, else the SQL
database, else process memory), with the one retry policy and a per-request hook for counting.
The key is sent as the bare `Authorization` header (no "Bearer"), registered with the log
redactor, and scrubbed from every ApiError.

Contact upsert (single and bulk with verification) lives in `switchboard.quo.contacts`; webhook
subscription planning (≤ 10 phone numbers per webhook, replace = create new then delete old) in
`switchboard.quo.webhooks`. Both are also reachable as methods here.

Long because: it is the one interface over both of Quo's API generations (v1 and 2026-03-30) —
each method is short, and splitting them by generation would split that interface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from switchboard.http import (
    SYSTEM_CLOCK,
    ApiClient,
    ApiError,
    Clock,
    RateLimit,
    RateLimiter,
    RequestHook,
    RetryPolicy,
    limiter_key,
    make_limiter,
)
from switchboard.http.paging import token_pages
from switchboard.quo.models import (
    WEBHOOK_KINDS,
    Call,
    CallSummary,
    CallTranscript,
    Contact,
    ContactInput,
    Message,
    Page,
    PhoneNumber,
    Recording,
    User,
    Voicemail,
    Webhook,
    WebhookEvent,
)

if TYPE_CHECKING:
    from switchboard.config import Settings
    from switchboard.quo.contacts import BulkUpsertReport, UpsertResult
    from switchboard.quo.readback import SourceReader

Environment = Literal["prod", "dev", "local"]
# Where webhooks live: "v1" / "v2" — the per-family `/v{n}/webhooks/{kind}` endpoints (legacy
# envelope); "2026-03-30" — the dated generation's single `/webhooks` resource (new envelope,
# Standard Webhooks, test events, delivery history, rotate).
WebhooksVersion = Literal["v1", "v2", "2026-03-30"]
DATED_VERSION = "2026-03-30"
VERSION_HEADER = "Quo-Api-Version"

BASE_URLS: dict[str, str] = {
    "prod": "https://api.openphone.com",
    "dev": "https://dev-public-api.openphone.dev",
}
# 10 requests per second per key, in Quo's sliding window; the limiters' window guard keeps
# that exact under any delays, the 2% spacing margin keeps the flow smooth. (5% before: with
# the permits lapsing at each request's estimated arrival the guard allows ~9.8/s at zero
# latency, and the spacing at 9.52/s was what bound a sync: 10,000 people, `bound_ratio`
# 1.116 → 1.093, 0 × 429, never 11 in a second.)
QUO_RATE_LIMIT = RateLimit(rate=10, period=1.0, margin=0.02)
MAX_EXTERNAL_IDS_PER_REQUEST = 20
MAX_PAGE_SIZE = 50

M = TypeVar("M", bound=BaseModel)


def base_url_for(env: str, base_url: str | None = None) -> str:
    """The API host for an environment; `local` (an emulator) needs `base_url`."""
    if base_url:
        return base_url.rstrip("/")
    if env not in BASE_URLS:
        raise ValueError(f"environment {env!r} needs an explicit base URL")
    return BASE_URLS[env]


def is_ai_agent_id(user_id: str | None) -> bool:
    """Quo's AI agent ("Sona") has user ids starting with SY; `GET /v1/users/{id}` 400s on them."""
    return bool(user_id) and str(user_id).startswith("SY")


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class QuoClient:
    """Typed async client for the Quo operations Switchboard uses.

    Args:
        api_key: the workspace API key (never logged or put in errors).
        env: "prod", "dev" or "local"; picks the base URL unless `base_url` is given.
        base_url: explicit host (emulator URL for "local").
        limiter: a ready limiter; default: `make_limiter(limiter_key("quo", api_key), rate_limit,
            database_url=..., redis_url=...)` — pass the same store in every process using the key.
        webhooks_version: "v1" (default), "v2" or "2026-03-30" (the dated `/webhooks` resource;
            `is_dated` is then True and the dated-only methods work).
        retry, timeout, transport, hook, clock: passed to ApiClient.
    """

    def __init__(
        self,
        api_key: str,
        *,
        env: str = "prod",
        base_url: str | None = None,
        limiter: RateLimiter | None = None,
        rate_limit: RateLimit = QUO_RATE_LIMIT,
        database_url: str | None = None,
        redis_url: str | None = None,
        webhooks_version: WebhooksVersion = "v1",
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        hook: RequestHook | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not api_key:
            raise ValueError("a Quo API key is required")
        self.env = env
        self.base_url = base_url_for(env, base_url)
        self.webhooks_version: WebhooksVersion = webhooks_version
        self.clock = clock
        self.limiter = limiter or make_limiter(
            limiter_key("quo", api_key),
            rate_limit,
            database_url=database_url,
            redis_url=redis_url,
            clock=clock,
        )
        self.api = ApiClient(
            provider="quo",
            base_url=self.base_url,
            headers={"Authorization": api_key, "Accept": "application/json"},
            secrets=[api_key],
            limiters=self.limiter,
            retry=retry,
            timeout=timeout,
            transport=transport,
            hook=hook,
            clock=clock,
        )
        # None = not known yet; False after the bulk endpoint answered 404/403 once.
        self.bulk_available: bool | None = None
        # Bulk read-back by source listing, one reader per (source, event loop); see readback.
        self.source_readers: dict[tuple[str, int], SourceReader] = {}

    @classmethod
    def from_settings(
        cls, api_key: str, settings: Settings, *, base_url: str | None = None, **kwargs: Any
    ) -> QuoClient:
        """A client whose limiter lives where the deployment shares state (Redis, else the DB)."""
        kwargs.setdefault("webhooks_version", settings.quo_webhooks_version)
        if settings.redis_url:
            kwargs.setdefault("redis_url", settings.redis_url)
        else:
            kwargs.setdefault("database_url", settings.resolved_database_url())
        return cls(api_key, env="local" if base_url else "prod", base_url=base_url, **kwargs)

    async def __aenter__(self) -> QuoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.api.aclose()

    def fastest_round_trip(self, operation: str) -> float | None:
        """The quickest recent answer to `operation` ("contacts.list"), permit to answer."""
        return self.api.fastest_round_trip(operation)

    # ------------------------------------------------------------------ plumbing

    async def _json(self, method: str, path: str, operation: str, **kw: Any) -> Any:
        response = await self.api.request(method, path, operation=operation, **kw)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def _data(self, model: type[M], method: str, path: str, operation: str, **kw: Any) -> M:
        body = await self._json(method, path, operation, **kw)
        return model.model_validate(body["data"])

    async def _page(
        self, model: type[M], path: str, operation: str, params: dict[str, Any]
    ) -> Page[M]:
        body = await self._json("GET", path, operation, params=params)
        return Page[model].model_validate(body)  # type: ignore[valid-type]

    async def _optional(self, model: type[M], path: str, operation: str) -> M | None:
        try:
            return await self._data(model, "GET", path, operation)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    # ------------------------------------------------------------------ contacts

    async def create_contact(self, contact: ContactInput) -> Contact:
        """`POST /v1/contacts` (201). A taken externalId raises ApiError 409 (code 0800409)."""
        return await self._data(
            Contact, "POST", "/v1/contacts", "contacts.create", json=contact.to_api()
        )

    async def bulk_create_contacts(self, contacts: Sequence[ContactInput]) -> None:
        """`POST /v1/contacts/bulk` (202, empty body; partner-only). Contacts appear seconds
        later; use `switchboard.quo.contacts.bulk_upsert_contacts` to verify them."""
        await self.api.request(
            "POST",
            "/v1/contacts/bulk",
            operation="contacts.bulk_create",
            json={"contacts": [c.to_api() for c in contacts]},
        )

    async def get_contact(self, contact_id: str) -> Contact:
        return await self._data(Contact, "GET", f"/v1/contacts/{contact_id}", "contacts.get")

    async def update_contact(
        self, contact_id: str, contact: ContactInput | dict[str, Any]
    ) -> Contact:
        """`PATCH /v1/contacts/{id}` (200). A `ContactInput` is sent whole (`to_patch`)."""
        body = contact.to_patch() if isinstance(contact, ContactInput) else contact
        return await self._data(
            Contact, "PATCH", f"/v1/contacts/{contact_id}", "contacts.update", json=body
        )

    async def delete_contact(self, contact_id: str, *, missing_ok: bool = True) -> bool:
        """`DELETE /v1/contacts/{id}` (204). Returns False when it was already gone."""
        try:
            await self.api.request(
                "DELETE", f"/v1/contacts/{contact_id}", operation="contacts.delete"
            )
        except ApiError as exc:
            if exc.status == 404 and missing_ok:
                return False
            raise
        return True

    async def list_contacts(
        self,
        *,
        max_results: int = MAX_PAGE_SIZE,
        page_token: str | None = None,
        external_ids: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
    ) -> Page[Contact]:
        """One page of `GET /v1/contacts`. Arrays go out as repeated keys; ≤ 20 externalIds."""
        if external_ids is not None and len(external_ids) > MAX_EXTERNAL_IDS_PER_REQUEST:
            raise ValueError(
                f"at most {MAX_EXTERNAL_IDS_PER_REQUEST} externalIds per request "
                "(use find_contacts_by_external_ids)"
            )
        params: dict[str, Any] = {"maxResults": min(max_results, MAX_PAGE_SIZE)}
        if page_token:
            params["pageToken"] = page_token
        if external_ids:
            params["externalIds"] = list(external_ids)
        if sources:
            params["sources"] = list(sources)
        return await self._page(Contact, "/v1/contacts", "contacts.list", params)

    async def iter_contacts(
        self,
        *,
        max_results: int = MAX_PAGE_SIZE,
        external_ids: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
    ) -> AsyncIterator[Contact]:
        """Every contact, page after page until `nextPageToken` is null."""

        async def fetch(token: str | None) -> tuple[list[Contact], str | None]:
            page = await self.list_contacts(
                max_results=max_results, page_token=token, external_ids=external_ids,
                sources=sources,
            )  # fmt: skip
            return page.data, page.next_page_token

        async for contact in token_pages(fetch):
            yield contact

    async def find_contacts_by_external_ids(
        self, external_ids: Iterable[str]
    ) -> dict[str, Contact]:
        """{externalId: contact} for those that exist; ≤ 20 ids per request, paged to the end."""
        unique = list(dict.fromkeys(external_ids))
        found: dict[str, Contact] = {}
        for chunk in chunked(unique, MAX_EXTERNAL_IDS_PER_REQUEST):
            async for contact in self.iter_contacts(external_ids=chunk):
                if contact.external_id is not None:
                    found.setdefault(contact.external_id, contact)
        return found

    async def upsert_contact(
        self, contact: ContactInput, quo_id: str | None = None
    ) -> UpsertResult:
        """See `switchboard.quo.contacts.upsert_contact`."""
        from switchboard.quo.contacts import upsert_contact

        return await upsert_contact(self, contact, quo_id)

    async def bulk_upsert_contacts(
        self, contacts: Sequence[ContactInput], **kwargs: Any
    ) -> BulkUpsertReport:
        """See `switchboard.quo.contacts.bulk_upsert_contacts`."""
        from switchboard.quo.contacts import bulk_upsert_contacts

        return await bulk_upsert_contacts(self, contacts, **kwargs)

    # ------------------------------------------------------------------ workspace

    async def list_phone_numbers(self, *, user_id: str | None = None) -> list[PhoneNumber]:
        """`GET /v1/phone-numbers` (not paged): the workspace's own lines."""
        params = {"userId": user_id} if user_id else None
        body = await self._json("GET", "/v1/phone-numbers", "phone_numbers.list", params=params)
        return [PhoneNumber.model_validate(item) for item in body["data"]]

    async def get_phone_number(self, phone_number_id: str) -> PhoneNumber:
        return await self._data(
            PhoneNumber, "GET", f"/v1/phone-numbers/{phone_number_id}", "phone_numbers.get"
        )

    async def get_user(self, user_id: str) -> User | None:
        """`GET /v1/users/{id}`; None for an AI agent id (`SY...`) — no request is made, since
        Quo answers those with 400 — and for a user that no longer exists (404)."""
        if is_ai_agent_id(user_id):
            return None
        return await self._optional(User, f"/v1/users/{user_id}", "users.get")

    async def list_users(
        self, *, max_results: int = MAX_PAGE_SIZE, page_token: str | None = None
    ) -> Page[User]:
        params: dict[str, Any] = {"maxResults": min(max_results, MAX_PAGE_SIZE)}
        if page_token:
            params["pageToken"] = page_token
        return await self._page(User, "/v1/users", "users.list", params)

    async def iter_users(self) -> AsyncIterator[User]:
        async def fetch(token: str | None) -> tuple[list[User], str | None]:
            page = await self.list_users(page_token=token)
            return page.data, page.next_page_token

        async for user in token_pages(fetch):
            yield user

    # ------------------------------------------------------------------ calls & messages

    async def get_call(self, call_id: str) -> Call:
        """`GET /v1/calls/{id}`. Calls with > 2 participants fail with 400 code 0101400."""
        return await self._data(Call, "GET", f"/v1/calls/{call_id}", "calls.get")

    async def list_calls(
        self,
        phone_number_id: str,
        participant: str,
        *,
        max_results: int = MAX_PAGE_SIZE,
        page_token: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        user_id: str | None = None,
    ) -> Page[Call]:
        """`GET /v1/calls` for one line and exactly one participant (Quo has no
        workspace-wide call listing)."""
        params: dict[str, Any] = {
            "phoneNumberId": phone_number_id,
            "participants": [participant],
            "maxResults": min(max_results, 100),
        }
        for name, value in (
            ("pageToken", page_token), ("createdAfter", created_after),
            ("createdBefore", created_before), ("userId", user_id),
        ):  # fmt: skip
            if value:
                params[name] = value
        return await self._page(Call, "/v1/calls", "calls.list", params)

    async def iter_calls(
        self, phone_number_id: str, participant: str, **kwargs: Any
    ) -> AsyncIterator[Call]:
        async def fetch(token: str | None) -> tuple[list[Call], str | None]:
            page = await self.list_calls(phone_number_id, participant, page_token=token, **kwargs)
            return page.data, page.next_page_token

        async for call in token_pages(fetch):
            yield call

    async def get_call_recordings(self, call_id: str) -> list[Recording]:
        """`GET /v1/call-recordings/{callId}`; a recording's `url` is None while processing."""
        body = await self._json("GET", f"/v1/call-recordings/{call_id}", "recordings.get")
        return [Recording.model_validate(item) for item in body["data"]]

    async def get_call_voicemail(self, call_id: str) -> Voicemail | None:
        """`GET /v1/call-voicemails/{callId}`; None when the call has no voicemail (404)."""
        return await self._optional(Voicemail, f"/v1/call-voicemails/{call_id}", "voicemails.get")

    async def get_call_summary(self, call_id: str) -> CallSummary | None:
        """`GET /v1/call-summaries/{callId}`; None when there is none (404)."""
        return await self._optional(CallSummary, f"/v1/call-summaries/{call_id}", "summaries.get")

    async def get_call_transcript(self, call_id: str) -> CallTranscript | None:
        """`GET /v1/call-transcripts/{callId}`; None when there is none (404)."""
        return await self._optional(
            CallTranscript, f"/v1/call-transcripts/{call_id}", "transcripts.get"
        )

    async def get_message(self, message_id: str) -> Message:
        return await self._data(Message, "GET", f"/v1/messages/{message_id}", "messages.get")

    async def list_messages(
        self,
        phone_number_id: str,
        participant: str,
        *,
        max_results: int = MAX_PAGE_SIZE,
        page_token: str | None = None,
        created_after: str | None = None,
    ) -> Page[Message]:
        params: dict[str, Any] = {
            "phoneNumberId": phone_number_id,
            "participants": [participant],
            "maxResults": min(max_results, 100),
        }
        if page_token:
            params["pageToken"] = page_token
        if created_after:
            params["createdAfter"] = created_after
        return await self._page(Message, "/v1/messages", "messages.list", params)

    # ------------------------------------------------------------------ webhooks

    @property
    def is_dated(self) -> bool:
        return self.webhooks_version == DATED_VERSION

    def _webhooks_path(self, version: str | None) -> str:
        version = version or self.webhooks_version
        return "/webhooks" if version == DATED_VERSION else f"/{version}/webhooks"

    def _webhook_kw(self, version: str | None, **kw: Any) -> dict[str, Any]:
        """Request keyword arguments for a webhook call: the version header on the dated one."""
        if (version or self.webhooks_version) == DATED_VERSION:
            kw["headers"] = {**kw.get("headers", {}), VERSION_HEADER: DATED_VERSION}
        return kw

    async def dated(self, method: str, path: str, operation: str, **kw: Any) -> Any:
        """One call to the dated generation (unprefixed `path`, version header added)."""
        kw["headers"] = {**kw.get("headers", {}), VERSION_HEADER: DATED_VERSION}
        return await self._json(method, path, operation, **kw)

    async def iter_dated(
        self, path: str, operation: str, *, limit: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a dated cursor list (`limit`, `after` → `{data, nextCursor}`)."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["after"] = cursor
            body = await self.dated("GET", path, operation, params=params)
            for item in body["data"]:
                yield item
            cursor = body.get("nextCursor")
            if not cursor:
                return

    async def supports_dated(self) -> bool:
        """Does the key's workspace offer the dated generation? (`GET /users` with the version
        header answers 200; 404 where only v1 exists.) Other errors are raised."""
        try:
            await self.dated("GET", "/users", "dated.users", params={"limit": 1})
        except ApiError as exc:
            if exc.status in (400, 404):
                return False
            raise
        return True

    def _require_dated(self, what: str) -> None:
        if not self.is_dated:
            raise ValueError(f"{what} needs the {DATED_VERSION} webhooks generation")

    async def list_webhooks(
        self, *, version: WebhooksVersion | None = None, user_id: str | None = None
    ) -> list[Webhook]:
        """Every webhook of the generation (the client's unless given): `GET /{v1|v2}/webhooks`,
        or the dated `GET /webhooks` followed through its cursors."""
        if (version or self.webhooks_version) == DATED_VERSION:
            return [
                Webhook.model_validate(item)
                async for item in self.iter_dated("/webhooks", "webhooks.list")
            ]
        params = {"userId": user_id} if user_id else None
        body = await self._json("GET", self._webhooks_path(version), "webhooks.list", params=params)
        return [Webhook.model_validate(item) for item in body["data"]]

    async def get_webhook(
        self, webhook_id: str, *, version: WebhooksVersion | None = None
    ) -> Webhook | None:
        try:
            return await self._data(
                Webhook,
                "GET",
                f"{self._webhooks_path(version)}/{webhook_id}",
                "webhooks.get",
                **self._webhook_kw(version),
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create_webhook(
        self,
        kind: str,
        url: str,
        events: Sequence[str],
        *,
        resource_ids: Sequence[str] | None = None,
        label: str | None = None,
        status: str | None = None,
        user_id: str | None = None,
        version: WebhooksVersion | None = None,
    ) -> Webhook:
        """`POST /{v}/webhooks/{kind}` with kind in messages, calls, call-summaries,
        call-transcripts; on the dated generation `POST /webhooks` (one resource for every
        family: `kind` is ignored; `contact.*`-only webhooks carry no `resourceIds`). The
        returned webhook's `key` is its signing secret."""
        dated = (version or self.webhooks_version) == DATED_VERSION
        if not dated and kind not in WEBHOOK_KINDS:
            raise ValueError(f"unknown webhook kind {kind!r}")
        body: dict[str, Any] = {"url": url, "events": list(events)}
        if resource_ids:
            body["resourceIds"] = list(resource_ids)
        if dated and not any(e.startswith(("message.", "call.")) for e in events):
            body.pop("resourceIds", None)
        for name, value in (("label", label), ("status", status), ("userId", user_id)):
            if value is not None and not (dated and name == "userId"):
                body[name] = value
        path = self._webhooks_path(version) + ("" if dated else f"/{kind}")
        hook = await self._data(
            Webhook, "POST", path, "webhooks.create", **self._webhook_kw(version, json=body)
        )
        return _registered(hook)

    async def delete_webhook(
        self, webhook_id: str, *, version: WebhooksVersion | None = None, missing_ok: bool = True
    ) -> bool:
        """`DELETE /{v}/webhooks/{id}` (204); False when it was already gone (404)."""
        try:
            await self.api.request(
                "DELETE", f"{self._webhooks_path(version)}/{webhook_id}",
                operation="webhooks.delete", **self._webhook_kw(version),
            )  # fmt: skip
        except ApiError as exc:
            if exc.status == 404 and missing_ok:
                return False
            raise
        return True

    # ------------------------------------------------------------------ dated webhooks only

    async def update_webhook(self, webhook_id: str, **changes: Any) -> Webhook:
        """`PATCH /webhooks/{id}` (dated): url, events, label, resourceIds, status."""
        self._require_dated("update_webhook")
        names = {"resource_ids": "resourceIds"}
        body = {names.get(k, k): v for k, v in changes.items()}
        return _registered(
            await self._data(
                Webhook,
                "PATCH",
                f"/webhooks/{webhook_id}",
                "webhooks.update",
                **self._webhook_kw(None, json=body),
            )
        )

    async def set_webhook_enabled(self, webhook_id: str, enabled: bool) -> Webhook:
        return await self.update_webhook(webhook_id, status="enabled" if enabled else "disabled")

    async def rotate_webhook_secret(self, webhook_id: str) -> Webhook:
        """`POST /webhooks/{id}/rotate`: the webhook with its new `key`."""
        self._require_dated("rotate_webhook_secret")
        body = await self.dated("POST", f"/webhooks/{webhook_id}/rotate", "webhooks.rotate")
        return _registered(Webhook.model_validate(body["data"]))

    async def send_test_event(self, webhook_id: str, event_type: str) -> WebhookEvent:
        """`POST /webhooks/{id}/events/test {eventType}`: Quo delivers a test event (also to a
        disabled webhook). Returns the event as its delivery history will show it."""
        self._require_dated("send_test_event")
        body = await self.dated(
            "POST",
            f"/webhooks/{webhook_id}/events/test",
            "webhooks.test",
            json={"eventType": event_type},
        )
        return WebhookEvent.model_validate(body["data"])

    async def list_webhook_events(self, webhook_id: str, *, limit: int = 50) -> list[WebhookEvent]:
        """The first page (newest first) of `GET /webhooks/{id}/events`: what Quo sent."""
        self._require_dated("list_webhook_events")
        body = await self.dated(
            "GET", f"/webhooks/{webhook_id}/events", "webhooks.events", params={"limit": limit}
        )
        return [WebhookEvent.model_validate(item) for item in body["data"]]

    async def get_webhook_event(self, webhook_id: str, event_id: str) -> WebhookEvent:
        self._require_dated("get_webhook_event")
        body = await self.dated(
            "GET", f"/webhooks/{webhook_id}/events/{event_id}", "webhooks.event"
        )
        return WebhookEvent.model_validate(body["data"])

    async def retry_webhook_event(self, webhook_id: str, event_id: str) -> WebhookEvent:
        self._require_dated("retry_webhook_event")
        body = await self.dated(
            "POST", f"/webhooks/{webhook_id}/events/{event_id}/retry", "webhooks.retry"
        )
        return WebhookEvent.model_validate(body["data"])


def _registered(hook: Webhook) -> Webhook:
    """Every signing key the client sees is masked in logs from then on."""
    if hook.key is not None:
        from switchboard.logs import register_secret

        register_secret(hook.key.get_secret_value())
    return hook
