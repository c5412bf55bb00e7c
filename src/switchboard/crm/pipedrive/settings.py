"""Pipedrive's own per-connection settings (`switchboard connections settings <id> KEY=VALUE`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

#: What a call log is linked to besides its person: nothing, the person's most recent open deal,
#: their most recent open lead, or the deal → lead waterfall (a deal if there is one, else a
#: lead). No deal or lead: the person only. Pipedrive takes a deal or a lead, never both.
CallLogLink = Literal["person", "deal", "lead", "deal_or_lead"]


class PipedriveSettings(BaseModel):
    """Pipedrive's own per-connection settings, each with a default."""

    # `settings KEY=1337` reads the value as JSON: a numeric id or secret arrives as a number.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    link_action_jwt_secret: str | None = Field(default=None, min_length=1, max_length=500)
    """The "Call with Quo" link action's JWT secret (or the app's client secret when the link
    action has none): the call page verifies Pipedrive's signed token with it."""
    link_action_company_id: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    """The Pipedrive company id link-action tokens must name (optional)."""
    call_log_link: CallLogLink = "person"
    """What each call log is linked to besides the person (see `CallLogLink`): one more request
    per call log for "deal" or "lead", up to two for "deal_or_lead"."""


def call_log_link(settings: Mapping[str, Any]) -> CallLogLink:
    """The connection's `call_log_link` from its effective settings; "person" when absent or
    not one of the choices (settings are validated when they are set)."""
    value = settings.get("call_log_link")
    return cast(CallLogLink, value) if value in get_args(CallLogLink) else "person"
