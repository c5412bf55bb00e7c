"""The Attio emulator as an `EmulatedCrm` (demo, contract kit): in-process handles on its state."""

from __future__ import annotations

from collections.abc import Sequence

from switchboard.emulators.attio.app import create_app
from switchboard.emulators.attio.emulator import AttioEmulator
from switchboard.emulators.attio.workspace import Workspace
from switchboard.emulators.hosting import Budget, EmulatedNote, HostedEmulator, LoggedControl


class AttioKitControl(LoggedControl):
    """The contract kit's `KitControl` over the emulator's Python API (thread-safe; direct
    changes fire webhooks like edits in Attio's app)."""

    emu: AttioEmulator

    def __init__(self, emu: AttioEmulator) -> None:
        self.emu = emu
        self.rate_limits: dict[Budget, int] = {
            "read": emu.reads_per_second,
            "write": emu.writes_per_second,
        }

    @property
    def ws(self) -> Workspace:
        return self.emu.default_workspace

    async def seed_people(self, count: int) -> list[str]:
        before = await self.person_ids()
        self.emu.seed(self.ws, people=count, seed=count)
        return sorted(await self.person_ids() - before)

    async def add_person(self, phones: Sequence[str], name: str | None = None) -> str:
        values: dict[str, object] = {"phone_numbers": list(phones)}
        if name:
            values["name"] = name
        return self.emu.create_record(self.ws, "people", values).id

    async def delete_person(self, person_id: str) -> None:
        self.emu.delete_record(self.ws, "people", person_id)

    async def set_phones(self, person_id: str, phones: Sequence[str]) -> None:
        self.emu.update_record(self.ws, "people", person_id, {"phone_numbers": list(phones)})

    async def person_ids(self) -> set[str]:
        with self.ws.lock:
            return set(self.ws.store("people").records)

    async def company_name_of(self, person_id: str) -> str | None:
        with self.ws.lock:
            person = self.ws.store("people").records[person_id]
            refs = person.current("company")
            if not refs:
                return None
            company = self.ws.store("companies").records.get(refs[0].data["target_record_id"])
            names = company.current("name") if company else []
            return str(names[0].data["value"]) if names else None

    async def note(self, note_id: str) -> EmulatedNote | None:
        with self.ws.lock:
            found = self.ws.notes.get(note_id)
        if found is None:
            return None
        return EmulatedNote(
            id=found.id,
            person_id=found.parent_record_id,
            title=found.title,
            content=found.content_markdown or found.content_plaintext,
            created_at=found.created_at,
        )

    async def company_lookups(self) -> int:
        return sum(1 for e in self.emu.log.entries() if "/objects/companies/" in e.path)

    async def max_requests_per_second(self, budget: Budget) -> int:
        return self.emu.log.max_per_second(key=f"{self.ws.id}:{budget}")


class HostedAttio(HostedEmulator):
    """`EmulatedCrm` for Attio."""

    emu: AttioEmulator
    control = AttioKitControl

    def __init__(self, emu: AttioEmulator) -> None:
        super().__init__(emu, create_app)

    def seed_people(self, count: int, seed: int = 0) -> None:
        self.emu.seed(self.emu.default_workspace, count, seed=seed)

    def people_with_phones(self, limit: int) -> list[tuple[str, str]]:
        ws = self.emu.default_workspace
        out: list[tuple[str, str]] = []
        with ws.lock:
            for record_id, record in ws.store("people").records.items():
                numbers = [v.data.get("phone_number") for v in record.current("phone_numbers")]
                if numbers and numbers[0]:
                    out.append((record_id, str(numbers[0])))
                if len(out) >= limit:
                    break
        return out

    def notes(self) -> list[EmulatedNote]:
        ws = self.emu.default_workspace
        with ws.lock:
            found = sorted(ws.notes.values(), key=lambda n: n.seq)
        return [
            EmulatedNote(
                id=n.id,
                person_id=n.parent_record_id,
                title=n.title,
                content=n.content_markdown or n.content_plaintext,
                created_at=n.created_at,
            )
            for n in found
        ]


def host(
    *, token: str, seed: int = 0, allow_http_targets: bool = True, fast: bool = False
) -> HostedAttio:
    """An Attio emulator at Attio's limits whose default workspace answers to `token`."""
    emu = AttioEmulator(allow_http_targets=allow_http_targets, token=token, seed_value=seed)
    if fast:
        emu.set_webhook_delivery(time_scale=0.001)
    return HostedAttio(emu)
