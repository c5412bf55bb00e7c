"""What a call log is linked to besides its person (the connection's `call_log_link`).

The person's most recent open deal is `GET /api/v2/deals?person_id=&status=open` newest update
first, one item (10 tokens); their most recent open lead `GET /v1/leads?person_id=` newest
update first (20 tokens; archived leads are not listed there). "deal_or_lead" asks for the lead
only when there is no open deal. Pipedrive takes a deal or a lead on a call log, never both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from switchboard.crm.pipedrive.settings import CallLogLink

#: (path, operation, query parameters) -> the decoded JSON body of a GET.
Get = Callable[[str, str, dict[str, Any]], Awaitable[Any]]


async def open_deal_id(get: Get, person_id: int) -> int | None:
    params = {
        "person_id": person_id,
        "status": "open",
        "sort_by": "update_time",
        "sort_direction": "desc",
        "limit": 1,
    }
    payload = await get("/api/v2/deals", "deals.open_for_person", params)
    for deal in payload.get("data") or []:
        if isinstance(deal, dict) and isinstance(deal.get("id"), int):
            return int(deal["id"])
    return None


async def open_lead_id(get: Get, person_id: int) -> str | None:
    params = {"person_id": person_id, "sort": "update_time DESC", "limit": 1}
    payload = await get("/v1/leads", "leads.open_for_person", params)
    for lead in payload.get("data") or []:
        if isinstance(lead, dict) and lead.get("id") and not lead.get("is_archived"):
            return str(lead["id"])
    return None


async def link_fields(get: Get, person_id: int, link: CallLogLink) -> dict[str, Any]:
    """`{"deal_id": ...}`, `{"lead_id": ...}` or `{}` for a call log on `person_id`."""
    if link in ("deal", "deal_or_lead"):
        deal = await open_deal_id(get, person_id)
        if deal is not None:
            return {"deal_id": deal}
    if link in ("lead", "deal_or_lead"):
        lead = await open_lead_id(get, person_id)
        if lead is not None:
            return {"lead_id": lead}
    return {}
