"""What Zoho's clients read before anything else: modules, fields and layouts metadata, users and
the org (`/crm/v8/settings/...`, `/crm/v8/users`, `/crm/v8/org`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from switchboard.emulators.zoho.context import org_of, query_int
from switchboard.emulators.zoho.errors import (
    ZohoError,
    invalid_param,
    param_missing,
)
from switchboard.emulators.zoho.metadata import (
    ALL_MODULES,
    FIELDS,
    field_json,
    layout_json,
    module_json,
)
from switchboard.emulators.zoho.org import Org, User, format_time
from switchboard.emulators.zoho.spec import skeleton

USER_TYPES = (
    "AllUsers",
    "ActiveUsers",
    "CurrentUser",
    "ActiveConfirmedUsers",
    "DeactiveUsers",
    "NotConfirmedUsers",
    "ConfirmedUsers",
    "AdminUsers",
)


def _module_param(request: Request) -> str:
    name = request.query_params.get("module")
    if not name:
        raise param_missing("module")
    for module in ALL_MODULES:
        if module.lower() == name.lower():
            return module
    raise ZohoError(
        400,
        "INVALID_MODULE",
        "The module name given seems to be invalid",
        {"api_name": "module", "param_name": "module", "param": "module"},
    )


def _fields_of(org: Org, module: str) -> list[dict[str, Any]]:
    """Field metadata of a module, built once per org (it never changes)."""
    key = f"fields:{module}"
    if key not in org.meta_cache:
        org.meta_cache[key] = [field_json(module, f, org.ids) for f in FIELDS[module]]
    cached: list[dict[str, Any]] = org.meta_cache[key]
    return cached


def _layout_of(org: Org, module: str) -> dict[str, Any]:
    key = f"layout:{module}"
    if key not in org.meta_cache:
        org.meta_cache[key] = layout_json(module, org.ids)
    cached: dict[str, Any] = org.meta_cache[key]
    return cached


def user_json(org: Org, user: User) -> dict[str, Any]:
    return skeleton(
        "users",
        "users",
        id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        full_name=user.name,
        email=user.email,
        status="active",
        confirm=True,
        role={"name": user.role, "id": org.ids.of(f"role:{user.role}")},
        profile={"name": user.profile, "id": org.ids.of(f"profile:{user.profile}")},
        zuid=str(int(user.id) // 1000),
        locale="en_US",
        created_time=format_time(org.created),
        Modified_Time=format_time(org.created),
    )


def org_json(org: Org) -> dict[str, Any]:
    admin = org.admin
    return skeleton(
        "org",
        "Org",
        id=org.id,
        company_name=org.name,
        domain_name=f"org{org.id}",
        primary_email=admin.email,
        primary_zuid=str(int(admin.id) // 1000),
        zgid=org.id,
        country="United States",
        country_code="US",
        currency="US Dollar - USD",
        currency_symbol="$",
        currency_locale="en_US",
        iso_code="USD",
        time_zone="Etc/UTC",
        max_per_page=200,
    )


def meta_router() -> APIRouter:
    router = APIRouter(prefix="/crm/v8")

    @router.get("/settings/modules")
    async def modules(request: Request) -> dict[str, Any]:
        org = org_of(request)
        modified = format_time(org.created)
        return {"modules": [module_json(m, org.ids, modified) for m in ALL_MODULES]}

    @router.get("/settings/modules/{api_name}")
    async def module(api_name: str, request: Request) -> dict[str, Any]:
        org = org_of(request)
        for m in ALL_MODULES:
            if m.lower() == api_name.lower():
                item = module_json(m, org.ids, format_time(org.created))
                item["fields"] = _fields_of(org, m)
                return {"modules": [item]}
        raise ZohoError(
            400,
            "INVALID_MODULE",
            "The module name given seems to be invalid",
            {"param_name": "api_name", "param": "api_name"},
        )

    @router.get("/settings/fields")
    async def fields(request: Request) -> dict[str, Any]:
        org = org_of(request)
        m = _module_param(request)
        return {"fields": _fields_of(org, m)}

    @router.get("/settings/fields/{field_id}")
    async def one_field(field_id: str, request: Request) -> Response:
        org = org_of(request)
        m = _module_param(request)
        for item in _fields_of(org, m):
            if field_id in (item["id"], item["api_name"]):
                return JSONResponse({"fields": [item]})
        return Response(status_code=204)

    @router.get("/settings/layouts")
    async def layouts(request: Request) -> dict[str, Any]:
        org = org_of(request)
        m = _module_param(request)
        return {"layouts": [_layout_of(org, m)]}

    @router.get("/settings/layouts/{layout_id}")
    async def layout(layout_id: str, request: Request) -> Response:
        org = org_of(request)
        m = _module_param(request)
        item = _layout_of(org, m)
        if item["id"] != layout_id:
            return Response(status_code=204)
        return JSONResponse({"layouts": [item]})

    @router.get("/users")
    async def users(request: Request) -> Response:
        org = org_of(request)
        kind = request.query_params.get("type", "AllUsers")
        if kind not in USER_TYPES:
            raise invalid_param("type")
        per_page = query_int(request, "per_page", 200, 1, 200)
        page = query_int(request, "page", 1, 1, 10**6)
        people = org.users
        if kind == "CurrentUser":
            people = [org.admin]
        elif kind in ("DeactiveUsers", "NotConfirmedUsers"):
            people = []
        chunk = people[(page - 1) * per_page : page * per_page]
        if not chunk:
            return Response(status_code=204)
        info = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": page * per_page < len(people),
        }
        return JSONResponse({"users": [user_json(org, u) for u in chunk], "info": info})

    @router.get("/users/{user_id}")
    async def user(user_id: str, request: Request) -> Response:
        org = org_of(request)
        found = org.user(user_id)
        if found is None:
            return Response(status_code=204)
        info = {"per_page": 200, "count": 1, "page": 1, "more_records": False}
        return JSONResponse({"users": [user_json(org, found)], "info": info})

    @router.get("/org")
    async def get_org(request: Request) -> dict[str, Any]:
        return {"org": [org_json(org_of(request))]}

    return router
