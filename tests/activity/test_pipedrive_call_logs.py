"""The activity pipeline writing to the Pipedrive connector (emulator in-process): the call's Quo
user owns the call log through their email, and the connection's `call_log_link` links it."""

from __future__ import annotations

import httpx

from switchboard.activity.directory import Directory
from switchboard.activity.processor import Services, plan_event, write_note
from switchboard.activity.settings import ActivitySettings
from switchboard.connection_settings import effective_settings
from switchboard.crm.pipedrive import PipedriveConnector
from switchboard.emulators.pipedrive import PipedriveEmulator, create_app
from switchboard.store.db import Database
from tests.activity.conftest import CONN
from tests.activity.fakes import FakeQuo, fixture


async def test_the_answering_quo_user_owns_the_call_log_linked_to_the_open_deal(
    db: Database, quo: FakeQuo
) -> None:
    emu = PipedriveEmulator(token="pipeline-token", rate_limits=False)
    co = emu.default_company
    sam = co.add_user("Sam Ortiz", "sam@example.test")  # the Quo user on the line, by email
    ada = co.create_person({"name": "Ada", "phones": ["+1 555-014-2231"]}, co.admin_user_id, "app")
    deal = co.create_deal({"title": "Renewal", "person_id": ada.id}, co.admin_user_id, "app")
    connector = PipedriveConnector(
        emu.default_token, "http://pipedrive.test", transport=httpx.ASGITransport(create_app(emu))
    )
    settings = effective_settings({"call_log_link": "deal_or_lead"}, "pipedrive")
    svc = Services(
        db=db,
        connection_id=CONN,
        quo=quo,
        crm=connector,
        settings=ActivitySettings.from_connection_settings(settings),
        directory=Directory(db, CONN, quo),
        connection_settings=settings,
    )
    try:
        event = fixture("call.completed.answered-incoming")
        plan = await plan_event(svc, event["type"], event)
        for note in plan["notes"]:
            await write_note(svc, plan["resource_type"], plan["resource_id"], note)
    finally:
        await connector.aclose()
    (log,) = co.call_logs.values()
    assert (log.person_id, log.user_id, log.deal_id, log.lead_id) == (ada.id, sam.id, deal.id, None)
