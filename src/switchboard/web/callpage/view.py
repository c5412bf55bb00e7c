"""What a call page shows: the person (cached briefly), their numbers and the lines to call from,
and the links each button opens.

Desktop browsers get `tel:+E164` (Quo's desktop app handling `tel:` is unconfirmed; the link is
the portable choice); phones get Quo's deep link `openphone://dial?number=…&from=…&action=call`,
which Quo documents for its mobile apps only.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from switchboard.crm.base import Person

#: Seconds a person read from the CRM is reused by later page loads and clicks.
PERSON_TTL_S = 60.0
_MAX_CACHED = 2000
_MOBILE = re.compile(r"Android|iPhone|iPad|iPod|Mobile", re.IGNORECASE)

_people: dict[tuple[str, str], tuple[float, Person | None]] = {}


def is_mobile(user_agent: str | None) -> bool:
    return bool(user_agent and _MOBILE.search(user_agent))


def cached_person(
    connection_id: str, person_id: str, now: float | None = None
) -> tuple[bool, Person | None]:
    """(hit, person) from the short-lived cache."""
    entry = _people.get((connection_id, person_id))
    t = now if now is not None else time.monotonic()
    if entry is None or entry[0] < t:
        return False, None
    return True, entry[1]


def remember_person(
    connection_id: str, person_id: str, person: Person | None, now: float | None = None
) -> None:
    if len(_people) >= _MAX_CACHED:
        _people.clear()  # bounded; a cold cache only costs one CRM read per person
    t = now if now is not None else time.monotonic()
    _people[(connection_id, person_id)] = (t + PERSON_TTL_S, person)


def forget_people() -> None:
    _people.clear()


@dataclass(frozen=True)
class Line:
    id: str
    label: str
    number: str


def lines_from_quo(numbers: list[dict[str, Any]]) -> list[Line]:
    """Quo's phone numbers (`GET /v1/phone-numbers`) as the lines to call from."""
    out = []
    for line in numbers:
        lid = str(line.get("id") or "")
        if not lid:
            continue
        number = str(line.get("number") or "")
        name = " ".join(str(p) for p in (line.get("symbol"), line.get("name")) if p)
        out.append(Line(lid, f"{name} {number}".strip(), number))
    return out  # Quo's order, which its apps show too


def choose_line(lines: list[Line], remembered: str | None, default: str | None) -> Line | None:
    """The user's remembered line, else the connection's default, else the first."""
    by_id = {ln.id: ln for ln in lines}
    for candidate in (remembered, default):
        if candidate and candidate in by_id:
            return by_id[candidate]
    return lines[0] if lines else None


def dial_link(phone: str, line: Line | None, mobile: bool) -> str:
    if not mobile:
        return f"tel:{phone}"
    link = f"openphone://dial?number={quote(phone, safe='')}"
    if line is not None and line.number:
        link += f"&from={quote(line.number, safe='')}"
    return link + "&action=call"


def display_name(person: Person) -> str:
    if person.full_name:
        return person.full_name
    joined = " ".join(p for p in (person.first_name, person.last_name) if p)
    return joined or person.id
