"""What the sync needs from Quo, as one small seam.

`QuoContacts` is the surface the sync logic is written against; `switchboard.sync.quo_adapter`
implements it over the shared `switchboard.quo` client (which owns retries, the rate limit, bulk
verification and 409 recovery), and the unit tests implement it with an in-memory fake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from switchboard.quo.models import Contact, ContactInput

Outcome = Literal["created", "updated", "failed"]


@dataclass(frozen=True)
class ContactRef:
    """A Quo contact as far as the sync cares: its id and who created it."""

    id: str
    external_id: str | None
    source: str | None = None


@dataclass(frozen=True)
class PushResult:
    """The result of pushing one contact. `contact` is None only when `outcome` is failed."""

    external_id: str
    outcome: Outcome
    contact: ContactRef | None = None
    reason: str | None = None


class QuoContacts(Protocol):
    async def create_many(self, contacts: Sequence[ContactInput]) -> Mapping[str, PushResult]:
        """Create contacts (bulk where the key allows it) and verify every one; an externalId
        that already exists in Quo is updated instead. Keyed by external id."""
        ...

    async def update(self, contact_id: str, contact: ContactInput) -> ContactRef | None:
        """PATCH one contact; None when it no longer exists in Quo."""
        ...

    async def upsert(self, contact: ContactInput) -> PushResult:
        """Create one contact; on 409 find it by externalId and update it."""
        ...

    async def find_by_external_ids(self, external_ids: Sequence[str]) -> Mapping[str, ContactRef]:
        """Existing contacts for these external ids (≤ 20 per request, done by the client)."""
        ...

    async def get(self, contact_id: str) -> Contact | None:
        """The contact as Quo holds it now; None when it is gone."""
        ...

    async def delete(self, contact_id: str) -> None:
        """Delete one contact; an already-deleted contact is not an error."""
        ...
