"""The connector contract kit: the behaviour every CRM connector must show against its emulator.

A CRM's test module subclasses `ConnectorContractKit` and names the CRM; everything else comes
from the CRM's registry record — the connector factory, the emulator (`hosting`) with its
`KitControl` (seeding, direct mutations, ground truth, request log, which the kit uses to
arrange situations and check outcomes *without* going through the connector), the rate budgets
and the Quo contact source:

    class TestAttioContract(ConnectorContractKit):
        crm = "attio"

What the kit proves (one test each):
- a full scan of 5,000 people while 100 are created and 100 deleted between pages returns
  every surviving person exactly once, deleted ones at most once, created ones at most once;
- phone lookup finds people by any current number, also when several people share it, and
  never by a number the person no longer has;
- company names for a page of people come from one batch query per page, correctly, and the
  core's person → Quo contact mapping gets everything it needs;
- `get_person` of a deleted person is None;
- `update_person` writes names, phones and emails (lists replaced), None once the person is
  gone (skipped for a CRM whose connector cannot update people);
- `list_people_changed_since` lists people created or edited after the instant, nobody else;
- notes: write (back-dated), replace (in place, or new exists and old gone), delete (twice
  is fine);
- webhooks: subscribe → a change fires → the delivery verifies with the secret (through both
  the connector and the registry's static codec) and parses to the right change; tampering
  fails verification; unsubscribe removes it (twice is fine);
- driving reads and writes at full speed gets zero 429s from the emulator's rate limiter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
import pytest

from switchboard.crm import registry
from switchboard.crm.base import (
    ConnectorConfig,
    CrmConnector,
    CrmNote,
    PersonEdit,
    UpdateNotSupported,
    WebhookVerificationError,
)
from switchboard.emulators.common import ServerThread
from switchboard.emulators.hosting import Budget, EmulatedCrm, EmulatedNote, KitControl
from switchboard.http import RequestInfo
from switchboard.sync.contacts import people_to_contacts

KitNote = EmulatedNote
EmulatorControl = KitControl
KIT_TOKEN = "contract-kit-token-0123456789"

__all__ = ["Budget", "ConnectorContractKit", "EmulatorControl", "KitEnv", "KitNote"]


@dataclass
class KitEnv:
    connector: CrmConnector
    control: KitControl
    source: str
    rate_limits: dict[str, float] = field(default_factory=dict)
    crm: str = ""
    webhook_url_host: str = "127.0.0.1"
    extras: dict[str, Any] = field(default_factory=dict)


def kit_env_for(crm: str, hosted: EmulatedCrm, base_url: str, **config: Any) -> KitEnv:
    """A `KitEnv` for a registered CRM whose emulator is served at `base_url`."""
    provider = registry.get(crm)
    connector = provider.connect(ConnectorConfig(token=hosted.token, base_url=base_url, **config))
    return KitEnv(
        connector,
        hosted.kit_control(),
        source=provider.quo_source,
        rate_limits={b.name: b.per_second for b in provider.budgets if b.per_second},
        crm=crm,
    )


@dataclass(frozen=True)
class ReceivedWebhook:
    body: bytes
    headers: dict[str, str]


class _RecordingApp:
    """ASGI app that records each request's raw body and headers and answers 200."""

    def __init__(self, received: list[ReceivedWebhook]) -> None:
        self.received = received

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.received.append(ReceivedWebhook(body, headers))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class WebhookReceiver:
    """A tiny HTTP receiver in a thread (context manager) that records every delivery."""

    def __init__(self) -> None:
        self.received: list[ReceivedWebhook] = []
        self._server = ServerThread(_RecordingApp(self.received))

    @property
    def url(self) -> str:
        return f"{self._server.url}/hooks/crm"

    def __enter__(self) -> WebhookReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[ReceivedWebhook]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return list(self.received)


_handed_out: set[str] = set()


