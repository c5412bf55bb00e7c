"""The stable full-scan cursor for Attio people.

Attio's record query pages by `offset`, and offsets shift when records are created or deleted
during a scan: a delete before the current offset makes the scan skip a survivor, a create
before it makes the scan repeat one. A keyset cursor does not shift. The scan is ordered by
`created_at` (immutable, and a new record is always created *after* every record already
seen), and the cursor remembers the last `created_at` returned plus the ids already returned
*at exactly that instant*. The next page asks for

    created_at >= last        (limit + number of remembered ids)

and drops the remembered ids from the answer, so records at the boundary instant are neither
skipped (`>=`, not `>`) nor repeated (the exclusion). Deleting a record removes only that
record from later pages; creating one adds it at the end (or at the boundary instant, where
the exclusion still keeps it to one appearance). The only filter used is a timestamp `$gte`,
the most widely supported operator, and the exclusion happens client-side, so the cursor does
not depend on `$not`/`$in` support. The id list is normally one id long; it grows only when
many records share one timestamp (bulk imports), and then only to the size of that group —
each page request asks for that many extra records.

Cursors are opaque urlsafe-base64 JSON, so a checkpoint can store them as text.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchboard.crm.attio._records import parse_timestamp, record_id

_VERSION = 1


@dataclass(frozen=True)
class ScanCursor:
    """Position after the last record returned: its raw `created_at` and the ids returned at
    that instant."""

    created_at: str
    seen_ids: tuple[str, ...]

    def encode(self) -> str:
        payload = {"v": _VERSION, "t": self.created_at, "ids": list(self.seen_ids)}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ScanCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            payload = json.loads(raw)
            if payload.get("v") != _VERSION or not isinstance(payload.get("t"), str):
                raise ValueError("unknown cursor version")
            ids = payload.get("ids")
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValueError("bad cursor ids")
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an Attio scan cursor: {text[:40]!r}") from exc
        if parse_timestamp(payload["t"]) is None:
            raise ValueError("cursor timestamp does not parse")
        return cls(created_at=payload["t"], seen_ids=tuple(ids))

    def filter(self) -> dict[str, Any]:
        """The Attio query filter selecting this position and everything after it."""
        return {"created_at": {"$gte": self.created_at}}


SCAN_SORTS: list[dict[str, str]] = [{"attribute": "created_at", "direction": "asc"}]


def advance(cursor: ScanCursor | None, records: Sequence[Mapping[str, Any]]) -> ScanCursor | None:
    """The cursor after `records` (one page, in scan order); unchanged if the page is empty."""
    if not records:
        return cursor
    last_raw = records[-1].get("created_at")
    last = parse_timestamp(last_raw)
    if not isinstance(last_raw, str) or last is None:
        raise ValueError("Attio record without created_at; cannot continue a keyset scan")
    at_last = [record_id(r) for r in records if parse_timestamp(r.get("created_at")) == last]
    carried: tuple[str, ...] = ()
    if cursor is not None and parse_timestamp(cursor.created_at) == last:
        carried = cursor.seen_ids
    return ScanCursor(created_at=last_raw, seen_ids=tuple(dict.fromkeys([*carried, *at_last])))


def page_request_size(cursor: ScanCursor | None, limit: int) -> int:
    """How many records to ask for so that `limit` remain after dropping the seen ids."""
    return limit + (len(cursor.seen_ids) if cursor else 0)


def unseen(
    cursor: ScanCursor | None, records: Sequence[Mapping[str, Any]], limit: int
) -> list[Mapping[str, Any]]:
    """The first `limit` records of an answer that the cursor has not returned yet."""
    seen = set(cursor.seen_ids) if cursor else set()
    return [r for r in records if record_id(r) not in seen][:limit]
