"""ZohoConnector: the CRM connector contract for Zoho CRM v8 (Contacts and Leads, the Calls
module, Notes, the watch API)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import phonenumbers

from switchboard import phones
from switchboard.crm.base import (
    CrmConnector,
    CrmNote,
    NoteRef,
    PeoplePage,
    Person,
    StoredNote,
)
from switchboard.crm.zoho import _records
from switchboard.crm.zoho._oauth import DATA_CENTRES, AccessTokens
from switchboard.crm.zoho._records import (
    CALL_PREFIX,
    NOTE_PREFIX,
    PERSON_FIELDS,
    split_person_id,
    to_person,
)
from switchboard.crm.zoho._watch import WatchChannels
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
from switchboard.logs import get_logger

log = get_logger(__name__)

ZOHO_API_URL = DATA_CENTRES["us"][1]
# Concurrency: a permit is held from send until `period` after the response, at most `rate` at
# once — 10 requests in flight (the Standard edition's limit; higher editions allow more) and
# at most 40 per second.
CONCURRENCY_LIMIT = RateLimit(rate=10, period=0.25)
# When credits run low, sync reads (pages, deltas, company batches) take turns on this
# budget: one per 30 s across every process, so activity logging keeps the remaining credits.
SYNC_SLOW_LIMIT = RateLimit(rate=1, period=30.0, window_guard=False)
BUDGET = "api"
SLOW_BUDGET = "sync-slow"
PAGE = 200  # Zoho's per_page maximum
_ACCOUNT_BATCH = 100
_LIST_PAGE = 200
CREDITS_HEADER = "x-api-credits-remaining"


def zoho_limiters(
    identity: str,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, RateLimiter]:
    """The concurrency budget and the low-credit sync budget of one Zoho credential, shared
    across processes through a database or Redis URL."""
    return {
        name: make_limiter(
            limiter_key("zoho", identity, name),
            limit,
            database_url=database_url,
            redis_url=redis_url,
            clock=clock,
        )
        for name, limit in ((BUDGET, CONCURRENCY_LIMIT), (SLOW_BUDGET, SYNC_SLOW_LIMIT))
    }


def _error_parser(body: object) -> tuple[str | None, str | None]:
    """`{code, message, status: "error"}`, or a write answer's first failed `data[]` item."""
    if isinstance(body, dict):
        items = body.get("data") or body.get("watch")
        if isinstance(items, list):
            body = next((i for i in items if isinstance(i, dict) and i.get("status") == "error"),
                        body)  # fmt: skip
    if isinstance(body, dict):
        code, message = body.get("code"), body.get("message")
        return (None if code is None else str(code)), (None if message is None else str(message))
    return None, None


class ZohoWriteError(ApiError):
    """A per-record failure inside a write answer's `data[]` (the answer itself was 2xx)."""


