"""Pipedrive API v2 routes (`/api/v2`): persons (incl. search), organizations, deals (list, get) and
activities. Bodies are plain JSON objects; lists page with `cursor`/`limit`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request

from switchboard.emulators.pipedrive.api import (
    auth,
    cursor_page,
    json_body,
    path_int,
    q_bool,
    q_ids,
    q_int,
    q_time,
)
from switchboard.emulators.pipedrive.entities import Person
from switchboard.emulators.pipedrive.errors import bad_request

SEARCH_FIELDS = ("custom_fields", "email", "notes", "phone", "name")


def _ok(data: Any, next_cursor: str | None = None, *, paged: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "data": data}
    if paged:
        body["additional_data"] = {"next_cursor": next_cursor}
    return body


def _since_until(request: Request, items: Iterable[Any]) -> list[Any]:
    since, until = q_time(request, "updated_since"), q_time(request, "updated_until")
    out = []
    for item in items:
        at: datetime = item.update_time
        if (since is None or at >= since) and (until is None or at < until):
            out.append(item)
    return out


def _time_keys(extra: bool = True) -> dict[str, Callable[[Any], Any]]:
    keys: dict[str, Callable[[Any], Any]] = {"id": lambda i: i.id}
    if extra:
        keys["update_time"] = lambda i: i.update_time.isoformat()
        keys["add_time"] = lambda i: i.add_time.isoformat()
    return keys


def _search_score(person: Person, term: str, fields: set[str], exact: bool) -> float:
    needle = term.lower()
    values: list[str] = []
    if "name" in fields:
        values.append(person.name)
    if "phone" in fields:
        values += [p["value"] for p in person.phones]
    if "email" in fields:
        values += [e["value"] for e in person.emails]
    best = 0.0
    for value in values:
        hay = value.lower()
        if hay == needle:
            best = max(best, 1.0)
        elif not exact and needle in hay:
            best = max(best, round(len(needle) / max(len(hay), 1), 3))
    return best


def router() -> APIRouter:
    api = APIRouter(prefix="/api/v2")

    # ------------------------------------------------------------ persons

    @api.get("/persons/search")
    async def search_persons(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        q = request.query_params
        term = (q.get("term") or "").strip()
        exact = bool(q_bool(request, "exact_match"))
        if len(term) < (1 if exact else 2):
            raise bad_request('"term" must be at least 2 characters long (1 with exact_match).')
        fields = set((q.get("fields") or ",".join(SEARCH_FIELDS)).split(","))
        unknown = fields - set(SEARCH_FIELDS)
        if unknown:
            raise bad_request(f'"fields" has unknown values: {", ".join(sorted(unknown))}.')
        org_filter = q_int(request, "organization_id")
        with co.lock:
            scored = []
            for person in co.persons.values():
                if org_filter is not None and person.org_id != org_filter:
                    continue
                score = _search_score(person, term, fields, exact)
                if score > 0:
                    scored.append((score, person))
            scored.sort(key=lambda s: (-s[0], s[1].id))
            ranked = [(n, s, p) for n, (s, p) in enumerate(scored)]
            page, cursor = cursor_page(request, ranked, {"id": lambda r: r[0]}, lambda r: r[2].id)
            items = []
            for _, score, person in page:
                org = co.organizations.get(person.org_id) if person.org_id else None
                items.append(
                    {
                        "result_score": score,
                        "item": {
                            "id": person.id,
                            "type": "person",
                            "name": person.name,
                            # plain strings here, unlike the person objects
                            "phones": [p["value"] for p in person.phones],
                            "emails": [e["value"] for e in person.emails],
                            "visible_to": person.visible_to,
                            "owner": {"id": person.owner_id},
                            "organization": {"id": org.id, "name": org.name, "address": None}
                            if org
                            else None,
                            "custom_fields": [],
                            "notes": [],
                        },
                    }
                )
        return {
            "success": True,
            "data": {"items": items},
            "additional_data": {"next_cursor": cursor},
        }

    @api.get("/persons")
    async def list_persons(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        ids = q_ids(request)
        owner, org = q_int(request, "owner_id"), q_int(request, "org_id")
        deal_id = q_int(request, "deal_id")
        with co.lock:
            people = [
                p
                for p in co.persons.values()
                if (ids is None or p.id in ids)
                and (owner is None or p.owner_id == owner)
                and (org is None or p.org_id == org)
                and (
                    deal_id is None or (deal_id in co.deals and co.deals[deal_id].person_id == p.id)
                )
            ]
            people = _since_until(request, people)
            page, cursor = cursor_page(request, people, _time_keys(), lambda p: p.id)
            data = [p.to_v2() for p in page]
        return _ok(data, cursor, paged=True)

    @api.post("/persons")
    async def add_person(request: Request) -> dict[str, Any]:
        caller = auth(request)
        body = await json_body(request)
        person = caller.company.create_person(body, caller.user.id, caller.source)
        return _ok(person.to_v2())

    @api.get("/persons/{person_id}")
    async def get_person(person_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        return _ok(caller.company.person(path_int(person_id)).to_v2())

    @api.patch("/persons/{person_id}")
    async def update_person(person_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        body = await json_body(request)
        person = caller.company.update_person(
            path_int(person_id), body, caller.user.id, caller.source
        )
        return _ok(person.to_v2())

    @api.delete("/persons/{person_id}")
    async def delete_person(person_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        pid = path_int(person_id)
        caller.company.delete_person(pid, caller.user.id, caller.source)
        return _ok({"id": pid})

    # ------------------------------------------------------------ organizations

    @api.get("/organizations")
    async def list_organizations(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        ids = q_ids(request)
        owner = q_int(request, "owner_id")
        with co.lock:
            orgs = [
                o
                for o in co.organizations.values()
                if (ids is None or o.id in ids) and (owner is None or o.owner_id == owner)
            ]
            orgs = _since_until(request, orgs)
            page, cursor = cursor_page(request, orgs, _time_keys(), lambda o: o.id)
            data = [o.to_v2() for o in page]
        return _ok(data, cursor, paged=True)

    @api.post("/organizations")
    async def add_organization(request: Request) -> dict[str, Any]:
        caller = auth(request)
        org = caller.company.create_organization(
            await json_body(request), caller.user.id, caller.source
        )
        return _ok(org.to_v2())

    @api.get("/organizations/{org_id}")
    async def get_organization(org_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        return _ok(caller.company.organization(path_int(org_id)).to_v2())

    @api.patch("/organizations/{org_id}")
    async def update_organization(org_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        org = caller.company.update_organization(
            path_int(org_id), await json_body(request), caller.user.id, caller.source
        )
        return _ok(org.to_v2())

    @api.delete("/organizations/{org_id}")
    async def delete_organization(org_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        oid = path_int(org_id)
        caller.company.delete_organization(oid, caller.user.id, caller.source)
        return _ok({"id": oid})

    # ------------------------------------------------------------ deals

    @api.get("/deals")
    async def list_deals(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        ids = q_ids(request)
        person, org = q_int(request, "person_id"), q_int(request, "org_id")
        owner = q_int(request, "owner_id")
        raw_status = request.query_params.get("status")
        statuses = set(raw_status.split(",")) if raw_status else {"open", "won", "lost"}
        if statuses - {"open", "won", "lost", "deleted"}:
            raise bad_request('"status" must be open, won, lost or deleted.')
        with co.lock:
            deals = [
                d
                for d in co.deals.values()
                if (ids is None or d.id in ids)
                and (person is None or d.person_id == person)
                and (org is None or d.org_id == org)
                and (owner is None or d.owner_id == owner)
                and d.status in statuses
            ]
            deals = _since_until(request, deals)
            page, cursor = cursor_page(request, deals, _time_keys(), lambda d: d.id)
            data = [d.to_v2() for d in page]
        return _ok(data, cursor, paged=True)

    @api.get("/deals/{deal_id}")
    async def get_deal(deal_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        return _ok(caller.company.deal(path_int(deal_id)).to_v2())

    # ------------------------------------------------------------ activities

    @api.get("/activities")
    async def list_activities(request: Request) -> dict[str, Any]:
        caller = auth(request)
        co = caller.company
        ids = q_ids(request)
        filters = {k: q_int(request, k) for k in ("owner_id", "deal_id", "person_id", "org_id")}
        lead = request.query_params.get("lead_id") or None
        done = q_bool(request, "done")
        with co.lock:
            acts = [
                a
                for a in co.activities.values()
                if (ids is None or a.id in ids)
                and all(v is None or getattr(a, k) == v for k, v in filters.items())
                and (lead is None or a.lead_id == lead)
                and (done is None or a.done == done)
            ]
            acts = _since_until(request, acts)
            page, cursor = cursor_page(request, acts, _time_keys(), lambda a: a.id)
            data = [a.to_v2() for a in page]
        return _ok(data, cursor, paged=True)

    @api.post("/activities")
    async def add_activity(request: Request) -> dict[str, Any]:
        caller = auth(request)
        activity = caller.company.create_activity(
            await json_body(request), caller.user.id, caller.source
        )
        return _ok(activity.to_v2())

    @api.get("/activities/{activity_id}")
    async def get_activity(activity_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        return _ok(caller.company.activity(path_int(activity_id)).to_v2())

    @api.patch("/activities/{activity_id}")
    async def update_activity(activity_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        activity = caller.company.update_activity(
            path_int(activity_id), await json_body(request), caller.user.id, caller.source
        )
        return _ok(activity.to_v2())

    @api.delete("/activities/{activity_id}")
    async def delete_activity(activity_id: str, request: Request) -> dict[str, Any]:
        caller = auth(request)
        aid = path_int(activity_id)
        caller.company.delete_activity(aid, caller.user.id, caller.source)
        return _ok({"id": aid})

    return api
