"""Attio-specific connector behaviour against the emulator: merges, OAuth, 429 storms, budgets
shared between connector objects and between processes."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from switchboard.crm.attio import AttioConnector, attio_limiters
from switchboard.crm.base import CrmNote
from switchboard.emulators.attio import AttioEmulator
from switchboard.emulators.common import ServerThread
from switchboard.http import RequestInfo
from tests.crm.attio.conftest import TOKEN
from tests.crm.kit import WebhookReceiver, fresh_phones

Server = tuple[AttioEmulator, ServerThread]


async def test_merge_fires_parseable_merged_events_and_losers_are_gone(
    attio_server: Server,
) -> None:
    emu, server = attio_server
    emu.reset()
    ws = emu.default_workspace
    a_phone, b_phone = fresh_phones(random.Random(1), 2)
    a = emu.create_record(ws, "people", {"name": "Ada Primary", "phone_numbers": [a_phone]}).id
    b = emu.create_record(ws, "people", {"name": "Ada Dup", "phone_numbers": [b_phone]}).id
    connector = AttioConnector(TOKEN, server.url)
    try:
        with WebhookReceiver() as receiver:
            info = await connector.subscribe(receiver.url)
            assert info.secret
            survivor = emu.merge_records(ws, "people", a, b).id
            deliveries = await receiver.wait_for(2)
            changes = []
            for delivery in deliveries:
                connector.verify_webhook(delivery.body, delivery.headers, info.secret)
                changes.extend(connector.parse_webhook(delivery.body, delivery.headers))
        assert sorted((c.kind, c.record_id, c.merged_from_id) for c in changes) == sorted(
            [("merged", survivor, a), ("merged", survivor, b)]
        )
        assert len({c.idempotency_key for c in changes}) == 2
        assert await connector.get_person(a) is None
        assert await connector.get_person(b) is None
        merged = await connector.get_person(survivor)
        assert merged is not None and set(merged.phones) == {a_phone, b_phone}
        assert [p.id for p in await connector.find_people_by_phone(b_phone)] == [survivor]
    finally:
        await connector.aclose()


async def test_oauth_code_exchange_gives_a_working_token(attio_server: Server) -> None:
    """Attio's registry record drives the core's OAuth flow (endpoints pointed at the emulator)."""
    from switchboard.config import OAuthClient
    from switchboard.crm.attio.provider import PROVIDER
    from switchboard.oauth import GrantRefused
    from switchboard.oauth.flow import endpoints_for, exchange_code

    emu, server = attio_server
    emu.reset()
    assert PROVIDER.auth.oauth is not None
    client = OAuthClient(
        client_id="cid",
        client_secret="client-secret-xyz",  # type: ignore[arg-type]
        authorize_url=f"{server.url}/authorize",
        token_url=f"{server.url}/oauth/token",
    )
    endpoints = endpoints_for("attio", PROVIDER.auth.oauth, client, "https://sb.example")
    code = emu.issue_oauth_code(
        emu.default_workspace, client_id="cid", redirect_uri=endpoints.redirect_uri
    )
    tokens = await exchange_code(endpoints, code, None)
    assert tokens.refresh_token is None and tokens.expires_at is None  # as at Attio
    connector = AttioConnector(tokens.access_token, server.url)
    try:
        facts = await connector.check_credentials()
        assert facts["workspace_id"] == emu.default_workspace.id
        assert facts["token_level"] == "workspace"
    finally:
        await connector.aclose()
    with pytest.raises(GrantRefused) as info:  # a code works once
        await exchange_code(endpoints, code, None)
    assert info.value.code == "invalid_grant"
    assert code not in str(info.value) and "client-secret-xyz" not in str(info.value)


async def test_a_429_storm_is_waited_out_with_retry_after(attio_server: Server) -> None:
    emu, server = attio_server
    emu.reset()
    calls: list[RequestInfo] = []
    connector = AttioConnector(TOKEN, server.url, hook=calls.append)
    try:
        emu.faults.update({"storm_429": {"duration_s": 0.6, "retry_after": 1}})
        facts = await connector.check_credentials()
        assert facts["workspace_id"] == emu.default_workspace.id
    finally:
        await connector.aclose()
    assert calls[0].status == 429 and calls[-1].status == 200


async def test_two_connectors_on_one_token_share_the_write_budget(attio_server: Server) -> None:
    emu, server = attio_server
    emu.reset()
    person = emu.create_record(
        emu.default_workspace, "people", {"phone_numbers": fresh_phones(random.Random(2), 1)}
    ).id
    first, second = (AttioConnector(TOKEN, server.url) for _ in range(2))
    note = CrmNote(person_id=person, title="t", content="c")
    try:
        await asyncio.gather(*(c.write_note(note) for c in (first, second) for _ in range(30)))
    finally:
        await first.aclose()
        await second.aclose()
    assert not [e for e in emu.log.entries() if e.status == 429]


async def test_processes_share_budgets_through_the_database(
    attio_server: Server, tmp_path: Path
) -> None:
    """Two limiter sets on one SQLite file stand for two worker processes."""
    emu, server = attio_server
    emu.reset()
    url = f"sqlite:///{tmp_path / 'budgets.db'}"
    person = emu.create_record(
        emu.default_workspace, "people", {"phone_numbers": fresh_phones(random.Random(3), 1)}
    ).id
    workers = [
        AttioConnector(TOKEN, server.url, limiters=attio_limiters(TOKEN, database_url=url))
        for _ in range(2)
    ]
    note = CrmNote(person_id=person, title="t", content="c")
    try:
        await asyncio.gather(*(w.write_note(note) for w in workers for _ in range(30)))
    finally:
        for worker in workers:
            await worker.aclose()
    assert not [e for e in emu.log.entries() if e.status == 429]
    assert emu.log.max_per_second(key=f"{emu.default_workspace.id}:write") <= 25
