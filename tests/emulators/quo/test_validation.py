"""The fast predicate in front of jsonschema never accepts a body jsonschema refuses."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from switchboard.emulators.quo.state import QuoError
from switchboard.emulators.quo.validation import _predicate, _validator, validate_body

OPERATIONS = ["createContact_v1", "updateContactById_v1"]

VALID: dict[str, Any] = {
    "defaultFields": {
        "firstName": "Ann",
        "lastName": None,
        "company": "Acme",
        "role": "CEO",
        "emails": [{"name": "work", "value": "ann@example.com"}],
        "phoneNumbers": [{"name": "mobile", "value": "+15551234567"}],
    },
    "source": "switchboard-attio",
    "sourceUrl": "https://app.attio.com/x",
    "externalId": "rec_1",
    "customFields": [{"key": "k1", "value": "x"}, {"key": "k2", "value": ["a", "b"]}],
}

ODD_VALUES: list[Any] = [None, True, 0, 1.5, "", "x" * 80, "US1", [], [1], {}, {"name": 1}]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(rng: random.Random, body: dict[str, Any]) -> dict[str, Any]:
    """The valid body with one value replaced, deleted or added at a random place."""
    out = copy.deepcopy(body)
    path = rng.choice(_paths(out)[1:])
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = rng.random()
    if action < 0.6:
        parent[last] = rng.choice(ODD_VALUES)
    elif action < 0.8 and isinstance(parent, dict):
        del parent[last]
    elif isinstance(parent, dict):
        parent[rng.choice(["createdByUserId", "extra", "source"])] = rng.choice(ODD_VALUES)
    return out


@pytest.mark.parametrize("operation", OPERATIONS)
def test_predicate_agrees_with_jsonschema(operation: str) -> None:
    accepts = _predicate(operation)
    assert accepts is not None, "the spec's contact schemas use only modelled keywords"
    rng = random.Random(17)
    validator = _validator(operation)
    seen = {True: 0, False: 0}
    for _ in range(800):
        body = _mutate(rng, VALID)
        valid = not list(validator.iter_errors(body))
        assert accepts(body) == valid, body
        seen[valid] += 1
    assert seen[True] > 30 and seen[False] > 30  # both sides were exercised


def test_invalid_body_still_reports_jsonschema_errors() -> None:
    body = copy.deepcopy(VALID)
    body["defaultFields"]["emails"] = [{"name": 3, "value": "x"}]
    with pytest.raises(QuoError) as caught:
        validate_body("createContact_v1", body)
    assert caught.value.status == 400
    validate_body("createContact_v1", VALID)  # and a valid body passes
