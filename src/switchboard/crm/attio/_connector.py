"""AttioConnector: the CRM connector contract, implemented for Attio's REST API v2."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from switchboard import phones
from switchboard.crm.attio import _webhooks
from switchboard.crm.attio._cursor import (
    SCAN_SORTS,
    ScanCursor,
    advance,
    page_request_size,
    unseen,
)
from switchboard.crm.attio._records import company_name, parse_timestamp, record_id, to_person
from switchboard.crm.base import (
    CrmChange,
    CrmConnector,
    CrmNote,
    NoteRef,
    PeoplePage,
    Person,
    PersonEdit,
    StoredNote,
    WebhookSubscriptionInfo,
)
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
from switchboard.http.paging import offset_pages

ATTIO_API_URL = "https://api.attio.com"
READ_LIMIT = RateLimit(rate=100, period=1.0)
WRITE_LIMIT = RateLimit(rate=25, period=1.0)
PEOPLE = "people"
COMPANIES = "companies"
_PHONE_LOOKUP_PAGE = 50
_WEBHOOK_PAGE = 100
_NOTE_PAGE = 50
_NOTE_SEARCH_PAGES = 20
_CREATE_ATTEMPTS = 4
_T = TypeVar("_T")


def attio_limiters(
    token: str,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, RateLimiter]:
    """The two budgets Attio enforces per workspace — 100 reads/s (GET and record queries) and
    25 writes/s (everything else) — as shared limiters keyed by the token (hashed). Pass a
    database or Redis URL to share them across processes (see `switchboard.http.make_limiter`)."""
    return {
        budget: make_limiter(
            limiter_key("attio", token, budget),
            limit,
            database_url=database_url,
            redis_url=redis_url,
            clock=clock,
        )
        for budget, limit in (("read", READ_LIMIT), ("write", WRITE_LIMIT))
    }


def _budget_for(method: str) -> str:
    return "read" if method == "GET" else "write"


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AttioConnector(CrmConnector):
    """One Attio workspace, through a workspace access token or an OAuth access token.

    Usage:

        connector = AttioConnector(token, base_url="https://api.attio.com")
        page = await connector.list_people_page(None)
        while page.next_cursor:
            page = await connector.list_people_page(page.next_cursor)
        await connector.aclose()

    Every call goes through one `switchboard.http.ApiClient` (retry policy, `Retry-After`, scrubbed
    errors) with two budgets: `read` (GET and `POST .../records/query`) and `write` (creates,
    updates, deletes). By default each is a process-wide memory limiter shared by every connector
    with the same token; pass `limiters=attio_limiters(token, database_url=...)` to share them
    across processes. Errors other than the "gone" outcomes documented per method raise
    `switchboard.http.ApiError`.

    Args:
        token: workspace access token or OAuth access token (never logged).
        base_url: API host (the emulator's URL in tests).
        limiters: {"read": ..., "write": ...}; default: memory limiters at Attio's limits.
        retry: the retry policy (default: switchboard.http's).
        transport: an httpx transport (tests: httpx.MockTransport or an ASGI transport).
        hook: called once per HTTP attempt with `switchboard.http.RequestInfo` (metrics).
        timeout: per-request timeout, seconds.
        clock: time source for the limiters and backoff.
    """

    name = "attio"

    def __init__(
        self,
        token: str,
        base_url: str = ATTIO_API_URL,
        *,
        limiters: Mapping[str, RateLimiter] | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        hook: RequestHook | None = None,
        timeout: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if limiters is None:
            limiters = attio_limiters(token, clock=clock)
        self.base_url = base_url.rstrip("/")
        self.http = ApiClient(
            provider="attio",
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            secrets=[token],
            limiters=limiters,
            budget_for=_budget_for,
            retry=retry,
            timeout=timeout,
            transport=transport,
            hook=hook,
            clock=clock,
        )
        # Creates are not idempotent: the HTTP layer may retry only what certainly did nothing
        # (429); everything else goes through `_create_guarded`.
        self._create_retry = replace(
            self.http.retry, statuses=frozenset({429}), retry_network=False
        )
        self._people_object_id: str | None = None
        # Whether the server accepts the `updated_at` filter (None: not asked yet).
        self._server_side_changes: bool | None = None
        self._object_lock = asyncio.Lock()

    # ------------------------------------------------------------------ plumbing

    async def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        json: Any = None,
        params: Any = None,
        budget: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        response = await self.http.request(
            method, path, operation=operation, json=json, params=params, budget=budget, retry=retry
        )
        if not response.content:
            return {}
        return response.json()

    async def _query(
        self, object_slug: str, body: Mapping[str, Any], operation: str
    ) -> list[dict[str, Any]]:
        # A record query is a POST but Attio counts it as a read.
        payload = await self._call(
            "POST",
            f"/v2/objects/{object_slug}/records/query",
            operation,
            json=body,
            budget="read",
        )
        data = payload.get("data")
        if not isinstance(data, list):
            raise ApiError(
                provider="attio",
                operation=operation,
                status=200,
                message="record query answered without a data list",
                body=payload,
            )
        return data

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ identity

    async def check_credentials(self) -> Mapping[str, str]:
        """`GET /v2/self`: the workspace the token belongs to. Raises ApiError (401) for a bad
        token, and ValueError for a token Attio reports as inactive (revoked)."""
        info = await self._call("GET", "/v2/self", "self.identify")
        if info.get("active") is False:
            raise ValueError("Attio reports this token as inactive")
        keys = ("workspace_id", "workspace_name", "workspace_slug", "scope", "client_id")
        return {k: str(info[k]) for k in keys if info.get(k) is not None}

    async def people_object_id(self) -> str:
        """The id of the `people` object (`GET /v2/objects/people`), fetched once and cached."""
        if self._people_object_id is None:
            async with self._object_lock:
                if self._people_object_id is None:
                    payload = await self._call("GET", f"/v2/objects/{PEOPLE}", "objects.get")
                    self._people_object_id = str(payload["data"]["id"]["object_id"])
        return self._people_object_id

    # ------------------------------------------------------------------ people

    async def list_people_page(self, cursor: str | None, limit: int = 500) -> PeoplePage:
        """One page of a stable full scan (keyset on `created_at`; see `_cursor` for why this
        neither skips nor repeats people created or deleted during the scan).

        Raises ValueError for a cursor this connector did not produce.
        """
        return await self._scan_page(cursor, limit, None, "people.scan")

    async def _scan_page(
        self, cursor: str | None, limit: int, condition: dict[str, Any] | None, operation: str
    ) -> PeoplePage:
        position = ScanCursor.decode(cursor) if cursor else None
        parts = [f for f in (condition, position.filter() if position else None) if f]
        asked = page_request_size(position, limit)
        body: dict[str, Any] = {"sorts": SCAN_SORTS, "limit": asked}
        if parts:
            body["filter"] = parts[0] if len(parts) == 1 else {"$and": parts}
        answer = await self._query(PEOPLE, body, operation)
        records = unseen(position, answer, limit)
        people = [to_person(r) for r in records]
        if len(answer) < asked:
            return PeoplePage(people=people, next_cursor=None)
        after = advance(position, records)
        return PeoplePage(people=people, next_cursor=after.encode() if after else None)

    async def get_person(self, person_id: str) -> Person | None:
        """The person, or None when Attio answers 404 (deleted, merged away, or never existed)."""
        try:
            payload = await self._call(
                "GET", f"/v2/objects/{PEOPLE}/records/{person_id}", "people.get"
            )
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        return to_person(payload["data"])

    async def find_people_by_phone(self, e164: str) -> list[Person]:
        """People who have `e164` among their *current* numbers.

        Uses the exact shorthand filter `{"phone_numbers": e164}` (not the eventually consistent
        search endpoint), then keeps only people whose current values contain the number — a
        number that was removed from a person (a historic value) never matches. The argument is
        normalised first (`+1 (415) 555-0134` works); a number without a country code matches
        nobody.
        """
        number = phones.normalise(e164, region=None)
        if number is None:  # not an international number: nobody can have it
            return []

        async def fetch(offset: int) -> list[dict[str, Any]]:
            body: dict[str, Any] = {"filter": {"phone_numbers": number}}
            body["limit"] = _PHONE_LOOKUP_PAGE
            if offset:
                body["offset"] = offset
            return await self._query(PEOPLE, body, "people.find_by_phone")

        found: list[Person] = []
        async for records in offset_pages(fetch, _PHONE_LOOKUP_PAGE):
            found.extend(p for p in map(to_person, records) if number in p.phones)
        return found

    async def list_people_changed_since(self, since: datetime) -> list[Person]:
        """People created or changed at or after `since` (the reconciliation delta).

        Attio's record query documents no "updated at" filter. The connector first asks for
        `{"updated_at": {"$gte": since}}` (served by the Attio emulator, and by any Attio that
        grows the filter); when the server refuses it with 400 `filter_error` it remembers that
        and instead runs the stable full scan (reads only, one query per 500 people), keeping
        people whose `updated_at` — the latest `active_from`/`active_until` among their values,
        else `created_at` — is at or after `since`. Deleted people are not listed: reconciliation
        finds them through `get_person` answering None.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        if self._server_side_changes is not False:
            condition = {"updated_at": {"$gte": _iso(since)}}
            try:
                people = await self._scan_all(condition, "people.changed_since")
            except ApiError as exc:
                if exc.status != 400:
                    raise
                self._server_side_changes = False
            else:
                self._server_side_changes = True
                return people
        return [
            p
            for p in await self._scan_all(None, "people.scan")
            if p.updated_at is not None and p.updated_at >= since
        ]

    async def _scan_all(self, condition: dict[str, Any] | None, operation: str) -> list[Person]:
        people: list[Person] = []
        cursor: str | None = None
        while True:
            page = await self._scan_page(cursor, 500, condition, operation)
            people.extend(page.people)
            if page.next_cursor is None:
                return people
            cursor = page.next_cursor

    async def create_person(self, e164: str, name: str | None = None) -> Person:
        """Create a person with this number (and name, when known) for an unknown caller.

        Looks the number up first and returns the existing person if there is one, so a retried
        create (or two callers racing past the core's own lookup) does not add a duplicate; after
        an ambiguous failure of the create itself it looks again before sending it again.
        """
        existing = await self.find_people_by_phone(e164)
        if existing:
            return existing[0]
        values: dict[str, Any] = {"phone_numbers": [e164]}
        if name and name.strip():
            first, _, last = name.strip().partition(" ")
            values["name"] = [
                {"first_name": first, "last_name": last.strip(), "full_name": name.strip()}
            ]

        async def send() -> Person:
            payload = await self._call(
                "POST",
                f"/v2/objects/{PEOPLE}/records",
                "people.create",
                json={"data": {"values": values}},
                retry=self._create_retry,
            )
            return to_person(payload["data"])

        async def already_created() -> Person | None:
            again = await self.find_people_by_phone(e164)
            return again[0] if again else None

        return await self._create_guarded(send, already_created)

    async def update_person(self, person_id: str, edit: PersonEdit) -> Person | None:
        """Overwrite the person's name, phone numbers and email addresses (`PUT` on the record:
        the given attributes' values are replaced, the others kept). None when Attio answers
        404. A PUT of the same values is harmless, so the write retries like a read."""
        name = {
            "first_name": edit.first_name or "",
            "last_name": edit.last_name or "",
            "full_name": edit.full_name or "",
        }
        values: dict[str, Any] = {
            "name": [name] if edit.full_name else [],
            "phone_numbers": [{"original_phone_number": p} for p in edit.phones],
            "email_addresses": list(edit.emails),
        }
        try:
            payload = await self._call(
                "PUT",
                f"/v2/objects/{PEOPLE}/records/{person_id}",
                "people.update",
                json={"data": {"values": values}},
            )
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        return to_person(payload["data"])

    async def company_names(self, company_ids: set[str]) -> dict[str, str]:
        """Company record id → name, in ONE query (`record_id $in [...]` on companies)."""
        if not company_ids:
            return {}
        ids = sorted(company_ids)
        records = await self._query(
            COMPANIES,
            {"filter": {"record_id": {"$in": ids}}, "limit": len(ids)},
            "companies.batch_get",
        )
        names: dict[str, str] = {}
        for record in records:
            name = company_name(record)
            if name:
                names[record_id(record)] = name
        return names

    # ------------------------------------------------------------------ notes

    async def write_note(self, note: CrmNote) -> NoteRef:
        """`POST /v2/notes` on the person; `created_at` back-dates the note to the activity.

        Creating a note is not idempotent, so it is never retried blindly: after an ambiguous
        failure (network error, 5xx) the person's notes are searched for this exact note (same
        title, content and `created_at`) before sending it again. Without `created_at` that
        check is impossible and the note is sent again.
        """
        return await self._write_note(note, exclude=frozenset())

    async def replace_note(self, old_note_id: str, note: CrmNote) -> NoteRef:
        """Create the new note, then delete the old one (Attio has no note update). The old
        note never counts as "already written" when a create has to be checked."""
        new = await self._write_note(note, exclude=frozenset({old_note_id}))
        await self.delete_note(old_note_id)
        return new

    async def _write_note(self, note: CrmNote, exclude: frozenset[str]) -> NoteRef:
        data: dict[str, Any] = {
            "parent_object": PEOPLE,
            "parent_record_id": note.person_id,
            "title": note.title,
            # Attio stores markdown or plain text ("plaintext" in its API).
            "format": "plaintext" if note.content_format == "plain" else "markdown",
            "content": note.content,
        }
        if note.created_at is not None:
            data["created_at"] = _iso(note.created_at)

        async def send() -> NoteRef:
            payload = await self._call(
                "POST", "/v2/notes", "notes.create", json={"data": data}, retry=self._create_retry
            )
            return NoteRef(id=str(payload["data"]["id"]["note_id"]))

        async def already_written() -> NoteRef | None:
            return await self._find_note(note, exclude) if note.created_at else None

        return await self._create_guarded(send, already_written)

    async def _note_pages(
        self, person_id: str, max_pages: int | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the person's notes page by page (`GET /v2/notes`, offset paging)."""

        async def fetch(offset: int) -> list[dict[str, Any]]:
            params = {"parent_object": PEOPLE, "parent_record_id": person_id}
            payload = await self._call(
                "GET",
                "/v2/notes",
                "notes.list",
                params={**params, "limit": _NOTE_PAGE, "offset": offset},
            )
            return list(payload.get("data") or [])

        async for page in offset_pages(fetch, _NOTE_PAGE, max_pages=max_pages):
            yield page

    async def list_notes(self, person_id: str) -> list[StoredNote]:
        notes: list[StoredNote] = []
        async for page in self._note_pages(person_id):
            notes.extend(
                StoredNote(
                    id=str(item.get("id", {}).get("note_id", "")),
                    title=item.get("title"),
                    content=item.get("content_markdown") or item.get("content_plaintext"),
                    created_at=parse_timestamp(item.get("created_at")),
                )
                for item in page
            )
        return notes

    async def _find_note(self, note: CrmNote, exclude: frozenset[str]) -> NoteRef | None:
        wanted_at = note.created_at.astimezone(UTC) if note.created_at else None
        async for page in self._note_pages(note.person_id, _NOTE_SEARCH_PAGES):
            for item in page:
                note_id = str(item.get("id", {}).get("note_id", ""))
                created = parse_timestamp(item.get("created_at"))
                if (
                    note_id
                    and note_id not in exclude
                    and item.get("title") == note.title
                    and note.content
                    in (item.get("content_markdown"), item.get("content_plaintext"))
                    and created is not None
                    and wanted_at is not None
                    and abs((created - wanted_at).total_seconds()) < 0.001
                ):
                    return NoteRef(id=note_id)
        return None

    async def _create_guarded(
        self,
        send: Callable[[], Awaitable[_T]],
        already_written: Callable[[], Awaitable[_T | None]],
    ) -> _T:
        """Send a non-idempotent create. Inside `send`, only 429s are retried ("nothing
        happened"); after an ambiguous failure `already_written` decides whether the create
        took effect before it is sent again."""
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                return await send()
            except ApiError as exc:
                ambiguous = exc.status is None or exc.status >= 500
                if not ambiguous or attempt == _CREATE_ATTEMPTS - 1:
                    raise
            found = await already_written()
            if found is not None:
                return found
            await self.http.clock.sleep(self.http.retry.backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def delete_note(self, note_id: str) -> None:
        """`DELETE /v2/notes/{id}`; a note that is already gone (404) is fine."""
        try:
            await self._call("DELETE", f"/v2/notes/{note_id}", "notes.delete")
        except ApiError as exc:
            if not exc.not_found:
                raise

    async def get_note(self, note_id: str) -> dict[str, Any] | None:
        """The note as Attio returns it (`data`), or None when it does not exist."""
        try:
            payload = await self._call("GET", f"/v2/notes/{note_id}", "notes.get")
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        data = payload.get("data")
        return data if isinstance(data, dict) else None

    # ------------------------------------------------------------------ webhooks

    async def subscribe(self, target_url: str) -> WebhookSubscriptionInfo:
        """Create a webhook for record.created/updated/deleted/merged on the people object only
        (filter `id.object_id equals <people object id>`). The secret comes back only here."""
        object_id = await self.people_object_id()
        people_only = {
            "$and": [{"field": "id.object_id", "operator": "equals", "value": object_id}]
        }
        body = {
            "data": {
                "target_url": target_url,
                "subscriptions": [
                    {"event_type": event_type, "filter": people_only}
                    for event_type in _webhooks.PEOPLE_EVENT_TYPES
                ],
            }
        }
        payload = await self._call("POST", "/v2/webhooks", "webhooks.create", json=body)
        data = payload["data"]
        return WebhookSubscriptionInfo(
            remote_id=str(data["id"]["webhook_id"]),
            secret=data.get("secret"),
            target_url=str(data.get("target_url", target_url)),
        )

    async def unsubscribe(self, remote_id: str) -> None:
        """Delete a webhook; one that is already gone (404) is fine."""
        try:
            await self._call("DELETE", f"/v2/webhooks/{remote_id}", "webhooks.delete")
        except ApiError as exc:
            if not exc.not_found:
                raise

    async def list_subscriptions(self) -> list[WebhookSubscriptionInfo]:
        """Every webhook of the workspace (Attio never returns secrets after creation)."""

        async def fetch(offset: int) -> list[dict[str, Any]]:
            params = {"limit": _WEBHOOK_PAGE, "offset": offset}
            payload = await self._call("GET", "/v2/webhooks", "webhooks.list", params=params)
            return list(payload.get("data") or [])

        found: list[WebhookSubscriptionInfo] = []
        async for data in offset_pages(fetch, _WEBHOOK_PAGE):
            found.extend(
                WebhookSubscriptionInfo(
                    remote_id=str(w["id"]["webhook_id"]),
                    secret=None,
                    target_url=str(w.get("target_url", "")),
                )
                for w in data
            )
        return found

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
        """Constant-time check of `Attio-Signature` / `X-Attio-Signature` (hex HMAC-SHA256 of
        the raw body with the webhook's secret); raises WebhookVerificationError."""
        _webhooks.verify(raw_body, headers, secret)

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
        """Record changes in a verified delivery; see `_webhooks.parse` for idempotency keys."""
        return _webhooks.parse(raw_body, headers)
