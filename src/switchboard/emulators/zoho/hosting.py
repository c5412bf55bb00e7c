"""The Zoho emulator as an `EmulatedCrm` (demo, contract kit): in-process handles on its state.
Calls records and Notes both count as "notes" here: what Switchboard writes for a call or a
text (ids `call:<id>` and `note:<id>`, as the connector hands them out). People are the default
org's Contacts (a lead is `Leads:<id>`, as the connector names it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from switchboard.emulators.hosting import Budget, EmulatedNote, HostedEmulator, LoggedControl
from switchboard.emulators.zoho.app import create_app
from switchboard.emulators.zoho.emulator import ZohoEmulator
from switchboard.emulators.zoho.metadata import PHONE_FIELDS
from switchboard.emulators.zoho.org import Org, Record


def _when(value: object, fallback: float) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.fromtimestamp(fallback, UTC)


def _person(module: str, record_id: str) -> str:
    return f"Leads:{record_id}" if module == "Leads" else record_id


def _from_call(rec: Record) -> EmulatedNote:
    who, what = rec.values.get("Who_Id"), rec.values.get("What_Id")
    if isinstance(who, dict):
        person = str(who.get("id"))
    elif isinstance(what, dict):
        person = _person(str(rec.values.get("$se_module")), str(what.get("id")))
    else:
        person = ""
    return EmulatedNote(
        id=f"call:{rec.id}",
        person_id=person,
        title=str(rec.values.get("Subject") or ""),
        content=str(rec.values.get("Description") or ""),
        created_at=_when(rec.values.get("Call_Start_Time"), rec.created),
    )


def _from_note(rec: Record) -> EmulatedNote:
    parent = rec.values.get("Parent_Id") or {}
    return EmulatedNote(
        id=f"note:{rec.id}",
        person_id=_person(str(parent.get("module")), str(parent.get("id"))),
        title=str(rec.values.get("Note_Title") or ""),
        content=str(rec.values.get("Note_Content") or ""),
        created_at=datetime.fromtimestamp(rec.created, UTC),
    )


def _split(person_id: str) -> tuple[str, str]:
    if person_id.startswith("Leads:"):
        return "Leads", person_id.removeprefix("Leads:")
    return "Contacts", person_id


class ZohoKitControl(LoggedControl):
    """The contract kit's `KitControl` over the emulator's Python API (direct changes notify
    watch channels like edits in Zoho's app)."""

    emu: ZohoEmulator

    def __init__(self, emu: ZohoEmulator) -> None:
        self.emu = emu
        limit = emu.default_org.max_concurrency
        self.rate_limits: dict[Budget, int] = {"read": limit, "write": limit}

    @property
    def org(self) -> Org:
        return self.emu.default_org

    def _must(self, results: list[Any]) -> Record:
        if not results[0].ok:
            raise ValueError(results[0].error)
        rec: Record = results[0].record
        return rec

    async def seed_people(self, count: int) -> list[str]:
        return list(self.emu.seed(self.org, contacts=count, seed=count).contacts)

    async def add_person(self, phones: Sequence[str], name: str | None = None) -> str:
        first, _, last = (name or "Someone").rpartition(" ")
        values: dict[str, Any] = {"Last_Name": last or "Someone"}
        if first:
            values["First_Name"] = first
        values.update(zip(PHONE_FIELDS, phones, strict=False))
        return self._must(self.emu.create_records(self.org, "Contacts", [values])).id

    async def delete_person(self, person_id: str) -> None:
        module, rid = _split(person_id)
        self.emu.delete_records(self.org, module, [rid])

    async def set_phones(self, person_id: str, phones: Sequence[str]) -> None:
        module, rid = _split(person_id)
        values: dict[str, Any] = dict.fromkeys(PHONE_FIELDS)
        values.update(zip(PHONE_FIELDS, phones, strict=False))
        self._must(self.emu.update_records(self.org, module, [values], [rid]))

    async def person_ids(self) -> set[str]:
        with self.org.lock:
            return set(self.org.records["Contacts"]) | {
                _person("Leads", i) for i in self.org.records["Leads"]
            }

    async def company_name_of(self, person_id: str) -> str | None:
        module, rid = _split(person_id)
        with self.org.lock:
            rec = self.org.records[module][rid]
            if module == "Leads":
                return rec.values.get("Company") or None
            account = rec.values.get("Account_Name")
            if not isinstance(account, dict):
                return None
            found = self.org.records["Accounts"].get(str(account.get("id")))
            return str(found.values["Account_Name"]) if found else None

    async def note(self, note_id: str) -> EmulatedNote | None:
        kind, _, raw = note_id.partition(":")
        with self.org.lock:
            if kind == "call":
                rec = self.org.records["Calls"].get(raw)
                return _from_call(rec) if rec else None
            note = self.org.notes.get(raw)
            return _from_note(note) if note else None

    async def company_lookups(self) -> int:
        return sum(1 for e in self.emu.log.entries() if e.path.startswith("/crm/v8/Accounts"))


class HostedZoho(HostedEmulator):
    """`EmulatedCrm` for Zoho CRM."""

    emu: ZohoEmulator
    control = ZohoKitControl

    def __init__(self, emu: ZohoEmulator) -> None:
        super().__init__(emu, create_app)

    def seed_people(self, count: int, seed: int = 0) -> None:
        self.emu.seed(self.emu.default_org, contacts=count, seed=seed)

    def people_with_phones(self, limit: int) -> list[tuple[str, str]]:
        from switchboard import phones

        org = self.emu.default_org
        out: list[tuple[str, str]] = []
        with org.lock:
            for rec in org.records["Contacts"].values():
                raw = next((rec.values[f] for f in PHONE_FIELDS if rec.values.get(f)), None)
                number = phones.normalise(str(raw)) if raw else None
                if number:
                    out.append((rec.id, number))
                if len(out) >= limit:
                    break
        return out

    def notes(self) -> list[EmulatedNote]:
        org = self.emu.default_org
        with org.lock:
            found = [_from_call(rec) for rec in org.records["Calls"].values()]
            found += [_from_note(rec) for rec in org.notes.values()]
        return sorted(found, key=lambda n: (n.created_at, n.id))


def host(
    *, token: str, seed: int = 0, allow_http_targets: bool = True, fast: bool = False
) -> HostedZoho:
    """A Zoho emulator (Enterprise edition) whose default org answers to the access token
    `token`. (`allow_http_targets` is accepted for the common signature: Zoho notifies any
    URL.)"""
    emu = ZohoEmulator(token=token, seed=seed, notify_time_scale=0.001 if fast else 1.0)
    return HostedZoho(emu)
