"""The sync's seams wired to the real clients: `switchboard.quo` and `switchboard.connections`.

`QuoContactsAdapter` implements `switchboard.sync.ports.QuoContacts` over `QuoClient`:
bulk create + verification and the 409 → find → update recovery live there, once; the adapter
only translates results. Ownership: a contact we created, or found under our externalId (the CRM
record id, which only this integration writes) is ours; `find_by_external_ids` reports Quo's
`source` so a resumed page can tell.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import Any

from switchboard import clients, connections
from switchboard.http import ApiError
from switchboard.quo.client import QuoClient
from switchboard.quo.contacts import UpsertResult
from switchboard.quo.models import Contact, ContactInput
from switchboard.runtime import runtime
from switchboard.sync.clients import SyncClients
from switchboard.sync.ports import ContactRef, PushResult
from switchboard.sync.transform import SyncSettings


def read_back_mode() -> str:
    """How bulk creates are read back: "source" (the connection's source listing, 50 per read)
    or "external_ids" (20 per read, several at once) — see `switchboard.quo.contacts`."""
    return os.environ.get("SWITCHBOARD_SYNC_READ_BACK", "source")


def _result(r: UpsertResult) -> PushResult:
    if r.outcome == "failed" or not r.quo_id:
        return PushResult(r.external_id, "failed", None, r.reason or "failed")
    return PushResult(r.external_id, r.outcome, ContactRef(r.quo_id, r.external_id))


class QuoContactsAdapter:
    """`bulk_options` go to `bulk_upsert_contacts`. Unless `first_check` is given, the delay
    before the first read-back adapts to what Quo shows. Read back through the source listing:
    it grows past the longest time after a POST at which a read that reached the end of the
    listing still found none of its contacts (`report.unseen_s`, ≤ 5 s) — not to when a read
    found them, which includes waiting for the read chain: under latency that grew it to 5 s,
    and the read-back of the last pages, which nothing else overlaps, waited for it. By
    externalIds: when a call needed
    more reads than one per 20 contacts, the next waits for the slowest visibility seen
    (≤ 5 s); when every contact was there on the first read, the wait shrinks by 5% (≥ 1 s).
    Reads that come too early cost budget; reads that come too late cost latency."""

    def __init__(self, quo: QuoClient, **bulk_options: Any) -> None:
        self.quo = quo
        self.bulk_options = bulk_options
        self.first_check = float(bulk_options.get("first_check", 2.5))
        self._adaptive = "first_check" not in bulk_options

    async def create_many(self, contacts: Sequence[ContactInput]) -> Mapping[str, PushResult]:
        options = {**self.bulk_options, "first_check": self.first_check}
        report = await self.quo.bulk_upsert_contacts(contacts, **options)
        if self._adaptive and report.listed:
            # Reads of the source listing come when due and fill pages: one before Quo shows
            # the contacts costs a read, one after only waits. Never earlier than not seen.
            self.first_check = min(5.0, max(self.first_check, report.unseen_s + 0.1))
        elif self._adaptive and report.bulk_used and report.visibility_s:
            minimum_reads = -(-len(report.visibility_s) // 20)
            if report.verify_reads > minimum_reads:
                self.first_check = min(5.0, max(self.first_check, max(report.visibility_s)))
            else:
                self.first_check = max(1.0, self.first_check * 0.95)
        return {r.external_id: _result(r) for r in report.results}

    async def update(self, contact_id: str, contact: ContactInput) -> ContactRef | None:
        try:
            updated = await self.quo.update_contact(contact_id, contact)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return ContactRef(updated.id, updated.external_id, updated.source)

    async def upsert(self, contact: ContactInput) -> PushResult:
        return _result(await self.quo.upsert_contact(contact))

    async def find_by_external_ids(self, external_ids: Sequence[str]) -> Mapping[str, ContactRef]:
        found = await self.quo.find_contacts_by_external_ids(external_ids)
        return {ext: ContactRef(c.id, c.external_id, c.source) for ext, c in found.items()}

    async def get(self, contact_id: str) -> Contact | None:
        try:
            return await self.quo.get_contact(contact_id)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def delete(self, contact_id: str) -> None:
        await self.quo.delete_contact(contact_id, missing_ok=True)


async def clients_from_connection(connection_id: str) -> SyncClients:
    """Clients of a stored connection (the process's shared pair from `switchboard.clients`)
    with its current settings."""

    info = await asyncio.to_thread(
        connections.get_connection, runtime().db, connection_id, with_webhooks=False
    )
    quo, connector = await clients.clients_of(connection_id)
    return SyncClients(
        connection_id=connection_id,
        crm=info.crm,
        settings=SyncSettings.from_connection(info.settings, info.crm),
        connector=connector,
        quo=QuoContactsAdapter(quo, read_back=read_back_mode()),
    )
