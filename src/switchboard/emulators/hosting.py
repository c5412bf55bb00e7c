"""What every CRM emulator offers the demo and the connector contract kit, in-process.

A CRM's registry record names a `hosting` factory (`module:attribute`) that builds an
`EmulatedCrm`: the emulator's ASGI app plus direct handles on its state. The demo seeds it and
reads back what landed; the contract kit arranges situations and checks outcomes through its
`KitControl` without going through the connector under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

Budget = Literal["read", "write"]


@dataclass(frozen=True)
class EmulatedNote:
    """A note (or call record) as the emulator stores it."""

    id: str
    person_id: str
    title: str
    content: str
    created_at: datetime


class KitControl(Protocol):
    """The emulator-side handle the contract kit needs. Calls bypass the CRM API and its rate
    limits; direct changes fire webhooks like edits in the CRM's own app."""

    rate_limits: dict[Budget, int]
    """Requests per second the emulator allows, per budget."""

    async def seed_people(self, count: int) -> list[str]:
        """Add `count` realistic people (most with a company), quickly; returns their ids."""

    async def add_person(self, phones: Sequence[str], name: str | None = None) -> str:
        """Create one person with these numbers directly in the emulator."""

    async def delete_person(self, person_id: str) -> None: ...

    async def set_phones(self, person_id: str, phones: Sequence[str]) -> None:
        """Replace the person's current numbers (the old ones become history)."""

    async def person_ids(self) -> set[str]:
        """Ids of every person that currently exists."""

    async def company_name_of(self, person_id: str) -> str | None:
        """Ground truth: the name of the person's current company, if any."""

    async def note(self, note_id: str) -> EmulatedNote | None:
        """The stored note, or None when it does not exist."""

    async def clear_request_log(self) -> None: ...

    async def company_lookups(self) -> int:
        """How many CRM API requests since the last clear read company records."""

    async def rate_limited_responses(self) -> int:
        """How many CRM API requests since the last clear were answered 429."""

    async def max_requests_per_second(self, budget: Budget) -> int:
        """Most requests of that budget in any one-second window since the last clear."""


class EmulatedCrm(Protocol):
    """One running CRM emulator (state in this process; serve `app` on a port)."""

    token: str
    """The bearer token of its default account."""

    @property
    def app(self) -> Any:
        """The ASGI app (REST API + `/_emulator` control surface)."""

    def seed_people(self, count: int, seed: int = 0) -> None:
        """Add `count` realistic people (and companies) to the default account."""

    def people_with_phones(self, limit: int) -> list[tuple[str, str]]:
        """Up to `limit` (person id, current E.164 number) pairs."""

    def notes(self) -> list[EmulatedNote]:
        """Every note of the default account, oldest first."""

    def reset(self) -> None:
        """Forget all data, webhooks and logs (the token stays valid)."""

    def kit_control(self) -> KitControl: ...

    def close(self) -> None:
        """Stop background work (webhook redelivery)."""


class HostingFactory(Protocol):
    def __call__(
        self, *, token: str, seed: int = 0, allow_http_targets: bool = True, fast: bool = False
    ) -> EmulatedCrm:
        """`fast`: test timing (redelivery backoff shrunk), same behaviour."""


class LoggedControl:
    """The `KitControl` answers every emulator gives from its request log (`emu.log`); a CRM's
    control extends it with what only it knows (its people, notes, company lookups)."""

    emu: Any

    async def clear_request_log(self) -> None:
        self.emu.log.clear()

    async def rate_limited_responses(self) -> int:
        return sum(1 for e in self.emu.log.entries() if e.status == 429)

    async def max_requests_per_second(self, budget: Budget) -> int:
        return int(self.emu.log.max_per_second())


class HostedEmulator:
    """The `EmulatedCrm` plumbing every emulator shares: its app, default token, reset and
    shutdown. A CRM's subclass says how to build the app and its control, and reads its state."""

    control: Any  # the CRM's KitControl class, built over the emulator

    def __init__(self, emu: Any, create_app: Any) -> None:
        self.emu = emu
        self.token: str = emu.default_token
        self._app = create_app(emu)

    @property
    def app(self) -> Any:
        return self._app

    def reset(self) -> None:
        self.emu.reset()

    def kit_control(self) -> KitControl:
        control: KitControl = self.control(self.emu)
        return control

    def close(self) -> None:
        self.emu.deliverer.cancel_all()
