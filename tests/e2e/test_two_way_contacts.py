"""Two-way contacts end to end: edits and deletions made in Quo to synced contacts.

Quo emulator (profile 2026-03-30, contact events on the connection's dated webhook), a CRM
emulator and `switchboard serve` as processes. People are created in the CRM and synced to Quo
by Switchboard's own initial sync; then a Quo app user (the emulator's control surface) makes
100 edits to 30 contacts and deletes 10 others, under each policy in turn on one connection:

- `crm_wins`: afterwards every person's contact holds the CRM's values again, the 10 deleted
  contacts are back (new ids), the CRM is untouched;
- `quo_edits_to_crm`: afterwards every CRM person holds the last edit made in Quo, the 10
  deleted contacts stay deleted and their people stay in the CRM, unlinked.

No ping-pong, from the emulators' request logs: Switchboard writes Quo at most once per Quo
user action and the CRM at most once per edit, every one of its Quo writes comes back as an
`echo` event that does nothing, and once settled, nothing more is written for a while.
"""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from switchboard import connections
from switchboard.store.db import Database
from tests.activity.harness import DATED, QUO_KEY, ActivityStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

PEOPLE = 40
DELETED = 10
EDITS = 100
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _phone(n: int) -> str:
    return f"+1650255{n:04d}"


def crm_person(sb: ActivityStack, person_id: str) -> dict[str, Any]:
    """The person as the CRM holds it: names, phones (E.164), emails."""
    if sb.crm == "pipedrive":
        from switchboard.crm.pipedrive._records import to_person as pipedrive_person

        person = pipedrive_person(sb.attio_api("GET", f"/api/v2/persons/{person_id}")["data"], "US")
    else:
        from switchboard.crm.attio._records import to_person as attio_person

        person = attio_person(
            sb.attio_api("GET", f"/v2/objects/people/records/{person_id}")["data"]
        )
    return {
        "firstName": person.first_name,
        "lastName": person.last_name,
        "phones": list(person.phones),
        "emails": list(person.emails),
    }


def quo_contacts(sb: ActivityStack) -> dict[str, dict[str, Any]]:
    """Every contact in the Quo workspace, keyed by externalId, as names, phones, emails."""
    out: dict[str, dict[str, Any]] = {}
    for c in sb.quo_control("GET", f"/workspaces/{QUO_KEY}/contacts")["data"]:
        fields = c["defaultFields"]
        assert c["externalId"] not in out, "two contacts for one person"
        out[c["externalId"]] = {
            "id": c["id"],
            "firstName": fields["firstName"],
            "lastName": fields["lastName"],
            "phones": [p["value"] for p in fields["phoneNumbers"]],
            "emails": [e["value"] for e in fields["emails"]],
        }
    return out


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in ("firstName", "lastName", "phones", "emails")}


def edit_body(rng: random.Random, n: int, current: dict[str, Any]) -> dict[str, Any]:
    """One edit as a Quo app user makes it: a name, the phone number or the email."""
    kind = rng.choice(["first", "last", "phone", "email"])
    if kind == "first":
        current["firstName"] = f"First{n}"
        return {"defaultFields": {"firstName": current["firstName"]}}
    if kind == "last":
        current["lastName"] = f"Last{n}"
        return {"defaultFields": {"lastName": current["lastName"]}}
    if kind == "phone":
        current["phones"] = [_phone(5000 + n)]
        return {"defaultFields": {"phoneNumbers": [{"name": "phone", "value": _phone(5000 + n)}]}}
    current["emails"] = [f"edit{n}@example.com"]
    return {"defaultFields": {"emails": [{"name": "email", "value": current["emails"][0]}]}}


def writes(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e
        for e in entries
        if e["method"] in WRITE_METHODS
        and e["status"] is not None
        and 200 <= e["status"] < 300  # a PATCH of a deleted contact (404) changes nothing
        and not e["path"].startswith("/_emulator")
        and "webhook" not in e["path"]
    ]


def request_logs(sb: ActivityStack) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    quo = sb.quo_control("GET", "/requests")["data"]
    crm = sb.attio_request_log()
    return writes(quo), writes(crm)


def set_policy(sb: ActivityStack, policy: str) -> None:
    db = Database(sb.db_url)
    try:
        connections.update_settings(db, sb.connection_id, {"quo_contact_policy": policy})
    finally:
        db.dispose()


