"""Attio record filters: shorthand and verbose forms, compiled to an index plan plus a predicate.

Shorthand: `{"phone_numbers": "+15558675309"}`, `{"name": "Ada Lovelace"}`,
`{"record_id": {"$in": [...]}}`. Verbose: `{"$and": [{"name": {"full_name": {"$eq": "Ada"}}}]}`,
`$or`, `$not`, and per-field operators `$eq`, `$in`, `$contains`, `$starts_with`, `$ends_with`,
`$not_empty`, `$gt`/`$gte`/`$lt`/`$lte`. Several keys in one object mean "all of them".

Only current values match (a historic phone number never does). Besides attributes, `record_id`,
`created_at` and — an emulator extension for "changed since" queries — `updated_at` (the last time
any current value of the record changed) can be filtered and sorted on.

Equality on an attribute's main field uses the index; `$and` intersects, `$or` unions, so a phone
lookup or a `record_id` `$in` over 10,000 records costs microseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers

from switchboard.emulators.attio.errors import AttioError, filter_error
from switchboard.emulators.attio.records import ObjectStore, Record
from switchboard.emulators.attio.schema import AttributeDef
from switchboard.emulators.attio.values import (
    DEFAULT_FIELD,
    FIELDS,
    Value,
    field_value,
    parse_ts,
)

Predicate = Callable[[Record], bool]

OPERATORS = frozenset(
    {
        "$eq",
        "$in",
        "$contains",
        "$starts_with",
        "$ends_with",
        "$not_empty",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
    }
)
RECORD_FIELDS = frozenset({"record_id", "created_at", "updated_at"})


@dataclass
class Plan:
    """`candidates`: ids that may match (None = every record); `predicate` decides.
    `created_from`: no record created before this instant matches (lets a `created_at`-sorted
    query start its scan there)."""

    candidates: set[str] | None
    predicate: Predicate
    created_from: datetime | None = None

    def matches(self) -> Predicate:
        """The whole condition as one predicate: `predicate` alone may rely on `candidates`
        (e.g. `record_id $in` has no check beyond the candidate set), so negation and `$or`
        must test membership too."""
        if self.candidates is None:
            return self.predicate
        ids, predicate = self.candidates, self.predicate
        return lambda r: r.id in ids and predicate(r)


def _always(_: Record) -> bool:
    return True


def compile_filter(store: ObjectStore, raw: Any) -> Plan:
    """Compile a filter; raises AttioError 400 `filter_error` for anything malformed."""
    if raw is None:
        return Plan(None, _always)
    if not isinstance(raw, dict):
        raise filter_error("Filter must be an object.")
    try:
        return _compile(store, raw)
    except AttioError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise filter_error(f"Error in filter: {exc}") from exc


def _compile(store: ObjectStore, node: dict[str, Any]) -> Plan:
    if not node:
        return Plan(None, _always)
    parts: list[Plan] = []
    for key, sub in node.items():
        if key in ("$and", "$or"):
            if not isinstance(sub, list) or not all(isinstance(s, dict) for s in sub):
                raise filter_error(f'"{key}" expects a list of filter objects.')
            children = [_compile(store, s) for s in sub]
            parts.append(_and(children) if key == "$and" else _or(children))
        elif key == "$not":
            if not isinstance(sub, dict):
                raise filter_error('"$not" expects a filter object.')
            parts.append(_negate(_compile(store, sub)))
        elif key.startswith("$"):
            raise filter_error(f'Unknown filter operator "{key}" at the top level.')
        elif key == "path":
            raise filter_error("Path filters are not supported by the emulator.")
        elif key in RECORD_FIELDS:
            parts.append(_record_field(key, sub))
        else:
            attr = store.obj.attribute(key)
            if attr is None:
                raise filter_error(
                    f'Unknown attribute "{key}" in filter for object "{store.obj.api_slug}".'
                )
            parts.append(_attribute(store, attr, sub))
    return parts[0] if len(parts) == 1 else _and(parts)


def _and(children: list[Plan]) -> Plan:
    sets = [c.candidates for c in children if c.candidates is not None]
    candidates = None
    if sets:
        sets.sort(key=len)
        candidates = set(sets[0])
        for other in sets[1:]:
            candidates &= other
    preds = [c.predicate for c in children]
    bounds = [c.created_from for c in children if c.created_from is not None]
    created_from = max(bounds) if bounds else None
    if len(preds) == 1:
        return Plan(candidates, preds[0], created_from)
    return Plan(candidates, lambda r: all(p(r) for p in preds), created_from)


def _negate(inner: Plan) -> Plan:
    predicate = inner.matches()
    return Plan(None, lambda r: not predicate(r))


def _or(children: list[Plan]) -> Plan:
    if not children:
        return Plan(set(), lambda r: False)
    candidates: set[str] | None = set()
    for child in children:
        if child.candidates is None:
            candidates = None
            break
        assert candidates is not None
        candidates |= child.candidates
    preds = [c.matches() for c in children]
    return Plan(candidates, lambda r: any(p(r) for p in preds))


def _operators(sub: Any) -> dict[str, Any]:
    """Normalise a field condition to {operator: operand}; a bare value means $eq."""
    if isinstance(sub, dict):
        if not sub:
            raise filter_error("Empty condition in filter.")
        unknown = [k for k in sub if k not in OPERATORS]
        if unknown:
            raise filter_error(f'Unknown filter operator "{unknown[0]}".')
        return dict(sub)
    if isinstance(sub, list):
        raise filter_error('A list is not a valid filter value; use {"$in": [...]}.')
    return {"$eq": sub}


# ---------------------------------------------------------------- record-level fields


def _record_field(key: str, sub: Any) -> Plan:
    ops = _operators(sub)
    if key == "record_id":
        candidates: set[str] | None = None
        checks: list[Callable[[str], bool]] = []
        for op, operand in ops.items():
            if op == "$eq":
                _require_str(key, operand)
                candidates = _intersect(candidates, {operand})
            elif op == "$in":
                if not isinstance(operand, list) or not all(isinstance(x, str) for x in operand):
                    raise filter_error('"$in" on record_id expects a list of record ids.')
                candidates = _intersect(candidates, set(operand))
            elif op == "$not_empty":
                continue
            else:
                checks.append(_string_check(key, op, operand))
        return Plan(candidates, lambda r: all(c(r.id) for c in checks))
    time_checks = [_time_check(key, op, operand) for op, operand in ops.items()]
    check = (
        time_checks[0] if len(time_checks) == 1 else (lambda ts: all(c(ts) for c in time_checks))
    )
    if key == "created_at":
        lower = [parse_ts(v) for op, v in ops.items() if op in ("$gt", "$gte", "$eq")]
        return Plan(None, lambda r: check(r.created_at), max(lower) if lower else None)
    return Plan(None, lambda r: check(r.updated_at))


def _intersect(a: set[str] | None, b: set[str]) -> set[str]:
    return set(b) if a is None else a & b


def _require_str(key: str, operand: Any) -> str:
    if not isinstance(operand, str):
        raise filter_error(f'Filter on "{key}" expects a string.')
    return operand


def _time_check(key: str, op: str, operand: Any) -> Callable[[datetime], bool]:
    if op == "$not_empty":
        return lambda ts: True
    if op == "$in" or op in ("$contains", "$starts_with", "$ends_with"):
        raise filter_error(f'Operator "{op}" is not supported on timestamp "{key}".')
    try:
        bound = parse_ts(operand)
    except (ValueError, TypeError) as exc:
        raise filter_error(f'Filter on "{key}" expects an ISO 8601 timestamp.') from exc
    return {
        "$eq": lambda ts: ts == bound,
        "$gt": lambda ts: ts > bound,
        "$gte": lambda ts: ts >= bound,
        "$lt": lambda ts: ts < bound,
        "$lte": lambda ts: ts <= bound,
    }[op]


def _string_check(key: str, op: str, operand: Any) -> Callable[[str], bool]:
    text = _require_str(key, operand).lower()
    if op == "$contains":
        return lambda s: text in s.lower()
    if op == "$starts_with":
        return lambda s: s.lower().startswith(text)
    if op == "$ends_with":
        return lambda s: s.lower().endswith(text)
    raise filter_error(f'Operator "{op}" is not supported on "{key}".')


# ---------------------------------------------------------------- attributes


def _attribute(store: ObjectStore, attr: AttributeDef, sub: Any) -> Plan:
    fields = FIELDS.get(attr.type)
    default = DEFAULT_FIELD.get(attr.type)
    if fields is None or default is None:
        raise filter_error(f'Filtering on attributes of type "{attr.type}" is not supported.')
    if isinstance(sub, dict) and sub and all(not k.startswith("$") for k in sub):
        unknown = [k for k in sub if k not in fields]
        if unknown:
            raise filter_error(f'Unknown field "{unknown[0]}" on attribute "{attr.api_slug}".')
        plans = [_field(store, attr, f, cond) for f, cond in sub.items()]
        return plans[0] if len(plans) == 1 else _and(plans)
    return _field(store, attr, default, sub)


def _normalise(attr: AttributeDef, field_name: str, operand: Any) -> Any:
    phone_fields = ("phone_number", "normalized_phone_number")
    if attr.type == "phone-number" and field_name in phone_fields and isinstance(operand, str):
        try:
            number = phonenumbers.parse(operand, None)
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            return operand
    if isinstance(operand, str) and attr.type in ("email-address", "domain", "personal-name"):
        return operand.lower()
    return operand


def _field(store: ObjectStore, attr: AttributeDef, field_name: str, cond: Any) -> Plan:
    ops = _operators(cond)
    slug = attr.api_slug
    indexed = field_name == DEFAULT_FIELD[attr.type] or (
        attr.type == "phone-number" and field_name == "normalized_phone_number"
    )
    candidates: set[str] | None = None
    checks: list[Callable[[Value], bool]] = []
    not_empty: bool | None = None
    for op, operand in ops.items():
        if op == "$not_empty":
            if not isinstance(operand, bool):
                raise filter_error('"$not_empty" expects true or false.')
            not_empty = operand
            continue
        if op == "$in":
            if not isinstance(operand, list):
                raise filter_error('"$in" expects a list.')
            keys = [_normalise(attr, field_name, x) for x in operand]
            if indexed:
                found: set[str] = set()
                for k in keys:
                    found |= store.lookup(slug, k)
                candidates = _intersect(candidates, found)
            checks.append(_value_eq_any(field_name, keys))
            continue
        if isinstance(operand, dict | list) or operand is None:
            raise filter_error(f'Invalid operand for "{op}" on "{slug}".')
        key = _normalise(attr, field_name, operand)
        if op == "$eq":
            if indexed:
                candidates = _intersect(candidates, store.lookup(slug, key))
            checks.append(_value_eq_any(field_name, [key]))
        elif op in ("$contains", "$starts_with", "$ends_with"):
            if not isinstance(operand, str):
                raise filter_error(f'"{op}" expects a string.')
            checks.append(_value_text(field_name, op, operand.lower()))
        else:
            checks.append(_value_compare(attr, field_name, op, operand))

    def predicate(record: Record) -> bool:
        current = record.current(slug)
        if not_empty is not None and bool(current) != not_empty:
            return False
        if not checks:
            return True
        return any(all(c(v) for c in checks) for v in current)

    return Plan(candidates, predicate)


def _comparable(value: Value, field_name: str) -> Any:
    raw = field_value(value, field_name)
    if isinstance(raw, str) and value.attribute_type in (
        "email-address",
        "domain",
        "personal-name",
    ):
        return raw.lower()
    return raw


def _value_eq_any(field_name: str, keys: list[Any]) -> Callable[[Value], bool]:
    wanted = set(k for k in keys if not isinstance(k, dict | list))
    return lambda v: _comparable(v, field_name) in wanted


def _value_text(field_name: str, op: str, text: str) -> Callable[[Value], bool]:
    def check(v: Value) -> bool:
        raw = field_value(v, field_name)
        if not isinstance(raw, str):
            return False
        s = raw.lower()
        if op == "$contains":
            return text in s
        if op == "$starts_with":
            return s.startswith(text)
        return s.endswith(text)

    return check


def _value_compare(
    attr: AttributeDef, field_name: str, op: str, operand: Any
) -> Callable[[Value], bool]:
    if attr.type == "timestamp":
        try:
            bound: Any = parse_ts(operand)
        except (ValueError, TypeError) as exc:
            raise filter_error(f'"{op}" on "{attr.api_slug}" expects a timestamp.') from exc

        def key(v: Value) -> Any:
            return parse_ts(field_value(v, field_name))
    elif attr.type in ("number", "rating", "currency"):
        if not isinstance(operand, int | float) or isinstance(operand, bool):
            raise filter_error(f'"{op}" on "{attr.api_slug}" expects a number.')
        bound = operand

        def key(v: Value) -> Any:
            return field_value(v, field_name)
    elif attr.type in ("date", "text"):
        if not isinstance(operand, str):
            raise filter_error(f'"{op}" on "{attr.api_slug}" expects a string.')
        bound = operand

        def key(v: Value) -> Any:
            return field_value(v, field_name)
    else:
        raise filter_error(f'"{op}" is not supported on attribute "{attr.api_slug}".')
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "$gt": lambda a, b: a > b,
        "$gte": lambda a, b: a >= b,
        "$lt": lambda a, b: a < b,
        "$lte": lambda a, b: a <= b,
    }
    cmp = compare[op]

    def check(v: Value) -> bool:
        k = key(v)
        return k is not None and cmp(k, bound)

    return check