def fresh_phones(rng: random.Random, n: int) -> list[str]:
    """Valid US numbers, random over ~10^7 per area code, never the same twice per process."""
    numbers: list[str] = []
    while len(numbers) < n:
        candidate = f"+1{rng.choice((212, 415, 617, 312))}{rng.randrange(2_000_000, 10_000_000)}"
        parsed = phonenumbers.parse(candidate)
        if candidate in _handed_out or not phonenumbers.is_valid_number(parsed):
            continue
        _handed_out.add(candidate)
        numbers.append(candidate)
    return numbers


class ConnectorContractKit:
    """Subclass and set `crm` to a registered CRM's name (see the module docstring)."""

    crm = ""
    scan_size = 5_000
    concurrent_changes = 100
    page_size = 500
    #: Notes keep the activity's time (False: the CRM stamps a note when it is written, as
    #: Zoho does; its calls are back-dated through their own start time instead).
    notes_backdated = True

    @staticmethod
    def without_proof(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """The delivery without what proves its origin (default: the signature or credential
        headers; a CRM that echoes a token in the body overrides this)."""
        stripped = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        return body, {k: v for k, v in stripped.items() if "signature" not in k.lower()}

    @pytest.fixture(scope="class")
    def kit_emulator(self) -> Iterator[tuple[EmulatedCrm, ServerThread]]:
        """The CRM's emulator on a real port, shared by the class (reset per test)."""
        emulator = registry.get(self.crm).emulator
        assert emulator is not None, f"{self.crm} has no emulator in its registry record"
        hosted: EmulatedCrm = emulator.load_hosting()(token=KIT_TOKEN, seed=11, fast=True)
        server = ServerThread(hosted.app).start()
        try:
            yield hosted, server
        finally:
            hosted.close()
            server.stop()

    @pytest.fixture
    async def kit(self, kit_emulator: tuple[EmulatedCrm, ServerThread]) -> AsyncIterator[KitEnv]:
        hosted, server = kit_emulator
        hosted.reset()
        calls: list[RequestInfo] = []
        env = kit_env_for(self.crm, hosted, server.url, hook=calls.append)
        env.extras["calls"] = calls
        try:
            yield env
        finally:
            await env.connector.aclose()
        # The connector itself never saw a 429 either (nothing needed a retry).
        assert not [c for c in calls if c.status == 429]

    # ------------------------------------------------------------------ scan

    async def test_full_scan_is_stable_under_concurrent_creates_and_deletes(
        self, kit: KitEnv
    ) -> None:
        rng = random.Random(4)
        seeded = set(await kit.control.seed_people(self.scan_size))
        before = await kit.control.person_ids()
        assert seeded <= before
        doomed = rng.sample(sorted(before), self.concurrent_changes)
        batches = max(1, min(10, len(before) // self.page_size - 1))
        per_batch = -(-self.concurrent_changes // batches)
        newcomer_phones = fresh_phones(rng, self.concurrent_changes)
        created: list[str] = []
        seen: list[str] = []
        pages_done = 0
        progress = asyncio.Condition()
        scan_over = False
        mutations_during_scan = 0

        async def mutate() -> None:
            # Another writer, running while the scan's next page is in flight: it deletes
            # people on both sides of the cursor and adds new ones — exactly what makes offset
            # pagination skip and repeat people.
            nonlocal mutations_during_scan
            for batch in range(batches):
                async with progress:
                    await progress.wait_for(lambda b=batch: pages_done > b or scan_over)
                for person_id in doomed[batch * per_batch : (batch + 1) * per_batch]:
                    await kit.control.delete_person(person_id)
                    mutations_during_scan += not scan_over
                    await asyncio.sleep(0)
                for phone in newcomer_phones[batch * per_batch : (batch + 1) * per_batch]:
                    created.append(await kit.control.add_person([phone], "Scan Newcomer"))
                    mutations_during_scan += not scan_over
                    await asyncio.sleep(0)

        async def scan() -> None:
            nonlocal pages_done, scan_over
            cursor: str | None = None
            while True:
                page = await kit.connector.list_people_page(cursor, limit=self.page_size)
                seen.extend(p.id for p in page.people)
                async with progress:
                    pages_done += 1
                    progress.notify_all()
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
                assert pages_done < 1000, "scan does not terminate"
            async with progress:
                scan_over = True
                progress.notify_all()

        await asyncio.gather(scan(), mutate())
        assert len(set(doomed)) == len(created) == self.concurrent_changes
        assert mutations_during_scan >= self.concurrent_changes, "the scan outran the writer"
        counts = Counter(seen)
        repeated = {i: n for i, n in counts.items() if n > 1}
        assert not repeated, f"{len(repeated)} people returned more than once"
        survivors = before - set(doomed)
        missing = survivors - counts.keys()
        assert not missing, f"{len(missing)} surviving people were skipped"
        unknown = counts.keys() - before - set(created)
        assert not unknown, f"scan returned people that never existed: {sorted(unknown)[:5]}"

    # ------------------------------------------------------------------ phones

    async def test_phone_lookup_uses_current_numbers_only(self, kit: KitEnv) -> None:
        rng = random.Random(time.time_ns())
        first, second, later, shared = fresh_phones(rng, 4)
        ada = await kit.control.add_person([first, second, shared], "Ada Phoneholder")
        bob = await kit.control.add_person([shared], "Bob Sharer")
        for number in (first, second):
            assert [p.id for p in await kit.connector.find_people_by_phone(number)] == [ada]
        assert {p.id for p in await kit.connector.find_people_by_phone(shared)} == {ada, bob}
        found = (await kit.connector.find_people_by_phone(first))[0]
        assert {first, second, shared} <= set(found.phones)

        await kit.control.set_phones(ada, [later])
        assert await kit.connector.find_people_by_phone(first) == []
        assert await kit.connector.find_people_by_phone(second) == []
        assert [p.id for p in await kit.connector.find_people_by_phone(shared)] == [bob]
        (moved,) = await kit.connector.find_people_by_phone(later)
        assert moved.id == ada and moved.phones == (later,)

    # ------------------------------------------------------------------ contacts

    async def test_company_names_come_from_one_batch_query_per_page(self, kit: KitEnv) -> None:
        await kit.control.seed_people(300)
        await kit.control.clear_request_log()
        cursor: str | None = None
        pages = lookups = with_company = 0
        while True:
            page = await kit.connector.list_people_page(cursor, limit=100)
            contacts = await people_to_contacts(kit.connector, page.people, kit.source)
            pages += 1
            # One batch query per page that references any company; none for a page without.
            lookups += any(p.company_id for p in page.people)
            assert await kit.control.company_lookups() == lookups, (pages, len(page.people))
            assert [c.external_id for c in contacts] == [p.id for p in page.people]
            for person, contact in zip(page.people, contacts, strict=True):
                expected = await kit.control.company_name_of(person.id)
                assert contact.default_fields.company == expected, person.id
                with_company += expected is not None
                assert contact.source == kit.source
                assert contact.default_fields.first_name
                assert contact.phones() == list(person.phones)
                if person.web_url and len(person.web_url) <= 200:
                    assert contact.source_url == person.web_url
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert pages >= 3 and with_company > 0

    # ------------------------------------------------------------------ get

    async def test_get_of_a_deleted_person_is_none(self, kit: KitEnv) -> None:
        phone = fresh_phones(random.Random(time.time_ns()), 1)
        person_id = await kit.control.add_person(phone, "Soon Gone")
        person = await kit.connector.get_person(person_id)
        assert person is not None and person.phones == tuple(phone)
        await kit.control.delete_person(person_id)
        assert await kit.connector.get_person(person_id) is None

    async def test_update_person_writes_names_phones_and_emails(self, kit: KitEnv) -> None:
        first, second, third = fresh_phones(random.Random(time.time_ns()), 3)
        person_id = await kit.control.add_person([first], "Before Edit")
        edit = PersonEdit("Edited", "In Quo", (second, third), ("edited@example.com",))
        try:
            updated = await kit.connector.update_person(person_id, edit)
        except UpdateNotSupported:
            pytest.skip(f"{kit.crm} cannot update people (two-way contacts stay one-way)")
        assert updated is not None
        again = await kit.connector.get_person(person_id)
        for person in (updated, again):
            assert person is not None
            assert (person.first_name, person.last_name) == ("Edited", "In Quo")
            assert person.phones == (second, third)
            assert person.emails == ("edited@example.com",)
        await kit.control.delete_person(person_id)
        assert await kit.connector.update_person(person_id, edit) is None

    # ------------------------------------------------------------------ reconciliation

    async def test_changed_since_lists_recent_creates_and_edits(self, kit: KitEnv) -> None:
        old = await kit.control.seed_people(40)
        since = datetime.now(UTC)
        first, second = fresh_phones(random.Random(time.time_ns()), 2)
        newcomer = await kit.control.add_person([first], "Late Arrival")
        await kit.control.set_phones(old[0], [second])
        await kit.control.delete_person(old[1])
        changed = await kit.connector.list_people_changed_since(since)
        ids = [p.id for p in changed]
        assert len(ids) == len(set(ids))
        assert {newcomer, old[0]} <= set(ids) and old[1] not in ids
        # A CRM that keeps update times to the second may add people changed in the second
        # before `since`; nobody older.
        for extra in (p for p in changed if p.id not in (newcomer, old[0])):
            assert extra.updated_at is not None
            assert extra.updated_at >= since.replace(microsecond=0), extra.id
        edited = next(p for p in changed if p.id == old[0])
        assert edited.phones == (second,)

    # ------------------------------------------------------------------ notes

    async def test_notes_write_replace_delete(self, kit: KitEnv) -> None:
        phone = fresh_phones(random.Random(time.time_ns()), 1)
        person_id = await kit.control.add_person(phone, "Noted Person")
        when = datetime(2024, 5, 1, 9, 30, 15, tzinfo=UTC)
        first = await kit.connector.write_note(
            CrmNote(person_id=person_id, title="Call", content="**Ringing**", created_at=when)
        )
        stored = await kit.control.note(first.id)
        assert stored is not None
        assert (stored.person_id, stored.title) == (person_id, "Call")
        assert "Ringing" in stored.content
        if self.notes_backdated:
            assert abs(stored.created_at - when) < timedelta(seconds=1)

        second = await kit.connector.replace_note(
            first.id,
            CrmNote(person_id=person_id, title="Call", content="**Answered**", created_at=when),
        )
        # Replaced in place (same id: the CRM updates it) or anew (the old one is gone).
        if second.id != first.id:
            assert await kit.control.note(first.id) is None
        replaced = await kit.control.note(second.id)
        assert replaced is not None and "Answered" in replaced.content

        await kit.connector.delete_note(second.id)
        assert await kit.control.note(second.id) is None
        await kit.connector.delete_note(second.id)  # already gone: not an error

    async def test_list_notes_returns_what_was_written(self, kit: KitEnv) -> None:
        """Crash recovery finds a written-but-unrecorded note through `list_notes`; a CRM that
        cannot list answers None (then this test has nothing to check)."""
        phone = fresh_phones(random.Random(time.time_ns()), 1)
        person_id = await kit.control.add_person(phone, "Listed Person")
        assert await kit.connector.list_notes(person_id) in ([], None)
        when = datetime(2024, 5, 2, 8, 0, 1, tzinfo=UTC)
        written = [
            await kit.connector.write_note(
                CrmNote(
                    person_id=person_id,
                    title=f"Call {n}",
                    content=f"**Call {n}** answered",
                    created_at=when + timedelta(minutes=n),
                )
            )
            for n in range(3)
        ]
        listed = await kit.connector.list_notes(person_id)
        if listed is None:
            return
        by_id = {n.id: n for n in listed}
        assert set(by_id) == {ref.id for ref in written}
        for n, ref in enumerate(written):
            note = by_id[ref.id]
            assert note.title == f"Call {n}"
            assert note.content is not None and f"Call {n}" in note.content
            if self.notes_backdated:
                assert note.created_at is not None
                assert abs(note.created_at - (when + timedelta(minutes=n))) < timedelta(seconds=1)
        await kit.connector.delete_note(written[0].id)
        remaining = await kit.connector.list_notes(person_id)
        assert remaining is not None
        assert {n.id for n in remaining} == {ref.id for ref in written[1:]}

    # ------------------------------------------------------------------ webhooks

    async def test_webhook_subscribe_fire_verify_parse(self, kit: KitEnv) -> None:
        with WebhookReceiver() as receiver:
            info = await kit.connector.subscribe(receiver.url)
            assert info.secret
            listed = await kit.connector.list_subscriptions()
            assert info.remote_id in {s.remote_id for s in listed}

            phone = fresh_phones(random.Random(time.time_ns()), 1)[0]
            person = await kit.connector.create_person(phone, "Hook Trigger")
            (delivery,) = await receiver.wait_for(1)
            kit.connector.verify_webhook(delivery.body, delivery.headers, info.secret)
            codec = registry.get(kit.crm).webhooks if kit.crm else None
            if codec is not None:
                codec.verify(delivery.body, delivery.headers, info.secret)
                assert codec.parse(delivery.body, delivery.headers) == kit.connector.parse_webhook(
                    delivery.body, delivery.headers
                )
                with pytest.raises(WebhookVerificationError):
                    codec.verify(delivery.body, delivery.headers, "wrong-secret")
            if codec is None or codec.signs_body:
                with pytest.raises(WebhookVerificationError):
                    kit.connector.verify_webhook(
                        delivery.body + b" ", delivery.headers, info.secret
                    )
            bare_body, bare_headers = self.without_proof(delivery.body, delivery.headers)
            with pytest.raises(WebhookVerificationError):
                kit.connector.verify_webhook(bare_body, bare_headers, info.secret)
            with pytest.raises(WebhookVerificationError):
                kit.connector.verify_webhook(delivery.body, delivery.headers, "wrong-secret")
            changes = kit.connector.parse_webhook(delivery.body, delivery.headers)
            assert [(c.kind, c.record_id) for c in changes] == [("created", person.id)]
            assert changes[0].idempotency_key

            await kit.control.delete_person(person.id)
            deliveries = await receiver.wait_for(2)
            assert len(deliveries) == 2
            kit.connector.verify_webhook(deliveries[1].body, deliveries[1].headers, info.secret)
            deleted = kit.connector.parse_webhook(deliveries[1].body, deliveries[1].headers)
            assert [(c.kind, c.record_id) for c in deleted] == [("deleted", person.id)]
            assert deleted[0].idempotency_key != changes[0].idempotency_key

            await kit.connector.unsubscribe(info.remote_id)
            remaining = await kit.connector.list_subscriptions()
            assert info.remote_id not in {s.remote_id for s in remaining}
            await kit.connector.unsubscribe(info.remote_id)  # already gone: not an error

    # ------------------------------------------------------------------ rate limits

    async def test_full_speed_reads_and_writes_get_no_429(self, kit: KitEnv) -> None:
        phone = fresh_phones(random.Random(time.time_ns()), 1)
        person_id = await kit.control.add_person(phone, "Busy Person")
        limits = kit.rate_limits or {k: float(v) for k, v in kit.control.rate_limits.items()}
        # A CRM with one shared budget (e.g. requests per 2-second window) spends it on both.
        shared = sum(limits.values())
        reads = int(limits.get("read", shared) * 1.5)
        writes = int(limits.get("write", shared) * 2.2)
        await kit.control.clear_request_log()
        note = CrmNote(person_id=person_id, title="Burst", content="x")
        results = await asyncio.gather(
            *(kit.connector.get_person(person_id) for _ in range(reads)),
            *(kit.connector.write_note(note) for _ in range(writes)),
        )
        assert len(results) == reads + writes
        assert await kit.control.rate_limited_responses() == 0
        for budget in ("read", "write"):
            if budget in limits:
                assert await kit.control.max_requests_per_second(budget) <= limits[budget]
