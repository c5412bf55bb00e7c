"""Request helpers shared by the v1 and v2 routes: authentication (API token in `x-api-token` or
`api_token`, OAuth `Bearer` token), scope checks, query parsing and both pagination styles
(v1 `start`/`limit`, v2 `cursor`/`limit`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import Request

from switchboard.emulators.common import Scope
from switchboard.emulators.pipedrive.company import Company
from switchboard.emulators.pipedrive.emulator import PipedriveEmulator, Token
from switchboard.emulators.pipedrive.entities import User, parse_time
from switchboard.emulators.pipedrive.errors import bad_request, forbidden, parse_json, unauthorized
from switchboard.emulators.pipedrive.operations import has_scope, match

T = TypeVar("T")


def token_of(scope: Scope) -> str | None:
    """The credential a request carries: `x-api-token`, `Authorization: Bearer`, `api_token`."""
    for name, value in scope.get("headers", []):
        text: str = bytes(value).decode("latin-1").strip()
        if name == b"x-api-token" and text:
            return text
        if name == b"authorization" and text[:7].lower() == "bearer " and text[7:].strip():
            return text[7:].strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("api_token") or [""]
    return values[0] or None


@dataclass
class Caller:
    company: Company
    token: Token
    user: User
    emulator: PipedriveEmulator

    @property
    def source(self) -> str:
        return "api"


def emulator_of(request: Request) -> PipedriveEmulator:
    emu: PipedriveEmulator = request.app.state.emulator
    return emu


def auth(request: Request) -> Caller:
    emu = emulator_of(request)
    found = emu.authenticate(token_of(request.scope))
    if found is None:
        raise unauthorized()
    company, token = found
    op = match(request.method, request.url.path)
    if token.kind == "oauth" and op is not None and not has_scope(token.scope, op.scope):
        raise forbidden("Scope and URL mismatch")
    user = company.users[token.user_id]
    return Caller(company, token, user, emu)


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object.")
    return body


def q_int(
    request: Request, name: str, *, lo: int | None = None, hi: int | None = None
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f'"{name}" must be an integer.') from exc
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise bad_request(f'"{name}" must be between {lo} and {hi}.')
    return value


def q_bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("1", "true"):
        return True
    if raw.lower() in ("0", "false"):
        return False
    raise bad_request(f'"{name}" must be a boolean.')


def q_ids(request: Request, name: str = "ids", most: int = 100) -> set[int] | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        ids = {int(x) for x in raw.split(",") if x.strip()}
    except ValueError as exc:
        raise bad_request(f'"{name}" must be a comma-separated list of integers.') from exc
    if len(ids) > most:
        raise bad_request(f'"{name}" accepts at most {most} values.')
    return ids


def q_time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    return parse_time(raw, name)


def path_int(value: str, name: str = "id") -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(f'"{name}" must be an integer.') from exc


# ------------------------------------------------------------------ v2 cursor pagination


def _encode_cursor(key: Any, item_id: Any) -> str:
    raw = json.dumps({"k": key, "id": item_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[Any, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return data["k"], data["id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise bad_request('"cursor" is invalid.') from exc


def cursor_page(
    request: Request,
    items: Sequence[T],
    sort_keys: dict[str, Callable[[T], Any]],
    id_of: Callable[[T], Any],
) -> tuple[list[T], str | None]:
    """One v2 page: `sort_by` among `sort_keys`, `sort_direction`, `limit` (≤ 500, default 100)
    and a keyset `cursor`, so pages stay consistent while items are created or deleted."""
    q = request.query_params
    sort_by = q.get("sort_by") or "id"
    if sort_by not in sort_keys:
        raise bad_request(f'"sort_by" must be one of {", ".join(sort_keys)}.')
    direction = q.get("sort_direction") or "asc"
    if direction not in ("asc", "desc"):
        raise bad_request('"sort_direction" must be asc or desc.')
    limit = q_int(request, "limit", lo=1, hi=500) or 100
    key_of = sort_keys[sort_by]

    def full(item: T) -> tuple[Any, Any]:
        return key_of(item), id_of(item)

    ordered = sorted(items, key=full, reverse=direction == "desc")
    cursor = q.get("cursor")
    if cursor:
        after = tuple(_decode_cursor(cursor))
        if direction == "asc":
            ordered = [i for i in ordered if full(i) > after]
        else:
            ordered = [i for i in ordered if full(i) < after]
    page = ordered[:limit]
    next_cursor = None
    if len(ordered) > limit:
        last = page[-1]
        next_cursor = _encode_cursor(key_of(last), id_of(last))
    return page, next_cursor


# ------------------------------------------------------------------ v1 offset pagination


def offset_page(request: Request, items: Sequence[T]) -> tuple[list[T], dict[str, Any]]:
    start = q_int(request, "start", lo=0) or 0
    limit = q_int(request, "limit", lo=1, hi=500) or 100
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    info: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        info["next_start"] = start + limit
    return page, info


def v1_sort(request: Request, items: list[T], fields: dict[str, Callable[[T], Any]]) -> list[T]:
    """v1 `sort`: `field ASC, other DESC` (first-level fields only)."""
    raw = request.query_params.get("sort")
    if not raw:
        return items
    for part in reversed([p.strip() for p in raw.split(",") if p.strip()]):
        name, _, mode = part.partition(" ")
        if name not in fields or mode.strip().upper() not in ("", "ASC", "DESC"):
            raise bad_request(f'"sort" field "{part}" is not supported.')
        items = sorted(items, key=fields[name], reverse=mode.strip().upper() == "DESC")
    return items
