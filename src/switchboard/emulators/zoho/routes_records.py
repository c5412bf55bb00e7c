"""Records of Leads, Contacts, Accounts and Calls, and Notes (`/crm/v8/{Module}...`).

- Lists and searches answer `{data, info}`, or **204 with an empty body** when nothing matches
  (304 when `If-Modified-Since` leaves nothing). `fields` is required on lists (v8);
  `per_page` ≤ 200; `page` reaches the first 2,000 records, `page_token` any depth.
- Writes answer per-record results in `data[]`: all succeeded → 201 (create) or 200; some
  failed → 207; all failed → 400 (202 for Notes, as Zoho's notes document lists).
- An unknown record id on GET answers 204; a non-numeric one 400 INVALID_DATA.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from switchboard.emulators.zoho.context import (
    emulator_of,
    org_of,
    query_int,
    read_data,
    read_json,
)
from switchboard.emulators.zoho.criteria import parse as parse_criteria
from switchboard.emulators.zoho.errors import (
    ZohoError,
    error_item,
    invalid_module,
    invalid_param,
    param_missing,
)
from switchboard.emulators.zoho.metadata import RECORD_MODULES, field_map
from switchboard.emulators.zoho.org import (
    EMOJI_MANGLED,
    Org,
    Record,
    Result,
    display_name,
    format_time,
    mangle_emoji,
    parse_time,
)

MAX_PER_PAGE = 200
PAGE_LIMIT = 2000  # records reachable with `page`; deeper needs `page_token`
SORTABLE = ("id", "Created_Time", "Modified_Time")


RELATED_LISTS = ("notes", "calls")


def module_of(name: str) -> str:
    """The canonical module api name (Zoho matches module names case-insensitively)."""
    for module in RECORD_MODULES:
        if module.lower() == name.lower():
            return module
    raise invalid_module()


def record_id(raw: str) -> str:
    if not raw.isdigit():
        raise ZohoError(400, "INVALID_DATA", "the id given seems to be invalid", {"id": raw})
    return raw


def _fields_param(request: Request, module: str, *, required: bool) -> list[str] | None:
    raw = request.query_params.get("fields")
    if raw is None or not raw.strip():
        if required:
            raise param_missing("fields")
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    known = field_map(module)
    for name in names:
        if name != "id" and name not in known:
            raise invalid_param("fields")
    if len(names) > 50:
        raise invalid_param("fields", "Max field limit exceeded")
    return names


def _sort_params(request: Request) -> tuple[str, str]:
    sort_by = request.query_params.get("sort_by", "id")
    order = request.query_params.get("sort_order", "asc" if sort_by == "id" else "desc")
    if sort_by not in SORTABLE:
        raise invalid_param("sort_by")
    if order not in ("asc", "desc"):
        raise invalid_param("sort_order")
    return sort_by, order


def _key(sort_by: str, r: Record) -> tuple[float, int]:
    if sort_by == "Created_Time":
        return (r.created, int(r.id))
    if sort_by == "Modified_Time":
        return (r.modified, int(r.id))
    return (0.0, int(r.id))


def _token(key: tuple[float, int], page: int, module: str, sort_by: str, order: str) -> str:
    """An opaque cursor: the sort key of the last record shown (so records created or deleted
    during a scan shift nothing), plus the page number it leads to."""
    raw = json.dumps({"k": list(key), "p": page, "m": module, "s": sort_by, "d": order})
    return "1000." + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _untoken(token: str, module: str) -> tuple[tuple[float, int], int, str, str]:
    try:
        raw = token.removeprefix("1000.")
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        stamp, last_id = data["k"]
        page, sort_by, order = data["p"], data["s"], data["d"]
        if (
            data["m"] != module
            or sort_by not in SORTABLE
            or order not in ("asc", "desc")
            or not isinstance(page, int)
            or not isinstance(last_id, int)
            or not isinstance(stamp, int | float)
        ):
            raise ValueError("token of another listing")
    except (ValueError, KeyError, TypeError) as exc:
        raise invalid_param("page_token") from exc
    return (float(stamp), last_id), page, sort_by, order


def _page(
    request: Request,
    org: Org,
    module: str,
    records: list[Record],
    fields: list[str] | None,
    *,
    tokens: bool,
) -> Response:
    per_page = query_int(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    token = request.query_params.get("page_token") if tokens else None
    if token:
        after, page, sort_by, order = _untoken(token, module)
        records = sorted(records, key=lambda r: _key(sort_by, r), reverse=order == "desc")
        if order == "asc":
            records = [r for r in records if _key(sort_by, r) > after]
        else:
            records = [r for r in records if _key(sort_by, r) < after]
        offset = 0
    else:
        sort_by, order = _sort_params(request)
        records = sorted(records, key=lambda r: _key(sort_by, r), reverse=order == "desc")
        page = query_int(request, "page", 1, 1, 10**6)
        offset = (page - 1) * per_page
        if offset + per_page > PAGE_LIMIT and offset > 0:
            raise ZohoError(
                400,
                "LIMIT_EXCEEDED",
                "Record count exceeded",
                {"limit": PAGE_LIMIT, "param_name": "page"},
            )
    chunk = records[offset : offset + per_page]
    if not chunk:
        return Response(status_code=204)
    more = offset + per_page < len(records)
    info: dict[str, Any] = {
        "per_page": per_page,
        "count": len(chunk),
        "page": page,
        "sort_by": sort_by,
        "sort_order": order,
        "more_records": more,
    }
    if tokens:
        if more:
            last = _key(sort_by, chunk[-1])
            info["next_page_token"] = _token(last, page + 1, module, sort_by, order)
        info["page_token_expiry"] = format_time(emulator_of(request).now() + 86400)
    return JSONResponse({"data": [org.record_json(r, fields) for r in chunk], "info": info})


def _write_answer(
    org: Org, results: list[Result], message: str, *, created: bool, all_failed: int = 400
) -> JSONResponse:
    data = []
    for res in results:
        if not res.ok or res.record is None:
            data.append(res.error)
            continue
        details = org.success_details(res.record)
        if message == "record deleted":
            details = {"id": res.record.id}
        item: dict[str, Any] = {
            "code": "SUCCESS",
            "details": details,
            "message": message if res.action != "insert" or not created else "record added",
            "status": "success",
        }
        if res.action is not None and message == "upsert":
            item["action"] = res.action
            item["message"] = "record added" if res.action == "insert" else "record updated"
            if res.duplicate_field:
                item["duplicate_field"] = res.duplicate_field
        data.append(item)
    ok = sum(1 for r in results if r.ok)
    if ok == len(results):
        status = 201 if created else 200
    elif ok == 0:
        status = all_failed
    else:
        status = 207
    return JSONResponse({"data": data}, status_code=status)


def records_router() -> APIRouter:
    router = APIRouter(prefix="/crm/v8")

    # ------------------------------------------------------------ notes

    @router.get("/Notes")
    async def list_notes(request: Request) -> Response:
        org = org_of(request)
        per_page = query_int(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
        page = query_int(request, "page", 1, 1, 10**6)
        notes = sorted(org.notes.values(), key=lambda n: int(n.id))
        chunk = notes[(page - 1) * per_page : page * per_page]
        if not chunk:
            return Response(status_code=204)
        info = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": page * per_page < len(notes),
        }
        return JSONResponse({"data": [org.note_json(n) for n in chunk], "info": info})

    @router.post("/Notes")
    async def create_notes(request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        items = await read_data(request)
        results: list[Result] = []
        for n, item in enumerate(items):
            try:
                results.append(Result(True, _new_note(emu, org, item, n), action="insert"))
            except ZohoError as exc:
                results.append(Result(False, error=exc.item()))
        # Zoho's notes document lists 200 for created notes and 202 for per-note errors.
        return _write_answer(org, results, "record added", created=False, all_failed=202)

    @router.get("/Notes/{note_id}")
    async def get_note(note_id: str, request: Request) -> Response:
        org = org_of(request)
        note = org.notes.get(record_id(note_id))
        if note is None:
            return Response(status_code=204)
        return JSONResponse({"data": [org.note_json(note)]})

    @router.put("/Notes/{note_id}")
    async def update_note(note_id: str, request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        items = await read_data(request)
        note = org.notes.get(record_id(note_id))
        if note is None:
            raise ZohoError(
                400, "INVALID_DATA", "the id given seems to be invalid", {"id": note_id}
            )
        item = items[0]
        if not isinstance(item, dict):
            err = error_item(
                "INVALID_DATA", "invalid data", {"api_name": "data", "json_path": "$.data[0]"}
            )
            return JSONResponse({"data": [err]}, status_code=400)
        for key in ("Note_Title", "Note_Content"):
            if key in item:
                value = item[key]
                if not isinstance(value, str) or (key == "Note_Content" and not value.strip()):
                    err = error_item(
                        "INVALID_DATA",
                        "invalid data",
                        {"api_name": key, "json_path": f"$.data[0].{key}"},
                    )
                    return JSONResponse({"data": [err]}, status_code=400)
                note.values[key] = mangle_emoji(value) if key in EMOJI_MANGLED else value
        note.modified = emu.now()
        return _write_answer(
            org, [Result(True, note, action="update")], "record updated", created=False
        )

    @router.delete("/Notes/{note_id}")
    async def delete_note(note_id: str, request: Request) -> Response:
        org = org_of(request)
        note = org.notes.pop(record_id(note_id), None)
        if note is None:
            raise ZohoError(
                400, "INVALID_DATA", "the id given seems to be invalid", {"id": note_id}
            )
        item = {
            "code": "SUCCESS",
            "details": org.success_details(note),
            "message": "record deleted",
            "status": "success",
        }
        return JSONResponse({"data": [item]})

    # ------------------------------------------------------------ records

    @router.get("/{module}/search")
    async def search(module: str, request: Request) -> Response:
        org = org_of(request)
        module = module_of(module)
        q = request.query_params
        fields = _fields_param(request, module, required=False)
        checks: list[Any] = []
        pool = list(org.records[module].values())
        if q.get("phone"):
            ids = org.by_phone(module, q["phone"])
            pool = [org.records[module][i] for i in ids]
            checks.append(lambda r: True)
        if q.get("email"):
            email = q["email"].lower()
            checks.append(
                lambda r: any(
                    str(r.values.get(f) or "").lower() == email
                    for f in ("Email", "Secondary_Email")
                )
            )
        if q.get("word"):
            word = q["word"].lower()
            checks.append(
                lambda r: any(
                    word in str(v).lower() for v in r.values.values() if isinstance(v, str)
                )
            )
        if q.get("criteria"):
            pred = parse_criteria(q["criteria"], set(field_map(module)))
            checks.append(lambda r: pred({"id": r.id, **r.values}))
        if not checks:
            raise param_missing("criteria")
        found = [r for r in pool if all(c(r) for c in checks)]
        return _page(request, org, module, found[:PAGE_LIMIT], fields, tokens=False)

    @router.get("/{module}/deleted")
    async def deleted(module: str, request: Request) -> Response:
        org = org_of(request)
        module = module_of(module)
        kind = request.query_params.get("type", "all")
        if kind not in ("all", "recycle", "permanent"):
            raise invalid_param("type")
        per_page = query_int(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
        page = query_int(request, "page", 1, 1, 10**6)
        gone = [d for d in org.deleted if d.module == module and kind in ("all", "recycle")]
        gone.sort(key=lambda d: d.deleted, reverse=True)
        chunk = gone[(page - 1) * per_page : page * per_page]
        if not chunk:
            return Response(status_code=204)
        data = [
            {
                "deleted_by": org.admin.minified(),
                "id": d.id,
                "display_name": d.name,
                "type": "recycle",
                "created_by": d.created_by.minified(),
                "deleted_time": format_time(d.deleted),
            }
            for d in chunk
        ]
        info = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": page * per_page < len(gone),
        }
        return JSONResponse({"data": data, "info": info})

    @router.post("/{module}/upsert")
    async def upsert(module: str, request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        module = module_of(module)
        body = await read_json(request)
        items = await read_data(request)
        check = org.default_duplicate_check(module)
        if isinstance(body, dict) and "duplicate_check_fields" in body:
            names = body["duplicate_check_fields"]
            known = field_map(module)
            if not isinstance(names, list) or not all(
                isinstance(n, str) and n in known for n in names
            ):
                raise ZohoError(
                    400,
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": "duplicate_check_fields", "json_path": "$.duplicate_check_fields"},
                )
            check = tuple(names)
        results = emu.upsert_records(org, module, items, check)
        return _write_answer(org, results, "upsert", created=False)

    @router.get("/{module}")
    async def list_records(module: str, request: Request) -> Response:
        org = org_of(request)
        module = module_of(module)
        fields = _fields_param(request, module, required=True)
        records = list(org.records[module].values())
        ids = request.query_params.get("ids")
        if ids:
            wanted = {i.strip() for i in ids.split(",")}
            records = [r for r in records if r.id in wanted]
        since_raw = request.headers.get("if-modified-since")
        if since_raw:
            try:
                since = parse_time(since_raw)
            except ValueError as exc:
                raise invalid_param("If-Modified-Since") from exc
            records = [r for r in records if r.modified > since]
            if not records:
                return Response(status_code=304)
        return _page(request, org, module, records, fields, tokens=True)

    @router.post("/{module}")
    async def create(module: str, request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        module = module_of(module)
        items = await read_data(request)
        return _write_answer(
            org, emu.create_records(org, module, items), "record added", created=True
        )

    @router.put("/{module}")
    async def update_many(module: str, request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        module = module_of(module)
        items = await read_data(request)
        ids = [
            str(i["id"]) if isinstance(i, dict) and isinstance(i.get("id"), str | int) else None
            for i in items
        ]
        results = emu.update_records(org, module, items, ids)
        return _write_answer(org, results, "record updated", created=False)

    @router.delete("/{module}")
    async def delete_many(module: str, request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        module = module_of(module)
        raw = request.query_params.get("ids")
        if not raw:
            raise param_missing("ids")
        ids = [i.strip() for i in raw.split(",") if i.strip()]
        if len(ids) > 100:
            raise invalid_param("ids")
        results = emu.delete_records(org, module, ids)
        return _write_answer(org, results, "record deleted", created=False)

    @router.get("/{module}/{rid}/{related}")
    async def related_records(module: str, rid: str, related: str, request: Request) -> Response:
        """A record's Notes or Calls (related lists; Calls of a contact by `Who_Id`, of a
        lead or account by `What_Id`)."""
        org = org_of(request)
        module = module_of(module)
        parent = org.records[module].get(record_id(rid))
        if related.lower() not in RELATED_LISTS:
            raise ZohoError(
                400, "INVALID_DATA", "The relation name given seems to be invalid",
                {"api_name": related},
            )  # fmt: skip
        if parent is None:
            raise ZohoError(
                400, "INVALID_DATA", "the related id given seems to be invalid", {"id": rid}
            )
        if related.lower() == "notes":
            found = [
                n for n in org.notes.values() if (n.values.get("Parent_Id") or {}).get("id") == rid
            ]
            items = [org.note_json(n) for n in sorted(found, key=lambda n: int(n.id))]
        else:
            link = "Who_Id" if module == "Contacts" else "What_Id"
            found = [
                r
                for r in org.records["Calls"].values()
                if (r.values.get(link) or {}).get("id") == rid
            ]
            items = [org.record_json(r) for r in sorted(found, key=lambda r: int(r.id))]
        per_page = query_int(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
        page = query_int(request, "page", 1, 1, 10**6)
        chunk = items[(page - 1) * per_page : page * per_page]
        if not chunk:
            return Response(status_code=204)
        info = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": page * per_page < len(items),
        }
        return JSONResponse({"data": chunk, "info": info})

    @router.get("/{module}/{rid}")
    async def get_record(module: str, rid: str, request: Request) -> Response:
        org = org_of(request)
        module = module_of(module)
        fields = _fields_param(request, module, required=False)
        rec = org.records[module].get(record_id(rid))
        if rec is None:
            return Response(status_code=204)
        return JSONResponse({"data": [org.record_json(rec, fields)]})

    @router.put("/{module}/{rid}")
    async def update_one(module: str, rid: str, request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        module = module_of(module)
        items = await read_data(request)
        results = emu.update_records(org, module, items[:1], [record_id(rid)])
        return _write_answer(org, results, "record updated", created=False)

    @router.delete("/{module}/{rid}")
    async def delete_one(module: str, rid: str, request: Request) -> Response:
        emu, org = emulator_of(request), org_of(request)
        module = module_of(module)
        results = emu.delete_records(org, module, [record_id(rid)])
        return _write_answer(org, results, "record deleted", created=False)

    return router


def _new_note(emu: Any, org: Org, item: Any, n: int) -> Record:
    def bad(code: str, message: str, field: str) -> ZohoError:
        # The notes document lists exactly two per-note errors: MANDATORY_NOT_FOUND and
        # INVALID_DATA "invalid data" with `expected_data_type`.
        details = {"api_name": field, "json_path": f"$.data[{n}].{field}"}
        if code == "INVALID_DATA":
            message = "invalid data"
            details["expected_data_type"] = "jsonobject" if field != "Note_Content" else "text"
        return ZohoError(400, code, message, details)

    if not isinstance(item, dict):
        raise bad("INVALID_DATA", "invalid data", "data")
    content = item.get("Note_Content")
    if content is None or (isinstance(content, str) and not content.strip()):
        raise bad("MANDATORY_NOT_FOUND", "required field not found", "Note_Content")
    if not isinstance(content, str):
        raise bad("INVALID_DATA", "invalid data", "Note_Content")
    title = item.get("Note_Title")
    if title is not None and (not isinstance(title, str) or len(title) > 120):
        raise bad("INVALID_DATA", "invalid data", "Note_Title")
    parent = item.get("Parent_Id")
    if parent is None:
        raise bad("MANDATORY_NOT_FOUND", "required field not found", "Parent_Id")
    module = None
    if isinstance(parent, dict):
        mod = parent.get("module")
        module = mod.get("api_name") if isinstance(mod, dict) else None
        module = module or item.get("se_module") or item.get("$se_module")
    if not isinstance(parent, dict) or not isinstance(parent.get("id"), str | int):
        raise bad("INVALID_DATA", "invalid data", "Parent_Id")
    if module not in RECORD_MODULES:
        raise bad("INVALID_DATA", "invalid data", "Parent_Id")
    target = org.records[str(module)].get(str(parent["id"]))
    if target is None:
        raise bad("INVALID_DATA", "the id given seems to be invalid", "Parent_Id")
    now = emu.now()
    note = Record(
        "Notes",
        emu.new_id(),
        {
            "Note_Title": mangle_emoji(title) if title else title,
            "Note_Content": content,
            "Parent_Id": {"module": module, "id": target.id, "name": display_name(target)},
        },
        now,
        now,
    )
    org.notes[note.id] = note
    return note
