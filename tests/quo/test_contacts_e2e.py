"""Contact upsert and bulk verification over real HTTP against the Quo emulator subprocess."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from switchboard.quo.client import QuoClient
from tests.quo.conftest import Control, contact


async def test_409_recovery_updates_the_existing_contact(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    quo = make_quo(quo_key)
    first = await quo.upsert_contact(contact(1))
    assert (first.outcome, first.recovered_conflict) == ("created", False)
    # Same externalId, new data, no mapping (a duplicate CRM webhook / racing worker).
    again = await quo.upsert_contact(contact(1, first="Grace"))
    assert (again.outcome, again.quo_id, again.recovered_conflict) == (
        "updated",
        first.quo_id,
        True,
    )
    stored = await quo.get_contact(first.quo_id or "")
    assert stored.default_fields.first_name == "Grace"
    ops = [r["operation"] for r in control.requests(quo_key)]
    assert ops == [
        "createContact_v1", "createContact_v1", "listContacts_v1", "updateContactById_v1",
        "getContactById_v1",
    ]  # fmt: skip
    # Mapping known → PATCH straight away; mapping stale (deleted in Quo) → create again.
    known = await quo.upsert_contact(contact(1, first="Ada"), first.quo_id)
    assert (known.outcome, known.quo_id) == ("updated", first.quo_id)
    await quo.delete_contact(first.quo_id or "")
    recreated = await quo.upsert_contact(contact(1), first.quo_id)
    assert recreated.outcome == "created" and recreated.quo_id != first.quo_id
    # A permanent 4xx is an outcome with Quo's reason, not an exception.
    bad = await quo.upsert_contact(contact(2, source="csv"))
    assert bad.outcome == "failed" and "400" in (bad.reason or "")


async def test_bulk_upsert_verifies_by_reading_back_with_default_delay(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    quo = make_quo(quo_key)
    existing = await quo.create_contact(contact("old", first="Stale"))  # will 409 inside bulk
    mapped = await quo.create_contact(contact("mapped"))
    batch = [contact(i) for i in range(57)] + [
        contact("old", first="Fresh"),
        contact("mapped", first="Renamed"),
    ]
    t0 = time.monotonic()
    report = await quo.bulk_upsert_contacts(batch, known_ids={"crm-mapped": mapped.id})
    elapsed = time.monotonic() - t0
    by_id = report.by_external_id()
    assert report.bulk_used and report.bulk_batches == 2  # 58 new contacts, batches of 50
    assert report.single_fallbacks == 0
    assert all(by_id[f"crm-{i}"].outcome == "created" for i in range(57))
    assert all(by_id[f"crm-{i}"].via == "bulk" for i in range(57))
    assert by_id["crm-old"].outcome == "updated" and by_id["crm-old"].quo_id == existing.id
    assert by_id["crm-mapped"].outcome == "updated" and by_id["crm-mapped"].quo_id == mapped.id
    assert [r.external_id for r in report.results] == [c.external_id for c in batch]
    # Every id reported matches what Quo holds, and nothing was duplicated.
    held = {c["externalId"]: c for c in control.contacts(quo_key)}
    assert len(held) == 59
    for ext, res in by_id.items():
        if res.ok:
            assert held[ext]["id"] == res.quo_id
    assert held["crm-old"]["defaultFields"]["firstName"] == "Fresh"
    # Verification waited for Quo's ~2.5 s processing by polling, not a fixed sleep, and read
    # ≤ 20 externalIds per request.
    assert len(report.visibility_s) == 57 and min(report.visibility_s) >= 2.3
    assert elapsed < 30
    reads = control.requests(quo_key, "listContacts_v1")
    assert all(r["query"].count("externalIds=") <= 20 for r in reads)


async def test_bulk_contacts_that_never_appear_become_single_upserts(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    quo = make_quo(quo_key)
    # One contact the bulk job accepts but never creates (Quo rejects it while processing);
    # the single retry then reports Quo's reason.
    report = await quo.bulk_upsert_contacts(
        [contact(0), contact("rejected", source="csv")], verify_deadline=3.5
    )
    by_id = report.by_external_id()
    assert by_id["crm-0"].outcome == "created" and by_id["crm-0"].via == "bulk"
    rejected = by_id["crm-rejected"]
    assert rejected.outcome == "failed" and "reserved" in (rejected.reason or "")
    assert report.single_fallbacks == 1

    control.faults(bulk_delay_s=600)  # bulk jobs accepted but not processed within the test
    report = await quo.bulk_upsert_contacts([contact(i) for i in range(1, 6)], verify_deadline=1.0)
    assert report.bulk_used and report.single_fallbacks == 5
    assert [r.outcome for r in report.results] == ["created"] * 5
    assert all(r.via == "single" and r.quo_id for r in report.results)
    assert len(control.contacts(quo_key)) == 6  # the pending bulk job has created nothing yet


async def test_bulk_unavailable_falls_back_to_single_upserts(
    control: Control, make_quo: Callable[..., QuoClient]
) -> None:
    for mode, status in (("missing", 404), ("forbidden", 403)):
        key = control.workspace(bulk=mode)
        quo = make_quo(key)
        report = await quo.bulk_upsert_contacts([contact(i) for i in range(3)])
        assert [r.outcome for r in report.results] == ["created"] * 3
        assert not report.bulk_used and str(status) in (report.bulk_unavailable or "")
        assert quo.bulk_available is False
        # The client remembers: the next call does not try the bulk endpoint again.
        await quo.bulk_upsert_contacts([contact(i) for i in range(3, 6)])
        assert len(control.requests(key, "bulkCreateContacts")) == 1
        assert len(control.contacts(key)) == 6


async def test_pagination_to_the_end_and_more_than_20_external_ids(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    seeded = [contact(i).to_api() for i in range(123)]
    control.call("POST", f"/workspaces/{quo_key}/contacts", json={"contacts": seeded})
    quo = make_quo(quo_key)
    ids = [c.external_id async for c in quo.iter_contacts(max_results=50)]
    assert len(ids) == 123 and len(set(ids)) == 123
    assert len(control.requests(quo_key, "listContacts_v1")) == 3

    wanted = [f"crm-{i}" for i in range(45)] + ["crm-missing-1", "crm-missing-2"]
    found = await quo.find_contacts_by_external_ids(wanted)
    assert set(found) == {f"crm-{i}" for i in range(45)}
    reads = control.requests(quo_key, "listContacts_v1")[3:]
    assert len(reads) == 3
    for r in reads:
        assert "," not in r["query"] and r["query"].count("externalIds=") <= 20
    # The server side of the quirk: 21 ids in one request fail with 400.
    resp = await quo.api.http.get(
        "/v1/contacts", params={"externalIds": wanted[:21], "maxResults": 50}
    )
    assert resp.status_code == 400


async def test_bulk_read_back_follows_the_source_listing_50_per_read(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    quo = make_quo(quo_key)
    report = await quo.bulk_upsert_contacts([contact(i) for i in range(230)])
    assert [r.outcome for r in report.results] == ["created"] * 230
    assert all(r.via == "bulk" for r in report.results) and report.single_fallbacks == 0
    assert report.verify_reads == 0  # no externalIds look-up was needed
    reads = control.requests(quo_key, "listContacts_v1")
    assert all("sources=switchboard-test" in r["query"] for r in reads)
    # 230 contacts = 5 pages of the listing; a read may come a moment before Quo shows a batch.
    assert len(reads) <= 5 + 2, len(reads)
    held = {c["externalId"]: c["id"] for c in control.contacts(quo_key)}
    assert held == {r.external_id: r.quo_id for r in report.results}


async def test_late_visibility_shifts_pages_and_no_contact_is_missed(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    # Each contact shows up 0-4 s after the bulk delay, at its creation position: pages move
    # under the reader, and contacts land behind its cursor. Two calls at once, like sync pages.
    control.faults(bulk_visibility_jitter_s=4)
    quo = make_quo(quo_key)
    first, second = await asyncio.gather(
        quo.bulk_upsert_contacts([contact(i) for i in range(150)]),
        quo.bulk_upsert_contacts([contact(i) for i in range(150, 300)]),
    )
    results = first.results + second.results
    assert [r.outcome for r in results] == ["created"] * 300
    assert all(r.via == "bulk" for r in results)
    # Some were found only by the externalIds fall-back (they appeared behind the cursor).
    assert first.verify_reads + second.verify_reads > 0
    held = {c["externalId"]: c["id"] for c in control.contacts(quo_key)}
    assert held == {r.external_id: r.quo_id for r in results}  # exactly one each, ids right


async def test_source_read_back_past_an_earlier_runs_contacts(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    # 320 contacts of the same source from an earlier run come first in the listing: the
    # reader pages past them (or gives the new ones to the externalIds path), never misses one.
    seeded = [contact(f"old-{i}").to_api() for i in range(320)]
    control.call("POST", f"/workspaces/{quo_key}/contacts", json={"contacts": seeded})
    quo = make_quo(quo_key)
    report = await quo.bulk_upsert_contacts([contact(i) for i in range(30)])
    assert [r.outcome for r in report.results] == ["created"] * 30
    reads = control.requests(quo_key, "listContacts_v1")
    assert len(reads) <= 320 // 50 + 1 + 4, len(reads)  # history pages, the tail, a few by id
    held = {c["externalId"]: c["id"] for c in control.contacts(quo_key)}
    assert len(held) == 350
    assert all(held[r.external_id] == r.quo_id for r in report.results)


async def test_source_read_back_when_quo_lists_newest_first(
    control: Control, quo_key: str, make_quo: Callable[..., QuoClient]
) -> None:
    # Quo documents no order for GET /v1/contacts: listed newest first, the reader's cursor
    # runs away from where new contacts appear; the externalIds fall-back still finds each.
    control.faults(contacts_order="newest")
    quo = make_quo(quo_key)
    first, second = await asyncio.gather(
        quo.bulk_upsert_contacts([contact(i) for i in range(120)]),
        quo.bulk_upsert_contacts([contact(i) for i in range(120, 240)]),
    )
    results = first.results + second.results
    assert [r.outcome for r in results] == ["created"] * 240
    assert all(r.via == "bulk" for r in results)
    held = {c["externalId"]: c["id"] for c in control.contacts(quo_key)}
    assert held == {r.external_id: r.quo_id for r in results}
