"""Typed Quo resources. Field names follow Quo's JSON (camelCase) through aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

T = TypeVar("T")


class _QuoModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class LabeledValue(_QuoModel):
    name: str
    value: str | None


class DefaultFields(_QuoModel):
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    company: str | None = None
    role: str | None = None
    emails: list[LabeledValue] = Field(default_factory=list)
    phone_numbers: list[LabeledValue] = Field(default_factory=list, alias="phoneNumbers")


class ContactInput(_QuoModel):
    """The body of Quo's create/update contact: what a CRM person becomes in Quo."""

    default_fields: DefaultFields = Field(alias="defaultFields")
    external_id: str = Field(alias="externalId", min_length=1, max_length=75)
    source: str | None = Field(default=None, min_length=1, max_length=72)
    source_url: str | None = Field(default=None, alias="sourceUrl", max_length=200)

    def to_api(self) -> dict[str, object]:
        """JSON body for Quo, camelCase, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def to_patch(self) -> dict[str, object]:
        """JSON body of an update: `to_api()` plus explicit nulls for the names, company and
        role we do not set, so the contact ends up holding exactly this body (a value a Quo
        user added is cleared, not kept beside ours)."""
        body = self.to_api()
        fields = dict(self.default_fields.model_dump(by_alias=True, exclude_none=True))
        for key in ("firstName", "lastName", "company", "role"):
            fields.setdefault(key, None)
        body["defaultFields"] = fields
        return body

    def phones(self) -> list[str]:
        return [p.value for p in self.default_fields.phone_numbers if p.value]


# ---------------------------------------------------------------------------- resources (read)
# Lenient on purpose: Quo adds fields and leaves others null while processing, so everything
# beyond the id is optional and unknown fields are ignored.


class Contact(_QuoModel):
    """A Quo contact as the API returns it."""

    id: str
    external_id: str | None = Field(default=None, alias="externalId")
    source: str | None = None
    source_url: str | None = Field(default=None, alias="sourceUrl")
    default_fields: DefaultFields = Field(default_factory=DefaultFields, alias="defaultFields")
    custom_fields: list[dict[str, Any]] = Field(default_factory=list, alias="customFields")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    created_by_user_id: str | None = Field(default=None, alias="createdByUserId")

    def phones(self) -> list[str]:
        return [p.value for p in self.default_fields.phone_numbers if p.value]

    def matches(self, wanted: ContactInput) -> bool:
        """Does this contact already hold what `wanted` would write (names, company, role,
        phones, emails, source)? Used to tell "created by our bulk call" from "needs update"."""
        mine, theirs = self.default_fields, wanted.default_fields

        def values(items: list[LabeledValue]) -> list[str]:
            return sorted(i.value for i in items if i.value)

        return (
            mine.first_name == theirs.first_name
            and mine.last_name == theirs.last_name
            and mine.company == theirs.company
            and mine.role == theirs.role
            and values(mine.phone_numbers) == values(theirs.phone_numbers)
            and values(mine.emails) == values(theirs.emails)
            and (wanted.source is None or self.source == wanted.source)
        )


class Page(_QuoModel, Generic[T]):
    """One page of a list. `total_items` is inexact (Quo says so): page until the token is None."""

    data: list[T]
    total_items: int | None = Field(default=None, alias="totalItems")
    next_page_token: str | None = Field(default=None, alias="nextPageToken")


class PhoneNumberUser(_QuoModel):
    id: str
    email: str | None = None
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    role: str | None = None


class PhoneNumber(_QuoModel):
    """A workspace line (`PN...`) with its E.164 `number` and the users on it."""

    id: str
    number: str | None = None
    formatted_number: str | None = Field(default=None, alias="formattedNumber")
    name: str | None = None
    group_id: str | None = Field(default=None, alias="groupId")
    users: list[PhoneNumberUser] = Field(default_factory=list)


class User(_QuoModel):
    id: str
    email: str | None = None
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    picture_url: str | None = Field(default=None, alias="pictureUrl")
    role: str | None = None


class Call(_QuoModel):
    id: str
    phone_number_id: str | None = Field(default=None, alias="phoneNumberId")
    user_id: str | None = Field(default=None, alias="userId")
    direction: str | None = None
    status: str | None = None
    participants: list[str] = Field(default_factory=list)
    answered_at: datetime | None = Field(default=None, alias="answeredAt")
    answered_by: str | None = Field(default=None, alias="answeredBy")
    initiated_by: str | None = Field(default=None, alias="initiatedBy")
    completed_at: datetime | None = Field(default=None, alias="completedAt")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    duration: int | None = None
    call_route: str | None = Field(default=None, alias="callRoute")
    forwarded_from: str | None = Field(default=None, alias="forwardedFrom")
    forwarded_to: str | None = Field(default=None, alias="forwardedTo")
    ai_handled: str | None = Field(default=None, alias="aiHandled")


class Recording(_QuoModel):
    id: str
    url: str | None = None  # None while processing
    status: str | None = None
    duration: int | None = None
    start_time: datetime | None = Field(default=None, alias="startTime")
    type: str | None = None


class Voicemail(_QuoModel):
    id: str | None = None
    status: str | None = None
    duration: int | None = None
    transcript: str | None = None
    recording_url: str | None = Field(default=None, alias="recordingUrl")


class CallSummary(_QuoModel):
    call_id: str = Field(alias="callId")
    status: str | None = None
    summary: list[str] | None = None
    next_steps: list[str] | None = Field(default=None, alias="nextSteps")
    jobs: list[dict[str, Any]] | None = None


class DialogueLine(_QuoModel):
    content: str
    start: float | None = None
    end: float | None = None
    identifier: str | None = None
    user_id: str | None = Field(default=None, alias="userId")


class CallTranscript(_QuoModel):
    call_id: str = Field(alias="callId")
    status: str | None = None
    duration: float | None = None
    created_at: datetime | None = Field(default=None, alias="createdAt")
    dialogue: list[DialogueLine] | None = None


class Message(_QuoModel):
    """A message resource. Unlike in webhook payloads, `to` is a list here."""

    id: str
    to: list[str] = Field(default_factory=list)
    from_: str | None = Field(default=None, alias="from")
    text: str | None = None
    phone_number_id: str | None = Field(default=None, alias="phoneNumberId")
    direction: str | None = None
    user_id: str | None = Field(default=None, alias="userId")
    status: str | None = None
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")


class Webhook(_QuoModel):
    """A Quo webhook. `key` is its signing key: a secret (store it encrypted, never log it)."""

    id: str
    url: str
    events: list[str] = Field(default_factory=list)
    resource_ids: list[str] = Field(default_factory=list, alias="resourceIds")
    label: str | None = None
    status: str | None = None
    key: SecretStr | None = None
    user_id: str | None = Field(default=None, alias="userId")
    org_id: str | None = Field(default=None, alias="orgId")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    deleted_at: datetime | None = Field(default=None, alias="deletedAt")

    @property
    def kind(self) -> str:
        """The create endpoint this webhook belongs to ("calls", "messages", ...); "dated" for
        a webhook of the dated generation carrying an event the legacy endpoints lack."""
        if not self.events:
            return "calls"
        try:
            return webhook_kind(self.events[0])
        except ValueError:
            return "dated"


class WebhookEvent(_QuoModel):
    """One entry of a dated webhook's delivery history (`GET /webhooks/{id}/events`)."""

    id: str
    type: str
    status: str | None = None  # pending | delivered | failed
    created_at: datetime | None = Field(default=None, alias="createdAt")
    test: bool = False
    attempts: list[dict[str, Any]] = Field(default_factory=list)
    payload: dict[str, Any] | None = None


WEBHOOK_KINDS: dict[str, tuple[str, ...]] = {
    "messages": ("message.received", "message.delivered"),
    "calls": ("call.completed", "call.ringing", "call.recording.completed"),
    "call-summaries": ("call.summary.completed",),
    "call-transcripts": ("call.transcript.completed",),
}


def webhook_kind(event: str) -> str:
    """Which create endpoint takes this event type."""
    for kind, events in WEBHOOK_KINDS.items():
        if event in events:
            return kind
    raise ValueError(f"unknown Quo webhook event {event!r}")
