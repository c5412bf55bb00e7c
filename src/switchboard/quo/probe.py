"""Scenarios that check Quo still behaves the way Switchboard is built for.

Each scenario states the documented expectations, performs the calls with a QuoClient (retrying
only 429s and network errors, so server errors show as they are), records what it observed —
status, body, timing — and cleans up the contacts it created. `run_scenarios` returns a
`ProbeReport`; the CLI (`switchboard probe quo`) prints it and exits non-zero on any FAIL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from switchboard.http import ApiError, RetryPolicy
from switchboard.logs import mask_text
from switchboard.quo.client import QuoClient
from switchboard.quo.contacts import upsert_contact
from switchboard.quo.models import ContactInput
from switchboard.quo.probe_dated import dated_generation

# Probes must see server errors as they are: retry only rate limits and network failures.
PROBE_RETRY = RetryPolicy(max_attempts=4, statuses=frozenset({429}))

DUPLICATE_EXTERNAL_ID_BODY = {
    "message": "Failed to create contact",
    "code": "0800409",
    "status": 409,
    "docs": "https://openphone.com/docs",
    "title": "Conflict",
}
PROBE_SOURCE = "switchboard-probe"


@dataclass
class Check:
    expectation: str
    observed: str
    passed: bool


@dataclass
class ScenarioResult:
    name: str
    description: str
    checks: list[Check] = field(default_factory=list)
    observations: dict[str, Any] = field(default_factory=dict)
    cleanup: dict[str, int] = field(default_factory=lambda: {"created": 0, "deleted": 0})
    error: str | None = None
    duration_s: float = 0.0
    # Why the scenario did not apply (e.g. the workspace lacks an API generation): not a FAIL.
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)

    def check(self, expectation: str, observed: str, passed: bool) -> bool:
        self.checks.append(Check(expectation, observed, passed))
        return passed


@dataclass
class ProbeReport:
    env: str
    base_url: str
    scenarios: list[ScenarioResult]

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scenarios)

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "baseUrl": self.base_url,
            "passed": self.passed,
            "generations": self.generations,
            "scenarios": [{**asdict(s), "passed": s.passed} for s in self.scenarios],
        }

    @property
    def generations(self) -> dict[str, bool]:
        """Which API generations the workspace answered (from the scenarios that looked)."""
        out: dict[str, bool] = {}
        for s in self.scenarios:
            out.update(s.observations.get("generations") or {})
        return out


class _Probe:
    """Shared state of one probe run: the client, a unique id prefix, created contacts."""

    def __init__(
        self,
        quo: QuoClient,
        bulk_deadline: float,
        *,
        receiver_url: str | None = None,
        delivery_timeout: float = 30.0,
    ) -> None:
        self.quo = quo
        self.bulk_deadline = bulk_deadline
        self.receiver_url = receiver_url  # public URL of the local test-delivery receiver
        self.delivery_timeout = delivery_timeout
        self.run_id = uuid.uuid4().hex[:10]
        self.counter = 0

    def contact(self, phone: str | None = None, external_id: str | None = None) -> ContactInput:
        self.counter += 1
        n = self.counter
        phone = phone or f"+1555{uuid.uuid4().int % 10**7:07d}"
        return ContactInput.model_validate(
            {
                "defaultFields": {
                    "firstName": "Probe",
                    "lastName": f"{self.run_id}-{n}",
                    "phoneNumbers": [{"name": "mobile", "value": phone}],
                },
                "externalId": external_id or f"sb-probe-{self.run_id}-{n}",
                "source": PROBE_SOURCE,
            }
        )

    async def raw(self, method: str, path: str, op: str, **kw: Any) -> tuple[int, Any, float]:
        """(status, body, seconds) of one call, errors included."""
        t0 = time.monotonic()
        try:
            resp = await self.quo.api.request(method, path, operation=op, retry=PROBE_RETRY, **kw)
        except ApiError as exc:
            return exc.status or 0, exc.body, time.monotonic() - t0
        elapsed = time.monotonic() - t0
        body: Any = None
        if resp.content:
            try:
                body = resp.json()
            except ValueError:
                body = resp.text[:500]
        return resp.status_code, body, elapsed

    async def delete(self, result: ScenarioResult, ids: list[str]) -> None:
        for contact_id in ids:
            try:
                if await self.quo.delete_contact(contact_id):
                    result.cleanup["deleted"] += 1
            except ApiError as exc:
                result.observations.setdefault("cleanupErrors", []).append(str(exc))


def _brief(body: Any, limit: int = 300) -> str:
    import json

    text = body if isinstance(body, str) else json.dumps(body, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "…"


async def list_contacts(p: _Probe, r: ScenarioResult) -> None:
    status, body, t = await p.raw("GET", "/v1/contacts", "contacts.list", params={"maxResults": 10})
    r.observations.update(status=status, seconds=round(t, 3))
    if not r.check("GET /v1/contacts?maxResults=10 answers 200", f"{status}", status == 200):
        r.observations["body"] = body
        return
    data = body.get("data") if isinstance(body, dict) else None
    shape_ok = isinstance(data, list) and "nextPageToken" in body and "totalItems" in body
    r.check(
        "body is {data: [...], nextPageToken, totalItems}",
        f"keys {sorted(body)}" if isinstance(body, dict) else _brief(body),
        shape_ok,
    )
    if not isinstance(data, list):
        return
    r.check(
        "a page holds at most maxResults (10) contacts", f"{len(data)} contacts", len(data) <= 10
    )
    token = body.get("nextPageToken")
    r.observations.update(
        pageSize=len(data), totalItems=body.get("totalItems"), hasNext=bool(token)
    )
    if token:
        status2, body2, _ = await p.raw(
            "GET", "/v1/contacts", "contacts.list", params={"maxResults": 10, "pageToken": token}
        )
        ok = status2 == 200 and isinstance(body2, dict) and isinstance(body2.get("data"), list)
        r.check("nextPageToken fetches the next page (200)", f"{status2}", ok)


async def single_create(p: _Probe, r: ScenarioResult) -> None:
    contact = p.contact()
    status, body, t = await p.raw("POST", "/v1/contacts", "contacts.create", json=contact.to_api())
    r.observations.update(createStatus=status, createSeconds=round(t, 3))
    created = body.get("data") if isinstance(body, dict) and status == 201 else None
    r.check("POST /v1/contacts answers 201 Created", f"{status}", status == 201)
    if not isinstance(created, dict) or "id" not in created:
        r.observations["body"] = body
        r.check("the body is {data: Contact} with an id", _brief(body), False)
        return
    r.cleanup["created"] += 1
    cid = str(created["id"])
    try:
        r.check(
            "the created contact carries our externalId",
            str(created.get("externalId")),
            created.get("externalId") == contact.external_id,
        )
        status, _, t = await p.raw("GET", f"/v1/contacts/{cid}", "contacts.get")
        r.check(
            "it is readable at once (synchronous): GET → 200",
            f"{status} after {t:.2f}s",
            status == 200,
        )
        found = await p.quo.find_contacts_by_external_ids([contact.external_id])
        r.check(
            "it is found by externalId at once",
            "found" if contact.external_id in found else "not found",
            contact.external_id in found,
        )
        patch = {"defaultFields": {"company": "Probe Inc"}}
        status, body, _ = await p.raw("PATCH", f"/v1/contacts/{cid}", "contacts.update", json=patch)
        company = (
            (body or {}).get("data", {}).get("defaultFields", {}).get("company")
            if isinstance(body, dict)
            else None
        )
        r.check(
            "PATCH /v1/contacts/{id} answers 200 with the change",
            f"{status}, company={company!r}",
            status == 200 and company == "Probe Inc",
        )
    finally:
        status, _, _ = await p.raw("DELETE", f"/v1/contacts/{cid}", "contacts.delete")
        if status == 204:
            r.cleanup["deleted"] += 1
        r.check("DELETE /v1/contacts/{id} answers 204", f"{status}", status == 204)


async def bulk_create(p: _Probe, r: ScenarioResult) -> None:
    contacts = [p.contact() for _ in range(3)]
    ids = [c.external_id for c in contacts]
    status, body, t = await p.raw(
        "POST", "/v1/contacts/bulk", "contacts.bulk_create",
        json={"contacts": [c.to_api() for c in contacts]},
    )  # fmt: skip
    posted = time.monotonic()
    r.observations.update(status=status, seconds=round(t, 3), body=body)
    ok = r.check(
        "POST /v1/contacts/bulk answers 202 Accepted with an empty body",
        f"{status}, body {_brief(body) if body else 'empty'}",
        status == 202 and not body,
    )
    if status in (403, 404):
        r.observations["note"] = (
            "this key has no bulk endpoint (partner-only); Switchboard falls back to single creates"
        )
    if not ok and status != 202:
        return
    seen: dict[str, float] = {}
    reads = 0
    first_empty = None
    found_ids: dict[str, str] = {}
    delay = 0.25
    try:
        while len(seen) < len(ids) and time.monotonic() - posted < p.bulk_deadline:
            found = await p.quo.find_contacts_by_external_ids(ids)
            reads += 1
            now = time.monotonic() - posted
            if first_empty is None and not found:
                first_empty = round(now, 3)
            for ext, c in found.items():
                if ext not in seen:
                    seen[ext] = now
                    found_ids[ext] = c.id
            if len(seen) < len(ids):
                await p.quo.clock.sleep(delay)
                delay = min(delay * 1.5, 0.5)
        r.cleanup["created"] += len(found_ids)
        latencies = sorted(seen.values())
        r.observations.update(
            visibleAfterS=[round(x, 3) for x in latencies],
            notVisibleImmediately=first_empty is not None,
            reads=reads,
        )
        r.check(
            "contacts are not visible at once (asynchronous processing)",
            "first read found none" if first_empty is not None else "visible on the first read",
            first_empty is not None,
        )
        r.check(
            f"all {len(ids)} contacts appear when read back by externalId "
            f"(documented: after ~2–3 s; deadline {p.bulk_deadline:.0f} s)",
            f"{len(seen)}/{len(ids)} visible"
            + (f", after {latencies[0]:.2f}–{latencies[-1]:.2f} s" if latencies else ""),
            len(seen) == len(ids),
        )
    finally:
        await p.delete(r, list(found_ids.values()))


async def duplicate_phone(p: _Probe, r: ScenarioResult) -> None:
    phone = f"+1555{uuid.uuid4().int % 10**7:07d}"
    made: list[str] = []
    try:
        statuses = []
        for _ in range(2):
            status, body, _ = await p.raw(
                "POST", "/v1/contacts", "contacts.create", json=p.contact(phone=phone).to_api()
            )
            statuses.append(status)
            if status == 201 and isinstance(body, dict):
                made.append(str(body["data"]["id"]))
                r.cleanup["created"] += 1
            else:
                r.observations.setdefault("bodies", []).append(body)
        r.observations.update(statuses=statuses, phone=phone)
        r.check(
            "two contacts with the same phone both get 201", str(statuses), statuses == [201, 201]
        )
        r.check(
            "each gets its own id (phones are not a key)",
            f"{len(set(made))} distinct ids",
            len(set(made)) == 2,
        )
    finally:
        await p.delete(r, made)


async def duplicate_external_id(p: _Probe, r: ScenarioResult) -> None:
    first = p.contact()
    made: list[str] = []
    try:
        status, body, _ = await p.raw(
            "POST", "/v1/contacts", "contacts.create", json=first.to_api()
        )
        r.check("the first create answers 201", str(status), status == 201)
        if status != 201:
            r.observations["firstBody"] = body
            return
        made.append(str(body["data"]["id"]))
        r.cleanup["created"] += 1
        second = p.contact(external_id=first.external_id)
        status, body, _ = await p.raw(
            "POST", "/v1/contacts", "contacts.create", json=second.to_api()
        )
        r.observations.update(status=status, body=body)
        r.check("a second create with the same externalId answers 409", str(status), status == 409)
        r.check(
            "the 409 body is exactly the documented one (code 0800409)",
            _brief(body),
            body == DUPLICATE_EXTERNAL_ID_BODY,
        )
        found = await p.quo.list_contacts(external_ids=[first.external_id])
        r.check(
            "exactly one contact holds the externalId",
            f"{len(found.data)} found",
            len(found.data) == 1 and found.data[0].id == made[0],
        )
        result = await upsert_contact(p.quo, second)
        r.observations["upsert"] = {
            "outcome": result.outcome,
            "recovered": result.recovered_conflict,
        }
        r.check(
            "upsert recovers: find by externalId, then update the same contact",
            f"{result.outcome} {(result.quo_id == made[0] and 'same id') or 'other id'}",
            result.outcome == "updated" and result.quo_id == made[0],
        )
    finally:
        await p.delete(r, made)


async def webhooks(p: _Probe, r: ScenarioResult) -> None:
    for version in ("v1", "v2"):
        status, body, t = await p.raw("GET", f"/{version}/webhooks", f"webhooks.list.{version}")
        r.observations[version] = {"status": status, "seconds": round(t, 3)}
        if status != 200:
            r.observations[version]["body"] = body
        code = body.get("code") if isinstance(body, dict) else None
        shape = isinstance(body, dict) and isinstance(body.get("data"), list)
        observed = (
            f"{status}"
            + (f" code {code}" if code else "")
            + ("" if shape or status != 200 else ", bad shape")
        )
        note = (
            " (Switchboard's default)"
            if version == "v1"
            else " (needed for SWITCHBOARD_QUO_WEBHOOKS_VERSION=v2)"
        )
        r.check(
            f"GET /{version}/webhooks answers 200 with {{data: [...]}}{note}",
            observed,
            status == 200 and shape,
        )


Scenario = Callable[[_Probe, ScenarioResult], Awaitable[None]]
SCENARIOS: dict[str, tuple[Scenario, str]] = {
    "list-contacts": (list_contacts, "Contacts list pages with data/nextPageToken/totalItems."),
    "single-create": (
        single_create,
        "Single create is synchronous (201), then read, update, delete.",
    ),
    "bulk-create": (bulk_create, "Bulk create answers 202 and contacts appear seconds later."),
    "duplicate-phone": (duplicate_phone, "Duplicate phone numbers are allowed."),
    "duplicate-external-id": (duplicate_external_id, "A duplicate externalId answers 409 0800409."),
    "webhooks": (webhooks, "Webhook listing on v1 and v2."),
    "generation-2026": (
        dated_generation,
        "The 2026-03-30 generation: version header, cursors, webhook lifecycle, test delivery.",
    ),
}


async def run_scenarios(
    quo: QuoClient,
    names: list[str],
    *,
    env: str,
    bulk_deadline: float = 30.0,
    receiver_url: str | None = None,
    delivery_timeout: float = 30.0,
) -> ProbeReport:
    """Run the named scenarios ("all" = every one) in order; never raises for a scenario.

    `receiver_url`: a public URL forwarding to the local test-delivery receiver (needed for a
    live workspace, which cannot reach this machine's loopback address)."""
    if "all" in names:
        names = list(SCENARIOS)
    probe = _Probe(quo, bulk_deadline, receiver_url=receiver_url, delivery_timeout=delivery_timeout)
    results = []
    for name in names:
        fn, description = SCENARIOS[name]
        result = ScenarioResult(name, description)
        t0 = time.monotonic()
        try:
            await fn(probe, result)
        except Exception as exc:
            result.error = mask_text(f"{type(exc).__name__}: {exc}")
        result.duration_s = round(time.monotonic() - t0, 3)
        results.append(result)
    return ProbeReport(env, quo.base_url, results)
