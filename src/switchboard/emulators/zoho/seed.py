"""Deterministic seed data: accounts, contacts (linked to accounts) and leads with phone numbers
spread over every phone field, so lookups by any phone field can be exercised."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from switchboard.emulators.zoho.metadata import PHONE_FIELDS
from switchboard.emulators.zoho.org import Org, Record

FIRST = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Linus")
LAST = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
COMPANIES = ("Zylker", "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark")


@dataclass
class SeedResult:
    accounts: list[str]
    contacts: list[str]
    leads: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "accounts": len(self.accounts),
            "contacts": len(self.contacts),
            "leads": len(self.leads),
            "account_ids": self.accounts[:10],
            "contact_ids": self.contacts[:10],
            "lead_ids": self.leads[:10],
        }


def seed_org(
    emu: Any,
    org: Org,
    *,
    contacts: int = 0,
    leads: int = 0,
    accounts: int | None = None,
    seed: int = 0,
) -> SeedResult:
    """Insert records directly (no notifications, no credits). Phone numbers are unique
    `+1415555xxxx`-style E.164 numbers; person n's number sits in phone field n % 5."""
    rng = random.Random(seed)
    if accounts is None:
        accounts = (contacts + 9) // 10
    out = SeedResult([], [], [])
    with org.lock:
        base = 1_000_000 * (seed % 1000) + len(org.records["Contacts"]) + len(org.records["Leads"])
        for n in range(accounts):
            now = emu.now()
            name = f"{rng.choice(COMPANIES)} {n + 1}"
            rec = Record("Accounts", emu.new_id(), {"Account_Name": name}, now, now)
            org.records["Accounts"][rec.id] = rec
            out.accounts.append(rec.id)
        for module, count, ids in (
            ("Contacts", contacts, out.contacts),
            ("Leads", leads, out.leads),
        ):
            for n in range(count):
                now = emu.now()
                first, last = rng.choice(FIRST), rng.choice(LAST)
                number = base + n + (0 if module == "Contacts" else 500_000)
                values: dict[str, Any] = {
                    "First_Name": first,
                    "Last_Name": f"{last} {n + 1}",
                    "Email": f"{first.lower()}.{n + 1}.{module.lower()}@example.test",
                    PHONE_FIELDS[n % len(PHONE_FIELDS)]: f"+1{2_000_000_000 + number:010d}",
                }
                if module == "Contacts" and out.accounts:
                    acct = org.records["Accounts"][out.accounts[n % len(out.accounts)]]
                    values["Account_Name"] = {"id": acct.id, "name": acct.values["Account_Name"]}
                if module == "Leads":
                    values["Company"] = rng.choice(COMPANIES)
                rec = Record(module, emu.new_id(), values, now, now)
                org.put(rec)
                ids.append(rec.id)
    return out
