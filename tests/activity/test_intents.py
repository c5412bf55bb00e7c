"""Click-to-call intents: which click, if any, pins an outgoing call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.activity import intents
from switchboard.store.db import Database
from tests.activity.conftest import CONN

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
PHONE, LINE = "+16502530001", "PNline0001"


def click(db: Database, person: str, at: datetime, line: str = LINE) -> intents.Click:
    return intents.record_click(db, CONN, person_id=person, phone=PHONE, line_id=line, at=at)


def pin(db: Database, started: datetime, line: str = LINE, window_s: float = 600) -> str | None:
    found = intents.find_pin(
        db, CONN, phone=PHONE, line_id=line, call_started_at=started, window_s=window_s
    )
    return found.person_id if found else None


def test_a_click_pins_calls_in_its_window_only(db: Database) -> None:
    click(db, "bea", T0)
    assert pin(db, T0 + timedelta(minutes=2)) == "bea"
    assert pin(db, T0 + timedelta(minutes=10)) == "bea"  # the window's edge
    assert pin(db, T0 + timedelta(minutes=10, seconds=1)) is None  # stale
    assert pin(db, T0 - timedelta(seconds=20)) == "bea"  # clock skew allowed
    assert pin(db, T0 - timedelta(minutes=2)) is None  # the call came before the click
    assert pin(db, T0 + timedelta(minutes=2), line="PNother") is None  # another line
    assert pin(db, T0 + timedelta(minutes=20), window_s=30 * 60) == "bea"  # a wider window


def test_the_newest_click_wins_and_pins_are_remembered(db: Database) -> None:
    first = click(db, "al", T0)
    second = click(db, "bea", T0 + timedelta(minutes=1))
    assert pin(db, T0 + timedelta(minutes=3)) == "bea"
    intents.mark_pinned(db, second.id, "ACcall1")
    intents.mark_pinned(db, second.id, "ACcall1")  # idempotent
    recent = intents.recent_clicks(db, CONN)
    assert [(c.id, c.call_id) for c in recent] == [(second.id, "ACcall1"), (first.id, None)]


async def test_the_processor_pins_outgoing_calls_only(db: Database) -> None:
    from switchboard.activity.processor import plan_event
    from tests.activity.conftest import make_services
    from tests.activity.fakes import FakeCrm, FakeQuo, fixture

    caller = "+15550142231"
    started = datetime(2026, 3, 2, 15, 4, 2, tzinfo=UTC)
    crm = FakeCrm()
    crm.add_person("al", caller, updated=started)  # the lookup's choice: most recently updated
    crm.add_person("bea", caller, updated=started - timedelta(days=1))
    intents.record_click(
        db, CONN, person_id="bea", phone=caller, line_id="PNline0001",
        at=started - timedelta(minutes=1),
    )  # fmt: skip

    outgoing = await plan_event(
        make_services(db, FakeQuo(), crm), "call.completed",
        fixture("call.completed.answered-outgoing"),
    )  # fmt: skip
    assert [n["person_id"] for n in outgoing["notes"]] == ["bea"]
    (lookup,) = outgoing["detail"]["lookups"]
    assert lookup["source"] == "click" and "bea was clicked" in lookup["reason"]

    incoming = await plan_event(
        make_services(db, FakeQuo(), crm), "call.completed",
        fixture("call.completed.answered-incoming"),
    )  # fmt: skip
    assert [n["person_id"] for n in incoming["notes"]] == ["al"]


def test_settings_validate_the_window_and_default_line() -> None:
    import pytest

    from switchboard import connection_settings
    from switchboard.activity.settings import ActivitySettings

    ok = connection_settings.validate_settings(
        {"click_to_call_window_minutes": 5, "click_to_call_default_line": "PNline0001"}
    )
    assert ActivitySettings.from_connection_settings(ok).click_window_s == 300
    assert ActivitySettings.from_connection_settings({}).click_window_s == 600
    for bad in (
        {"click_to_call_window_minutes": 0},
        {"click_to_call_window_minutes": True},
        {"click_to_call_window_minutes": 5000},
        {"click_to_call_default_line": "nope"},
    ):
        with pytest.raises(connection_settings.InvalidSettings):
            connection_settings.validate_settings(bad)
