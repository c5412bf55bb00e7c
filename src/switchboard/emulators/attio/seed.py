"""Realistic, deterministic people and companies for a workspace.

For a given seed (and starting from the same workspace state) the names, emails, phone numbers,
companies and record ids are always the same; timestamps are back-dated relative to the clock,
spread over the last two years and strictly increasing. The mix is meant to exercise a connector:
phone numbers from eleven countries written in national and international formats, ~8% of people
without a phone, ~20% with several, ~2% sharing a phone with someone else, some without an email
or a name, most linked to a company. Seeding fires no webhooks (the data "was already there").
10,000 people take well under two seconds.
"""

from __future__ import annotations

import random
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import phonenumbers

from switchboard.emulators.attio.records import Record, system_values
from switchboard.emulators.attio.values import remember_phone
from switchboard.emulators.attio.workspace import Workspace

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "John",
    "Maria",
    "José",
    "Lucía",
    "Carlos",
    "Sofía",
    "Mateo",
    "Valentina",
    "Diego",
    "Camila",
    "Luis",
    "Oliver",
    "Amelia",
    "Harry",
    "Isla",
    "George",
    "Olivia",
    "Jack",
    "Emily",
    "Noah",
    "Ava",
    "Lukas",
    "Mia",
    "Jonas",
    "Lena",
    "Felix",
    "Zoë",
    "Léa",
    "Hugo",
    "Chloé",
    "Louis",
    "Aarav",
    "Priya",
    "Rohan",
    "Ananya",
    "Vikram",
    "Sanne",
    "Daan",
    "Fleur",
    "Thiago",
    "Beatriz",
    "Wei",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Kwame",
    "Amara",
    "Chidi",
    "Fatima",
    "Omar",
    "Leila",
]
LAST_NAMES = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "McCarthy",
    "García",
    "Rodríguez",
    "Martínez",
    "Hernández",
    "López",
    "González",
    "Pérez",
    "Sánchez",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Evans",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Martin",
    "Bernard",
    "Dubois",
    "Moreau",
    "Laurent",
    "Sharma",
    "Patel",
    "Gupta",
    "Iyer",
    "Reddy",
    "de Vries",
    "Jansen",
    "van Dijk",
    "Bakker",
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Chen",
    "Wang",
    "Tanaka",
    "Sato",
    "Mensah",
    "Okafor",
    "Haddad",
    "Nguyen",
    "O'Brien",
    "Kowalski",
    "Novak",
    "Rossi",
]
JOB_TITLES = [
    "CEO",
    "CTO",
    "Head of Sales",
    "Account Executive",
    "Sales Development Rep",
    "Office Manager",
    "Founder",
    "Operations Manager",
    "Customer Success Manager",
    "Marketing Lead",
    "Software Engineer",
    "Product Manager",
    "Receptionist",
    "Practice Manager",
    "Paralegal",
    "Partner",
    "Care Coordinator",
    "Nurse",
    "Dispatcher",
    "Bookkeeper",
    "VP Engineering",
    "Recruiter",
    "Consultant",
    "Designer",
    "Owner",
]
COMPANY_WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Aperture",
    "Black Mesa",
    "Gringotts",
    "Oceanic",
    "Pied Piper",
    "Massive Dynamic",
    "Monarch",
    "Nakatomi",
    "Blue Sun",
    "Virtucon",
    "Dunder",
    "Prestige",
    "Sterling",
    "Bluth",
    "Krusty",
    "Duff",
    "Octan",
    "Zorg",
]
COMPANY_KINDS = [
    "Logistics",
    "Dental",
    "Legal",
    "Home Care",
    "Plumbing",
    "Realty",
    "Labs",
    "Consulting",
    "Health",
    "Motors",
    "Foods",
    "Capital",
    "Studios",
    "Solar",
    "Robotics",
    "Clinic",
]
COMPANY_TLDS = [".com", ".io", ".co.uk", ".de", ".fr", ".com.au", ".nl", ".es", ".com.br"]
PERSONAL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me"]

# (region, weight, prefixes, digits after the prefix)
COUNTRIES: list[tuple[str, int, list[str], int]] = [
    (
        "US",
        50,
        [
            "+1212",
            "+1415",
            "+1646",
            "+1312",
            "+1617",
            "+1206",
            "+1303",
            "+1512",
            "+1702",
            "+1305",
            "+1404",
            "+1213",
            "+1718",
            "+1919",
            "+1612",
        ],
        7,
    ),
    ("GB", 10, ["+447700", "+447400", "+44207", "+44161"], 6),
    ("CA", 6, ["+1416", "+1604", "+1613", "+1514", "+1403"], 7),
    ("DE", 6, ["+49151", "+49160", "+49170", "+4930"], 8),
    ("FR", 5, ["+336", "+337", "+331"], 8),
    ("AU", 5, ["+614", "+612"], 8),
    ("MX", 5, ["+5255", "+5281"], 8),
    ("BR", 4, ["+55119", "+55219"], 8),
    ("IN", 4, ["+919", "+918"], 9),
    ("ES", 3, ["+346", "+3491"], 7),
    ("NL", 2, ["+316", "+3120"], 7),
]
_WEIGHTS = [c[1] for c in COUNTRIES]
CALLING_CODES = {
    "US": 1,
    "CA": 1,
    "GB": 44,
    "DE": 49,
    "FR": 33,
    "AU": 61,
    "MX": 52,
    "BR": 55,
    "IN": 91,
    "ES": 34,
    "NL": 31,
}


