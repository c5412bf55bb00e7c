"""Zoho's search `criteria`: `(Field:operator:value)` joined by `and` / `or`, groups in
parentheses, e.g. `((Last_Name:equals:Burns)or(Email:starts_with:ada))`.

Operators: equals, not_equal, starts_with, in (comma-separated values); values compare
case-insensitively, phone fields by their digits. Malformed criteria → 400 INVALID_QUERY.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from switchboard.emulators.zoho.errors import ZohoError
from switchboard.emulators.zoho.metadata import PHONE_FIELDS

Predicate = Callable[[dict[str, Any]], bool]
OPERATORS = ("equals", "not_equal", "starts_with", "in")


def invalid_query(reason: str) -> ZohoError:
    return ZohoError(400, "INVALID_QUERY", "invalid query formed", {"reason": reason})


def _text(value: Any, phone: bool) -> str:
    if isinstance(value, dict):
        value = value.get("name") or value.get("id")
    text = "" if value is None else str(value)
    if phone:
        return "".join(ch for ch in text if ch.isdigit())
    return text.lower()


def _condition(body: str, fields: set[str]) -> Predicate:
    parts = body.split(":", 2)
    if len(parts) != 3:
        raise invalid_query("a condition is Field:operator:value")
    name, op, raw = (p.strip() for p in parts)
    if name not in fields and name != "id":
        raise invalid_query(f"unknown field {name}")
    if op not in OPERATORS:
        raise invalid_query(f"unsupported operator {op}")
    phone = name in PHONE_FIELDS
    wanted = [_text(v.replace("\\,", ","), phone) for v in raw.split(",")] if op == "in" else None
    want = _text(raw.replace("\\(", "(").replace("\\)", ")"), phone)

    def check(values: dict[str, Any]) -> bool:
        have = _text(values.get(name), phone)
        if op == "equals":
            return have == want and (have != "" or want == "")
        if op == "not_equal":
            return have != want
        if op == "starts_with":
            return bool(want) and have.startswith(want)
        return have in (wanted or [])

    return check


def parse(text: str, fields: set[str]) -> Predicate:
    """A predicate over a record's values (with `id`)."""
    pos = 0

    def group() -> Predicate:
        nonlocal pos
        if pos >= len(text) or text[pos] != "(":
            raise invalid_query("expected (")
        pos += 1
        if text.startswith("(", pos):
            terms = [group()]
            joins: list[str] = []
            while not text.startswith(")", pos):
                for word in ("and", "or"):
                    if text.startswith(word, pos):
                        joins.append(word)
                        pos += len(word)
                        break
                else:
                    raise invalid_query("expected and / or")
                terms.append(group())
            pos += 1
            return _combine(terms, joins)
        depth, start = 0, pos
        while pos < len(text):
            ch = text[pos]
            if ch == "\\":
                pos += 2
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            pos += 1
        if pos >= len(text):
            raise invalid_query("unbalanced parentheses")
        pred = _condition(text[start:pos], fields)
        pos += 1
        return pred

    text = text.strip()
    if not text.startswith("("):
        text = f"({text})"
    terms = [group()]
    joins: list[str] = []
    while pos < len(text):
        for word in ("and", "or"):
            if text.startswith(word, pos):
                joins.append(word)
                pos += len(word)
                break
        else:
            raise invalid_query("unexpected text after a condition")
        terms.append(group())
    return _combine(terms, joins)


def _combine(terms: list[Predicate], joins: list[str]) -> Predicate:
    if len(set(joins)) > 1:
        raise invalid_query("mix of and / or in one group")
    if not joins:
        return terms[0]
    if joins[0] == "and":
        return lambda values: all(t(values) for t in terms)
    return lambda values: any(t(values) for t in terms)
