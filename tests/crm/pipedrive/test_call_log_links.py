"""Call logs owned by the Quo user's Pipedrive user (by email, cached) and linked to the person's
most recent open deal or lead as the connection's `call_log_link` says (emulator in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from switchboard.connection_settings import (
    InvalidSettings,
    effective_settings,
    validate_settings,
)
from switchboard.crm.base import ActivityFacts, CrmNote
from switchboard.crm.pipedrive import PipedriveConnector
from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
from switchboard.emulators.pipedrive.company import Company
from switchboard.http import FakeClock, RequestInfo

TOKEN = "links-token"
START = datetime(2026, 3, 2, 15, 4, 2, tzinfo=UTC)


@dataclass
class Env:
    emulator: PipedriveEmulator
    company: Company
    connector: PipedriveConnector
    clock: FakeClock
    person_id: int
    operations: list[str] = field(default_factory=list)

    def note(self, email: str | None = None, **settings: str) -> CrmNote:
        facts = ActivityFacts(
            kind="call", phone="+14155550134", line_number="+15550100100", direction="incoming",
            status="completed", duration_s=42, started_at=START,
            ended_at=START + timedelta(seconds=42), answered=True, user_email=email,
        )  # fmt: skip
        return CrmNote(
            str(self.person_id), "☎️ Call", "<p>Call</p>", START, "html", facts, settings=settings
        )

    async def write(self, note: CrmNote) -> dict[str, object]:
        ref = await self.connector.write_note(note)
        log = self.company.call_logs[ref.id.removeprefix("calllog:")]
        return {"user_id": log.user_id, "deal_id": log.deal_id, "lead_id": log.lead_id}


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emu = PipedriveEmulator(token=TOKEN, rate_limits=False)
    co = emu.default_company
    person = co.create_person(
        {"name": "Ada", "phones": ["(415) 555-0134"]}, co.admin_user_id, "app"
    )
    clock = FakeClock()
    seen: list[str] = []

    def count(info: RequestInfo) -> None:
        seen.append(info.operation)

    connector = PipedriveConnector(
        TOKEN,
        "http://pipedrive.test",
        transport=httpx.ASGITransport(create_app(emu)),
        clock=clock,
        hook=count,
    )
    try:
        yield Env(emu, co, connector, clock, person.id, seen)
    finally:
        await connector.aclose()


async def test_the_quo_users_pipedrive_user_owns_the_call_log(env: Env) -> None:
    sam = env.company.add_user("Sam Seller", "sam@example.test")
    assert (await env.write(env.note("Sam@Example.test")))["user_id"] == sam.id
    assert (await env.write(env.note("sam@example.test")))["user_id"] == sam.id
    assert env.operations.count("users.list") == 1  # cached per connector (connection)


async def test_an_unmatched_or_missing_email_leaves_the_tokens_user_as_owner(env: Env) -> None:
    admin = env.company.admin_user_id
    assert (await env.write(env.note(None)))["user_id"] == admin
    assert "users.list" not in env.operations
    assert (await env.write(env.note("nobody@example.test")))["user_id"] == admin
    assert (await env.write(env.note("nobody-either@example.test")))["user_id"] == admin
    assert env.operations.count("users.list") == 1  # a miss refreshes at most every 10 min
    late = env.company.add_user("Late Joiner", "late@example.test")
    env.clock.t += 601
    assert (await env.write(env.note("late@example.test")))["user_id"] == late.id
    assert env.operations.count("users.list") == 2


async def test_an_inactive_pipedrive_user_does_not_own_call_logs(env: Env) -> None:
    gone = env.company.add_user("Gone", "gone@example.test")
    gone.active = False
    assert (await env.write(env.note("gone@example.test")))["user_id"] == env.company.admin_user_id


def _deal(env: Env, title: str, status: str, age_s: int) -> int:
    deal = env.company.create_deal(
        {"title": title, "person_id": env.person_id, "status": status},
        env.company.admin_user_id,
        "app",
    )
    deal.update_time = START - timedelta(seconds=age_s)
    return deal.id


def _lead(env: Env, title: str, age_s: int, archived: bool = False) -> str:
    lead = env.company.create_lead(
        {"title": title, "person_id": env.person_id}, env.company.admin_user_id, "app"
    )
    lead.update_time = START - timedelta(seconds=age_s)
    lead.is_archived = archived
    return lead.id


@pytest.mark.parametrize(
    ("link", "deals", "leads", "expected"),
    [
        ("person", True, True, (None, None)),
        ("deal", True, True, ("recent deal", None)),
        ("deal", False, True, (None, None)),
        ("lead", True, True, (None, "recent lead")),
        ("lead", True, False, (None, None)),
        ("deal_or_lead", True, True, ("recent deal", None)),
        ("deal_or_lead", False, True, (None, "recent lead")),
        ("deal_or_lead", False, False, (None, None)),
    ],
)
async def test_call_log_link_setting(
    env: Env, link: str, deals: bool, leads: bool, expected: tuple[str | None, str | None]
) -> None:
    ids: dict[str, object] = {}
    _deal(env, "won deal", "won", 1)  # never linked: not open
    _lead(env, "archived lead", 1, archived=True)  # never linked: archived
    if deals:
        _deal(env, "old deal", "open", 3600)
        ids["recent deal"] = _deal(env, "recent deal", "open", 60)
    if leads:
        _lead(env, "old lead", 3600)
        ids["recent lead"] = _lead(env, "recent lead", 60)
    written = await env.write(env.note(call_log_link=link))
    want_deal, want_lead = (ids.get(e) if e else None for e in expected)
    assert (written["deal_id"], written["lead_id"]) == (want_deal, want_lead)
    lookups = [op for op in env.operations if op.endswith("open_for_person")]
    assert len(lookups) <= (2 if link == "deal_or_lead" else 0 if link == "person" else 1)


def test_call_log_link_is_a_validated_pipedrive_setting() -> None:
    assert effective_settings(None, "pipedrive")["call_log_link"] == "person"
    assert validate_settings({"call_log_link": "deal_or_lead"}, "pipedrive") == {
        "call_log_link": "deal_or_lead"
    }
    with pytest.raises(InvalidSettings, match="call_log_link"):
        validate_settings({"call_log_link": "organization"}, "pipedrive")
    with pytest.raises(InvalidSettings, match="unknown setting"):
        validate_settings({"call_log_link": "deal"}, "attio")


async def test_a_token_user_who_may_not_log_for_others_logs_as_itself(env: Env) -> None:
    member = env.company.add_user("Member", "member@example.test")  # no account settings access
    env.company.add_user("Sam Seller", "sam@example.test")
    (token,) = env.emulator.tokens.values()
    token.user_id = member.id
    assert (await env.write(env.note("sam@example.test")))["user_id"] == member.id
    assert (await env.write(env.note("sam@example.test")))["user_id"] == member.id
    assert env.operations.count("call_logs.create") == 3  # refused once, then not asked again
