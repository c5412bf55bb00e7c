from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.store import Database
from switchboard.store.models import SyncIssue
from switchboard.sync import mappings, runs

C = "conn_t"


def test_mapping_save_load_phones_and_remove(db: Database) -> None:
    with db.session() as s:
        mappings.save(
            s,
            C,
            "p1",
            quo_contact_id="CT1",
            phones=["+1555", "+1666"],
            fingerprint="f1",
            created_by_us=True,
        )
        mappings.save(
            s,
            C,
            "p2",
            quo_contact_id="CT2",
            phones=["+1555"],
            fingerprint="f2",
            created_by_us=False,
        )
    with db.session() as s:
        got = mappings.load(s, C, ["p1", "p2", "nope"])
        assert set(got) == {"p1", "p2"}
        assert got["p1"].phones == ("+1555", "+1666") and got["p1"].created_by_us
        assert mappings.people_with_phone(s, C, "+1555") == ["p1", "p2"]
        mappings.save(
            s, C, "p1", quo_contact_id="CT1", phones=["+1777"], fingerprint="f3", created_by_us=True
        )
    with db.session() as s:
        assert mappings.people_with_phone(s, C, "+1666") == []
        assert mappings.people_with_phone(s, C, "+1777") == ["p1"]
        assert mappings.get(s, C, "p1").fingerprint == "f3"  # type: ignore[union-attr]
        mappings.remove(s, C, "p1")
    with db.session() as s:
        assert mappings.get(s, C, "p1") is None
        assert mappings.people_with_phone(s, C, "+1777") == []


def test_commit_page_once_and_checkpoint_over_prefix(db: Database) -> None:
    with db.session() as s:
        runs.create(s, "r1", C, "initial")
    with db.session() as s:  # page 1 finishes before page 0
        assert runs.commit_page(
            s,
            "r1",
            1,
            "c2",
            {"created": 3, "skipped": 1},
            {"no_phone": 1},
            [("p9", "skipped", "no_phone")],
        )
    with db.session() as s:
        row = s.get(runs.SyncRun, "r1")
        assert row is not None and row.cursor["through"] == -1 and row.done == 4
    with db.session() as s:
        assert runs.commit_page(s, "r1", 0, "c1", {"created": 2}, {}, [])
        assert not runs.commit_page(s, "r1", 0, "c1", {"created": 2}, {}, [])  # re-run: no-op
    with db.session() as s:
        row = s.get(runs.SyncRun, "r1")
        assert row is not None
        assert row.cursor["through"] == 1 and row.cursor["next"] == "c2"
        assert (row.created, row.skipped, row.done) == (5, 1, 6)
        assert row.skip_reasons == {"no_phone": 1}
        assert s.query(SyncIssue).count() == 1


def test_progress_rate_and_eta(db: Database) -> None:
    with db.session() as s:
        row = runs.create(s, "r2", C, "initial", total=100)
        row.started_at = datetime.now(UTC) - timedelta(seconds=10)
        row.done = 20
    with db.session() as s:
        row = s.get(runs.SyncRun, "r2")
        assert row is not None
        p = runs.to_progress(row)
        assert 1.5 < p.rate_per_s < 2.5
        assert p.eta_s is not None and 30 < p.eta_s < 50
        runs.finish(s, "r2", "succeeded")
    with db.session() as s:
        row = s.get(runs.SyncRun, "r2")
        assert row is not None
        p = runs.to_progress(row)
        assert p.status == "succeeded" and p.eta_s == 0.0 and p.total == 20
