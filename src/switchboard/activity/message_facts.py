"""Everything known about one text message, merged from every Quo source (see `facts`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from switchboard import phones
from switchboard.activity.facts_base import (
    _MESSAGE_STATUS_RANK,
    MESSAGE_EVENTS,
    REST_MESSAGE,
    _max_opt,
    _Model,
    _obj,
    _pick,
    _strings,
    _timestamp,
    _union,
    is_ai_user,
    resource_id,
)


class MessageInfo(_Model):
    direction: str | None = None
    from_: str | None = Field(default=None, alias="from")
    text: str | None = None
    status: str | None = None
    phone_number_id: str | None = Field(default=None, alias="phoneNumberId")
    user_id: str | None = Field(default=None, alias="userId")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")

    def _rank(self) -> tuple[int, float]:
        rank = _MESSAGE_STATUS_RANK.get(self.status or "", 1) if self.status is not None else -1
        return rank, _timestamp(self.updated_at)


class MessageFacts(_Model):
    """Everything known about one text message (`message.received`/`message.delivered`
    events, where `to` is a string, or the REST message, where it is a list)."""

    kind: Literal["message"] = "message"
    message_id: str
    message: MessageInfo | None = None
    to: tuple[str, ...] = ()
    contact_ids: tuple[str, ...] = ()
    deep_link: str | None = None
    phases: tuple[str, ...] = ()

    @classmethod
    def empty(cls, message_id: str) -> MessageFacts:
        return cls(message_id=message_id)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> MessageFacts:
        event_type = event.get("type")
        if not isinstance(event_type, str):
            raise ValueError("webhook event without type")
        return cls.empty(resource_id(event_type, event)).apply_event(event_type, event)

    def apply_event(
        self, event_type: str, payload: Mapping[str, Any], deep_link: str | None = None
    ) -> MessageFacts:
        if event_type not in MESSAGE_EVENTS:
            raise ValueError(f"not a message event: {event_type}")
        obj, link = _obj(payload)
        return self.with_message(obj, deep_link=deep_link or link, phase=event_type)

    def with_message(
        self,
        resource: Mapping[str, Any],
        *,
        deep_link: str | None = None,
        phase: str = REST_MESSAGE,
    ) -> MessageFacts:
        """Fold a message resource in (event object or `GET /v1/messages/{id}` `data`)."""
        if resource.get("id") is not None and resource.get("id") != self.message_id:
            raise ValueError(f"message {resource.get('id')} applied to facts of {self.message_id}")
        raw_to = resource.get("to")
        to = _strings([raw_to] if isinstance(raw_to, str) else raw_to)
        part = MessageFacts(
            message_id=self.message_id,
            message=MessageInfo.model_validate(dict(resource)),
            to=to,
            contact_ids=_strings(resource.get("contactIds")),
            deep_link=deep_link,
            phases=(phase,),
        )
        return self.merge(part)

    def merge(self, other: MessageFacts) -> MessageFacts:
        """Commutative, associative, idempotent, like `CallFacts.merge`."""
        if other.message_id != self.message_id:
            raise ValueError(f"cannot merge facts of {other.message_id} into {self.message_id}")
        return MessageFacts(
            message_id=self.message_id,
            message=_pick(self.message, other.message, MessageInfo._rank),
            to=_union(self.to, other.to),
            contact_ids=_union(self.contact_ids, other.contact_ids),
            deep_link=_max_opt(self.deep_link, other.deep_link),
            phases=_union(self.phases, other.phases),
        )

    @property
    def has_message(self) -> bool:
        return self.message is not None and self.message.direction is not None

    @property
    def direction(self) -> str | None:
        return self.message.direction if self.message else None

    @property
    def phone_number_id(self) -> str | None:
        return self.message.phone_number_id if self.message else None

    @property
    def created_at(self) -> datetime | None:
        return self.message.created_at if self.message else None

    @property
    def text(self) -> str | None:
        return self.message.text if self.message else None

    def external_numbers(
        self, own_numbers: Iterable[str | None], region: str | None = phones.DEFAULT_REGION
    ) -> list[str]:
        """`from` and `to` minus the workspace's own numbers, E.164, in that order."""
        sender = self.message.from_ if self.message else None
        return phones.external_numbers([sender, *self.to], own_numbers, region)

    def user_ids(self) -> tuple[str, ...]:
        """The sender's user id (outgoing messages), AI agent ids excluded."""
        uid = self.message.user_id if self.message else None
        return (uid,) if uid and not is_ai_user(uid) else ()

    def to_data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> MessageFacts:
        return cls.model_validate(dict(data))
