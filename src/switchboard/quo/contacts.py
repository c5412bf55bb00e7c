"""Contact upsert into Quo: one at a time, and in bulk with verification.

`upsert_contact` — the incremental path (a CRM webhook for one person):
    mapping known → PATCH (a 404 means it was deleted in Quo → create again);
    otherwise POST; on 409 (externalId taken: a duplicate delivery, a racing worker, an earlier
    run) look it up by externalId and PATCH it (skipped when it already holds our data).

`bulk_upsert_contacts` — the initial-sync path:
    1. known Quo ids are updated one by one (Quo has no bulk update);
    2. new contacts go to `POST /v1/contacts/bulk` in batches (202, empty body, processed
       asynchronously — about 2–3 s on Quo), all of a call's batches at once (the rate
       limiter, first come first served, sends them one after the other);
    3. verification reads them back by externalId (≤ 20 per read) with short backoff polling
       until each is seen or `verify_deadline` passes — never a fixed sleep; a contact seen with
       other data than we sent (it existed before) is PATCHed;
    4. whatever never appears, and every batch the bulk endpoint refused, is retried as a single
       upsert; a 404/403 from the bulk endpoint switches the client to single upserts for good.
    Returns one `UpsertResult` per input contact (created / updated / failed with reason) with
    the Quo id, in input order. Several calls may run concurrently (overlapping sync pages); the
    shared rate limiter keeps the total within Quo's budget.

Failures: a permanent 4xx for one contact becomes `failed` with Quo's message. `upsert_contact`
raises ApiError for transient failures that outlived the retry policy (5xx, network, 429), so a
durable workflow step can retry it; `bulk_upsert_contacts` reports those as `failed` too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from switchboard.http import ApiError
from switchboard.quo.client import MAX_EXTERNAL_IDS_PER_REQUEST, QuoClient
from switchboard.quo.models import Contact, ContactInput
from switchboard.quo.readback import source_reader

Outcome = Literal["created", "updated", "failed"]


@dataclass
class UpsertResult:
    """What happened to one contact."""

    external_id: str
    outcome: Outcome
    quo_id: str | None = None
    reason: str | None = None
    via: Literal["single", "bulk"] = "single"
    recovered_conflict: bool = False  # a 409 was turned into an update

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"


@dataclass
class BulkUpsertReport:
    """Per-contact results (input order) and how the bulk path went."""

    results: list[UpsertResult]
    bulk_used: bool = False
    bulk_unavailable: str | None = None  # why the bulk endpoint was not (or no longer) used
    bulk_batches: int = 0
    verify_reads: int = 0  # externalIds look-ups
    listed: bool = False  # read back through the shared source listing
    single_fallbacks: int = 0  # contacts retried one by one after bulk (not visible / refused)
    visibility_s: list[float] = field(default_factory=list)  # bulk POST → first seen, per contact
    unseen_s: float = 0.0  # source read-back: Quo's visibility delay is longer (SourceReader)

    def counts(self) -> dict[str, int]:
        out = {"created": 0, "updated": 0, "failed": 0}
        for r in self.results:
            out[r.outcome] += 1
        return out

    def by_external_id(self) -> dict[str, UpsertResult]:
        return {r.external_id: r for r in self.results}


def _permanent(exc: ApiError) -> bool:
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429


def _reason(exc: ApiError) -> str:
    status = "network error" if exc.status is None else f"HTTP {exc.status}"
    code = f" {exc.code}" if exc.code else ""
    return f"{exc.operation}: {status}{code} {exc.message}"


async def upsert_contact(
    quo: QuoClient,
    contact: ContactInput,
    quo_id: str | None = None,
    *,
    find_attempts: int = 4,
    find_delay: float = 0.5,
) -> UpsertResult:
    """Create or update one contact; see the module docstring.

    Args:
        quo_id: the Quo id from our mapping, when known.
        find_attempts, find_delay: after a 409, how often (with doubling delay) to look for the
            conflicting contact — it may still be in flight from a bulk create.
    """
    ext = contact.external_id
    try:
        if quo_id:
            try:
                updated = await quo.update_contact(quo_id, contact)
                return UpsertResult(ext, "updated", updated.id)
            except ApiError as exc:
                if exc.status != 404:
                    raise
            # Deleted in Quo since we mapped it: create it again.
        try:
            created = await quo.create_contact(contact)
            return UpsertResult(ext, "created", created.id)
        except ApiError as exc:
            if exc.status != 409:
                raise
        delay = find_delay
        for attempt in range(find_attempts):
            existing = (await quo.find_contacts_by_external_ids([ext])).get(ext)
            if existing is not None:
                if existing.matches(contact):
                    return UpsertResult(ext, "updated", existing.id, recovered_conflict=True)
                try:
                    updated = await quo.update_contact(existing.id, contact)
                    return UpsertResult(ext, "updated", updated.id, recovered_conflict=True)
                except ApiError as exc:
                    if exc.status != 404:
                        raise
            if attempt + 1 < find_attempts:
                await quo.clock.sleep(delay)
                delay *= 2
        return UpsertResult(
            ext, "failed", None, "409 Conflict, but no contact with this externalId is visible"
        )
    except ApiError as exc:
        if _permanent(exc):
            return UpsertResult(ext, "failed", None, _reason(exc))
        raise


@dataclass
class _Pending:
    contact: ContactInput
    submitted_at: float
    next_check: float
    checks: int = 0
    listed: bool = False  # waiting for the source reader rather than an externalIds read


def _shared_source(contacts: Sequence[ContactInput]) -> str | None:
    sources = {c.source for c in contacts}
    if len(sources) != 1:
        return None
    return sources.pop()


async def bulk_upsert_contacts(
    quo: QuoClient,
    contacts: Sequence[ContactInput],
    *,
    known_ids: Mapping[str, str] | None = None,
    batch_size: int = 50,
    verify_deadline: float = 20.0,
    first_check: float = 2.0,
    poll_interval: float = 0.5,
    poll_backoff: float = 1.6,
    max_poll_interval: float = 3.0,
    concurrency: int = 4,
    use_bulk: bool = True,
    read_back: Literal["source", "external_ids"] = "source",
) -> BulkUpsertReport:
    """Upsert many contacts, bulk-creating the new ones; see the module docstring.

    Args:
        known_ids: {externalId: Quo id} from our mappings; those are updated one by one.
        batch_size: contacts per bulk request (production used 50; Quo documents no maximum).
        verify_deadline: seconds after its bulk request a contact may take to appear before it
            is retried as a single upsert.
        first_check, poll_interval, poll_backoff, max_poll_interval: the read-back schedule —
            first read `first_check` s after the bulk request (Quo takes ~2–3 s), then after
            `poll_interval` growing by `poll_backoff` up to `max_poll_interval`.
        concurrency: requests this call keeps in flight (the rate limiter still paces them).
        use_bulk: False forces single upserts.
        read_back: "source" follows the listing of the contacts' common `source` (50 per read,
            shared by concurrent calls; see `switchboard.quo.readback`) and looks up by
            externalId only what it misses; "external_ids" reads 20 per request (also used
            when the new contacts do not share one source).
    """
    known = dict(known_ids or {})
    clock = quo.clock
    # One result per distinct externalId; a repeated id takes the last version.
    latest: dict[str, ContactInput] = {}
    for c in contacts:
        latest.pop(c.external_id, None)
        latest[c.external_id] = c
    results: dict[str, UpsertResult] = {}
    report = BulkUpsertReport(results=[])
    sem = asyncio.Semaphore(max(1, concurrency))
    singles: list[asyncio.Task[None]] = []

    async def single(contact: ContactInput, quo_id: str | None) -> None:
        async with sem:
            try:
                result = await upsert_contact(quo, contact, quo_id)
            except ApiError as exc:
                result = UpsertResult(contact.external_id, "failed", None, _reason(exc))
            except Exception as exc:  # one bad contact must not sink the batch
                result = UpsertResult(contact.external_id, "failed", None, repr(exc))
        results[contact.external_id] = result

    def run_single(
        contact: ContactInput, quo_id: str | None = None, fallback: bool = False
    ) -> None:
        if fallback:
            report.single_fallbacks += 1
        singles.append(asyncio.create_task(single(contact, quo_id)))

    fresh: list[ContactInput] = []
    for ext, contact in latest.items():
        if ext in known:
            run_single(contact, known[ext])
        else:
            fresh.append(contact)

    if not use_bulk:
        report.bulk_unavailable = "disabled by caller"
    elif quo.bulk_available is False:
        report.bulk_unavailable = "bulk endpoint unavailable for this key"
    if report.bulk_unavailable or not fresh:
        for contact in fresh:
            run_single(contact)
        fresh = []

    pending: dict[str, _Pending] = {}
    submitting = bool(fresh)
    source = _shared_source(fresh) if read_back == "source" else None
    reader = source_reader(quo, source) if source and fresh else None
    report.listed = reader is not None
    posting = reader is not None  # counted in reader.submitters until the posts are done
    if reader is not None:
        reader.submitters += 1

    def done_posting() -> None:
        nonlocal posting
        if posting and reader is not None:
            posting = False
            reader.submitters -= 1

    async def post(batch: list[ContactInput]) -> None:
        if quo.bulk_available is False:
            for contact in batch:
                run_single(contact, fallback=report.bulk_unavailable is None)
            return
        try:
            async with sem:
                await quo.bulk_create_contacts(batch)
        except ApiError as exc:
            if exc.status in (403, 404):
                quo.bulk_available = False
                report.bulk_unavailable = report.bulk_unavailable or _reason(exc)
                for contact in batch:
                    run_single(contact)
                return
            for contact in batch:  # refused or failing batch: one by one
                run_single(contact, fallback=True)
            return
        quo.bulk_available = True
        report.bulk_used = True
        report.bulk_batches += 1
        now = clock.now()
        batch_no = reader.new_batch(now) if reader is not None else 0
        for contact in batch:
            entry = _Pending(contact, now, now + first_check, listed=reader is not None)
            pending[contact.external_id] = entry
            if reader is not None:
                reader.expect(contact.external_id, now + first_check, batch_no)

    async def submit() -> None:
        # A call's batches go out together (the limiter paces them), not one after the other:
        # sequential posts of several concurrent calls interleave, so each call's last batch —
        # and with it the call — would be verified only after every call's. Until Quo has
        # answered one bulk request for this key, one goes first: a 404/403 then costs one.
        nonlocal submitting
        try:
            batches = [fresh[i : i + batch_size] for i in range(0, len(fresh), batch_size)]
            if batches and quo.bulk_available is None:
                await post(batches.pop(0))
            await asyncio.gather(*(post(batch) for batch in batches))
        finally:
            submitting = False
            done_posting()

    def settle(p: _Pending, seen: Contact, now: float) -> None:
        ext = p.contact.external_id
        del pending[ext]
        if seen.matches(p.contact):
            report.visibility_s.append(now - p.submitted_at)
            results[ext] = UpsertResult(ext, "created", seen.id, via="bulk")
        else:  # existed before with other data: bring it up to date
            run_single(p.contact, seen.id)

    async def read_by_ids(chunk: list[_Pending]) -> None:
        async with sem:
            try:
                page = await quo.list_contacts(
                    external_ids=[p.contact.external_id for p in chunk], max_results=50
                )
                found: dict[str, Contact] = {}
                for c in page.data:
                    if c.external_id is not None:
                        found.setdefault(c.external_id, c)
                token = page.next_page_token
                while token:  # only if Quo holds duplicates; ≤ 20 ids fit one page otherwise
                    more = await quo.list_contacts(
                        external_ids=[p.contact.external_id for p in chunk], page_token=token
                    )
                    for c in more.data:
                        if c.external_id is not None:
                            found.setdefault(c.external_id, c)
                    token = more.next_page_token
            except ApiError:
                found = {}  # try again on the next poll; the deadline still applies
            report.verify_reads += 1
        now = clock.now()
        for p in chunk:
            ext = p.contact.external_id
            if pending.get(ext) is not p:
                continue
            seen = found.get(ext)
            if seen is not None:
                settle(p, seen, now)
            else:
                p.checks += 1
                wait = min(max_poll_interval, poll_interval * poll_backoff ** (p.checks - 1))
                p.next_check = now + wait

    submitter = asyncio.create_task(submit())
    try:
        while submitting or pending:
            now = clock.now()
            for ext, p in list(pending.items()):
                if now - p.submitted_at > verify_deadline:
                    del pending[ext]
                    if reader is not None:
                        reader.forget(ext)
                    run_single(p.contact, fallback=True)
                elif p.listed and reader is not None:
                    seen = reader.take(ext)
                    if seen is not None:
                        settle(p, seen, now)
                    elif reader.given_up(ext):  # not where the listing showed: ask by id
                        p.listed, p.next_check = False, now
            if reader is not None:
                reader.poke(now)
            # While batches are still going out, posts go first: the reads can only start paying
            # off ~2-3 s after a post anyway, and a backlog of reads then fills the wait for the
            # last batch. Contacts halfway to their deadline are read regardless. (Contacts the
            # source reader gave back have waited already.)
            hold = verify_deadline / 2 if submitting and reader is None else 0.0
            due = sorted(
                (
                    p
                    for p in pending.values()
                    if not p.listed and p.next_check <= now and now - p.submitted_at >= hold
                ),
                key=lambda p: p.submitted_at,
            )
            if due:
                size = MAX_EXTERNAL_IDS_PER_REQUEST
                chunks = [due[i : i + size] for i in range(0, len(due), size)][:concurrency]
                await asyncio.gather(*(read_by_ids(chunk) for chunk in chunks))
                continue
            wake = min(
                (
                    max(p.next_check, p.submitted_at + hold)
                    for p in pending.values()
                    if not p.listed
                ),
                default=now + 0.05,
            )
            # Listed contacts are settled by reads of any concurrent call: look again soon.
            listening = any(p.listed for p in pending.values())
            await clock.sleep(min(wake - now, 0.05) if submitting or listening else wake - now)
        await submitter
        if singles:
            await asyncio.gather(*singles)
    finally:
        for task in [submitter, *singles]:
            if not task.done():
                task.cancel()
        if reader is not None:
            for ext in pending:
                reader.forget(ext)
        done_posting()  # also when the submitter was cancelled before it ran

    report.results = [results[c.external_id] for c in contacts]
    if reader is not None:
        report.unseen_s = reader.unseen_s
    return report