class ZohoConnector(WatchChannels, CrmConnector):
    """One Zoho CRM org, through an access token or an OAuth grant (see `_oauth`).

    Every request sends `Authorization: Zoho-oauthtoken <access token>` from `AccessTokens`
    (shared across processes), within the org's concurrency budget. People are records of the
    enabled modules (`modules`: Contacts, optionally Leads), scanned in id order with Zoho's
    `page_token` (a keyset cursor: stable under creates and deletes). Calls are Calls records
    (updated in place on enrichment), texts Notes. Change notifications come from one watch
    channel per connection.
    """

    name = "zoho"
    updates_in_place = True  # a Calls record (or a note) is updated, keeping its id

    def __init__(
        self,
        credential: str,
        base_url: str | None = None,
        *,
        modules: tuple[str, ...] = ("Contacts",),
        limiters: Mapping[str, RateLimiter] | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        hook: RequestHook | None = None,
        timeout: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
        region: str | None = phones.DEFAULT_REGION,
        database_url: str | None = None,
        sync_reserve_credits: int = 5_000,
    ) -> None:
        self.tokens = AccessTokens(
            credential, database_url=database_url, transport=transport, clock=clock,
            timeout=timeout,
        )  # fmt: skip
        grant = self.tokens.grant
        if grant is not None and (base_url is None or base_url.rstrip("/") == ZOHO_API_URL):
            base_url = grant.api_domain  # the DC the grant was issued in
        self.base_url = (base_url or ZOHO_API_URL).rstrip("/")
        self.modules = tuple(m for m in _records.PEOPLE_MODULES if m in modules) or ("Contacts",)
        self.region = region
        self.sync_reserve_credits = sync_reserve_credits
        self.credits_left: int | None = None
        if limiters is None:
            limiters = zoho_limiters(grant.key if grant else credential, clock=clock)
        self._slow = limiters.get(SLOW_BUDGET)
        self.http = ApiClient(
            provider="zoho",
            base_url=self.base_url,
            headers={"Accept": "application/json"},
            secrets=[credential],
            limiters={BUDGET: limiters[BUDGET]},
            budget_for=lambda _method: BUDGET,
            retry=retry,
            timeout=timeout,
            transport=transport,
            hook=hook,
            clock=clock,
            error_parser=_error_parser,
        )
        # Creates are not idempotent: only a 429 ("nothing happened") is retried blindly.
        self._create_retry = replace(
            self.http.retry, statuses=frozenset({429}), retry_network=False
        )
        self._org: dict[str, Any] | None = None
        self._org_lock = asyncio.Lock()
        self._lead_companies: dict[str, str] = {}
        self._expiries: dict[str, datetime] = {}
        self._server_offset = timedelta(0)

    # ------------------------------------------------------------------ plumbing

    async def _send(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        json_body: Any = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> httpx.Response:
        for attempt in (1, 2):
            token = await self.tokens.current()
            try:
                response = await self.http.request(
                    method,
                    f"/crm/v8{path}",
                    operation=operation,
                    json=json_body,
                    params=params,
                    headers={"Authorization": f"Zoho-oauthtoken {token}", **(headers or {})},
                    retry=retry,
                )
            except ApiError as exc:
                # An access token revoked or expired early: mint another once (shared, limited).
                if exc.status == 401 and self.tokens.refreshable and attempt == 1:
                    self.tokens.rejected(token)
                    continue
                raise
            self._note_server_time(response)
            left = response.headers.get(CREDITS_HEADER)
            if left is not None and left.strip().isdigit():
                self.credits_left = int(left)
            return response
        raise AssertionError("unreachable")

    def _note_server_time(self, response: httpx.Response) -> None:
        """Zoho's clock, from the `Date` of its answers: channel expiries are judged by the
        server (a week ahead of *its* now), whatever this machine's clock says."""
        dates = response.headers.get_list("date")
        if not dates:
            return
        with contextlib.suppress(TypeError, ValueError, IndexError):
            server = parsedate_to_datetime(dates[-1])  # the last: a proxy may prepend its own
            if server.tzinfo is not None:
                self._server_offset = server - datetime.now(UTC)

    def server_now(self) -> datetime:
        return datetime.now(UTC) + self._server_offset

    async def _call(self, method: str, path: str, operation: str, **kwargs: Any) -> Any:
        response = await self._send(method, path, operation, **kwargs)
        if response.status_code in (204, 304) or not response.content:
            return {}
        return response.json()

    async def _write(self, method: str, path: str, operation: str, item: Any, **kw: Any) -> str:
        """One record written; its id (a per-record failure raises ZohoWriteError)."""
        payload = await self._call(method, path, operation, json_body={"data": [item]}, **kw)
        result = (payload.get("data") or [{}])[0]
        if result.get("status") != "success":
            raise ZohoWriteError(
                provider="zoho",
                operation=operation,
                status=200,
                code=str(result.get("code")),
                message=str(result.get("message") or "write failed"),
                body=self.http.scrub(result),
                method=method,
                path=path,
            )
        return str((result.get("details") or {})["id"])

    async def _sync_turn(self) -> None:
        """Sync reads slow down when Zoho reports few credits left (activity does not)."""
        left = self.credits_left
        if self._slow is not None and left is not None and left <= self.sync_reserve_credits:
            log.info("zoho_sync_slowed", credits_left=left)
            permit = await self._slow.acquire()
            await self._slow.release(permit)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _org_info(self) -> dict[str, Any]:
        if self._org is None:
            async with self._org_lock:
                if self._org is None:
                    payload = await self._call("GET", "/org", "org.get")
                    self._org = dict((payload.get("org") or [{}])[0])
        return self._org

    async def _web_base(self) -> str | None:
        zgid = (await self._org_info()).get("zgid")
        host = httpx.URL(self.base_url).host
        suffix = host.removeprefix("www.zohoapis") if host.startswith("www.zohoapis") else None
        if not zgid or suffix is None:
            return None
        return f"https://crm.zoho{suffix}/crm/org{zgid}"

    # ------------------------------------------------------------------ identity

    async def check_credentials(self) -> Mapping[str, str]:
        """`GET /crm/v8/org`: the org the token belongs to (ApiError 401 for a bad token)."""
        org = await self._org_info()
        facts = {
            "workspace_id": org.get("id"),
            "workspace_name": org.get("company_name"),
            "domain_name": org.get("domain_name"),
            "api_domain": self.base_url,
        }
        return {k: str(v) for k, v in facts.items() if v is not None}

    # ------------------------------------------------------------------ people

    def _people(self, module: str, items: list[Any], web: str | None) -> list[Person]:
        out: list[Person] = []
        for item in items:
            if not isinstance(item, dict) or "id" not in item:
                continue
            person, company = to_person(module, item, self.region, web)
            if module == "Leads" and company and person.company_id:
                self._lead_companies[person.company_id] = company
            out.append(person)
        if len(self._lead_companies) > 10_000:
            self._lead_companies.clear()
        return out

    async def _list(
        self, module: str, token: str | None, per_page: int, operation: str,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[list[Person], str | None]:  # fmt: skip
        params: dict[str, Any] = {"fields": ",".join(PERSON_FIELDS[module]), "per_page": per_page}
        if token:
            params["page_token"] = token
        payload = await self._call("GET", f"/{module}", operation, params=params, headers=headers)
        info = payload.get("info") or {}
        people = self._people(module, payload.get("data") or [], await self._web_base())
        next_token = info.get("next_page_token") if info.get("more_records") else None
        return people, next_token if isinstance(next_token, str) and next_token else None

    async def list_people_page(self, cursor: str | None, limit: int = PAGE) -> PeoplePage:
        """One page of the enabled modules, one module after the other, each in id order.
        The cursor is `<module index>:<page_token>`."""
        await self._sync_turn()
        index, token = 0, None
        if cursor:
            raw_index, _, raw_token = cursor.partition(":")
            index, token = int(raw_index), raw_token or None
        module = self.modules[index]
        people, next_token = await self._list(module, token, min(limit, PAGE), "records.list")
        if next_token:
            return PeoplePage(people, f"{index}:{next_token}")
        if index + 1 < len(self.modules):
            return PeoplePage(people, f"{index + 1}:")
        return PeoplePage(people, None)

    async def get_person(self, person_id: str) -> Person | None:
        """The person, or None when Zoho has no such record (204) or it is of no module here."""
        module, record_id = split_person_id(person_id)
        if not record_id.isdigit() or module not in self.modules:
            return None
        try:
            payload = await self._call("GET", f"/{module}/{record_id}", "records.get")
        except ApiError as exc:
            if exc.not_found or exc.code == "INVALID_DATA":
                return None
            raise
        items = payload.get("data") or []
        people = self._people(module, items, await self._web_base())
        return people[0] if people else None

    def _search_forms(self, number: str) -> list[str]:
        """E.164, and the national number for a number of the connection's own region (Zoho
        keeps numbers as typed; its phone search compares digits)."""
        forms = [number]
        try:
            parsed = phonenumbers.parse(number)
        except phonenumbers.NumberParseException:
            return forms
        if self.region and phonenumbers.region_code_for_number(parsed) == self.region.upper():
            forms.append(str(parsed.national_number))
        return forms

    async def find_people_by_phone(self, e164: str) -> list[Person]:
        """`GET /{module}/search?phone=` on every enabled module (every phone-type field),
        keeping the records whose numbers, normalised, include `e164`."""
        number = phones.normalise(e164, region=None)
        if number is None:
            return []
        web = await self._web_base()

        async def search(module: str, form: str) -> list[Person]:
            payload = await self._call(
                "GET", f"/{module}/search", "records.search",
                params={"phone": form, "fields": ",".join(PERSON_FIELDS[module]), "per_page": PAGE},
            )  # fmt: skip
            return self._people(module, payload.get("data") or [], web)

        searches = [search(m, f) for m in self.modules for f in self._search_forms(number)]
        found: dict[str, Person] = {}
        for hits in await asyncio.gather(*searches):
            for person in hits:
                if number in person.phones:
                    found.setdefault(person.id, person)
        return list(found.values())

    async def list_people_changed_since(self, since: datetime) -> list[Person]:
        """Records of the enabled modules modified after `since` (`If-Modified-Since`, to the
        second: people changed earlier in that second come along, harmlessly)."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        stamp = _records.zoho_time(since.replace(microsecond=0) - timedelta(seconds=1))
        out: list[Person] = []
        for module in self.modules:
            token: str | None = None
            while True:
                await self._sync_turn()
                people, token = await self._list(
                    module, token, PAGE, "records.changed_since", {"If-Modified-Since": stamp}
                )
                out.extend(people)
                if token is None:
                    break
        return out

    async def create_person(self, e164: str, name: str | None = None) -> Person:
        """A contact (a lead when only Leads are enabled) for an unknown caller; an existing
        person with the number is returned instead."""
        existing = await self.find_people_by_phone(e164)
        if existing:
            return existing[0]
        module = "Contacts" if "Contacts" in self.modules else "Leads"
        parts = (name or "").strip().split()
        body: dict[str, Any] = {
            "Last_Name": parts[-1] if parts else e164,
            "Phone": e164,
        }
        if len(parts) > 1:
            body["First_Name"] = " ".join(parts[:-1])
        if module == "Leads":
            body["Company"] = name or e164
        try:
            record_id = await self._write(
                "POST", f"/{module}", "records.create", body, retry=self._create_retry
            )
        except ApiError as exc:
            if exc.status is not None and exc.status < 500:
                raise
            again = await self.find_people_by_phone(e164)
            if again:
                return again[0]
            raise
        person = await self.get_person(_records.person_id_of(module, record_id))
        if person is None:
            raise ApiError(provider="zoho", operation="records.create", status=None,
                           message="created record cannot be read back")  # fmt: skip
        return person

    async def company_names(self, company_ids: set[str]) -> dict[str, str]:
        """Account id → name in one `GET /Accounts?ids=` per 100 ids; a lead's company (text on
        the lead, id `Leads:<id>`) from the page that listed it."""
        names = {i: self._lead_companies[i] for i in company_ids if i in self._lead_companies}
        accounts = sorted(i for i in company_ids if i.isdigit())
        for start in range(0, len(accounts), _ACCOUNT_BATCH):
            await self._sync_turn()
            batch = accounts[start : start + _ACCOUNT_BATCH]
            payload = await self._call(
                "GET", "/Accounts", "accounts.batch",
                params={"ids": ",".join(batch), "fields": "Account_Name", "per_page": PAGE},
            )  # fmt: skip
            for account in payload.get("data") or []:
                if isinstance(account, dict) and account.get("Account_Name"):
                    names[str(account["id"])] = str(account["Account_Name"])
        return names

    # ------------------------------------------------------------------ activity

    async def write_note(self, note: CrmNote) -> NoteRef:
        """A call becomes a Calls record, anything else a note on the person."""
        facts = note.activity
        if facts is not None and facts.kind == "call":
            body = _records.call_body(note, facts, datetime.now(UTC))
            record_id = await self._write(
                "POST", "/Calls", "calls.create", body, retry=self._create_retry
            )
            return NoteRef(CALL_PREFIX + record_id)
        record_id = await self._write(
            "POST", "/Notes", "notes.create", _records.note_body(note), retry=self._create_retry
        )
        return NoteRef(NOTE_PREFIX + record_id)

    async def replace_note(self, old_note_id: str, note: CrmNote) -> NoteRef:
        """A Calls record (or a note) is updated in place: its id stays; one that is gone is
        written anew."""
        facts = note.activity
        if old_note_id.startswith(CALL_PREFIX) and facts is not None and facts.kind == "call":
            path = f"/Calls/{old_note_id.removeprefix(CALL_PREFIX)}"
            body: dict[str, Any] = _records.call_body(note, facts, datetime.now(UTC))
            operation = "calls.update"
        elif old_note_id.startswith(NOTE_PREFIX) and (facts is None or facts.kind != "call"):
            path = f"/Notes/{old_note_id.removeprefix(NOTE_PREFIX)}"
            body = _records.note_body(note)
            body.pop("Parent_Id")
            operation = "notes.update"
        else:
            return await super().replace_note(old_note_id, note)
        try:
            await self._write("PUT", path, operation, body)
        except ApiError as exc:
            if not (exc.not_found or exc.code == "INVALID_DATA"):
                raise
            return await self.write_note(note)
        return NoteRef(old_note_id)

    async def delete_note(self, note_id: str) -> None:
        """Delete a Calls record (`call:<id>`) or a note (`note:<id>`); gone already is fine."""
        if note_id.startswith(CALL_PREFIX):
            path, operation = f"/Calls/{note_id.removeprefix(CALL_PREFIX)}", "calls.delete"
        else:
            path, operation = f"/Notes/{note_id.removeprefix(NOTE_PREFIX)}", "notes.delete"
        try:
            payload = await self._call("DELETE", path, operation)
        except ApiError as exc:
            if exc.not_found or exc.code == "INVALID_DATA":
                return
            raise
        result = (payload.get("data") or [{}])[0]
        if result.get("status") == "error" and result.get("code") != "INVALID_DATA":
            raise ZohoWriteError(provider="zoho", operation=operation, status=200,
                                 code=str(result.get("code")), message=str(result.get("message")),
                                 method="DELETE", path=path)  # fmt: skip

    def as_listed(self, note: CrmNote) -> StoredNote:
        """A call as its Calls record lists (subject without emoji, its start to the second); a
        note has no time of its own to compare (Zoho stamps it when written)."""
        facts = note.activity
        at = None
        if facts is not None and facts.kind == "call":
            at = facts.started_at or note.created_at
        title = _records.plain_subject(note.title)
        return StoredNote(id="", title=title, content=note.content, created_at=at)

    async def list_notes(self, person_id: str) -> list[StoredNote]:
        """The person's Calls records and notes (its `Calls` and `Notes` related lists)."""
        module, record_id = split_person_id(person_id)
        stored: list[StoredNote] = []
        for related, prefix in (("Calls", CALL_PREFIX), ("Notes", NOTE_PREFIX)):

            async def page_of(start: int, related: str = related) -> list[dict[str, Any]]:
                payload = await self._call(
                    "GET", f"/{module}/{record_id}/{related}", f"{related.lower()}.list",
                    params={"page": start // _LIST_PAGE + 1, "per_page": _LIST_PAGE},
                )  # fmt: skip
                return list(payload.get("data") or [])

            async for page in offset_pages(page_of, _LIST_PAGE):
                for item in page:
                    is_call = prefix == CALL_PREFIX
                    stored.append(
                        StoredNote(
                            id=prefix + str(item["id"]),
                            title=item.get("Subject" if is_call else "Note_Title"),
                            content=item.get("Description" if is_call else "Note_Content"),
                            # A note's time is when it was written, not the text's.
                            created_at=_records.parse_time(item.get("Call_Start_Time"))
                            if is_call
                            else None,
                        )
                    )
        return stored