@dataclass
class SeedResult:
    people: int
    companies: int
    people_without_phone: int
    people_with_several_phones: int
    shared_phones: int
    elapsed_ms: float

    def to_json(self) -> dict[str, Any]:
        return {
            "people": self.people,
            "companies": self.companies,
            "people_without_phone": self.people_without_phone,
            "people_with_several_phones": self.people_with_several_phones,
            "shared_phones": self.shared_phones,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def _ascii(text: str) -> str:
    out = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in out.lower() if ch.isalnum())


def _phone(rng: random.Random) -> dict[str, Any]:
    """A valid number in a random country, written the way people type them."""
    while True:
        region, _, prefixes, digits = rng.choices(COUNTRIES, weights=_WEIGHTS)[0]
        candidate = rng.choice(prefixes) + str(rng.randrange(10**digits)).zfill(digits)
        code = CALLING_CODES[region]
        # Built directly, not parsed: parsing is the most expensive step of seeding.
        number = phonenumbers.PhoneNumber(
            country_code=code, national_number=int(candidate[1 + len(str(code)) :])
        )
        # Validating against the intended region only is much cheaper than is_valid_number,
        # which first searches the region (25 of them share +1).
        if not phonenumbers.is_valid_number_for_region(number, region):
            continue
        style = rng.random()
        if style < 0.4:
            remember_phone(candidate, None, candidate, region)
            return {"original_phone_number": candidate}
        if style < 0.7:
            intl = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            remember_phone(intl, None, candidate, region)
            return {"original_phone_number": intl}
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        remember_phone(national, region, candidate, region)
        return {"original_phone_number": national, "country_code": region}


def seed_workspace(
    ws: Workspace, people: int, companies: int | None = None, seed: int = 0
) -> SeedResult:
    """Add `people` people and `companies` companies (default: one per ten people)."""
    started = time.perf_counter()
    if companies is None:
        companies = max(1, people // 10) if people else 0
    with ws.lock:
        people_store = ws.store("people")
        company_store = ws.store("companies")
        rng = random.Random(seed * 1_000_003 + len(people_store.records))
        total = people + companies
        now = ws.now()
        start = now - timedelta(days=730)
        step = timedelta(days=730) / max(total, 1)
        stamps = [
            start + step * i + timedelta(microseconds=rng.randrange(1000)) for i in range(total)
        ]
        actor = ("workspace-member", ws.admin_member_id)
        ctx = ws._ctx()
        stamp_i = 0

        def new_record(store: Any, values: dict[str, Any]) -> Record:
            nonlocal stamp_i
            ts = stamps[stamp_i]
            stamp_i += 1
            rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            record = Record(
                rid, store.obj.api_slug, ts, ts, actor, ws.next_seq(), system_values(ts, actor)
            )
            pending = store.prepare(values, ctx, None)
            store.apply(record, pending, "overwrite", actor, ts)
            record.updated_at = ts
            store.add(record)
            return record

        company_rows: list[tuple[str, str]] = []  # (record id, domain)
        for i in range(companies):
            name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
            domain = _ascii(name) + rng.choice(COMPANY_TLDS)
            if company_store.lookup("domains", domain):
                domain = f"{_ascii(name)}{i}{rng.choice(COMPANY_TLDS)}"
            record = new_record(company_store, {"name": name, "domains": [domain]})
            company_rows.append((record.id, domain))

        used_phones: list[dict[str, Any]] = []
        without_phone = several = shared = 0
        for _ in range(people):
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            roll = rng.random()
            values: dict[str, Any] = {}
            if roll < 0.03:
                first = last = ""
            elif roll < 0.08:
                last = ""
            if first or last:
                values["name"] = {"first_name": first, "last_name": last}
            company = rng.choice(company_rows) if company_rows and rng.random() < 0.7 else None
            if company is not None:
                values["company"] = {"target_object": "companies", "target_record_id": company[0]}
            if rng.random() < 0.6:
                values["job_title"] = rng.choice(JOB_TITLES)
            emails: list[str] = []
            local = ".".join(p for p in (_ascii(first), _ascii(last)) if p) or "contact"
            email_roll = rng.random()
            if email_roll >= 0.1:
                domain = company[1] if company else rng.choice(PERSONAL_DOMAINS)
                emails.append(f"{local}@{domain}")
                if email_roll > 0.9:
                    emails.append(f"{local}{rng.randrange(100)}@{rng.choice(PERSONAL_DOMAINS)}")
            unique: list[str] = []
            for email in emails:
                candidate = email
                n = 1
                while people_store.lookup("email_addresses", candidate.lower()) or (
                    candidate in unique
                ):
                    user, _, host = email.partition("@")
                    candidate = f"{user}{n}@{host}"
                    n += 1
                unique.append(candidate)
            if unique:
                values["email_addresses"] = unique
            phone_roll = rng.random()
            count = (
                0
                if phone_roll < 0.08
                else 1
                if phone_roll < 0.78
                else 2
                if phone_roll < 0.95
                else 3
            )
            phones = [_phone(rng) for _ in range(count)]
            if phones and used_phones and rng.random() < 0.02:
                phones[0] = rng.choice(used_phones)
                shared += 1
            if phones:
                values["phone_numbers"] = phones
                used_phones.extend(phones)
            else:
                without_phone += 1
            if count > 1:
                several += 1
            new_record(people_store, values)
    return SeedResult(
        people, companies, without_phone, several, shared, (time.perf_counter() - started) * 1000
    )
