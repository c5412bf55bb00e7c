"""Deterministic bulk data for a company: persons with organizations, open deals and leads.

Phones are written in the forms users type them (`+1 415-555-0134`, `(415) 555-0134`,
`4155550134`, `+14155550134`), because Pipedrive stores them verbatim. Seeding fires no webhooks
(it stands for data that existed before any subscription).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from switchboard.emulators.pipedrive.company import Company
from switchboard.emulators.pipedrive.entities import Deal, Lead, Organization, Person

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
COMPANY_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell"]


def phone_forms(area: int, line: int) -> list[str]:
    """The same US number as users type it."""
    digits = f"{area}555{line:04d}"
    return [
        f"+1 {area}-555-{line:04d}",
        f"({area}) 555-{line:04d}",
        digits,
        f"+1{digits}",
    ]


@dataclass
class SeedResult:
    persons: list[int]
    organizations: list[int]
    deals: list[int]
    leads: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "persons": len(self.persons),
            "organizations": len(self.organizations),
            "deals": len(self.deals),
            "leads": len(self.leads),
            "first_person_id": self.persons[0] if self.persons else None,
            "last_person_id": self.persons[-1] if self.persons else None,
        }


def seed_company(
    company: Company,
    persons: int,
    organizations: int | None = None,
    deals: int | None = None,
    leads: int | None = None,
    seed: int = 0,
) -> SeedResult:
    """Defaults: one organization per ten persons, an open deal for every fifth person and a
    lead for every seventh."""
    rng = random.Random(seed)
    n_orgs = persons // 10 if organizations is None else organizations
    n_deals = persons // 5 if deals is None else deals
    n_leads = persons // 7 if leads is None else leads
    owner = company.admin_user_id
    now = company.clock()
    result = SeedResult([], [], [], [])
    with company.lock:
        for n in range(n_orgs):
            org = Organization(
                company._id(), f"{COMPANY_WORDS[n % len(COMPANY_WORDS)]} {n + 1}", owner, now, now
            )
            company.organizations[org.id] = org
            result.organizations.append(org.id)
        base = len(company.persons)
        for n in range(persons):
            k = base + n
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {k + 1}"
            area, line = 200 + (k // 10_000) % 800, k % 10_000
            form = phone_forms(area, line)[k % 4]
            phones = [{"value": form, "primary": True, "label": "mobile"}]
            if k % 9 == 0:
                phones.append(
                    {
                        "value": phone_forms(area, (line + 5000) % 10_000)[1],
                        "primary": False,
                        "label": "work",
                    }
                )
            emails = [{"value": f"person{k + 1}@example.test", "primary": True, "label": "work"}]
            org_id = result.organizations[n % n_orgs] if n_orgs and n % 3 != 2 else None
            person = Person(
                company._id(), name, owner, now, now, phones=phones, emails=emails, org_id=org_id
            )
            company.persons[person.id] = person
            result.persons.append(person.id)
        for n in range(min(n_deals, len(result.persons))):
            pid = result.persons[(n * 5) % len(result.persons)]
            deal = Deal(
                company._id(),
                f"Deal {n + 1}",
                owner,
                now,
                now,
                person_id=pid,
                org_id=company.persons[pid].org_id,
                value=float(rng.randint(1, 100) * 100),
            )
            company.deals[deal.id] = deal
            result.deals.append(deal.id)
        for n in range(min(n_leads, len(result.persons))):
            pid = result.persons[(n * 7 + 1) % len(result.persons)]
            lead = Lead(
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                f"Lead {n + 1}",
                owner,
                now,
                now,
                person_id=pid,
            )
            company.leads[lead.id] = lead
            result.leads.append(lead.id)
    return result
