"""PipedriveConnector: the CRM connector contract for Pipedrive (API v2 persons, v1 call logs,
notes, users and webhooks)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from switchboard import phones
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
from switchboard.crm.pipedrive import _activity, _links, _webhooks
from switchboard.crm.pipedrive._budget import BUDGET, TOKEN_COSTS, pipedrive_limiters
from switchboard.crm.pipedrive._owners import OwnerDirectory
from switchboard.crm.pipedrive._records import parse_time, stored_forms, to_person
from switchboard.crm.pipedrive.settings import call_log_link
from switchboard.http import (
    SYSTEM_CLOCK,
    ApiClient,
    ApiError,
    Clock,
    RateLimiter,
    RequestHook,
    RetryPolicy,
)
from switchboard.http.paging import offset_pages
from switchboard.logs import get_logger

log = get_logger(__name__)

PIPEDRIVE_API_URL = "https://api.pipedrive.com"
PAGE = 500
_ORG_BATCH = 100
_LIST_PAGE = 100
_SEARCH_PAGE = 100
_MEDIA_TIMEOUT_S = 60.0
_MEDIA_MAX_BYTES = 50 * 1024 * 1024


def _budget_for(_method: str) -> str:
    return BUDGET


def _error_parser(body: object) -> tuple[str | None, str | None]:
    """`{"success": false, "error": "...", "error_info": "...", "errorCode": 401}`."""
    if isinstance(body, dict):
        code = body.get("errorCode") or body.get("error_code")
        message = body.get("error") or body.get("message")
        return (None if code is None else str(code)), (None if message is None else str(message))
    return None, None


class PipedriveConnector(CrmConnector):
    """One Pipedrive company, through an API token (`x-api-token`) or, with `bearer`, an OAuth
    access token (`Authorization: Bearer`, calls to the token response's `api_domain`).

    Usage:

        connector = PipedriveConnector(token, base_url="https://api.pipedrive.com")
        page = await connector.list_people_page(None)

    Every call goes through one `switchboard.http.ApiClient` with the token's 2-second burst
    window and daily token budget (`_budget.pipedrive_limiters`, each operation weighed by its
    `TOKEN_COSTS`). People are v2 persons in cursor pages of 500 (Pipedrive's
    keyset cursor stays valid while persons are created or deleted); numbers are stored as
    typed, so `Person.phones` holds their E.164 forms in `region`. Calls are call logs, texts
    notes (see `_activity`).
    """

    name = "pipedrive"

    def __init__(
        self,
        token: str,
        base_url: str = PIPEDRIVE_API_URL,
        *,
        limiters: Mapping[str, RateLimiter] | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        hook: RequestHook | None = None,
        timeout: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
        region: str | None = phones.DEFAULT_REGION,
        bearer: bool = False,
    ) -> None:
        if limiters is None:
            limiters = pipedrive_limiters(token, clock=clock)
        self.base_url = base_url.rstrip("/")
        self.region = region
        self.http = ApiClient(
            provider="pipedrive",
            base_url=self.base_url,
            headers={
                **({"Authorization": f"Bearer {token}"} if bearer else {"x-api-token": token}),
                "Accept": "application/json",
            },
            secrets=[token],
            limiters=limiters,
            budget_for=_budget_for,
            retry=retry,
            timeout=timeout,
            transport=transport,
            hook=hook,
            clock=clock,
            error_parser=_error_parser,
            unit_costs=TOKEN_COSTS,
        )
        # Creates are not idempotent: only a 429 ("nothing happened") is retried blindly.
        self._create_retry = replace(
            self.http.retry, statuses=frozenset({429}), retry_network=False
        )
        self._me: dict[str, Any] | None = None
        self._me_lock = asyncio.Lock()
        self._owners = OwnerDirectory(self._list_users, clock)

    # ------------------------------------------------------------------ plumbing

    async def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        json: Any = None,
        params: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        response = await self.http.request(
            method,
            path,
            operation=operation,
            json=json,
            params=params,
            content=content,
            headers=headers,
            retry=retry,
        )
        if not response.content:
            return {}
        return response.json()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _current_user(self) -> dict[str, Any]:
        if self._me is None:
            async with self._me_lock:
                if self._me is None:
                    payload = await self._call("GET", "/v1/users/me", "users.me")
                    self._me = dict(payload.get("data") or {})
        return self._me

    async def _list_users(self) -> list[dict[str, Any]]:
        payload = await self._call("GET", "/v1/users", "users.list")
        return [u for u in payload.get("data") or [] if isinstance(u, dict)]

    async def _get(self, path: str, operation: str, params: dict[str, Any]) -> Any:
        return await self._call("GET", path, operation, params=params)

    async def _web_base(self) -> str | None:
        domain = (await self._current_user()).get("company_domain")
        return f"https://{domain}.pipedrive.com" if isinstance(domain, str) and domain else None

    # ------------------------------------------------------------------ identity

    async def check_credentials(self) -> Mapping[str, str]:
        """`GET /v1/users/me`: the company and user the token belongs to (ApiError 401 for a
        bad token)."""
        me = await self._current_user()
        facts = {
            "workspace_id": me.get("company_id"),  # the account an uninstall callback names
            "workspace_name": me.get("company_name"),
            "company_id": me.get("company_id"),
            "company_name": me.get("company_name"),
            "company_domain": me.get("company_domain"),
            "user_id": me.get("id"),
            "user_email": me.get("email"),
        }
        return {k: str(v) for k, v in facts.items() if v is not None}

    # ------------------------------------------------------------------ people

    async def _persons(self, params: dict[str, Any], operation: str) -> tuple[list[Person], Any]:
        payload = await self._call("GET", "/api/v2/persons", operation, params=params)
        web = await self._web_base()
        people = [to_person(item, self.region, web) for item in payload.get("data") or []]
        return people, (payload.get("additional_data") or {}).get("next_cursor")

    async def list_people_page(self, cursor: str | None, limit: int = PAGE) -> PeoplePage:
        """One page of persons in id order (`GET /api/v2/persons`, keyset cursor)."""
        params: dict[str, Any] = {"limit": min(limit, PAGE), "sort_by": "id"}
        if cursor:
            params["cursor"] = cursor
        people, next_cursor = await self._persons(params, "persons.list")
        return PeoplePage(people, next_cursor if isinstance(next_cursor, str) else None)

    async def get_person(self, person_id: str) -> Person | None:
        """The person, or None when Pipedrive answers 404/410 (deleted, merged away)."""
        if not person_id.isdigit():
            return None
        try:
            payload = await self._call("GET", f"/api/v2/persons/{person_id}", "persons.get")
        except ApiError as exc:
            if exc.not_found or exc.status == 410:
                return None
            raise
        data = payload.get("data")
        if not isinstance(data, dict) or data.get("is_deleted"):
            return None
        return to_person(data, self.region, await self._web_base())

    async def deal_person_id(self, deal_id: str) -> str | None:
        """The person of a deal (`GET /api/v2/deals/{id}` → `person_id`); None when the deal
        has none, is deleted or does not exist (the call page's link action on a deal)."""
        if not deal_id.isdigit():
            return None
        try:
            payload = await self._call("GET", f"/api/v2/deals/{deal_id}", "deals.get")
        except ApiError as exc:
            if exc.not_found or exc.status == 410:
                return None
            raise
        data = payload.get("data")
        if not isinstance(data, dict) or data.get("is_deleted"):
            return None
        person_id = data.get("person_id")
        return str(person_id) if person_id else None

    async def find_people_by_phone(self, e164: str) -> list[Person]:
        """People with `e164` among their current numbers, in id order.

        Pipedrive stores numbers as typed, and its person search matches exactly only the
        stored text, so the connector searches (`exact_match`, phone field) for each form a
        user may have typed (`_records.stored_forms`), then keeps the hits whose numbers,
        normalised, include `e164`. The core asks the sync mapping first, so this runs only
        for numbers the mapping does not know.
        """
        number = phones.normalise(e164, region=None)
        if number is None:
            return []
        web = await self._web_base()
        searches = [self._search_phone(form) for form in stored_forms(number)]
        found: dict[str, Person] = {}
        for hits in await asyncio.gather(*searches):
            for item in hits:
                person = to_person(item, self.region, web)
                if number in person.phones:
                    found.setdefault(person.id, person)
        return [found[k] for k in sorted(found, key=int)]

    async def _search_phone(self, term: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {
                "term": term,
                "fields": "phone",
                "exact_match": "true",
                "limit": _SEARCH_PAGE,
            }
            if cursor:
                params["cursor"] = cursor
            payload = await self._call(
                "GET", "/api/v2/persons/search", "persons.search", params=params
            )
            for hit in (payload.get("data") or {}).get("items") or []:
                item = hit.get("item") if isinstance(hit, dict) else None
                if isinstance(item, dict) and "id" in item:
                    items.append(item)
            cursor = (payload.get("additional_data") or {}).get("next_cursor")
            if not isinstance(cursor, str) or not cursor:
                return items

    async def list_people_changed_since(self, since: datetime) -> list[Person]:
        """Persons updated (or created) at or after `since` (`updated_since`, cursor pages)."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out: list[Person] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE, "updated_since": stamp}
            if cursor:
                params["cursor"] = cursor
            # Pipedrive keeps update times to the second, so this includes people changed in
            # the second before `since` (reconciliation treats an extra person as a no-op).
            people, cursor = await self._persons(params, "persons.changed_since")
            out.extend(people)
            if not isinstance(cursor, str) or not cursor:
                return out

    async def create_person(self, e164: str, name: str | None = None) -> Person:
        """Create a person for an unknown caller (the number in E.164, named after the number
        when no name is known); an existing person with the number is returned instead."""
        existing = await self.find_people_by_phone(e164)
        if existing:
            return existing[0]
        body = {
            "name": (name or "").strip() or e164,
            "phones": [{"value": e164, "primary": True, "label": "work"}],
        }
        try:
            payload = await self._call(
                "POST", "/api/v2/persons", "persons.create", json=body, retry=self._create_retry
            )
        except ApiError as exc:
            if exc.status is not None and exc.status < 500:
                raise
            again = await self.find_people_by_phone(e164)
            if again:
                return again[0]
            raise
        return to_person(payload["data"], self.region, await self._web_base())

    async def update_person(self, person_id: str, edit: PersonEdit) -> Person | None:
        """`PATCH /api/v2/persons/{id}` with the name ("first last"; Pipedrive keeps one name
        field, so an edit that leaves no name keeps the old one), phones and emails (lists
        replaced, the first one primary). None when the person is gone (404/410)."""
        if not person_id.isdigit():
            return None

        def items(values: tuple[str, ...], label: str) -> list[dict[str, Any]]:
            return [{"value": v, "primary": i == 0, "label": label} for i, v in enumerate(values)]

        body: dict[str, Any] = {
            "phones": items(edit.phones, "work"),
            "emails": items(edit.emails, "work"),
        }
        if edit.full_name:
            body["name"] = edit.full_name
        try:
            payload = await self._call(
                "PATCH", f"/api/v2/persons/{person_id}", "persons.update", json=body
            )
        except ApiError as exc:
            if exc.not_found or exc.status == 410:
                return None
            raise
        return to_person(payload["data"], self.region, await self._web_base())

    async def company_names(self, company_ids: set[str]) -> dict[str, str]:
        """Organization id → name: `GET /api/v2/organizations?ids=` (one request per 100 ids,
        so one per page of persons unless it names more than 100 organizations)."""
        ids = sorted((i for i in company_ids if i.isdigit()), key=int)
        names: dict[str, str] = {}
        for start in range(0, len(ids), _ORG_BATCH):
            batch = ids[start : start + _ORG_BATCH]
            payload = await self._call(
                "GET",
                "/api/v2/organizations",
                "organizations.batch",
                params={"ids": ",".join(batch), "limit": _ORG_BATCH},
            )
            for org in payload.get("data") or []:
                if isinstance(org, dict) and org.get("name"):
                    names[str(org["id"])] = str(org["name"])
        return names

    # ------------------------------------------------------------------ activity

    async def write_note(self, note: CrmNote) -> NoteRef:
        """A call (`note.activity.kind == "call"`) becomes a call log with its recording; a
        text or anything else becomes a note on the person."""
        facts = note.activity
        if facts is not None and facts.kind == "call":
            return await self._write_call_log(note)
        payload = await self._call(
            "POST",
            "/v1/notes",
            "notes.create",
            json=_activity.note_body(note),
            retry=self._create_retry,
        )
        return NoteRef(_activity.NOTE_PREFIX + str(payload["data"]["id"]))

    async def _write_call_log(self, note: CrmNote) -> NoteRef:
        """The call log, owned by the Quo user's Pipedrive user (by email; else the token's
        user) and linked as the connection's `call_log_link` says, then its recording."""
        assert note.activity is not None
        body = _activity.call_log_body(note, note.activity, datetime.now(UTC))
        owner = await self._owners.user_id(note.activity.user_email)
        if owner is not None:
            body["user_id"] = owner
        body |= await _links.link_fields(self._get, body["person_id"], call_log_link(note.settings))
        try:
            payload = await self._call(
                "POST", "/v1/callLogs", "call_logs.create", json=body, retry=self._create_retry
            )
        except ApiError as exc:
            # A token user without account-settings access may not create call logs for other
            # users (403, nothing created): log it as the token's user, and stop trying.
            if exc.status != 403 or "user_id" not in body:
                raise
            log.warning("pipedrive_call_log_owner_refused", user_id=body.pop("user_id"))
            payload = await self._call(
                "POST", "/v1/callLogs", "call_logs.create", json=body, retry=self._create_retry
            )
            self._owners.disable()
        log_id = str(payload["data"]["id"])
        for url in note.activity.media_urls[:1]:
            await self._attach_recording(log_id, url)
        return NoteRef(_activity.CALL_LOG_PREFIX + log_id)

    async def complete_note(self, note_id: str, note: CrmNote) -> None:
        """A current call log that should carry a recording and does not (its upload was cut
        off by a crash) gets it: one GET when the call has audio, nothing otherwise."""
        facts = note.activity
        if facts is None or not note_id.startswith(_activity.CALL_LOG_PREFIX):
            return
        log_id = note_id.removeprefix(_activity.CALL_LOG_PREFIX)
        if not facts.media_urls:
            return
        try:
            stored = await self._call("GET", f"/v1/callLogs/{log_id}", "call_logs.get")
        except ApiError as exc:
            if exc.not_found or exc.status == 410:
                return
            raise
        if not (stored.get("data") or {}).get("has_recording"):
            await self._attach_recording(log_id, facts.media_urls[0])

    async def _attach_recording(self, log_id: str, url: str) -> None:
        """Download the recording from Quo's media URL and upload it to the call log. A
        recording that cannot be fetched is left out (the note links to it); a call log that
        already has one (409) is fine."""
        try:
            async with httpx.AsyncClient(timeout=_MEDIA_TIMEOUT_S, follow_redirects=True) as client:
                response = await client.get(url)
                response.raise_for_status()
                data = response.content
        except httpx.HTTPError as exc:
            log.warning("pipedrive_recording_unavailable", call_log=log_id, error=str(exc))
            return
        if not data or len(data) > _MEDIA_MAX_BYTES:
            log.warning("pipedrive_recording_skipped", call_log=log_id, size=len(data))
            return
        content_type = response.headers.get("content-type", "audio/mpeg").split(";")[0]
        filename = url.rsplit("/", 1)[-1].split("?")[0] or "recording.mp3"
        body, multipart_type = _activity.multipart(data, filename, content_type)
        try:
            await self._call(
                "POST",
                f"/v1/callLogs/{log_id}/recordings",
                "call_logs.recording",
                content=body,
                headers={"Content-Type": multipart_type},
            )
        except ApiError as exc:
            if exc.status != 409:
                raise

    async def delete_note(self, note_id: str) -> None:
        """Delete a call log (`calllog:<id>`) or a note (`note:<id>`); gone already is fine."""
        if note_id.startswith(_activity.CALL_LOG_PREFIX):
            path = f"/v1/callLogs/{note_id.removeprefix(_activity.CALL_LOG_PREFIX)}"
            operation = "call_logs.delete"
        else:
            path = f"/v1/notes/{note_id.removeprefix(_activity.NOTE_PREFIX)}"
            operation = "notes.delete"
        try:
            await self._call("DELETE", path, operation)
        except ApiError as exc:
            if not (exc.not_found or exc.status == 410):
                raise

    async def list_notes(self, person_id: str) -> list[StoredNote]:
        """The person's notes (`GET /v1/notes?person_id=`) and the call logs this token's user
        owns that are linked to the person (`GET /v1/callLogs`, filtered here: the endpoint has
        no person filter)."""
        stored: list[StoredNote] = []

        async def notes_page(start: int) -> list[dict[str, Any]]:
            payload = await self._call(
                "GET",
                "/v1/notes",
                "notes.list",
                params={"person_id": person_id, "start": start, "limit": _LIST_PAGE},
            )
            return list(payload.get("data") or [])

        async for page in offset_pages(notes_page, _LIST_PAGE):
            for item in page:
                title, body = _activity.split_title(item.get("content"))
                stored.append(
                    StoredNote(
                        id=_activity.NOTE_PREFIX + str(item["id"]),
                        title=title,
                        content=body,
                        created_at=parse_time(item.get("add_time")),
                    )
                )

        async def logs_page(start: int) -> list[dict[str, Any]]:
            payload = await self._call(
                "GET",
                "/v1/callLogs",
                "call_logs.list",
                params={"start": start, "limit": _LIST_PAGE},
            )
            return list(payload.get("data") or [])

        async for page in offset_pages(logs_page, _LIST_PAGE):
            for item in page:
                if str(item.get("person_id")) != person_id:
                    continue
                stored.append(
                    StoredNote(
                        id=_activity.CALL_LOG_PREFIX + str(item["id"]),
                        title=item.get("subject"),
                        content=item.get("note"),
                        created_at=parse_time(item.get("start_time")),
                    )
                )
        return stored

    # ------------------------------------------------------------------ webhooks

    async def subscribe(self, target_url: str) -> WebhookSubscriptionInfo:
        """One v2 subscription for every person event (create, change, delete — a merge is a
        delete plus a change), with a fresh random HTTP Basic pair: the returned secret
        (`user:password`) is what every delivery must present."""
        user, password = _webhooks.new_credentials()
        body = {
            "subscription_url": target_url,
            "event_action": "*",
            "event_object": "person",
            "name": "Switchboard contact sync",
            "version": "2.0",
            "http_auth_user": user,
            "http_auth_password": password,
        }
        payload = await self._call("POST", "/v1/webhooks", "webhooks.create", json=body)
        data = payload.get("data") or {}
        return WebhookSubscriptionInfo(
            remote_id=str(data["id"]),
            secret=_webhooks.secret_of(user, password),
            target_url=str(data.get("subscription_url") or target_url),
        )

    async def unsubscribe(self, remote_id: str) -> None:
        try:
            await self._call("DELETE", f"/v1/webhooks/{remote_id}", "webhooks.delete")
        except ApiError as exc:
            if not (exc.not_found or exc.status == 410):
                raise

    async def list_subscriptions(self) -> list[WebhookSubscriptionInfo]:
        payload = await self._call("GET", "/v1/webhooks", "webhooks.list")
        return [
            WebhookSubscriptionInfo(
                remote_id=str(w["id"]), secret=None, target_url=str(w.get("subscription_url", ""))
            )
            for w in payload.get("data") or []
            if isinstance(w, dict) and not w.get("remove_time")
        ]

    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
        _webhooks.verify(raw_body, headers, secret)

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
        return _webhooks.parse(raw_body, headers)