def run_quo_user(
    sb: ActivityStack, rng: random.Random, people: list[str], contacts: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """100 edits spread over people[DELETED:] and deletions of people[:DELETED], interleaved.
    Returns the values each edited contact ends with and the deleted people."""
    edited: dict[str, dict[str, Any]] = {}
    actions: list[tuple[str, str]] = [("edit", rng.choice(people[DELETED:])) for _ in range(EDITS)]
    actions += [("delete", p) for p in people[:DELETED]]
    rng.shuffle(actions)
    for n, (action, person) in enumerate(actions):
        contact = contacts[person]
        path = f"/workspaces/{QUO_KEY}/contacts/{contact['id']}"
        if action == "delete":
            sb.quo_control("DELETE", path)
            continue
        current = edited.setdefault(person, _fields(contact))
        sb.quo_control("PATCH", path, json=edit_body(rng, n, current))
    return edited, people[:DELETED]


def settle(sb: ActivityStack) -> None:
    sb.wait_settled(timeout=180, quiet_s=1.0)


def assert_quiet(sb: ActivityStack, seconds: float = 3.0) -> None:
    """Nothing more is written anywhere once settled: no echo keeps a loop going."""
    quo_before, crm_before = request_logs(sb)
    time.sleep(seconds)  # a loop would show as new writes in this window
    settle(sb)
    quo_after, crm_after = request_logs(sb)
    assert (len(quo_after), len(crm_after)) == (len(quo_before), len(crm_before))


def outcomes(sb: ActivityStack, since: set[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in sb.events():
        if e.id in since or not e.event_type.startswith("contact."):
            continue
        outcome = (e.detail or {}).get("outcome") or e.status
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@pytest.mark.parametrize("crm", ["attio", "pipedrive"])
def test_edits_and_deletions_in_quo_under_each_policy(tmp_path: Path, crm: str) -> None:
    rng = random.Random(16)
    with ExitStack() as stack:
        sb = ActivityStack.start(stack, tmp_path, generation=DATED, crm=crm, contact_events=True)
        people = [sb.create_person(f"Person{n} Original", _phone(n)) for n in range(PEOPLE)]
        original = {p: crm_person(sb, p) for p in people}
        sb.sync_people()
        settle(sb)
        synced = quo_contacts(sb)
        assert sorted(synced) == sorted(people)
        assert outcomes(sb, set()).get("failed", 0) == 0

        # ---- crm_wins (the default): Quo's edits are overwritten, deletions re-created
        seen = {e.id for e in sb.events()}
        quo_before, crm_before = request_logs(sb)
        run_quo_user(sb, rng, people, synced)
        settle(sb)
        after = quo_contacts(sb)
        assert sorted(after) == sorted(people)
        for p in people:
            assert _fields(after[p]) == original[p], p
            assert crm_person(sb, p) == original[p], p
        for p in people[:DELETED]:
            assert after[p]["id"] != synced[p]["id"]  # re-created
        quo_writes, crm_writes = request_logs(sb)
        quo_writes, crm_writes = quo_writes[len(quo_before) :], crm_writes[len(crm_before) :]
        counts = outcomes(sb, seen)
        assert crm_writes == []
        assert 0 < len(quo_writes) <= EDITS + DELETED
        assert counts.get("echo", 0) >= len(quo_writes)  # each write came back and did nothing
        assert counts.get("failed", 0) == 0
        assert counts.get("recreated") == DELETED
        print(f"crm_wins [{crm}]: quo writes {len(quo_writes)}, events {counts}")
        assert_quiet(sb)

        # ---- quo_edits_to_crm: Quo's edits go to the CRM, deletions unlink
        set_policy(sb, "quo_edits_to_crm")
        seen = {e.id for e in sb.events()}
        quo_before, crm_before = request_logs(sb)
        edited, deleted = run_quo_user(sb, rng, people, after)
        settle(sb)
        final = quo_contacts(sb)
        assert sorted(final) == sorted(set(people) - set(deleted))
        for p in people[DELETED:]:
            want = edited.get(p, original[p])
            assert _fields(final[p]) == want, p
            assert crm_person(sb, p) == want, p
        for p in deleted:
            assert crm_person(sb, p) == original[p]  # the CRM person stays
        quo_writes, crm_writes = request_logs(sb)
        quo_writes, crm_writes = quo_writes[len(quo_before) :], crm_writes[len(crm_before) :]
        counts = outcomes(sb, seen)
        assert quo_writes == []  # the CRM held every edit as made: nothing to write back
        assert 0 < len(crm_writes) <= EDITS
        assert counts.get("failed", 0) == 0
        assert counts.get("unlinked") == DELETED
        print(f"quo_edits_to_crm [{crm}]: crm writes {len(crm_writes)}, events {counts}")
        assert_quiet(sb)

        # ---- the mapping: the deleted people are unlinked, every other one still linked
        db = Database(sb.db_url)
        try:
            from switchboard.sync import mappings

            with db.session() as s:
                linked = mappings.load(s, sb.connection_id, people)
        finally:
            db.dispose()
        assert sorted(linked) == sorted(people[DELETED:])
