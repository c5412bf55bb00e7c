"""The connector contract: the small surface every CRM implements, by role.

- `PeopleSource`: pages of people (a stable scan), get one, find by phone, the reconciliation
  delta, create one for an unknown caller, write an edit made in Quo (`update_person`), company
  names for a page.
- `ActivitySink`: log a call or a message (`write_note`), replace it, delete it, list what is
  there. A CRM keeps them as notes or as native records (call logs, a Calls module,
  communications): `CrmNote.activity` carries the facts a native record needs.
- `ChangeFeed`: subscribe to people changes, renew (for CRMs whose subscriptions expire),
  unsubscribe, list, verify and parse a delivery.

`CrmConnector` is all three plus identity and cleanup. Everything else — sync orchestration, the
person → Quo contact mapping, dedupe, ordering, retries, rendering — lives in the core once. A
connector is built per connection from a `ConnectorConfig` by its registry record's factory, and
is async.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx

from switchboard.http import SYSTEM_CLOCK, Clock, RateLimiter, RequestHook, RetryPolicy


@dataclass(frozen=True)
class ConnectorConfig:
    """What a connector is built from (the registry's connector factory takes exactly this).

    `base_url` None means the CRM's public API. `limiters` None means the CRM's budgets, shared
    across processes through `database_url` / `redis_url` when given, else in this process.
    `transport` is for tests (httpx.MockTransport, an ASGI transport). `bearer`: the token is
    an OAuth access token, sent as `Authorization: Bearer` (a CRM whose API tokens travel in
    another header switches; `http.bearer.FreshBearerTransport` keeps it fresh)."""

    token: str
    base_url: str | None = None
    bearer: bool = False
    hook: RequestHook | None = None
    database_url: str | None = None
    redis_url: str | None = None
    limiters: Mapping[str, RateLimiter] | None = None
    retry: RetryPolicy | None = None
    transport: httpx.AsyncBaseTransport | None = None
    timeout: float = 30.0
    clock: Clock = SYSTEM_CLOCK
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The connection's effective settings (the common ones and the CRM's own)."""

    def shared_limiters(
        self, build: Callable[..., Mapping[str, RateLimiter]]
    ) -> Mapping[str, RateLimiter] | None:
        """The limiters given, else the CRM's (`build(token, database_url=, redis_url=,
        clock=)`) shared through the database or Redis; None leaves them to the connector (in
        this process)."""
        if self.limiters is not None or not (self.database_url or self.redis_url):
            return self.limiters
        return build(
            self.token, database_url=self.database_url, redis_url=self.redis_url, clock=self.clock
        )


@dataclass(frozen=True)
class Person:
    """A CRM person, reduced to what Switchboard uses. `phones` are current values, E.164."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    raw_phones: tuple[str, ...] = ()
    job_title: str | None = None
    company_id: str | None = None
    web_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class PersonEdit:
    """An edit made to a synced contact in Quo, to write to the CRM person (two-way contacts,
    policy `quo_edits_to_crm`). Every field is the whole new value: `phones` and `emails`
    replace the person's lists."""

    first_name: str | None
    last_name: str | None
    phones: tuple[str, ...]
    emails: tuple[str, ...]

    @property
    def full_name(self) -> str | None:
        joined = " ".join(p for p in (self.first_name, self.last_name) if p)
        return joined or None


class UpdateNotSupported(Exception):
    """This CRM's connector cannot write people (two-way contacts stay one-way)."""


@dataclass(frozen=True)
class PeoplePage:
    """One page of a full scan. `next_cursor` is None on the last page; cursors are opaque
    strings that stay valid when records are created or deleted during the scan."""

    people: list[Person]
    next_cursor: str | None


ChangeKind = Literal["created", "updated", "deleted", "merged"]


@dataclass(frozen=True)
class CrmChange:
    """One change announced by a CRM webhook. For a merge, `record_id` is the survivor and
    `merged_from_id` the record that disappeared into it."""

    kind: ChangeKind
    record_id: str
    idempotency_key: str
    object_id: str | None = None
    merged_from_id: str | None = None


@dataclass(frozen=True)
class WebhookSubscriptionInfo:
    """A change webhook created at the CRM. `secret` is only known at creation."""

    remote_id: str
    secret: str | None
    target_url: str


@dataclass(frozen=True)
class NoteRef:
    id: str


#: The note formats Switchboard renders (`switchboard.activity.markup` serialises each).
NoteFormat = Literal["markdown", "html", "plain"]


@dataclass(frozen=True)
class ActivityFacts:
    """What a CRM with native call or message records needs beyond the rendered text."""

    kind: Literal["call", "message"]
    phone: str | None = None
    """The contact's number (E.164) this record is for."""
    direction: str | None = None
    """`incoming` or `outgoing`."""
    status: str | None = None
    """Quo's call status (completed, missed, ...), None for messages."""
    duration_s: float | None = None
    started_at: datetime | None = None
    """When the call started (exact; the note's `created_at` too)."""
    ended_at: datetime | None = None
    line_number: str | None = None
    """The workspace's own number (E.164) the call or text went through."""
    answered: bool | None = None
    """Somebody picked up (a call `completed` without an answer is a missed call)."""
    has_voicemail: bool = False
    media_urls: tuple[str, ...] = ()
    """The call's recordings, then its voicemail, as Quo serves them (a CRM that stores audio
    on its call record downloads and uploads them)."""
    user_email: str | None = None
    """The email of the Quo user the call belongs to (a CRM that gives its call records an
    owner matches it to one of its users)."""


@dataclass
class CrmNote:
    """A call or message to log on a person. `created_at` back-dates it to the activity;
    `content` is already in the CRM's note format (its registry record's). `settings` are the
    connection's effective settings when it is written: a CRM reads its own options there
    (e.g. what else to link a call record to)."""

    person_id: str
    title: str
    content: str
    created_at: datetime | None = None
    content_format: NoteFormat = "markdown"
    activity: ActivityFacts | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Not in the repr: a CRM's settings may hold a secret (e.g. a link action's signing key).
    settings: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class StoredNote:
    """A note as the CRM holds it (listing). `content` is the text as written (markdown)."""

    id: str
    title: str | None
    content: str | None
    created_at: datetime | None


