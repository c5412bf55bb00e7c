"""Benchmark: the CPU a sync spends writing a page's new mappings (`sync.mappings.save_many`).

    .venv/bin/python bench/mapping_writes.py [--pages 10] [--page 200]
                                             [--database-url postgresql://postgres@127.0.0.1:5432/test]

Creates a scratch database next to the one named (PostgreSQL) or a temporary SQLite file, then
saves `--pages` pages of `--page` new people (two numbers for two in three) three times over and
prints one JSON line: `cpu_s_per_1000` / `wall_s_per_1000` (this process, per 1,000 mappings,
each round) and the rows written.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from switchboard.store.models import Base, Connection, ContactMapping, MappingPhone
from switchboard.sync.mappings import NewMapping, save_many


def _items(first: int, n: int) -> list[NewMapping]:
    return [
        NewMapping(
            f"p{i}",
            f"q{i}",
            (f"+1555{i:07d}", f"+1666{i:07d}") if i % 3 else (f"+1555{i:07d}",),
            "f" * 64,
            True,
        )
        for i in range(first, first + n)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--page", type=int, default=200)
    ap.add_argument("--database-url", default=None, help="PostgreSQL; default: SQLite")
    args = ap.parse_args()
    scratch = None
    if args.database_url:
        base = make_url(args.database_url).set(drivername="postgresql+psycopg")
        scratch = f"bench_mappings_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"CREATE DATABASE {scratch}"))
        url = base.set(database=scratch)
    else:
        url = make_url(f"sqlite:///{tempfile.mkdtemp()}/mappings.db")
    engine = create_engine(url)
    try:
        Base.metadata.create_all(engine)
        with Session(engine) as s:
            s.add(
                Connection(
                    id="bench",
                    crm="attio",
                    quo_base_url="-",
                    crm_base_url="-",
                    quo_api_key_enc="-",
                    crm_token_enc="-",
                )
            )
            s.commit()
        rounds = []
        for r in range(3):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for page in range(args.pages):
                with Session(engine) as s:
                    save_many(s, "bench", _items((r * args.pages + page) * args.page, args.page))
                    s.commit()
            per = 1000 / (args.pages * args.page)
            rounds.append(
                {
                    "cpu_s_per_1000": round((time.process_time() - cpu0) * per, 3),
                    "wall_s_per_1000": round((time.perf_counter() - wall0) * per, 3),
                }
            )
        with Session(engine) as s:
            mappings = s.scalar(select(func.count()).select_from(ContactMapping))
            phones = s.scalar(select(func.count()).select_from(MappingPhone))
        print(
            json.dumps(
                {
                    "rounds": rounds,
                    "mappings": mappings,
                    "phones": phones,
                    "database": url.get_backend_name(),
                }
            )
        )
    finally:
        engine.dispose()
        if scratch:
            with admin.connect() as c:
                c.execute(text(f"DROP DATABASE {scratch}"))


if __name__ == "__main__":
    main()