class WebhookVerificationError(Exception):
    """The request is not a genuine webhook from the CRM (missing or wrong signature)."""


class PeopleSource(abc.ABC):
    """Where people come from."""

    @abc.abstractmethod
    async def list_people_page(self, cursor: str | None, limit: int = 500) -> PeoplePage:
        """One page of a stable full scan of people."""

    @abc.abstractmethod
    async def get_person(self, person_id: str) -> Person | None:
        """The current person, or None when it is gone (deleted or merged away)."""

    @abc.abstractmethod
    async def find_people_by_phone(self, e164: str) -> list[Person]:
        """People with this number among their current numbers (exact match)."""

    @abc.abstractmethod
    async def list_people_changed_since(self, since: datetime) -> list[Person]:
        """People created or updated at or after `since`: the reconciliation delta."""

    @abc.abstractmethod
    async def create_person(self, e164: str, name: str | None = None) -> Person:
        """Create a person for an unknown caller (used when auto-create is on)."""

    async def update_person(self, person_id: str, edit: PersonEdit) -> Person | None:
        """Write an edit made in Quo to the person: names, phones and emails (lists replaced).
        Returns the person as the CRM now holds it, None when it is gone. Default: raises
        UpdateNotSupported (a CRM that can write people overrides this)."""
        raise UpdateNotSupported(f"{type(self).__name__} cannot update people")

    @abc.abstractmethod
    async def company_names(self, company_ids: set[str]) -> dict[str, str]:
        """Company id → name for the given ids, in one batch request (ids without a name are
        left out). The sync core turns people into Quo contacts with these names."""


class ActivitySink(abc.ABC):
    """Where calls and messages land."""

    updates_in_place: bool = False
    """The core changes a logged activity with `replace_note` (which updates the record and
    keeps its id) instead of writing a new one and deleting the old one."""

    @abc.abstractmethod
    async def write_note(self, note: CrmNote) -> NoteRef:
        """Log a call or message on the person (a note, or a native record)."""

    @abc.abstractmethod
    async def delete_note(self, note_id: str) -> None:
        """Delete a logged activity; an already-deleted one is not an error."""

    async def list_notes(self, person_id: str) -> list[StoredNote] | None:
        """Every logged activity on the person, or None when this CRM cannot list them. Crash
        recovery uses it to find a record whose create succeeded before its id was recorded;
        without it a duplicate is possible if the process dies in that window."""
        return None

    def as_listed(self, note: CrmNote) -> StoredNote:
        """How `list_notes` shows `note` once written (crash recovery compares the two): a CRM
        that stores the title otherwise (emoji dropped) or cannot back-date a note (None: no
        time to compare) says so here. Default: as written."""
        return StoredNote(id="", title=note.title, content=note.content, created_at=note.created_at)

    async def complete_note(self, note_id: str, note: CrmNote) -> None:
        """Finish a record the core found current (adopted by crash recovery, or unchanged):
        a write that takes more than one request (a call log, then its recording upload) may
        have been interrupted after the first. Must be idempotent and cheap when there is
        nothing to do. Default: nothing to finish (one request per write)."""
        return None

    async def replace_note(self, old_note_id: str, note: CrmNote) -> NoteRef:
        """Replace a logged activity's content. Default: create the new one first, then delete
        the old one, so a failure in between leaves a record rather than none; a CRM that can
        update in place overrides this."""
        new = await self.write_note(note)
        await self.delete_note(old_note_id)
        return new


class ChangeFeed(abc.ABC):
    """How the CRM tells us people changed."""

    @abc.abstractmethod
    async def subscribe(self, target_url: str) -> WebhookSubscriptionInfo:
        """Create a people-change webhook pointing at `target_url`."""

    @abc.abstractmethod
    async def unsubscribe(self, remote_id: str) -> None:
        """Delete a webhook we created; an already-deleted one is not an error."""

    async def renew_subscription(self, remote_id: str) -> bool:
        """Keep a subscription that expires alive (the scheduled webhook check calls this for
        every stored one the CRM still lists); False when the CRM no longer has it, so it is
        created anew. Default: subscriptions do not expire."""
        return True

    @abc.abstractmethod
    async def list_subscriptions(self) -> list[WebhookSubscriptionInfo]:
        """Webhooks currently registered at the CRM (secrets not included)."""

    @abc.abstractmethod
    def verify_webhook(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
        """Raise WebhookVerificationError unless the raw body is signed with `secret` (the
        registry record's static codec does the same without a connector)."""

    @abc.abstractmethod
    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> list[CrmChange]:
        """The changes a verified webhook announces (ValueError on a malformed body)."""


class CrmConnector(PeopleSource, ActivitySink, ChangeFeed):
    """One CRM account, seen through the three roles Switchboard needs."""

    name: str
    """The CRM's registry name."""

    @abc.abstractmethod
    async def check_credentials(self) -> Mapping[str, str]:
        """Verify the token works; returns identifying facts (workspace id/name)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release HTTP resources."""
